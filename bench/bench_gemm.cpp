// SPDX-License-Identifier: MIT
// SGEMM: qkv_sgemm_ws (with its workspace, allocated once: the full-speed
// form) on the shapes attention uses (../shared/anchors.md), plain and with B
// transposed (Q.K^T), at 1 and 2 threads, and the same calls through
// OpenBLAS's cblas_sgemm and oneDNN's dnnl_sgemm in the same process when
// they are available (BM_sgemm_pair also runs the layer's projection shapes).
// BM_sgemm_nows_pair: what having no workspace costs (qkv_sgemm against
// qkv_sgemm_ws, alternated).
// Counters: GFLOPS, pct_peak (of the FMA peak measured in this process) and,
// on qkv rows, vs_openblas = qkv GFLOP/s / OpenBLAS GFLOP/s of the row just
// before it (same shape, transpose and threads). One-thread rows are timed in
// CPU time of the calling thread (both libraries run there; robust on a
// shared machine), two-thread rows in wall time.
// BM_sgemm_pair (the rows the tables quote) times qkv, oneDNN, OpenBLAS and
// the peak probe in every iteration: vs_onednn, vs_openblas and
// pct_peak_paired there are medians of per-iteration ratios.
#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "bench_util.hpp"

#ifdef QKV_BENCH_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef QKV_BENCH_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#endif
#if defined(QKV_BENCH_HAVE_CBLAS) || defined(QKV_BENCH_HAVE_DNNL)
#define QKV_BENCH_HAVE_PEER 1
#endif

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

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
#endif

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
[[maybe_unused]] double thread_cpu_seconds() {  // unused without a BLAS peer
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// One problem: C = op(A) op(B) with op(A) M x K and op(B) K x N, row-major,
// tight leading dimensions (the stored A is K x M when ta, B N x K when tb).
struct problem {
  std::size_t M, N, K;
  bool ta, tb;
  std::size_t lda() const { return ta ? M : K; }
  std::size_t ldb() const { return tb ? K : N; }
  qkv_trans qkv_ta() const { return ta ? QKV_TRANS : QKV_NO_TRANS; }
  qkv_trans qkv_tb() const { return tb ? QKV_TRANS : QKV_NO_TRANS; }
  double flops() const { return 2.0 * double(M) * double(N) * double(K); }
};

// The problem of a row whose arguments are M, N, K, tB, thr (A as stored
// unless `ta`, which BM_sgemm_pair's transposed-A rows pass).
problem problem_of(const benchmark::State& state, bool ta = false) {
  return {std::size_t(state.range(0)), std::size_t(state.range(1)), std::size_t(state.range(2)), ta,
          state.range(3) != 0};
}

// Operands whose products are exact in fp32 (multiples of 1/128 whose sums
// stay below 2^17 for K <= 4096), so every library gives the same bits.
struct operands {
  problem p;
  std::vector<float> A, B, C;
  explicit operands(const problem& pr) : p(pr), A(p.M * p.K), B(p.K * p.N), C(p.M * p.N, 0.f) {
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = float(int(i % 17) - 8) * 0.0625f;
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = float(int(i % 13) - 6) * 0.125f;
  }
  // qkv_sgemm_ws with a workspace for `threads` threads, sized on first use;
  // qkv_sgemm when the problem needs none (tiny shapes: the same call without
  // the workspace check).
  std::vector<unsigned char> ws;
  std::size_t ws_bytes = 1;  // 1: not sized yet
  void qkv(int threads) {
    if (ws_bytes == 1) {
      qkv_sgemm_workspace_size(p.qkv_ta(), p.qkv_tb(), p.M, p.N, p.K, threads, &ws_bytes);
      ws.assign(ws_bytes, 0);
    }
    if (ws_bytes == 0)
      qkv_nows();
    else
      qkv_sgemm_ws(p.qkv_ta(), p.qkv_tb(), p.M, p.N, p.K, 1.f, A.data(), p.lda(), B.data(), p.ldb(), 0.f, C.data(),
                   p.N, ws.data(), ws_bytes);
  }
  // qkv_sgemm: no workspace (B packed into a stack block, A read in place).
  void qkv_nows() {
    qkv_sgemm(p.qkv_ta(), p.qkv_tb(), p.M, p.N, p.K, 1.f, A.data(), p.lda(), B.data(), p.ldb(), 0.f, C.data(), p.N);
  }
#ifdef QKV_BENCH_HAVE_CBLAS
  void openblas() {
    cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, int(p.M), int(p.N),
                int(p.K), 1.f, A.data(), int(p.lda()), B.data(), int(p.ldb()), 0.f, C.data(), int(p.N));
  }
#endif
#ifdef QKV_BENCH_HAVE_DNNL
  // dnnl_sgemm is row-major, like qkv_sgemm and unlike the Fortran BLAS.
  void onednn() {
    dnnl_sgemm(p.ta ? 'T' : 'N', p.tb ? 'T' : 'N', dnnl_dim_t(p.M), dnnl_dim_t(p.N), dnnl_dim_t(p.K), 1.f, A.data(),
               dnnl_dim_t(p.lda()), B.data(), dnnl_dim_t(p.ldb()), 0.f, C.data(), dnnl_dim_t(p.N));
  }
#endif
};

#ifdef QKV_BENCH_HAVE_CBLAS
std::string openblas_label() { return "openblas-" + std::string(openblas_get_corename()); }
#endif
#ifdef QKV_BENCH_HAVE_DNNL
std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}
#endif

// The compared libraries, in the context stanza at the top of the output
// (bench_context.cpp adds the CPU and qkv's ISA).
const bool g_peers_in_context = [] {
#ifdef QKV_BENCH_HAVE_CBLAS
  benchmark::AddCustomContext("openblas", openblas_label() + ", " + openblas_get_config());
#endif
#ifdef QKV_BENCH_HAVE_DNNL
  const dnnl_version_t* v = dnnl_version();
  benchmark::AddCustomContext("onednn", onednn_version() + " (git " + (v->hash ? v->hash : "?") + "), OpenMP runtime");
#endif
  return true;
}();

// OpenBLAS GFLOP/s per (M, N, K, transB, threads), for the ratio counter.
std::map<std::tuple<long, long, long, long, long>, double>& openblas_rates() {
  static std::map<std::tuple<long, long, long, long, long>, double> m;
  return m;
}

void BM_sgemm_qkv(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  operands op(problem_of(state));
  for (auto _ : state) {
    op.qkv(threads);
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
  }
  const double flops = op.p.flops();
  qkv_bench::set_rate(state, flops, threads);
  const auto key = std::make_tuple(state.range(0), state.range(1), state.range(2), state.range(3), state.range(4));
  const auto it = openblas_rates().find(key);
  if (it != openblas_rates().end() && it->second > 0)
    state.counters["vs_openblas"] =
        benchmark::Counter(flops * 1e-9 / it->second, benchmark::Counter::kIsIterationInvariantRate);
}

#ifdef QKV_BENCH_HAVE_CBLAS
void BM_sgemm_openblas(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(4));
  openblas_set_num_threads(threads);
  operands op(problem_of(state));
  const double t0 = threads > 1 ? wall_seconds() : thread_cpu_seconds();
  std::int64_t iters = 0;
  for (auto _ : state) {
    op.openblas();
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
    ++iters;
  }
  const double secs = (threads > 1 ? wall_seconds() : thread_cpu_seconds()) - t0;
  const double flops = op.p.flops();
  qkv_bench::set_rate(state, flops, threads);
  state.SetLabel(openblas_label() + "/t" + std::to_string(threads));
  if (secs > 0) openblas_rates()[std::make_tuple(state.range(0), state.range(1), state.range(2), state.range(3),
                                                 state.range(4))] = flops * double(iters) * 1e-9 / secs;
}
#endif

#ifdef QKV_BENCH_HAVE_PEER
// A library BM_sgemm_pair times against qkv, and what it measured: per
// iteration its time over qkv's (vs_<name>) and its rate over that
// iteration's probe (<name>_pct_peak_paired); its total time
// (<name>_GFLOPS).
struct peer {
  std::string name, label;
  std::function<void()> call;
  std::vector<double> ratios, pct;
  double secs = 0;
};

// The libraries this build compares with, on `op`, each set to `threads`
// threads. oneDNN's Debian build runs on OpenMP: a dnnl_sgemm call uses the
// calling thread's OpenMP team size (oneDNN 2.6 has no setter of its own
// for that runtime); qkv passes its count to every parallel region, so
// omp_set_num_threads changes only oneDNN's.
std::vector<peer> peers_for(operands& op, int threads) {
  std::vector<peer> peers;
#ifdef QKV_BENCH_HAVE_DNNL
  omp_set_num_threads(threads);
  peers.push_back({"onednn", "onednn-" + onednn_version(), [&op] { op.onednn(); }, {}, {}, 0});
#endif
#ifdef QKV_BENCH_HAVE_CBLAS
  openblas_set_num_threads(threads);
  peers.push_back({"openblas", openblas_label(), [&op] { op.openblas(); }, {}, {}, 0});
#endif
  (void)op;
  (void)threads;
  return peers;
}

// Empty when every peer's C matches qkv's within K * FLT_EPSILON * max|C|
// (the operands make it exact, so any difference is a wrong call), else
// which peer differs and by how much. Also the warm-up (oneDNN JITs its
// kernels on the first call).
std::string disagreement(operands& op, std::vector<peer>& peers, int threads) {
  op.qkv(threads);
  const std::vector<float> ref = op.C;
  float scale = 1.f;
  for (float v : ref) scale = std::max(scale, std::fabs(v));
  const float tol = float(op.p.K) * FLT_EPSILON * scale;
  for (peer& pe : peers) {
    std::fill(op.C.begin(), op.C.end(), std::nanf(""));
    pe.call();
    float diff = 0.f;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const float d = std::fabs(op.C[i] - ref[i]);
      if (!(d <= diff)) diff = d;  // NaN (an element not written) sticks
    }
    if (!(diff <= tol))
      return pe.name + " differs from qkv by " + std::to_string(diff) + " (tolerance " + std::to_string(tol) + ")";
  }
  return {};
}

// Wall time of `batch` back-to-back calls.
double time_batch(const std::function<void()>& call, int batch) {
  const double t0 = wall_seconds();
  for (int i = 0; i < batch; ++i) {
    call();
    benchmark::ClobberMemory();
  }
  return wall_seconds() - t0;
}

// Paired: every iteration times a batch of qkv calls, a batch of the same
// oneDNN calls, a batch of the same OpenBLAS calls and the FMA peak probe
// back to back, the order rotating from one iteration to the next, so all
// see the same machine state, and vs_onednn / vs_openblas are the medians
// of the per-iteration ratios (their time over qkv's: > 1, qkv faster). This
// host's speed flips between two levels about 2x apart (its cores are shared
// with other tenants), so rates from separate benchmark runs, even adjacent
// ones, cannot be compared; pairs can. Wall time, every library's threads.
// Tiny shapes run in batches: the time column is per batch of calls_per_iter.
//
// The probe does as much work as one batch (2-200 MFLOP per thread), and
// pct_peak_paired is the median over iterations of qkv's rate over the
// probe's rate of that iteration: "% of peak" against a peak measured in the
// same phase (<peer>_pct_peak_paired the same for each library). pct_peak
// divides by the probe run once at the start of the process, whichever phase
// that met. Before timing, every library's result is checked against qkv's.
void BM_sgemm_pair(benchmark::State& state, bool ta) {
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  operands op(problem_of(state, ta));
  std::vector<peer> peers = peers_for(op, threads);
  const std::string bad = disagreement(op, peers, threads);
  if (!bad.empty()) {
    state.SkipWithError(bad.c_str());
    return;
  }
  const double flops = op.p.flops();
  // ~2 MFLOP per batch at least: >= ~10 us, well above the clock's resolution.
  const int batch = flops >= 2e6 ? 1 : int(2e6 / flops);
  const double batch_gflop = flops * double(batch) * 1e-9;
  const qkv_isa isa = qkv_bench::active_isa();
  const std::int64_t probe_iters = qkv_bench::paired_probe_iters(flops * double(batch));
  const std::function<void()> run_qkv = [&] { op.qkv(threads); };
  // Legs: 0 qkv, 1..n the peers, n + 1 the probe.
  const std::size_t legs = peers.size() + 2;
  std::vector<double> secs(legs), q_pct;
  std::size_t first = 0;
  for (auto _ : state) {
    double peak = 0;
    for (std::size_t j = 0; j < legs; ++j) {
      const std::size_t leg = (first + j) % legs;
      if (leg == legs - 1)
        peak = qkv_bench::probe_gflops(isa, threads, probe_iters);
      else
        secs[leg] = time_batch(leg == 0 ? run_qkv : peers[leg - 1].call, batch);
    }
    first = (first + 1) % legs;
    state.SetIterationTime(secs[0]);  // an iteration is one batch
    if (peak > 0) q_pct.push_back(100.0 * batch_gflop / secs[0] / peak);
    for (std::size_t k = 0; k < peers.size(); ++k) {
      peers[k].ratios.push_back(secs[k + 1] / secs[0]);
      peers[k].secs += secs[k + 1];
      if (peak > 0) peers[k].pct.push_back(100.0 * batch_gflop / secs[k + 1] / peak);
    }
  }
  qkv_bench::set_rate(state, flops * double(batch), threads);
  state.counters["calls_per_iter"] = batch;
  if (!q_pct.empty()) state.counters["pct_peak_paired"] = median(q_pct);
  std::string label = "paired with";
  for (const peer& pe : peers) {
    if (!pe.ratios.empty()) {
      state.counters["vs_" + pe.name] = median(pe.ratios);
      state.counters[pe.name + "_GFLOPS"] = batch_gflop * double(pe.ratios.size()) / pe.secs;
    }
    if (!pe.pct.empty()) state.counters[pe.name + "_pct_peak_paired"] = median(pe.pct);
    label += " " + pe.label;
  }
  state.SetLabel(label + "/t" + std::to_string(threads));
}
#endif

// The cost of no workspace: qkv_sgemm against qkv_sgemm_ws on the same
// operands, alternated in every iteration; nows_vs_ws is the median of the
// per-pair speed ratios (1.0: no cost). Wall time of the qkv_sgemm calls.
void BM_sgemm_nows_pair(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(4));
  qkv_set_num_threads(threads);
  operands op(problem_of(state));
  std::vector<double> ratios;
  bool nows_first = true;
  for (auto _ : state) {
    double t_nows = 0, t_ws = 0;
    for (int leg = 0; leg < 2; ++leg) {
      const bool nows = (leg == 0) == nows_first;
      const double t0 = wall_seconds();
      if (nows)
        op.qkv_nows();
      else
        op.qkv(threads);
      benchmark::ClobberMemory();
      (nows ? t_nows : t_ws) = wall_seconds() - t0;
    }
    nows_first = !nows_first;
    state.SetIterationTime(t_nows);
    if (t_nows > 0) ratios.push_back(t_ws / t_nows);
  }
  qkv_bench::set_rate(state, op.p.flops(), threads);
  if (!ratios.empty()) state.counters["nows_vs_ws"] = median(ratios);
}

// The anchors' shapes: cubes, attention's Q.K^T (T x T x d), P.V (T x d x T),
// projections (T x C x C), a long sequence, and the book's 6x2x3 example.
const long kShapes[][3] = {{64, 64, 64},     {256, 256, 256},   {1024, 1024, 1024}, {2048, 2048, 2048},
                           {1024, 1024, 64}, {1024, 64, 1024},  {1024, 768, 768},   {4096, 4096, 64},
                           {6, 2, 3}};

// The layer's GEMMs in a B4 T256 d768 training step, as a linear layer
// Y = X.W with X 1024 x 768 (B*T x d) and W 768 x 2304 (the fused Q, K, V
// projection): Y = X.W (1024x2304x768), dW = X^T.dY (768x2304x1024, A
// transposed), dX = dY.W^T (1024x768x2304, B transposed); and 768x2304x768,
// the shape issue 17 names. BM_sgemm_pair only. {M, N, K, tA, tB}.
const long kLayerShapes[][5] = {
    {768, 2304, 768, 0, 0}, {1024, 2304, 768, 0, 0}, {768, 2304, 1024, 1, 0}, {1024, 768, 2304, 0, 1}};

// Decoding's few rows: one or a few tokens through a 768 x 768 projection
// or the fused 768 x 2304 one (B as stored), and against a transposed B
// (x W^T; the GPT-2 tied head, 50257 x 768). BM_sgemm_pair only.
// {M, N, K, tB}.
const long kDecodeShapes[][4] = {{1, 768, 768, 0},  {4, 768, 768, 0},  {1, 2304, 768, 0},
                                 {1, 768, 768, 1},  {8, 768, 768, 1},  {1, 50257, 768, 1}};

bool is_tiny(long M, long N, long K) { return M * N * K < 100000; }

#ifdef QKV_BENCH_HAVE_PEER
// args: M, N, K, tB, thr; a transposed A adds a last argument tA:1, so the
// other rows keep their names.
void register_pair(std::vector<std::int64_t> args, bool ta) {
  std::vector<std::string> names = {"M", "N", "K", "tB", "thr"};
  const bool tiny = is_tiny(long(args[0]), long(args[1]), long(args[2]));
  // At least ~30 pairs per repetition: a median of a handful of 100 ms
  // pairs (2048^3) is one phase's luck.
  const double pair_s =
      2.0 * 2.0 * double(args[0]) * double(args[1]) * double(args[2]) / (150e9 * double(args[4]));
  if (ta) {
    args.push_back(1);
    names.push_back("tA");
  }
  benchmark::RegisterBenchmark("BM_sgemm_pair", [ta](benchmark::State& state) { BM_sgemm_pair(state, ta); })
      ->Args(args)
      ->ArgNames(names)
      ->UseManualTime()
      ->MinTime(std::min(std::max(30.0 * pair_s, 0.2), 4.0))
      ->Unit(tiny ? benchmark::kNanosecond : benchmark::kMicrosecond);
}
#endif

void register_all() {
  for (const auto& s : kShapes)
    for (long tb : {0, 1})
      for (long threads : {1, 2}) {
        const std::vector<std::int64_t> args = {s[0], s[1], s[2], tb, threads};
        const bool tiny = is_tiny(s[0], s[1], s[2]);
#ifdef QKV_BENCH_HAVE_CBLAS
        auto* o = benchmark::RegisterBenchmark("BM_sgemm_openblas", BM_sgemm_openblas)->Args(args);
        if (threads > 1) o->UseRealTime();
        o->ArgNames({"M", "N", "K", "tB", "thr"});
        if (!tiny) o->Unit(benchmark::kMicrosecond);
#endif
#ifdef QKV_BENCH_HAVE_PEER
        register_pair(args, false);
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
#ifdef QKV_BENCH_HAVE_PEER
  for (const auto& s : kLayerShapes)
    for (long threads : {1, 2}) register_pair({s[0], s[1], s[2], s[4], threads}, s[3] != 0);
  for (const auto& s : kDecodeShapes)
    for (long threads : {1, 2}) register_pair({s[0], s[1], s[2], s[3], threads}, false);
#endif
}

const bool g_registered = (register_all(), true);

}  // namespace
