// SPDX-License-Identifier: MIT
// The reduced-precision micro-kernels alone (kernels/gemm_lowp), one thread:
//   BM_lowp_ukernel: one mr x nr tile over L1-resident panels (kc 256 by
//     default: bf16 14x32 panels are 23 KiB, int8 12 KiB), accumulating
//     (load = true) call after call. GFLOPS counts 2 per multiply-add (int8:
//     integer ops). pct_nominal = GFLOPS / (2x (bf16) or 4x (int8) the fp32
//     FMA peak of 24 FMA chains measured in this process: the dot products'
//     nominal peak when they issue at the FMA rate); pct_dot = GFLOPS / the
//     peak of 24 independent vdpbf16ps / vpdpbusd chains (bench/peak), what
//     the CPU sustains. Rows and probes are timed in thread CPU time. Portable int8 tables (other ISAs) report
//     pct_nominal against 4x their ISA's fp32 peak, for comparison only.
//   BM_lowp_pack: the packers on a 256 x 256 block (GB/s of source read).
//   BM_lowp_macro: avx512_bf16's tiles over L2-resident blocks in the fp32
//     driver's loop order (126 x 800 x 256), the rate a GEMM can reach.
// Built only against a static libqkv (the tables are internal symbols).
#ifdef QKV_BENCH_KERNELS
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <time.h>

#include "bench_util.hpp"
#include "kernels/gemm_lowp/gemm_lowp.hpp"

namespace {

using qkv::kern::gemm_bf16_kernels;
using qkv::kern::gemm_s8_kernels;

enum kind : int { kBf16 = 0, kS8 = 1 };

// 64-byte aligned scratch that lives for the whole benchmark.
struct aligned_buf {
  explicit aligned_buf(std::size_t n) : store(n + 64) {
    p = store.data() + (64 - reinterpret_cast<std::uintptr_t>(store.data()) % 64) % 64;
  }
  std::vector<unsigned char> store;
  unsigned char* p;
};

bool supported(qkv_isa isa) {
  int ok = 0;
  qkv_isa_query(isa, nullptr, &ok);
  return ok != 0;
}

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Best of 5 one-thread probes, in this thread's CPU time like the kernel rows
// (the shared host's wall clock counts other processes' time slices): the
// fp32 FMA chains of `isa` (kind -1) or avx512_bf16's dot chains. Once per
// process and probe.
double probe_gflops_cpu(int probe, qkv_isa isa) {
  static std::map<std::pair<int, int>, double> best;
  double& b = best[{probe, int(isa)}];
  for (int rep = 0; b == 0 && rep < 5; ++rep) {
    const double t0 = thread_seconds();
    double flops = 0;
    if (probe < 0) flops = qkv_bench::peak_chains(isa, 20'000'000);
#ifdef QKV_BENCH_HAVE_BF16_PEAK
    else if (supported(QKV_ISA_AVX512_BF16))
      flops = probe == kBf16 ? qkv_bench::peak_chains_bf16_dot(20'000'000)
                             : qkv_bench::peak_chains_vnni_dot(20'000'000);
#endif
    if (flops == 0) break;
    b = std::max(b, flops / (thread_seconds() - t0) * 1e-9);
  }
  return b;
}

void set_counters(benchmark::State& state, kind k, qkv_isa isa, const char* table, double flops) {
  const double nominal = probe_gflops_cpu(-1, isa) * (k == kBf16 ? 2 : 4);
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (nominal > 0)
    state.counters["pct_nominal"] =
        benchmark::Counter(flops * 1e-9 * 100 / nominal, benchmark::Counter::kIsIterationInvariantRate);
  const double dot = isa == QKV_ISA_AVX512_BF16 ? probe_gflops_cpu(k, isa) : 0;
  if (dot > 0)
    state.counters["pct_dot"] = benchmark::Counter(flops * 1e-9 * 100 / dot, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(qkv_isa_name(isa)) + "/" + table);
}

// args: kind, isa, kc.
void BM_lowp_ukernel(benchmark::State& state) {
  const auto k = static_cast<kind>(state.range(0));
  const auto isa = static_cast<qkv_isa>(state.range(1));
  const auto kc = static_cast<std::size_t>(state.range(2));
  if (k == kBf16) {
    const gemm_bf16_kernels& t = qkv::kern::gemm_bf16_for(isa);
    const std::size_t kp = (kc + 1) / 2 * 2;
    std::vector<std::uint16_t> a(t.mr * kc, 0x3C00), b(kc * t.nr, 0x3C00);  // bf16 2^-7
    aligned_buf ap(t.mr * kp * 2), bp(t.nr * kp * 2);
    std::vector<float> acc(t.mr * t.nr, 0.f);
    t.pack_a(false, t.mr, kc, a.data(), kc, reinterpret_cast<std::uint16_t*>(ap.p));
    t.pack_b(false, kc, t.nr, b.data(), t.nr, reinterpret_cast<std::uint16_t*>(bp.p));
    for (auto _ : state) {
      t.ukernel(kc, reinterpret_cast<const std::uint16_t*>(ap.p), reinterpret_cast<const std::uint16_t*>(bp.p),
                acc.data(), t.nr, true);
      benchmark::DoNotOptimize(acc.data());
    }
    set_counters(state, k, isa, t.name, 2.0 * double(t.mr * t.nr * kc));
  } else {
    const gemm_s8_kernels& t = qkv::kern::gemm_s8_for(isa);
    std::vector<std::int8_t> a(t.mr * kc, 3), b(kc * t.nr, -5);
    aligned_buf ap(t.a_panel_bytes(kc)), bp(t.b_panel_bytes(kc));
    std::vector<std::int32_t> acc(t.mr * t.nr, 0);
    t.pack_a(false, t.mr, kc, a.data(), kc, ap.p);
    t.pack_b(false, kc, t.nr, b.data(), t.nr, bp.p);
    for (auto _ : state) {
      t.ukernel(kc, ap.p, bp.p, acc.data(), t.nr, true);
      benchmark::DoNotOptimize(acc.data());
    }
    set_counters(state, k, isa, t.name, 2.0 * double(t.mr * t.nr * kc));
  }
}

// The macro-kernel as the fp32 driver runs it (ops/gemm.cpp: ir outside jr):
// packed A block of 126 rows (L2), B block of 800 columns (L2), kc 256, every
// tile of a 126 x 800 C block accumulated; panels packed once. args: kind, isa.
void BM_lowp_macro(benchmark::State& state) {
  const auto k = static_cast<kind>(state.range(0));
  const auto isa = static_cast<qkv_isa>(state.range(1));
  constexpr std::size_t mc = 126, nc = 800, kc = 256;
  auto run = [&](auto& t, auto pa, auto pb, auto uk, std::size_t ab, std::size_t bb, auto* c) {
    const std::size_t mp = (mc + t.mr - 1) / t.mr, np = (nc + t.nr - 1) / t.nr, ldc = np * t.nr;
    aligned_buf ap(mp * ab), bp(np * bb);
    pa(ap.p);
    pb(bp.p);
    for (auto _ : state) {
      for (std::size_t ir = 0; ir < mp; ++ir)
        for (std::size_t jr = 0; jr < np; ++jr) uk(ap.p + ir * ab, bp.p + jr * bb, c + ir * t.mr * ldc + jr * t.nr, ldc);
      benchmark::DoNotOptimize(c);
    }
    set_counters(state, k, isa, t.name, 2.0 * double(mp * t.mr * np * t.nr * kc));
  };
  if (k == kBf16) {
    const gemm_bf16_kernels& t = qkv::kern::gemm_bf16_for(isa);
    std::vector<std::uint16_t> a(mc * kc, 0x3C00), b(kc * nc, 0x3C00);
    std::vector<float> c(((mc + t.mr - 1) / t.mr * t.mr) * ((nc + t.nr - 1) / t.nr * t.nr), 0.f);
    const std::size_t ab = t.mr * kc * 2, bb = t.nr * kc * 2;
    run(
        t, [&](unsigned char* d) { t.pack_a(false, mc, kc, a.data(), kc, reinterpret_cast<std::uint16_t*>(d)); },
        [&](unsigned char* d) { t.pack_b(false, kc, nc, b.data(), nc, reinterpret_cast<std::uint16_t*>(d)); },
        [&](const unsigned char* pa, const unsigned char* pb, float* cc, std::size_t ldc) {
          t.ukernel(kc, reinterpret_cast<const std::uint16_t*>(pa), reinterpret_cast<const std::uint16_t*>(pb), cc, ldc,
                    true);
        },
        ab, bb, c.data());
  } else {
    const gemm_s8_kernels& t = qkv::kern::gemm_s8_for(isa);
    std::vector<std::int8_t> a(mc * kc, 3), b(kc * nc, -5);
    std::vector<std::int32_t> c(((mc + t.mr - 1) / t.mr * t.mr) * ((nc + t.nr - 1) / t.nr * t.nr), 0);
    run(
        t, [&](unsigned char* d) { t.pack_a(false, mc, kc, a.data(), kc, d); },
        [&](unsigned char* d) { t.pack_b(false, kc, nc, b.data(), nc, d); },
        [&](const unsigned char* pa, const unsigned char* pb, std::int32_t* cc, std::size_t ldc) {
          t.ukernel(kc, pa, pb, cc, ldc, true);
        },
        t.a_panel_bytes(kc), t.b_panel_bytes(kc), c.data());
  }
}

// args: kind, isa, operand (0 A, 1 B), trans. A 256 x 256 block.
void BM_lowp_pack(benchmark::State& state) {
  const auto k = static_cast<kind>(state.range(0));
  const auto isa = static_cast<qkv_isa>(state.range(1));
  const bool is_b = state.range(2) != 0, trans = state.range(3) != 0;
  constexpr std::size_t n = 256;
  aligned_buf dst(4 * n * n + 64 * 1024);  // generous for any panel padding
  if (k == kBf16) {
    const gemm_bf16_kernels& t = qkv::kern::gemm_bf16_for(isa);
    std::vector<std::uint16_t> src(n * n, 0x3C00);
    auto* d = reinterpret_cast<std::uint16_t*>(dst.p);
    for (auto _ : state) {
      if (is_b)
        t.pack_b(trans, n, n, src.data(), n, d);
      else
        t.pack_a(trans, n, n, src.data(), n, d);
      benchmark::DoNotOptimize(dst.p);
    }
    state.SetLabel(std::string(t.name) + (is_b ? " pack_b" : " pack_a") + (trans ? " trans" : ""));
  } else {
    const gemm_s8_kernels& t = qkv::kern::gemm_s8_for(isa);
    std::vector<std::int8_t> src(n * n, 3);
    for (auto _ : state) {
      if (is_b)
        t.pack_b(trans, n, n, src.data(), n, dst.p);
      else
        t.pack_a(trans, n, n, src.data(), n, dst.p);
      benchmark::DoNotOptimize(dst.p);
    }
    state.SetLabel(std::string(t.name) + (is_b ? " pack_b" : " pack_a") + (trans ? " trans" : ""));
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(n * n * (k == kBf16 ? 2 : 1)));
}

// Every runnable ISA with a kernel of the kind (bf16 only where mr > 0).
template <class F>
void for_tables(F&& f) {
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    const auto isa = static_cast<qkv_isa>(i);
    if (!supported(isa)) continue;
    f(kS8, isa);
    if (qkv::kern::gemm_bf16_for(isa).mr > 0) f(kBf16, isa);
  }
}

void ukernel_args(benchmark::internal::Benchmark* b) {
  for_tables([&](kind k, qkv_isa isa) {
    for (int kc : {64, 256, 1024}) b->Args({k, isa, kc});
  });
}

void pack_args(benchmark::internal::Benchmark* b) {
  for_tables([&](kind k, qkv_isa isa) {
    if (isa != QKV_ISA_AVX512_BF16 && isa != QKV_ISA_SCALAR) return;
    for (int op = 0; op < 2; ++op)
      for (int tr = 0; tr < 2; ++tr) b->Args({k, isa, op, tr});
  });
}

BENCHMARK(BM_lowp_ukernel)->Apply(ukernel_args);
BENCHMARK(BM_lowp_pack)->Apply(pack_args);
BENCHMARK(BM_lowp_macro)->Apply([](benchmark::internal::Benchmark* b) {
  for_tables([&](kind k, qkv_isa isa) {
    if (isa == QKV_ISA_AVX512_BF16) b->Args({k, isa});
  });
});

}  // namespace
#endif  // QKV_BENCH_KERNELS
