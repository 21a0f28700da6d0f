// SGEMM: qkv_sgemm_ws (with its workspace, allocated once: the full-speed
// form) on the shapes attention uses (../shared/anchors.md), plain and with B
// transposed (Q.K^T), at 1 and 2 threads, and the same calls through
// OpenBLAS's cblas_sgemm in the same process when it is available.
// BM_sgemm_nows_pair: what having no workspace costs (qkv_sgemm against
// qkv_sgemm_ws, alternated).
// Counters: GFLOPS, pct_peak (of the FMA peak measured in this process) and,
// on qkv rows, vs_openblas = qkv GFLOP/s / OpenBLAS GFLOP/s of the row just
// before it (same shape, transpose and threads). One-thread rows are timed in
// CPU time of the calling thread (both libraries run there; robust on a
// shared machine), two-thread rows in wall time.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "bench_util.hpp"

#ifdef QKV_BENCH_HAVE_CBLAS
#include <cblas.h>
#endif

namespace {

#ifdef QKV_BENCH_HAVE_CBLAS
// OpenBLAS reads OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in its own constructor,
// which runs before anything in this executable, so unsetting them in main()
// is too late (the environment may force the AVX2 kernel). Fix the
// environment and re-execute the program once, from the earliest hook an
// executable has (glibc passes argc/argv/envp to .init_array functions).
// QKV_BENCH_OPENBLAS_CORETYPE=<core> asks for that OpenBLAS core instead of
// its own choice: OpenBLAS 0.3.21 does not know this Xeon's CPU model and
// falls back to the SSE3 "Prescott" kernels unless told e.g. SkylakeX.
//
// Both thread pools are also told to spin only briefly (~20 us) before they
// sleep, unless the caller set it: by default OpenBLAS's workers spin for
// 2^28 cycles (~0.1 s) and libgomp's for ~300k iterations after every call,
// so in one process each library's idle threads would steal the cores the
// other one's next call runs on (the paired benchmark alternates them).
__attribute__((constructor)) void reexec_with_openblas_env(int, char** argv, char**) {
  const char* want = std::getenv("QKV_BENCH_OPENBLAS_CORETYPE");
  if (want && !*want) want = nullptr;
  const char* have = std::getenv("OPENBLAS_CORETYPE");
  const bool core_ok = want ? (have && std::strcmp(have, want) == 0) : !have;
  const bool spin_ok = std::getenv("OPENBLAS_THREAD_TIMEOUT") && std::getenv("GOMP_SPINCOUNT");
  if (core_ok && spin_ok && !std::getenv("OPENBLAS_L2_SIZE")) return;
  setenv("OPENBLAS_THREAD_TIMEOUT", "16", 0);  // 2^16 cycles
  setenv("GOMP_SPINCOUNT", "20000", 0);
  unsetenv("OPENBLAS_L2_SIZE");
  if (want)
    setenv("OPENBLAS_CORETYPE", want, 1);
  else
    unsetenv("OPENBLAS_CORETYPE");
  execv("/proc/self/exe", argv);
  std::perror("bench_gemm: re-exec for the OpenBLAS environment failed; OpenBLAS figures use the inherited core");
}

const bool g_corename_printed = [] {
  std::fprintf(stderr, "OpenBLAS core: %s, config: %s\n", openblas_get_corename(), openblas_get_config());
  return true;
}();
#endif

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct operands {
  std::vector<float> A, B, C;
  operands(std::size_t M, std::size_t N, std::size_t K) : A(M * K), B(K * N), C(M * N, 0.f) {
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = float(int(i % 17) - 8) * 0.0625f;
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = float(int(i % 13) - 6) * 0.125f;
  }
  // qkv_sgemm_ws on these operands (B transposed or not) with a workspace
  // for `threads` threads, sized on first use; qkv_sgemm when the problem
  // needs none (tiny shapes: the same call without the workspace check).
  std::vector<unsigned char> ws;
  std::size_t ws_bytes = 1;  // 1: not sized yet
  void qkv(bool tb, std::size_t M, std::size_t N, std::size_t K, int threads) {
    const qkv_trans t = tb ? QKV_TRANS : QKV_NO_TRANS;
    if (ws_bytes == 1) {
      qkv_sgemm_workspace_size(QKV_NO_TRANS, t, M, N, K, threads, &ws_bytes);
      ws.assign(ws_bytes, 0);
    }
    if (ws_bytes == 0)
      qkv_sgemm(QKV_NO_TRANS, t, M, N, K, 1.f, A.data(), K, B.data(), tb ? K : N, 0.f, C.data(), N);
    else
      qkv_sgemm_ws(QKV_NO_TRANS, t, M, N, K, 1.f, A.data(), K, B.data(), tb ? K : N, 0.f, C.data(), N, ws.data(),
                   ws_bytes);
  }
  // qkv_sgemm: no workspace (B packed into a stack block, A read in place).
  void qkv_nows(bool tb, std::size_t M, std::size_t N, std::size_t K) {
    const qkv_trans t = tb ? QKV_TRANS : QKV_NO_TRANS;
    qkv_sgemm(QKV_NO_TRANS, t, M, N, K, 1.f, A.data(), K, B.data(), tb ? K : N, 0.f, C.data(), N);
  }
};

// OpenBLAS GFLOP/s per (M, N, K, transB, threads), for the ratio counter.
std::map<std::tuple<long, long, long, long, long>, double>& openblas_rates() {
  static std::map<std::tuple<long, long, long, long, long>, double> m;
  return m;
}

void BM_sgemm_qkv(benchmark::State& state) {
  const std::size_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool tb = state.range(3) != 0;
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  operands op(M, N, K);
  for (auto _ : state) {
    op.qkv(tb, M, N, K, threads);
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(M) * double(N) * double(K);
  qkv_bench::set_rate(state, flops, threads);
  const auto key = std::make_tuple(state.range(0), state.range(1), state.range(2), state.range(3), state.range(4));
  const auto it = openblas_rates().find(key);
  if (it != openblas_rates().end() && it->second > 0)
    state.counters["vs_openblas"] =
        benchmark::Counter(flops * 1e-9 / it->second, benchmark::Counter::kIsIterationInvariantRate);
}

#ifdef QKV_BENCH_HAVE_CBLAS
void BM_sgemm_openblas(benchmark::State& state) {
  const std::size_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool tb = state.range(3) != 0;
  const int threads = static_cast<int>(state.range(4));
  openblas_set_num_threads(threads);
  operands op(M, N, K);
  const double t0 = threads > 1 ? wall_seconds() : thread_cpu_seconds();
  std::int64_t iters = 0;
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.f,
                op.A.data(), int(K), op.B.data(), int(tb ? K : N), 0.f, op.C.data(), int(N));
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
    ++iters;
  }
  const double secs = (threads > 1 ? wall_seconds() : thread_cpu_seconds()) - t0;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  qkv_bench::set_rate(state, flops, threads);
  state.SetLabel("openblas-" + std::string(openblas_get_corename()) + "/t" + std::to_string(threads));
  if (secs > 0) openblas_rates()[std::make_tuple(state.range(0), state.range(1), state.range(2), state.range(3),
                                                 state.range(4))] = flops * double(iters) * 1e-9 / secs;
}
#endif

#ifdef QKV_BENCH_HAVE_CBLAS
// Paired: every iteration times a batch of qkv calls and a batch of the same
// OpenBLAS calls back to back (the order alternates), so both see the same
// machine state, and vs_openblas is the median of the per-pair ratios. This
// host's speed flips between two levels about 2x apart (its cores are shared
// with other tenants), so rates from separate benchmark runs, even adjacent
// ones, cannot be compared; pairs can. Wall time, both libraries' threads.
// Tiny shapes run in batches: the time column is per batch of calls_per_iter.
//
// Each iteration also runs the FMA peak probe between the two libraries
// (up to ~1 ms of it), and pct_peak_paired is the median over iterations of
// qkv's rate over the probe's rate of that iteration: "% of peak" against a
// peak measured in the same phase. pct_peak divides by the probe run once
// at the start of the process, whichever phase that met.
void BM_sgemm_pair(benchmark::State& state) {
  const std::size_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool tb = state.range(3) != 0;
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  openblas_set_num_threads(threads);
  operands op(M, N, K);
  const double flops = 2.0 * double(M) * double(N) * double(K);
  // ~2 MFLOP per batch at least: >= ~10 us, well above the clock's resolution.
  const int batch = flops >= 2e6 ? 1 : int(2e6 / flops);
  auto run_qkv = [&] {
    const double t0 = wall_seconds();
    for (int i = 0; i < batch; ++i) {
      op.qkv(tb, M, N, K, threads);
      benchmark::ClobberMemory();
    }
    return wall_seconds() - t0;
  };
  auto run_openblas = [&] {
    const double t0 = wall_seconds();
    for (int i = 0; i < batch; ++i) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K), 1.f,
                  op.A.data(), int(K), op.B.data(), int(tb ? K : N), 0.f, op.C.data(), int(N));
      benchmark::ClobberMemory();
    }
    return wall_seconds() - t0;
  };
  const qkv_isa isa = qkv_bench::active_isa();
  // Probe work per thread: as much as one batch, within [2, 200] MFLOP.
  const double probe_flops = std::min(std::max(flops * double(batch), 2e6), 2e8);
  const std::int64_t probe_iters = std::max<std::int64_t>(1, std::int64_t(probe_flops / 768));  // 768 FLOP/iter
  auto run_probe = [&] { return qkv_bench::probe_gflops(isa, threads, probe_iters); };
  std::vector<double> ratios, q_pct, o_pct;
  double q_sum = 0, o_sum = 0;
  bool qkv_first = true;
  for (auto _ : state) {
    double tq, to, peak;
    if (qkv_first) {
      tq = run_qkv();
      peak = run_probe();
      to = run_openblas();
    } else {
      to = run_openblas();
      peak = run_probe();
      tq = run_qkv();
    }
    qkv_first = !qkv_first;
    state.SetIterationTime(tq);  // an iteration is one batch
    ratios.push_back(to / tq);
    const double batch_gflop = flops * double(batch) * 1e-9;
    if (peak > 0) {
      q_pct.push_back(100.0 * batch_gflop / tq / peak);
      o_pct.push_back(100.0 * batch_gflop / to / peak);
    }
    q_sum += tq;
    o_sum += to;
  }
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  qkv_bench::set_rate(state, flops * double(batch), threads);
  state.counters["calls_per_iter"] = batch;
  if (!ratios.empty()) {
    state.counters["vs_openblas"] = median(ratios);
    state.counters["openblas_GFLOPS"] = flops * double(batch) * double(ratios.size()) * 1e-9 / o_sum;
  }
  if (!q_pct.empty()) {
    state.counters["pct_peak_paired"] = median(q_pct);
    state.counters["openblas_pct_peak_paired"] = median(o_pct);
  }
  state.SetLabel("paired with openblas-" + std::string(openblas_get_corename()) + "/t" + std::to_string(threads));
}
#endif

// The cost of no workspace: qkv_sgemm against qkv_sgemm_ws on the same
// operands, alternated in every iteration; nows_vs_ws is the median of the
// per-pair speed ratios (1.0: no cost). Wall time of the qkv_sgemm calls.
void BM_sgemm_nows_pair(benchmark::State& state) {
  const std::size_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool tb = state.range(3) != 0;
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  operands op(M, N, K);
  std::vector<double> ratios;
  bool nows_first = true;
  for (auto _ : state) {
    double t_nows = 0, t_ws = 0;
    for (int leg = 0; leg < 2; ++leg) {
      const bool nows = (leg == 0) == nows_first;
      const double t0 = wall_seconds();
      if (nows)
        op.qkv_nows(tb, M, N, K);
      else
        op.qkv(tb, M, N, K, threads);
      benchmark::ClobberMemory();
      (nows ? t_nows : t_ws) = wall_seconds() - t0;
    }
    nows_first = !nows_first;
    state.SetIterationTime(t_nows);
    if (t_nows > 0) ratios.push_back(t_ws / t_nows);
  }
  qkv_bench::set_rate(state, 2.0 * double(M) * double(N) * double(K), threads);
  if (!ratios.empty()) {
    std::sort(ratios.begin(), ratios.end());
    state.counters["nows_vs_ws"] = ratios[ratios.size() / 2];
  }
}

// The anchors' shapes: cubes, attention's Q.K^T (T x T x d), P.V (T x d x T),
// projections (T x C x C), a long sequence, and the book's 6x2x3 example.
const long kShapes[][3] = {{64, 64, 64},     {256, 256, 256},   {1024, 1024, 1024}, {2048, 2048, 2048},
                           {1024, 1024, 64}, {1024, 64, 1024},  {1024, 768, 768},   {4096, 4096, 64},
                           {6, 2, 3}};

void register_all() {
  for (const auto& s : kShapes)
    for (long tb : {0, 1})
      for (long threads : {1, 2}) {
        const std::vector<std::int64_t> args = {s[0], s[1], s[2], tb, threads};
        const bool tiny = s[0] * s[1] * s[2] < 100000;
#ifdef QKV_BENCH_HAVE_CBLAS
        auto* o = benchmark::RegisterBenchmark("BM_sgemm_openblas", BM_sgemm_openblas)->Args(args);
        if (threads > 1) o->UseRealTime();
        o->ArgNames({"M", "N", "K", "tB", "thr"});
        if (!tiny) o->Unit(benchmark::kMicrosecond);
#endif
#ifdef QKV_BENCH_HAVE_CBLAS
        // At least ~30 pairs per repetition: a median of a handful of
        // 100 ms pairs (2048^3) is one phase's luck.
        const double pair_s = 2.0 * 2.0 * double(s[0]) * double(s[1]) * double(s[2]) / (150e9 * double(threads));
        benchmark::RegisterBenchmark("BM_sgemm_pair", BM_sgemm_pair)
            ->Args(args)
            ->ArgNames({"M", "N", "K", "tB", "thr"})
            ->UseManualTime()
            ->MinTime(std::min(std::max(30.0 * pair_s, 0.2), 4.0))
            ->Unit(tiny ? benchmark::kNanosecond : benchmark::kMicrosecond);
#endif
        if (!tiny && tb == 0)
          benchmark::RegisterBenchmark("BM_sgemm_nows_pair", BM_sgemm_nows_pair)
              ->Args(args)
              ->ArgNames({"M", "N", "K", "tB", "thr"})
              ->UseManualTime()
              ->MinTime(0.2)
              ->Unit(benchmark::kMicrosecond);
        auto* q = benchmark::RegisterBenchmark("BM_sgemm_qkv", BM_sgemm_qkv)->Args(args);
        if (threads > 1) q->UseRealTime();
        q->ArgNames({"M", "N", "K", "tB", "thr"});
        if (!tiny) q->Unit(benchmark::kMicrosecond);
      }
}

const bool g_registered = (register_all(), true);

}  // namespace
