// SPDX-License-Identifier: MIT
// A GPT-2-small-sized attention layer (d = 768, H = 12, causal, with qkv bias
// and output projection): inference forward, and a whole training step
// (forward + backward + AdamW), in ms per call and tokens/s.
#include <cstdint>
#include <vector>

#include "bench_util.hpp"

namespace {

struct layer_fixture {
  qkv_mha_desc d{};
  std::size_t B, T, count = 0;
  std::vector<float> params, grads, adam, x, y, dy, dx, cache, fws, bws;

  layer_fixture(std::size_t b, std::size_t t, int threads) : B(b), T(t) {
    d.d_in = d.d_out = 768;
    d.num_heads = 12;
    d.causal = 1;
    d.qkv_bias = 1;
    d.out_proj = 1;
    qkv_mha_param_count(&d, &count);
    params.resize(count);
    grads.assign(count, 0.f);
    qkv_mha_init(&d, params.data(), 1);
    std::size_t af = 0, cb = 0, fb = 0, bb = 0;
    qkv_adamw_state_floats(count, &af);
    adam.assign(af, 0.f);
    x.assign(B * T * 768, 0.01f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.5f;
    y.resize(x.size());
    dy.assign(x.size(), 1e-3f);
    dx.resize(x.size());
    qkv_mha_cache_size(&d, B, T, &cb);
    qkv_mha_forward_workspace_size(&d, B, T, threads, &fb);
    qkv_mha_backward_workspace_size(&d, B, T, threads, &bb);
    cache.resize(cb / 4 + 1);
    fws.resize(fb / 4 + 1);
    bws.resize(bb / 4 + 1);
  }
  qkv_status forward(int training) {
    return qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), training, cache.data(), cache.size() * 4,
                           fws.data(), fws.size() * 4);
  }
};

// FLOPs of one forward: 4 projections (2*rows*768*768 each) + attention
// (4*B*H*T*T*d_head, halved by the causal mask).
double forward_flops(std::size_t B, std::size_t T) {
  const double rows = double(B * T);
  return 4 * 2 * rows * 768 * 768 + 0.5 * 4 * double(B) * 12 * double(T) * double(T) * 64;
}

void BM_layer_forward(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), T = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  qkv_set_num_threads(threads);
  layer_fixture f(B, T, threads);
  for (auto _ : state) {
    if (f.forward(0) != QKV_OK) state.SkipWithError("forward failed");
    benchmark::ClobberMemory();
  }
  qkv_bench::set_rate(state, forward_flops(B, T), threads);
  state.counters["tokens_per_s"] = benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_layer_train_step(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), T = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  qkv_set_num_threads(threads);
  layer_fixture f(B, T, threads);
  qkv_adamw_config opt{1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f};
  std::uint64_t t = 0;
  for (auto _ : state) {
    qkv_status st = f.forward(1);
    if (st == QKV_OK)
      st = qkv_mha_backward(&f.d, f.params.data(), B, T, f.x.data(), f.cache.data(), f.cache.size() * 4,
                            f.dy.data(), f.dx.data(), f.grads.data(), f.bws.data(), f.bws.size() * 4);
    if (st == QKV_OK) st = qkv_adamw_step(&opt, ++t, f.count, f.params.data(), f.grads.data(), f.adam.data());
    if (st == QKV_OK) st = qkv_mha_zero_grads(&f.d, f.grads.data());
    if (st != QKV_OK) state.SkipWithError("training step failed");
  }
  // Backward costs about twice the forward's FLOPs.
  qkv_bench::set_rate(state, 3 * forward_flops(B, T), threads);
  state.counters["tokens_per_s"] = benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
}

void layer_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (auto bt : {std::pair<int, int>{1, 256}, {1, 1024}, {4, 256}}) b->Args({bt.first, bt.second, threads});
}

BENCHMARK(BM_layer_forward)->Apply(layer_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_layer_train_step)->Apply(layer_args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
