// SPDX-License-Identifier: MIT
// The GPT-2-small-sized attention layer of bench_layer.cpp (d = 768, H = 12,
// causal, qkv bias, output projection) in reduced precision, each paired in
// one process with the fp32 layer: every iteration times one call of each,
// back to back, the order alternating from one iteration to the next, and
// vs_f32 is the median of the per-iteration ratios (fp32 time over the
// reduced one: > 1, reduced faster). Wall time.
//
//   BM_layer_train_pair:  a training step (forward + backward + AdamW) with
//                         compute_type BF16 against compute_type F32; step
//                         (s) 0: qkv_adamw_step then qkv_mha_zero_grads, the
//                         bf16 layer rounding the weights per call; 1: both
//                         sides qkv_adamw_step_ex zeroing the gradients as it
//                         goes, the bf16 side with a weight mirror
//                         (qkv_adamw_step_mirror, qkv_mha_forward_mirror /
//                         qkv_mha_backward_mirror).
//   BM_layer_infer_pair:  the inference forward, variant (v):
//                         0 packed bf16 weights, BF16 compute (bf16 x bf16 GEMMs)
//                         1 packed bf16 weights, F32 compute (f32 x bf16)
//                         2 packed int8 weights, F32 compute (f32 x i8, widened)
//                         3 packed int8 weights, BF16 compute (bf16 x i8, widened)
//                         4 fp32 params, BF16 compute (weights rounded per call)
//                         against qkv_mha_forward with fp32 params and compute.
//   BM_layer_decode_pair: one new token per sequence after 255 cached ones
//                         (fp32 KV cache), qkv_mha_decode_packed with bf16 (v 0)
//                         or int8 (v 1) weights, F32 compute, against
//                         qkv_mha_decode with the fp32 params.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "bench_util.hpp"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

qkv_mha_desc gpt2_layer(qkv_dtype ct) {
  qkv_mha_desc d{};
  d.d_in = d.d_out = 768;
  d.num_heads = 12;
  d.causal = 1;
  d.qkv_bias = 1;
  d.out_proj = 1;
  d.compute_type = ct;
  return d;
}

struct layer_fixture {
  qkv_mha_desc d;
  std::size_t B, T, count = 0;
  std::vector<float> params, grads, adam, x, y, dy, dx, cache, fws, bws;
  std::vector<std::uint16_t> mirror;  // params rounded to bf16 (train_step_fused, BF16 compute)
  qkv_adamw_config opt{1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f};
  std::uint64_t step = 0;

  layer_fixture(qkv_dtype ct, std::size_t b, std::size_t t, int threads) : d(gpt2_layer(ct)), B(b), T(t) {
    qkv_mha_param_count(&d, &count);
    params.resize(count);
    grads.assign(count, 0.f);
    qkv_mha_init(&d, params.data(), 1);
    std::size_t af = 0, cb = 0, fb = 0, bb = 0;
    qkv_adamw_state_floats(count, &af);
    adam.assign(af, 0.f);
    x.resize(B * T * 768);
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
  qkv_status train_step() {
    qkv_status st = forward(1);
    if (st == QKV_OK)
      st = qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * 4, dy.data(), dx.data(),
                            grads.data(), bws.data(), bws.size() * 4);
    if (st == QKV_OK) st = qkv_adamw_step(&opt, ++step, count, params.data(), grads.data(), adam.data());
    if (st == QKV_OK) st = qkv_mha_zero_grads(&d, grads.data());
    return st;
  }
  // One pass of AdamW that zeroes the gradients; BF16 compute reads the
  // weights from the mirror AdamW writes.
  qkv_status train_step_fused() {
    const bool m = d.compute_type == QKV_DTYPE_BF16;
    if (m && mirror.size() != count) {
      mirror.resize(count);
      qkv_convert(count, QKV_DTYPE_F32, params.data(), QKV_DTYPE_BF16, mirror.data());
    }
    qkv_status st = m ? qkv_mha_forward_mirror(&d, params.data(), mirror.data(), B, T, x.data(), y.data(), 1,
                                               cache.data(), cache.size() * 4, fws.data(), fws.size() * 4)
                      : forward(1);
    if (st == QKV_OK)
      st = m ? qkv_mha_backward_mirror(&d, params.data(), mirror.data(), B, T, x.data(), cache.data(),
                                       cache.size() * 4, dy.data(), dx.data(), grads.data(), bws.data(),
                                       bws.size() * 4)
             : qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * 4, dy.data(),
                                dx.data(), grads.data(), bws.data(), bws.size() * 4);
    if (st == QKV_OK)
      st = m ? qkv_adamw_step_mirror(&opt, ++step, 1.f, 1, count, params.data(), grads.data(), adam.data(),
                                     mirror.data())
             : qkv_adamw_step_ex(&opt, ++step, 1.f, 1, count, params.data(), grads.data(), adam.data());
    return st;
  }
};

// Times calls[0] (the reduced one) against calls[1] (fp32), alternating.
void run_pair(benchmark::State& state, const std::function<qkv_status()>& reduced,
              const std::function<qkv_status()>& f32) {
  if (reduced() != QKV_OK || f32() != QKV_OK) {  // warm-up and check
    state.SkipWithError("layer call failed");
    return;
  }
  const std::function<qkv_status()>* calls[2] = {&reduced, &f32};
  std::vector<double> ratio, t_red;
  std::size_t round = 0;
  for (auto _ : state) {
    double t[2];
    for (std::size_t r = 0; r < 2; ++r) {
      const std::size_t c = (round + r) % 2;
      const double t0 = now();
      (*calls[c])();
      benchmark::ClobberMemory();
      t[c] = now() - t0;
    }
    ++round;
    state.SetIterationTime(t[0]);
    t_red.push_back(t[0]);
    ratio.push_back(t[1] / t[0]);
  }
  state.counters["ms"] = 1e3 * median_of(t_red);
  state.counters["vs_f32"] = median_of(ratio);
}

void BM_layer_train_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), T = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  const bool fused = state.range(3) != 0;
  qkv_set_num_threads(threads);
  layer_fixture b16(QKV_DTYPE_BF16, B, T, threads), f32(QKV_DTYPE_F32, B, T, threads);
  if (fused)
    run_pair(state, [&] { return b16.train_step_fused(); }, [&] { return f32.train_step_fused(); });
  else
    run_pair(state, [&] { return b16.train_step(); }, [&] { return f32.train_step(); });
  state.counters["tokens_per_s"] = benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string("bf16 step vs fp32, ") + qkv_isa_name(qkv_bench::active_isa()));
}

void BM_layer_infer_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), T = std::size_t(state.range(1));
  const int variant = int(state.range(2)), threads = int(state.range(3));
  static const char* const kNames[] = {"bf16 weights, bf16 compute", "bf16 weights, f32 compute",
                                       "int8 weights, f32 compute", "int8 weights, bf16 compute",
                                       "f32 params, bf16 compute"};
  qkv_set_num_threads(threads);
  const qkv_dtype wt = variant <= 1 ? QKV_DTYPE_BF16 : QKV_DTYPE_I8;
  const qkv_dtype ct = (variant == 0 || variant >= 3) ? QKV_DTYPE_BF16 : QKV_DTYPE_F32;
  layer_fixture red(ct, B, T, threads), f32(QKV_DTYPE_F32, B, T, threads);
  std::size_t pb = 0, wb = 0;
  qkv_mha_pack_weights_size(&red.d, wt, &pb);
  qkv_mha_forward_packed_workspace_size(&red.d, wt, B, T, threads, &wb);
  std::vector<unsigned char> raw(pb + 64);
  unsigned char* packed = raw.data() + (64 - reinterpret_cast<std::uintptr_t>(raw.data()) % 64) % 64;
  std::vector<float> ws(wb / 4 + 1);
  if (qkv_mha_pack_weights(&red.d, red.params.data(), wt, packed, pb) != QKV_OK) {
    state.SkipWithError("pack failed");
    return;
  }
  std::function<qkv_status()> reduced = [&] {
    return qkv_mha_forward_packed(&red.d, packed, pb, B, T, red.x.data(), red.y.data(), ws.data(), ws.size() * 4);
  };
  if (variant == 4) reduced = [&] { return red.forward(0); };
  run_pair(state, reduced, [&] { return f32.forward(0); });
  state.counters["tokens_per_s"] = benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(kNames[variant]) + " vs fp32, " + qkv_isa_name(qkv_bench::active_isa()));
}

void BM_layer_decode_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0));
  const int variant = int(state.range(1)), threads = int(state.range(2));
  qkv_set_num_threads(threads);
  const qkv_dtype wt = variant == 0 ? QKV_DTYPE_BF16 : QKV_DTYPE_I8;
  const std::size_t cap = 256;
  layer_fixture f(QKV_DTYPE_F32, B, 1, threads);
  std::size_t pb = 0, kvb = 0, wb_f = 0, wb_p = 0;
  qkv_mha_pack_weights_size(&f.d, wt, &pb);
  std::vector<unsigned char> raw(pb + 64);
  unsigned char* packed = raw.data() + (64 - reinterpret_cast<std::uintptr_t>(raw.data()) % 64) % 64;
  qkv_mha_pack_weights(&f.d, f.params.data(), wt, packed, pb);
  qkv_mha_kv_state st_f, st_p;
  qkv_mha_kv_cache_init(&st_f, B, cap);
  qkv_mha_kv_cache_init(&st_p, B, cap);
  st_f.length = st_p.length = cap - 1;
  qkv_mha_kv_cache_size(&f.d, B, cap, &kvb);
  std::vector<float> kv_f(kvb / 4, 0.01f), kv_p(kvb / 4, 0.01f);
  qkv_mha_decode_workspace_size(&f.d, &st_f, 1, threads, &wb_f);
  qkv_mha_decode_packed_workspace_size(&f.d, wt, &st_p, 1, threads, &wb_p);
  std::vector<float> ws_f(wb_f / 4 + 1), ws_p(wb_p / 4 + 1), y(B * 768);
  run_pair(
      state,
      [&] {
        st_p.length = cap - 1;
        return qkv_mha_decode_packed(&f.d, packed, pb, &st_p, kv_p.data(), kvb, 1, f.x.data(), y.data(), ws_p.data(),
                                     ws_p.size() * 4);
      },
      [&] {
        st_f.length = cap - 1;
        return qkv_mha_decode(&f.d, f.params.data(), &st_f, kv_f.data(), kvb, 1, f.x.data(), y.data(), ws_f.data(),
                              ws_f.size() * 4);
      });
  state.SetLabel(std::string(variant == 0 ? "bf16" : "int8") + " weights decode vs fp32, " +
                 qkv_isa_name(qkv_bench::active_isa()));
}

void register_all() {
  for (long b : {1, 8})
    for (long v : {0, 1})
      benchmark::RegisterBenchmark("BM_layer_decode_pair", BM_layer_decode_pair)
          ->Args({b, v, 1})
          ->ArgNames({"B", "v", "thr"})
          ->UseManualTime()
          ->MinTime(1.0)
          ->Unit(benchmark::kMicrosecond);
  const long bts[][2] = {{1, 256}, {4, 256}};
  for (const auto& bt : bts)
    for (long th : {1, 2}) {
      for (long s : {0, 1})
        benchmark::RegisterBenchmark("BM_layer_train_pair", BM_layer_train_pair)
            ->Args({bt[0], bt[1], th, s})
            ->ArgNames({"B", "T", "thr", "s"})
            ->UseManualTime()
            ->MinTime(2.0)
            ->Unit(benchmark::kMillisecond);
      for (long v = 0; v < 5; ++v)
        benchmark::RegisterBenchmark("BM_layer_infer_pair", BM_layer_infer_pair)
            ->Args({bt[0], bt[1], v, th})
            ->ArgNames({"B", "T", "v", "thr"})
            ->UseManualTime()
            ->MinTime(1.0)
            ->Unit(benchmark::kMillisecond);
    }
}

const bool g_registered = (register_all(), true);

}  // namespace
