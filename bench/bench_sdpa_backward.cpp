// SPDX-License-Identifier: MIT
// Attention backward (issue 5): GFLOP/s and % of peak of the fused backward
// and, in the same run, of two unfused baselines that materialize the T x T
// weights: the library's reference path (level-1 kernels) and one composed of
// five qkv_sgemm calls per head with the softmax gradient as plain loops.
// The shapes, causal and not, 1 and 2 threads.
// FLOPs: 8 B H Tq Tk d (four matmuls, recompute not counted); causal half.
// pct_peak_paired: against a probe after every call (bench_util.hpp).
// Filter with e.g. --benchmark_filter='sdpa_backward/fused'.
#include <cmath>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "bench_util.hpp"

namespace {

struct bench_shape {
  std::size_t B, H, T, D;
};
const bench_shape kShapes[] = {{1, 12, 1024, 64}, {1, 1, 4096, 64}, {4, 12, 256, 64}};

// Inputs of one shape in [B, T, H, d] (the fused-QKV projection's layout),
// with a consistent lse (computed here in float) and O; built once per shape.
struct bench_data {
  qkv_sdpa_desc d{};
  std::vector<float> q, k, v, o, lse, dout, dq, dk, dv;
  bench_data(const bench_shape& s, int causal) {
    d.batch = s.B; d.heads = s.H; d.q_len = d.kv_len = s.T; d.head_dim = s.D; d.causal = causal;
    d.q = d.k = d.v = d.o = {s.T * s.H * s.D, s.D, s.H * s.D};
    const std::size_t n = s.B * s.T * s.H * s.D;
    std::uint32_t state = 12345;
    auto fill = [&](std::vector<float>& x) {
      x.resize(n);
      for (float& e : x) {
        state = state * 1664525u + 1013904223u;
        e = static_cast<float>(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
      }
    };
    fill(q), fill(k), fill(v), fill(o), fill(dout);
    dq.resize(n), dk.resize(n), dv.resize(n);
    lse.resize(s.B * s.H * s.T);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.D));
    std::vector<float> row(s.T);
    for (std::size_t b = 0; b < s.B; ++b)
      for (std::size_t h = 0; h < s.H; ++h)
        for (std::size_t i = 0; i < s.T; ++i) {
          const float* qi = q.data() + b * d.q.batch + h * d.q.head + i * d.q.token;
          const std::size_t seen = causal ? i + 1 : s.T;
          float m = -INFINITY;
          for (std::size_t j = 0; j < seen; ++j) {
            qkv_sdot(s.D, qi, k.data() + b * d.k.batch + h * d.k.head + j * d.k.token, &row[j]);
            row[j] *= scale;
            m = std::max(m, row[j]);
          }
          double sum = 0;
          for (std::size_t j = 0; j < seen; ++j) sum += std::exp(double(row[j] - m));
          lse[(b * s.H + h) * s.T + i] = m + static_cast<float>(std::log(sum));
        }
  }
};

bench_data& data_for(int shape, int causal) {
  static std::map<std::pair<int, int>, std::unique_ptr<bench_data>> cache;
  auto& p = cache[{shape, causal}];
  if (!p) p = std::make_unique<bench_data>(kShapes[shape], causal);
  return *p;
}

void BM_sdpa_backward(benchmark::State& state, qkv_sdpa_algo algo) {
  const int shape = static_cast<int>(state.range(0)), causal = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  bench_data& x = data_for(shape, causal);
  x.d.algo = algo;
  qkv_set_num_threads(threads);
  std::size_t bytes = 0;
  if (qkv_sdpa_backward_workspace_size(&x.d, threads, &bytes) != QKV_OK) {
    state.SkipWithError("workspace query failed");
    return;
  }
  std::vector<unsigned char> ws(bytes);
  const bench_shape& s = kShapes[shape];
  const double flops = 8.0 * double(s.B * s.H) * double(s.T) * double(s.T) * double(s.D) * (causal ? 0.5 : 1.0);
  qkv_bench::paired_peak paired(flops, threads);
  for (auto _ : state) {
    const double t0 = qkv_bench::now_s();
    const qkv_status st = qkv_sdpa_backward(&x.d, x.q.data(), x.k.data(), x.v.data(), x.o.data(), x.lse.data(),
                                            x.dout.data(), x.dq.data(), x.dk.data(), x.dv.data(), ws.data(), bytes);
    if (st != QKV_OK) {
      state.SkipWithError(qkv_status_string(st));
      break;
    }
    benchmark::DoNotOptimize(x.dq.data());
    paired.sample(state, qkv_bench::now_s() - t0);
  }
  qkv_bench::set_rate(state, flops, threads);
  paired.report(state);
  state.counters["ws_KiB_per_thread"] = double(bytes) / 1024.0 / threads;
}

// The unfused backward from qkv_sgemm, per (b, h): S = Q Kᵀ, P = exp(scale S
// - lse) (masked), dP = dO Vᵀ, dS = P (dP - D), then dV = Pᵀ dO, dQ = scale
// dS K, dK = scale dSᵀ Q. Full T x T products even when causal (a plain
// composition cannot skip the masked half); sgemm threads internally.
void unfused_sgemm(bench_data& x, std::vector<float>& P, std::vector<float>& dP) {
  const qkv_sdpa_desc& d = x.d;
  const std::size_t T = d.q_len, D = d.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h) {
      const std::size_t off = b * d.q.batch + h * d.q.head, ld = d.q.token;  // one layout for all four
      const float *q = x.q.data() + off, *k = x.k.data() + off, *v = x.v.data() + off;
      const float *o = x.o.data() + off, *g = x.dout.data() + off, *lse = x.lse.data() + (b * d.heads + h) * T;
      qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, T, T, D, scale, q, ld, k, ld, 0.f, P.data(), T);
      qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, T, T, D, 1.f, g, ld, v, ld, 0.f, dP.data(), T);
      for (std::size_t i = 0; i < T; ++i) {
        float Di = 0;
        for (std::size_t f = 0; f < D; ++f) Di += g[i * ld + f] * o[i * ld + f];
        float* pr = P.data() + i * T;
        float* dr = dP.data() + i * T;
        for (std::size_t j = 0; j < T; ++j) {
          const float p = (!d.causal || j <= i) ? std::exp(pr[j] - lse[i]) : 0.f;
          pr[j] = p;
          dr[j] = p * (dr[j] - Di) * scale;
        }
      }
      qkv_sgemm(QKV_TRANS, QKV_NO_TRANS, T, D, T, 1.f, P.data(), T, g, ld, 0.f, x.dv.data() + off, ld);
      qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, T, D, T, 1.f, dP.data(), T, k, ld, 0.f, x.dq.data() + off, ld);
      qkv_sgemm(QKV_TRANS, QKV_NO_TRANS, T, D, T, 1.f, dP.data(), T, q, ld, 0.f, x.dk.data() + off, ld);
    }
}

void BM_sdpa_backward_unfused_sgemm(benchmark::State& state) {
  const int shape = static_cast<int>(state.range(0)), causal = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  bench_data& x = data_for(shape, causal);
  qkv_set_num_threads(threads);
  const std::size_t T = x.d.q_len;
  std::vector<float> P(T * T), dP(T * T);
  for (auto _ : state) {
    unfused_sgemm(x, P, dP);
    benchmark::DoNotOptimize(x.dq.data());
  }
  const bench_shape& s = kShapes[shape];
  const double flops = 8.0 * double(s.B * s.H) * double(s.T) * double(s.T) * double(s.D) * (causal ? 0.5 : 1.0);
  qkv_bench::set_rate(state, flops, threads);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"shape", "causal", "threads"});
  for (int s = 0; s < 3; ++s)
    for (int c : {1, 0})
      for (int t : {1, 2}) b->Args({s, c, t});
}

BENCHMARK_CAPTURE(BM_sdpa_backward, fused, QKV_SDPA_FUSED)->Apply(args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_sdpa_backward, unfused_reference, QKV_SDPA_REFERENCE)
    ->Apply(args)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_backward_unfused_sgemm)->Apply(args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
