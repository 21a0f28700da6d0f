// SPDX-License-Identifier: MIT
// Attention forward: the fused kernel against the unfused composition a user
// would write (GEMM, stable softmax, GEMM; with OpenBLAS when installed), at
// the shapes of real models. FLOPs: 4*B*H*Tq*Tk*d, causal counted as half.
// Counters: GFLOPS, pct_peak (the fused rows also pct_peak_paired), ws_bytes (fused workspace per thread) and
// txt_bytes (the T x T scores one (batch, head) of the unfused path holds).
#include <cmath>
#include <cstring>
#include <vector>

#include "bench_util.hpp"

#ifdef QKV_BENCH_HAVE_CBLAS
#include <cblas.h>
#endif

namespace {

struct sdpa_case {
  std::size_t B, H, T, D;
  bool causal;
  int threads;
};

sdpa_case args_of(const benchmark::State& s) {
  return {std::size_t(s.range(0)), std::size_t(s.range(1)), std::size_t(s.range(2)), std::size_t(s.range(3)),
          s.range(4) != 0, int(s.range(5))};
}

qkv_sdpa_desc desc_of(const sdpa_case& c) {
  qkv_sdpa_desc d{};
  d.batch = c.B;
  d.heads = c.H;
  d.q_len = d.kv_len = c.T;
  d.head_dim = c.D;
  d.q = d.k = d.v = d.o = {c.H * c.T * c.D, c.T * c.D, c.D};  // [B,H,T,d]
  d.causal = c.causal;
  return d;
}

double flops_of(const sdpa_case& c) {
  return 4.0 * double(c.B * c.H) * double(c.T) * double(c.T) * double(c.D) * (c.causal ? 0.5 : 1.0);
}

struct tensors {
  std::vector<float> q, k, v, o, lse;
  explicit tensors(const sdpa_case& c) {
    const std::size_t n = c.B * c.H * c.T * c.D;
    q.resize(n);
    k.resize(n);
    v.resize(n);
    o.resize(n);
    lse.resize(c.B * c.H * c.T);
    for (std::size_t i = 0; i < n; ++i) {
      q[i] = std::sin(0.37f * float(i));
      k[i] = std::cos(0.11f * float(i));
      v[i] = std::sin(0.05f * float(i) + 1.f);
    }
  }
};

void set_common(benchmark::State& state, const sdpa_case& c, std::size_t ws_bytes) {
  qkv_bench::set_rate(state, flops_of(c), c.threads);
  state.counters["ws_bytes"] = double(ws_bytes);
  state.counters["txt_bytes"] = double(c.T * c.T * sizeof(float));
}

void BM_sdpa_fused(benchmark::State& state) {
  const sdpa_case c = args_of(state);
  qkv_set_num_threads(c.threads);
  const qkv_sdpa_desc d = desc_of(c);
  tensors t(c);
  std::size_t bytes = 0;
  qkv_sdpa_workspace_size(&d, c.threads, &bytes);
  std::vector<unsigned char> ws(bytes);
  qkv_bench::paired_peak paired(flops_of(c), c.threads);
  for (auto _ : state) {
    const double t0 = qkv_bench::now_s();
    if (qkv_sdpa_forward(&d, t.q.data(), t.k.data(), t.v.data(), t.o.data(), t.lse.data(), ws.data(), bytes) !=
        QKV_OK) {
      state.SkipWithError("qkv_sdpa_forward failed");
      return;
    }
    benchmark::DoNotOptimize(t.o.data());
    paired.sample(state, qkv_bench::now_s() - t0);
  }
  set_common(state, c, (bytes - 63) / std::size_t(c.threads));
  paired.report(state);
}

// The composition a qkv user would write without the fused kernel: per
// (batch, head) S = scale Q K^T with qkv_sgemm, mask, qkv_softmax, O = S V.
void BM_sdpa_unfused_qkv(benchmark::State& state) {
  const sdpa_case c = args_of(state);
  qkv_set_num_threads(c.threads);
  tensors t(c);
  std::vector<float> s(c.T * c.T);
  const float scale = 1.0f / std::sqrt(float(c.D));
  for (auto _ : state) {
    for (std::size_t bh = 0; bh < c.B * c.H; ++bh) {
      const float* q = t.q.data() + bh * c.T * c.D;
      const float* k = t.k.data() + bh * c.T * c.D;
      const float* v = t.v.data() + bh * c.T * c.D;
      qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, c.T, c.T, c.D, scale, q, c.D, k, c.D, 0.f, s.data(), c.T);
      if (c.causal)
        for (std::size_t i = 0; i < c.T; ++i)
          for (std::size_t j = i + 1; j < c.T; ++j) s[i * c.T + j] = -INFINITY;
      qkv_softmax(c.T, c.T, 1.0f, s.data(), c.T, s.data(), c.T);
      qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, c.T, c.D, c.T, 1.f, s.data(), c.T, v, c.D, 0.f,
                t.o.data() + bh * c.T * c.D, c.D);
    }
    benchmark::DoNotOptimize(t.o.data());
  }
  set_common(state, c, 0);
}

#ifdef QKV_BENCH_HAVE_CBLAS
// S = scale Q K^T; masked; softmax; O = S V, per (batch, head), OpenBLAS
// threading inside each GEMM; the softmax is qkv's (OpenBLAS has none).
void BM_sdpa_unfused_openblas(benchmark::State& state) {
  const sdpa_case c = args_of(state);
  qkv_set_num_threads(c.threads);
  openblas_set_num_threads(c.threads);
  tensors t(c);
  std::vector<float> s(c.T * c.T);
  const float scale = 1.0f / std::sqrt(float(c.D));
  const int T = int(c.T), D = int(c.D);
  for (auto _ : state) {
    for (std::size_t bh = 0; bh < c.B * c.H; ++bh) {
      const float* q = t.q.data() + bh * c.T * c.D;
      const float* k = t.k.data() + bh * c.T * c.D;
      const float* v = t.v.data() + bh * c.T * c.D;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, D, scale, q, D, k, D, 0.f, s.data(), T);
      if (c.causal)
        for (std::size_t i = 0; i < c.T; ++i)
          for (std::size_t j = i + 1; j < c.T; ++j) s[i * c.T + j] = -INFINITY;
      qkv_softmax(c.T, c.T, 1.0f, s.data(), c.T, s.data(), c.T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, D, T, 1.f, s.data(), T, v, D, 0.f,
                  t.o.data() + bh * c.T * c.D, D);
    }
    benchmark::DoNotOptimize(t.o.data());
  }
  set_common(state, c, 0);
  state.SetLabel("openblas " + std::string(openblas_get_corename()) + "/t" + std::to_string(c.threads));
}
#endif

void sdpa_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "H", "T", "d", "causal", "thr"});
  const long shapes[][4] = {{1, 12, 256, 64}, {1, 12, 1024, 64}, {1, 1, 4096, 64}, {1, 8, 2048, 128},
                            {4, 12, 256, 64}};
  for (const auto& s : shapes)
    for (long causal : {0, 1})
      for (long thr : {1, 2}) b->Args({s[0], s[1], s[2], s[3], causal, thr});
}

// T sweep for the chart (H12 d64 non-causal and causal, one thread).
void sweep_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "H", "T", "d", "causal", "thr"});
  for (long causal : {0, 1})
    for (long t : {128, 256, 512, 1024, 2048}) b->Args({1, 12, t, 64, causal, 1});
}

BENCHMARK(BM_sdpa_fused)->Apply(sdpa_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_fused)->Name("BM_sdpa_fused_sweep")->Apply(sweep_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_unfused_qkv)->Apply(sdpa_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_unfused_qkv)
    ->Name("BM_sdpa_unfused_qkv_sweep")
    ->Apply(sweep_args)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#ifdef QKV_BENCH_HAVE_CBLAS
BENCHMARK(BM_sdpa_unfused_openblas)->Apply(sdpa_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_unfused_openblas)
    ->Name("BM_sdpa_unfused_openblas_sweep")
    ->Apply(sweep_args)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
#endif

}  // namespace
