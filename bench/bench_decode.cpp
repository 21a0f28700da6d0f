// SPDX-License-Identifier: MIT
// Decoding one token with a GPT-2-small-sized layer (d = 768, H = 12, causal,
// qkv bias, output projection) against a KV cache of 4095 tokens held in
// fp32, bf16, fp16 or q8_0 (qkv_kv_format), the layer's weights fp32 or
// packed bf16 / int8 (qkv_mha_pack_weights: the same weights for every
// cache format, so vs_f32 is the cache's effect). Every iteration decodes with
// each format in turn (alternated inside one process, so machine phases hit
// them alike); vs_f32 is the median over iterations of the f32 call's time
// over this format's, tokens_per_s and kv_GBps (cache bytes read per second)
// come from the median time. The cache is filled directly (values of the
// size a layer produces), and its length reset after each call.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

constexpr std::size_t kDim = 768, kHeads = 12;
constexpr qkv_kv_format kFormats[] = {QKV_KV_F32, QKV_KV_BF16, QKV_KV_F16, QKV_KV_Q8_0};

struct cache_run {
  qkv_mha_kv_state st{};
  std::vector<unsigned char> kv, ws;
  std::size_t kv_bytes = 0;
};

// args: B, L, threads, cache format, weights (0 fp32, else the packed qkv_dtype)
void BM_decode_kv_formats(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), L = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  const auto which = qkv_kv_format(state.range(3));
  const auto wtype = state.range(4) ? qkv_dtype(state.range(4)) : QKV_DTYPE_F32;
  qkv_set_num_threads(threads);
  qkv_mha_desc d{};
  d.d_in = d.d_out = kDim;
  d.num_heads = kHeads;
  d.causal = d.qkv_bias = d.out_proj = 1;
  std::size_t count = 0;
  qkv_mha_param_count(&d, &count);
  std::vector<float> params(count), x(B * kDim), y(B * kDim), rows(B * (L - 1) * kDim);
  qkv_mha_init(&d, params.data(), 1);
  std::vector<unsigned char> packed;
  void* pw = nullptr;
  std::size_t pbytes = 0;
  if (wtype != QKV_DTYPE_F32) {
    qkv_mha_pack_weights_size(&d, wtype, &pbytes);
    packed.assign(pbytes + 64, 0);
    pw = packed.data() + (64 - reinterpret_cast<std::uintptr_t>(packed.data()) % 64) % 64;
    if (qkv_mha_pack_weights(&d, params.data(), wtype, pw, pbytes) != QKV_OK) state.SkipWithError("pack failed");
  }
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f - 0.5f;
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = float(int(i * 2654435761u % 2001) - 1000) * 1e-3f;
  cache_run runs[4];
  for (qkv_kv_format f : kFormats) {
    cache_run& r = runs[f];
    qkv_mha_kv_cache_init_ex(&r.st, B, L, f);
    qkv_mha_kv_cache_size_ex(&d, B, L, f, &r.kv_bytes);
    r.kv.assign(r.kv_bytes, 0);
    // Fill L-1 tokens of K and V: the stored form of `rows`.
    const std::size_t half = r.kv_bytes / 2, row_bytes = half / (B * L);
    for (std::size_t part = 0; part < 2; ++part)
      for (std::size_t b = 0; b < B; ++b) {
        unsigned char* dst = r.kv.data() + part * half + b * L * row_bytes;
        const float* src = rows.data() + b * (L - 1) * kDim;
        const std::size_t n = (L - 1) * kDim;
        if (f == QKV_KV_F32)
          std::copy(src, src + n, reinterpret_cast<float*>(dst));
        else if (f == QKV_KV_Q8_0)
          qkv_quantize_q8_0(n, src, reinterpret_cast<qkv_block_q8_0*>(dst));
        else
          qkv_convert(n, QKV_DTYPE_F32, src, f == QKV_KV_BF16 ? QKV_DTYPE_BF16 : QKV_DTYPE_F16, dst);
      }
    r.st.length = L - 1;
    std::size_t wb = 0;
    if (pw)
      qkv_mha_decode_packed_workspace_size(&d, wtype, &r.st, 1, threads, &wb);
    else
      qkv_mha_decode_workspace_size(&d, &r.st, 1, threads, &wb);
    r.ws.assign(wb, 0);
  }
  auto call = [&](cache_run& r) {
    r.st.length = L - 1;
    if (pw)
      return qkv_mha_decode_packed(&d, pw, pbytes, &r.st, r.kv.data(), r.kv_bytes, 1, x.data(), y.data(),
                                   r.ws.data(), r.ws.size());
    return qkv_mha_decode(&d, params.data(), &r.st, r.kv.data(), r.kv_bytes, 1, x.data(), y.data(), r.ws.data(),
                          r.ws.size());
  };
  std::vector<double> mine, ratio;
  for (auto _ : state) {
    double t[4];
    for (qkv_kv_format f : kFormats) {
      const double t0 = now_s();
      if (call(runs[f]) != QKV_OK) state.SkipWithError("decode failed");
      t[f] = now_s() - t0;
    }
    mine.push_back(t[which]);
    ratio.push_back(t[QKV_KV_F32] / t[which]);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  const double tm = median(mine);
  state.counters["vs_f32"] = median(ratio);
  state.counters["tokens_per_s"] = tm > 0 ? double(B) / tm : 0;
  state.counters["kv_GBps"] = tm > 0 ? double(runs[which].kv_bytes) * double(L - 1) / double(L) / tm * 1e-9 : 0;
  state.SetLabel(std::string(which == QKV_KV_F32    ? "f32"
                             : which == QKV_KV_BF16 ? "bf16"
                             : which == QKV_KV_F16  ? "f16"
                                                    : "q8_0") +
                 (wtype == QKV_DTYPE_F32 ? "" : wtype == QKV_DTYPE_BF16 ? ", bf16 weights" : ", int8 weights"));
}

void decode_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int batch : {1, 8})
      for (qkv_kv_format f : kFormats) b->Args({batch, 4096, threads, f, 0});
  for (int w : {int(QKV_DTYPE_BF16), int(QKV_DTYPE_I8)})  // packed weights, one thread
    for (int batch : {1, 8})
      for (qkv_kv_format f : kFormats) b->Args({batch, 4096, 1, f, w});
}

}  // namespace

BENCHMARK(BM_decode_kv_formats)->Apply(decode_args)->UseRealTime()->Unit(benchmark::kMillisecond);
