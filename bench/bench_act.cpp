// SPDX-License-Identifier: MIT
// Activations (qkv/activation.h).
// BM_sgemm_bias_act_pair: the feed-forward network's first linear layer,
//   GPT-2 small's 1024 x 3072 x 768 (+ bias, GELU tanh): qkv_sgemm_bias_act
//   (the product with its bias, then the activation over C) against the
//   product alone (ops::sgemm_bias where the bench links the static library,
//   QKV_BENCH_KERNELS; else qkv_sgemm_ws on C preset to the bias),
//   alternated in every iteration. Arguments M, N, K, threads, keep_pre (1:
//   pre-activations written too, training; 0: only C, inference). Counters:
//   GFLOPS of qkv_sgemm_bias_act (2MNK), act_cost = its time over the
//   product's, median of per-iteration ratios (what the activation adds).
//   This pair also judged an epilogue that applied the activation to each C
//   tile inside the GEMM (same bits): it saved no measurable time (the report
//   of issue 21), so the library runs the two passes.
// BM_act_forward / BM_act_backward: one activation over a 1024 x 3072
//   matrix, in place; Gelem/s.
#include <cstdint>
#include <vector>

#include "bench_util.hpp"

#ifdef QKV_BENCH_KERNELS
#include "ops/exec.hpp"
#include "ops/gemm.hpp"
#endif

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

struct linear {
  std::size_t M, N, K;
  std::vector<float> A, B, bias, pre, C;
  std::vector<unsigned char> ws;
  linear(std::size_t m, std::size_t n, std::size_t k, int threads)
      : M(m), N(n), K(k), A(m * k), B(k * n), bias(n), pre(m * n), C(m * n) {
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = float(int(i % 17) - 8) * 0.0625f;
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = float(int(i % 13) - 6) * 0.0125f;
    for (std::size_t i = 0; i < N; ++i) bias[i] = float(int(i % 7) - 3) * 0.1f;
    std::size_t wb = 0;
    qkv_sgemm_bias_act_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, threads, &wb);
    ws.assign(wb + 64, 0);
  }
  qkv_status fused(bool keep_pre) {
    return qkv_sgemm_bias_act(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, A.data(), K, B.data(), N, bias.data(),
                              QKV_ACT_GELU_TANH, keep_pre ? pre.data() : nullptr, N, C.data(), N, ws.data(),
                              ws.size());
  }
  // The product alone, into pre (or C).
  qkv_status product(bool keep_pre) {
    float* out = keep_pre ? pre.data() : C.data();
#ifdef QKV_BENCH_KERNELS
    qkv::ops::sgemm_bias(qkv::ops::current_exec(), false, false, M, N, K, A.data(), K, B.data(), N, bias.data(), out,
                         N, ws.data(), ws.size());
    return QKV_OK;
#else
    for (std::size_t r = 0; r < M; ++r)
      for (std::size_t j = 0; j < N; ++j) out[r * N + j] = bias[j];
    return qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, 1.f, A.data(), K, B.data(), N, 1.f, out, N, ws.data(),
                        ws.size());
#endif
  }
};

void BM_sgemm_bias_act_pair(benchmark::State& state) {
  const std::size_t M = std::size_t(state.range(0)), N = std::size_t(state.range(1)), K = std::size_t(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  const bool keep_pre = state.range(4) != 0;
  qkv_set_num_threads(threads);
  linear l(M, N, K, threads);
  if (l.fused(keep_pre) != QKV_OK || l.product(keep_pre) != QKV_OK) {
    state.SkipWithError("call failed");
    return;
  }
  std::vector<double> ratios;
  bool fused_first = true;
  for (auto _ : state) {
    double t_fused = 0, t_gemm = 0;
    for (int leg = 0; leg < 2; ++leg) {
      const bool fused = (leg == 0) == fused_first;
      const double t0 = now_s();
      if (fused)
        l.fused(keep_pre);
      else
        l.product(keep_pre);
      benchmark::ClobberMemory();
      (fused ? t_fused : t_gemm) = now_s() - t0;
    }
    fused_first = !fused_first;
    state.SetIterationTime(t_fused);
    if (t_gemm > 0) ratios.push_back(t_fused / t_gemm);
  }
  qkv_bench::set_rate(state, 2.0 * double(M) * double(N) * double(K), threads);
  state.counters["act_cost"] = median(ratios);
}

void act_rate(benchmark::State& state, bool backward) {
  const qkv_activation k = static_cast<qkv_activation>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  qkv_set_num_threads(threads);
  const std::size_t rows = 1024, n = 3072;
  std::vector<float> x(rows * n), y(rows * n, 1.f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 101) - 50) * 0.1f;
  for (auto _ : state) {
    if (backward)
      qkv_activation_backward(k, rows, n, x.data(), n, y.data(), n, y.data(), n);
    else
      qkv_activation_forward(k, rows, n, x.data(), n, y.data(), n);
    benchmark::ClobberMemory();
  }
  state.counters["Gelem_s"] =
      benchmark::Counter(double(rows * n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const char* names[] = {"gelu_tanh", "gelu_erf", "silu", "relu"};
  state.SetLabel(std::string(names[state.range(0)]) + "/" + qkv_isa_name(qkv_bench::active_isa()) + "/t" +
                 std::to_string(threads));
}

void BM_act_forward(benchmark::State& state) { act_rate(state, false); }
void BM_act_backward(benchmark::State& state) { act_rate(state, true); }

}  // namespace

BENCHMARK(BM_sgemm_bias_act_pair)
    ->ArgNames({"M", "N", "K", "thr", "pre"})
    ->Args({1024, 3072, 768, 1, 1})
    ->Args({1024, 3072, 768, 1, 0})
    ->Args({1024, 3072, 768, 2, 1})
    ->Args({1024, 3072, 768, 2, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_act_forward)
    ->ArgNames({"act", "thr"})
    ->ArgsProduct({{0, 1, 2, 3}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_act_backward)
    ->ArgNames({"act", "thr"})
    ->ArgsProduct({{0, 1, 2, 3}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
