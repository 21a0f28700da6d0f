// SPDX-License-Identifier: MIT
// qkv_gemm_ex against qkv's own fp32 GEMM (qkv_sgemm_ws) and oneDNN's
// reduced-precision GEMMs, paired in one process: every iteration times one
// call of each, back to back, the order rotating from one iteration to the
// next, and vs_f32 / vs_onednn are the medians of the per-iteration ratios
// (their time over gemm_ex's: > 1, gemm_ex faster). Wall time; every
// library on the benchmark's thread count (oneDNN through OpenMP's
// omp_set_num_threads, qkv through qkv_set_num_threads).
//
// Variants (args: M, N, K, variant, threads):
//   0 bf16:   BF16 x BF16 -> F32        vs oneDNN's bf16 matmul primitive
//             (oneDNN 2.6 has no dnnl_gemm_bf16bf16f32 in its C API)
//   1 s8:     I8 x I8 -> I32            vs dnnl_gemm_u8s8s32 (A's codes + 128
//             as u8, zero points 0: the same shapes and the same work, not
//             the same numbers)
//   2 s8f32:  I8 x I8 -> F32, per-row / per-column scales (vs u8s8s32 as 1)
//   3 w8:     F32 x I8 (weights, per-column scales) -> F32 (no oneDNN peer)
//   4 w16:    F32 x F16 (weights) -> F32 (no oneDNN peer)
//   5 wbf16:  F32 x BF16 (weights, [K][N] as the layer packs them) -> F32
//   6 w8t:    F32 x I8^T (weights [N][K], per-column scales, as the layer
//             packs them) -> F32, against sgemm with B^T
// Shapes (M x N x K): 1024^3, 256^3, 2048^3, 1024x768x768, 768x2304x768,
// 4096x4096x64; and decode's skinny products (ops/gemm_ex_skinny), M 1 and
// 8 x 768x768 and x 2304x768, weight variants 0 and 3..6, one thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "qkv/qkv.h"

#ifdef QKV_BENCH_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>

#include <dnnl.hpp>
#endif

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// The operands are small multiples of 1/16: exact in bf16 and fp16, so
// truncating conversions give the values (and the fp32 sgemm the same product).
std::uint32_t bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
std::uint16_t to_bf16(float x) { return static_cast<std::uint16_t>(bits(x) >> 16); }
std::uint16_t to_f16(float x) {
  const std::uint32_t u = bits(x), sign = (u >> 16) & 0x8000u;
  if ((u & 0x7fffffffu) == 0) return static_cast<std::uint16_t>(sign);
  const std::uint32_t e = ((u >> 23) & 0xffu) - 112u, m = (u >> 13) & 0x3ffu;  // normal fp16 values only
  return static_cast<std::uint16_t>(sign | (e << 10) | m);
}

const char* const kVariant[] = {"bf16", "s8", "s8f32", "w8", "w16", "wbf16", "w8t"};

struct operands {
  std::size_t M, N, K;
  int variant, threads;
  std::vector<float> Af, Bf, Cf, sa, sb;
  std::vector<std::uint16_t> Ah, Bh;
  std::vector<std::int8_t> Aq, Bq;
  std::vector<std::uint8_t> Au;
  std::vector<std::int32_t> Ci;
  std::vector<unsigned char> ws_ex, ws_f32;
  qkv_gemm_ex_desc d{};

  operands(std::size_t m, std::size_t n, std::size_t k, int v, int th)
      : M(m), N(n), K(k), variant(v), threads(th), Af(m * k), Bf(k * n), Cf(m * n), sa(m, 0.01f), sb(n, 0.02f),
        Ah(m * k), Bh(k * n), Aq(m * k), Bq(k * n), Au(m * k), Ci(m * n) {
    for (std::size_t i = 0; i < Af.size(); ++i) {
      Af[i] = float(int(i % 17) - 8) * 0.0625f;
      Aq[i] = static_cast<std::int8_t>(int(i % 251) - 125);
      Au[i] = static_cast<std::uint8_t>(Aq[i] + 128);
    }
    for (std::size_t i = 0; i < Bf.size(); ++i) {
      Bf[i] = float(int(i % 13) - 6) * 0.125f;
      Bq[i] = static_cast<std::int8_t>(int(i % 241) - 120);
    }
    for (std::size_t i = 0; i < Af.size(); ++i) Ah[i] = to_bf16(Af[i]);
    for (std::size_t i = 0; i < Bf.size(); ++i) Bh[i] = variant == 4 ? to_f16(Bf[i]) : to_bf16(Bf[i]);
    d.ta = QKV_NO_TRANS;
    d.tb = v == 6 ? QKV_TRANS : QKV_NO_TRANS;
    d.M = M;
    d.N = N;
    d.K = K;
    d.lda = K;
    d.ldb = v == 6 ? K : N;
    d.ldc = N;
    d.alpha = 1.f;
    d.beta = 0.f;
    const qkv_dtype at[] = {QKV_DTYPE_BF16, QKV_DTYPE_I8,  QKV_DTYPE_I8,   QKV_DTYPE_F32,
                            QKV_DTYPE_F32,  QKV_DTYPE_F32, QKV_DTYPE_F32};
    const qkv_dtype bt[] = {QKV_DTYPE_BF16, QKV_DTYPE_I8,  QKV_DTYPE_I8,   QKV_DTYPE_I8,
                            QKV_DTYPE_F16,  QKV_DTYPE_BF16, QKV_DTYPE_I8};
    d.a_type = at[v];
    d.b_type = bt[v];
    d.c_type = v == 1 ? QKV_DTYPE_I32 : QKV_DTYPE_F32;
    d.a_scales = v == 2 ? sa.data() : nullptr;
    d.b_scales = v == 2 || v == 3 || v == 6 ? sb.data() : nullptr;
    std::size_t bytes = 0;
    qkv_gemm_ex_workspace_size(&d, th, &bytes);
    ws_ex.assign(bytes, 0);
    qkv_sgemm_workspace_size(QKV_NO_TRANS, d.tb, M, N, K, th, &bytes);
    ws_f32.assign(bytes, 0);
  }
  const void* a() const { return d.a_type == QKV_DTYPE_F32 ? static_cast<const void*>(Af.data())
                                  : d.a_type == QKV_DTYPE_I8 ? static_cast<const void*>(Aq.data()) : Ah.data(); }
  const void* b() const { return d.b_type == QKV_DTYPE_I8 ? static_cast<const void*>(Bq.data()) : Bh.data(); }
  void* c() { return variant == 1 ? static_cast<void*>(Ci.data()) : Cf.data(); }

  bool ex() { return qkv_gemm_ex(&d, a(), b(), c(), ws_ex.data(), ws_ex.size()) == QKV_OK; }
  void f32() {
    qkv_sgemm_ws(QKV_NO_TRANS, d.tb, M, N, K, 1.f, Af.data(), K, Bf.data(), d.ldb, 0.f, Cf.data(), N, ws_f32.data(),
                 ws_f32.size());
  }
#ifdef QKV_BENCH_HAVE_DNNL
  // The bf16 matmul, created once: C (f32, M x N) = A (bf16, M x K) . B (bf16, K x N), row-major.
  struct matmul {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    dnnl::matmul prim;
    dnnl::memory a, b, c;
  };
  std::shared_ptr<matmul> mm;
  bool has_onednn() const { return variant <= 2; }
  void onednn() {
    const dnnl_dim_t m = dnnl_dim_t(M), n = dnnl_dim_t(N), k = dnnl_dim_t(K);
    if (variant == 0) {
      using dt = dnnl::memory::data_type;
      using tag = dnnl::memory::format_tag;
      if (!mm) {
        mm = std::make_shared<matmul>();
        const dnnl::memory::desc ad({m, k}, dt::bf16, tag::ab), bd({k, n}, dt::bf16, tag::ab), cd({m, n}, dt::f32, tag::ab);
        mm->prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(ad, bd, cd), mm->eng));
        mm->a = dnnl::memory(ad, mm->eng, Ah.data());
        mm->b = dnnl::memory(bd, mm->eng, Bh.data());
        mm->c = dnnl::memory(cd, mm->eng, Cf.data());
      }
      mm->prim.execute(mm->strm, {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}});
      mm->strm.wait();
    } else {
      const std::int32_t co = 0;
      dnnl_gemm_u8s8s32('N', 'N', 'F', m, n, k, 1.f, Au.data(), k, 0, Bq.data(), n, 0, 0.f, Ci.data(), n, &co);
    }
  }
#else
  bool has_onednn() const { return false; }
  void onednn() {}
#endif
};

void BM_gemm_ex_pair(benchmark::State& state) {
  const int variant = int(state.range(3)), threads = int(state.range(4));
  qkv_set_num_threads(threads);
#ifdef QKV_BENCH_HAVE_DNNL
  omp_set_num_threads(threads);
#endif
  operands op(std::size_t(state.range(0)), std::size_t(state.range(1)), std::size_t(state.range(2)), variant, threads);
  if (!op.ex()) {
    state.SkipWithError("qkv_gemm_ex failed");
    return;
  }
  op.f32();  // warm-ups (oneDNN JITs its kernels on the first call)
  if (op.has_onednn()) op.onednn();
  std::vector<std::function<void()>> calls = {[&] { op.ex(); }, [&] { op.f32(); }};
  if (op.has_onednn()) calls.push_back([&] { op.onednn(); });
  std::vector<double> vs_f32, vs_dnnl, t_ex;
  std::size_t round = 0;
  for (auto _ : state) {
    std::vector<double> t(calls.size());
    for (std::size_t r = 0; r < calls.size(); ++r) {
      const std::size_t c = (round + r) % calls.size();
      const double t0 = now();
      calls[c]();
      benchmark::ClobberMemory();
      t[c] = now() - t0;
    }
    ++round;
    state.SetIterationTime(t[0]);
    t_ex.push_back(t[0]);
    vs_f32.push_back(t[1] / t[0]);
    if (calls.size() > 2) vs_dnnl.push_back(t[2] / t[0]);
  }
  const double flops = 2.0 * double(op.M) * double(op.N) * double(op.K);
  state.counters["GFLOPS"] = flops * 1e-9 / median_of(t_ex);
  state.counters["vs_f32"] = median_of(vs_f32);
  if (!vs_dnnl.empty()) state.counters["vs_onednn"] = median_of(vs_dnnl);
  state.SetLabel(kVariant[variant]);
}

void register_all() {
  const long shapes[][3] = {{1024, 1024, 1024}, {256, 256, 256},   {2048, 2048, 2048},
                            {1024, 768, 768},   {768, 2304, 768}, {4096, 4096, 64}};
  for (const auto& s : shapes)
    for (long v = 0; v < 5; ++v)
      for (long th : {1, 2}) {
        const double call_s = 2.0 * double(s[0]) * double(s[1]) * double(s[2]) / (100e9 * double(th));
        benchmark::RegisterBenchmark("BM_gemm_ex_pair", BM_gemm_ex_pair)
            ->Args({s[0], s[1], s[2], v, th})
            ->ArgNames({"M", "N", "K", "v", "thr"})
            ->UseManualTime()
            ->MinTime(std::min(std::max(40.0 * call_s, 0.2), 3.0))
            ->Unit(benchmark::kMicrosecond);
      }
  for (long m : {1, 8})
    for (long n : {768, 2304})
      for (long v : {0, 3, 4, 5, 6})
        benchmark::RegisterBenchmark("BM_gemm_ex_pair", BM_gemm_ex_pair)
            ->Args({m, n, 768, v, 1})
            ->ArgNames({"M", "N", "K", "v", "thr"})
            ->UseManualTime()
            ->MinTime(0.5)
            ->Unit(benchmark::kMicrosecond);
}

const bool g_registered = (register_all(), true);

}  // namespace
