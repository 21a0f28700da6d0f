// SPDX-License-Identifier: MIT
// The int8 attention layer (qkv/layer_int8.h) against the fp32 layer's
// inference forward on the same shape, alternating call by call in one
// process: vs_fp32 = int8 time / fp32 time (median of per-round ratios), and
// the int8 call's rate in GOPS (the fp32 layer's FLOP count, multiply-adds
// counted twice). args: T, d (heads = d / 64), threads.
#include <cstdint>
#include <vector>

#include "bench_util.hpp"

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

void BM_layer_int8_pair(benchmark::State& state) {
  const auto T = std::size_t(state.range(0)), D = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  qkv_set_num_threads(threads);
  qkv_mha_desc d{};
  d.d_in = d.d_out = D, d.num_heads = D / 64, d.causal = 1, d.qkv_bias = 1, d.out_proj = 1;
  std::size_t count = 0, cal = 0, f32 = 0, i8 = 0;
  qkv_mha_param_count(&d, &count);
  std::vector<float> params(count), x(T * D), y(T * D);
  qkv_mha_init(&d, params.data(), 1);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
  qkv_mha_int8_layout l;
  qkv_mha_int8_param_layout(&d, &l);
  std::vector<std::uint64_t> qbuf(l.bytes / 8 + 8);
  void* q = reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(qbuf.data()) + 63) / 64 * 64);
  qkv_mha_int8_calibrate_workspace_size(&d, 1, T, threads, &cal);
  qkv_mha_forward_workspace_size(&d, 1, T, threads, &f32);
  qkv_mha_int8_forward_workspace_size(&d, 1, T, threads, &i8);
  std::vector<unsigned char> ws(std::max(cal, std::max(f32, i8)));
  if (qkv_mha_int8_calibrate(&d, params.data(), 1, T, x.data(), q, l.bytes, ws.data(), ws.size()) != QKV_OK) {
    state.SkipWithError("calibration failed");
    return;
  }
  std::vector<std::int8_t> xq(T * D), yq(T * D);
  qkv_quantize_affine_s8(xq.size(), x.data(), static_cast<const qkv_mha_int8_header*>(q)->x, xq.data());
  std::vector<double> ratio;
  double t_i8 = 0;
  for (auto _ : state) {
    double t0 = now_s();
    qkv_mha_forward(&d, params.data(), 1, T, x.data(), y.data(), 0, nullptr, 0, ws.data(), ws.size());
    const double a = now_s() - t0;
    t0 = now_s();
    qkv_mha_int8_forward(&d, q, l.bytes, 1, T, xq.data(), yq.data(), ws.data(), ws.size());
    const double b = now_s() - t0;
    t_i8 += b;
    ratio.push_back(b / a);
  }
  // 4 projections (2 T D^2 each) and causal attention (2 T^2 D: half of QK^T and PV).
  const double ops = 8.0 * double(T) * double(D) * double(D) + 2.0 * double(T) * double(T) * double(D);
  state.counters["vs_fp32"] = median(ratio);
  state.counters["int8_GOPS"] = ops * double(state.iterations()) / t_i8 * 1e-9;
  state.SetLabel(std::string(qkv_isa_name(qkv_bench::active_isa())) + "/t" + std::to_string(threads));
}

}  // namespace

BENCHMARK(BM_layer_int8_pair)
    ->Args({6, 64, 1})
    ->Args({128, 768, 1})
    ->Args({512, 768, 1})
    ->Args({512, 768, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
