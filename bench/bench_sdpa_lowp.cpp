// SPDX-License-Identifier: MIT
// Attention on bf16 / fp16 tensors against fp32, forward and backward,
// paired in one process: every iteration times the fp32 call and the typed
// one back to back (the machine's speed phases hit both), and vs_f32 is the
// median over iterations of fp32 time / typed time. GFLOPS and pct_peak are
// the typed call's (median time; FLOPs 4*B*H*T^2*d forward, 2.5x that
// backward, causal counted as half; peak is the fp32 FMA peak).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "bench_util.hpp"

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

// args: B, H, T, d, causal, threads, type, backward
void BM_sdpa_lowp_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), H = std::size_t(state.range(1)), T = std::size_t(state.range(2)),
             D = std::size_t(state.range(3));
  const bool causal = state.range(4) != 0, backward = state.range(7) != 0;
  const int threads = int(state.range(5));
  const auto type = qkv_dtype(state.range(6));
  qkv_set_num_threads(threads);
  qkv_sdpa_desc d{};
  d.batch = B;
  d.heads = H;
  d.q_len = d.kv_len = T;
  d.head_dim = D;
  d.q = d.k = d.v = d.o = {H * T * D, T * D, D};
  d.causal = causal;
  const std::size_t n = B * H * T * D;
  std::vector<float> q(n), k(n), v(n), o(n), dout(n), lse(B * H * T), dq(n), dk(n), dv(n);
  for (std::size_t i = 0; i < n; ++i) {
    q[i] = std::sin(0.37f * float(i));
    k[i] = std::cos(0.11f * float(i));
    v[i] = std::sin(0.05f * float(i) + 1.f);
    dout[i] = std::cos(0.07f * float(i) + 2.f);
  }
  std::vector<std::uint16_t> qt(n), kt(n), vt(n), ot(n), dot(n), dqt(n), dkt(n), dvt(n);
  qkv_convert(n, QKV_DTYPE_F32, q.data(), type, qt.data());
  qkv_convert(n, QKV_DTYPE_F32, k.data(), type, kt.data());
  qkv_convert(n, QKV_DTYPE_F32, v.data(), type, vt.data());
  qkv_convert(n, QKV_DTYPE_F32, dout.data(), type, dot.data());
  std::size_t b32 = 0, blp = 0;
  if (backward) {
    qkv_sdpa_backward_workspace_size(&d, threads, &b32);
    qkv_sdpa_backward_workspace_size_ex(&d, type, threads, &blp);
  } else {
    qkv_sdpa_workspace_size(&d, threads, &b32);
    qkv_sdpa_workspace_size_ex(&d, type, threads, &blp);
  }
  std::size_t fw = 0;
  qkv_sdpa_workspace_size_ex(&d, type, threads, &fw);
  std::vector<unsigned char> w32(std::max(b32, fw)), wlp(std::max(blp, fw));
  // The forward outputs and lse the backward needs.
  qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), w32.data(), w32.size());
  std::vector<float> lse_t(lse.size());
  qkv_sdpa_forward_ex(&d, type, qt.data(), kt.data(), vt.data(), ot.data(), lse_t.data(), wlp.data(), wlp.size());
  auto f32 = [&] {
    return backward ? qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(),
                                        dq.data(), dk.data(), dv.data(), w32.data(), b32)
                    : qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), w32.data(), b32);
  };
  auto low = [&] {
    return backward ? qkv_sdpa_backward_ex(&d, type, qt.data(), kt.data(), vt.data(), ot.data(), lse_t.data(),
                                           dot.data(), dqt.data(), dkt.data(), dvt.data(), wlp.data(), blp)
                    : qkv_sdpa_forward_ex(&d, type, qt.data(), kt.data(), vt.data(), ot.data(), lse_t.data(),
                                          wlp.data(), blp);
  };
  std::vector<double> mine, ratio;
  for (auto _ : state) {
    double t0 = now_s();
    if (f32() != QKV_OK) state.SkipWithError("fp32 call failed");
    const double a = now_s() - t0;
    t0 = now_s();
    if (low() != QKV_OK) state.SkipWithError("typed call failed");
    const double b = now_s() - t0;
    mine.push_back(b);
    ratio.push_back(a / b);
  }
  const double flops = 4.0 * double(B * H) * double(T) * double(T) * double(D) * (causal ? 0.5 : 1.0) *
                       (backward ? 2.5 : 1.0);
  const double tm = median(mine);
  state.counters["vs_f32"] = median(ratio);
  state.counters["GFLOPS"] = tm > 0 ? flops / tm * 1e-9 : 0;
  const double peak = qkv_bench::peak_gflops(qkv_bench::active_isa(), threads);
  if (peak > 0 && tm > 0) state.counters["pct_peak_f32fma"] = flops / tm * 1e-9 * 100.0 / peak;
  state.SetLabel(std::string(type == QKV_DTYPE_BF16 ? "bf16" : "f16") + (backward ? " bwd" : " fwd"));
}

void lowp_args(benchmark::internal::Benchmark* b) {
  for (int backward : {0, 1})
    for (int type : {int(QKV_DTYPE_BF16), int(QKV_DTYPE_F16)})
      for (int causal : {0, 1}) {
        b->Args({1, 12, 1024, 64, causal, 1, type, backward});
        b->Args({4, 12, 256, 64, causal, 1, type, backward});
      }
  for (int backward : {0, 1})  // bf16 on 2 threads (both calls of a pair on 2)
    for (int causal : {0, 1}) b->Args({1, 12, 1024, 64, causal, 2, int(QKV_DTYPE_BF16), backward});
}

}  // namespace

BENCHMARK(BM_sdpa_lowp_pair)->Apply(lowp_args)->UseRealTime()->Unit(benchmark::kMillisecond);
