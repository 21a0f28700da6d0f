// SPDX-License-Identifier: MIT
// RoPE on Q and K at Llama-3-8B's attention shape: B 1, T 2048, 32 query
// heads and 8 KV heads, d 128, [B,T,H,d] rows as the projections write them,
// rotated in place (forward, or backward on the gradients). Counters:
// bytes_per_second (each element read and written once), sdpa_ms (one causal
// qkv_sdpa_forward of the same shape, timed once in the set-up) and
// pct_of_sdpa (rope time over that attention time: the target is
// <= 10 %).
#include <chrono>
#include <cmath>
#include <vector>

#include "bench_util.hpp"

namespace {

constexpr std::size_t kT = 2048, kHq = 32, kHkv = 8, kD = 128;

qkv_rope_desc rope_desc(std::size_t heads) {
  qkv_rope_desc d{};
  d.batch = 1;
  d.heads = heads;
  d.tokens = kT;
  d.head_dim = kD;
  d.x = {kT * heads * kD, kD, heads * kD};  // [B,T,H,d]
  d.theta = 500000.f;                       // Llama 3
  d.layout = QKV_ROPE_HALF;
  return d;
}

// Milliseconds of one causal attention forward at the same shape (GQA:
// K and V have kHkv heads).
double sdpa_ms(int threads) {
  qkv_sdpa_desc d{};
  d.batch = 1;
  d.heads = kHq;
  d.kv_heads = kHkv;
  d.q_len = d.kv_len = kT;
  d.head_dim = kD;
  d.q = d.o = {kT * kHq * kD, kD, kHq * kD};  // [B,T,H,d]
  d.k = d.v = {kT * kHkv * kD, kD, kHkv * kD};
  d.causal = 1;
  std::vector<float> q(kT * kHq * kD), k(kT * kHkv * kD), v(k.size()), o(q.size());
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = std::cos(0.11f * float(i));
    v[i] = std::sin(0.05f * float(i) + 1.f);
  }
  std::size_t bytes = 0;
  if (qkv_sdpa_workspace_size(&d, threads, &bytes) != QKV_OK) return 0;
  std::vector<unsigned char> ws(bytes);
  const auto t0 = std::chrono::steady_clock::now();
  if (qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), nullptr, ws.data(), bytes) != QKV_OK) return 0;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void BM_rope_llama3_qk(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const int threads = int(state.range(1));
  qkv_set_num_threads(threads);
  const qkv_rope_desc dq = rope_desc(kHq), dk = rope_desc(kHkv);
  std::vector<float> q(kT * kHq * kD), k(kT * kHkv * kD);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.11f * float(i));
  auto call = backward ? qkv_rope_backward : qkv_rope_forward;
  const double attention_ms = sdpa_ms(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (call(&dq, q.data(), q.data()) != QKV_OK || call(&dk, k.data(), k.data()) != QKV_OK) {
      state.SkipWithError("qkv_rope failed");
      return;
    }
    benchmark::DoNotOptimize(q.data());
    benchmark::DoNotOptimize(k.data());
  }
  const double rope_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                         double(state.iterations());
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(2 * (q.size() + k.size()) * sizeof(float)));
  state.counters["sdpa_ms"] = attention_ms;
  if (attention_ms > 0) state.counters["pct_of_sdpa"] = 100.0 * rope_ms / attention_ms;
  state.SetLabel(std::string(qkv_isa_name(qkv_bench::active_isa())) + "/t" + std::to_string(threads) +
                 (backward ? "/backward" : "/forward"));
}

// Q and K as the fused QKV projection writes them, [T][32 + 8 + 8][128]: one
// call with heads = 40 rotates the Q and K heads together, each token's
// cos/sin evaluated once instead of once per tensor. Elements fp32 or bf16
// (qkv_rope_forward_ex).
void BM_rope_llama3_fused_qkv(benchmark::State& state) {
  const int threads = int(state.range(0));
  const qkv_dtype type = state.range(1) ? QKV_DTYPE_BF16 : QKV_DTYPE_F32;
  const std::size_t elem = state.range(1) ? 2 : 4;
  qkv_set_num_threads(threads);
  constexpr std::size_t kAll = kHq + 2 * kHkv;
  qkv_rope_desc d = rope_desc(kHq + kHkv);
  d.x = {kT * kAll * kD, kD, kAll * kD};
  std::vector<float> f(kT * kAll * kD);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = std::sin(0.37f * float(i));
  std::vector<unsigned char> qkv(f.size() * elem);
  qkv_convert(f.size(), QKV_DTYPE_F32, f.data(), type, qkv.data());
  for (auto _ : state) {
    if (qkv_rope_forward_ex(&d, type, qkv.data(), qkv.data()) != QKV_OK) {
      state.SkipWithError("qkv_rope_forward_ex failed");
      return;
    }
    benchmark::DoNotOptimize(qkv.data());
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(2 * kT * (kHq + kHkv) * kD * elem));
  state.SetLabel(std::string(qkv_isa_name(qkv_bench::active_isa())) + "/t" + std::to_string(threads) + "/" +
                 qkv_dtype_name(type));
}

}  // namespace

BENCHMARK(BM_rope_llama3_fused_qkv)
    ->ArgNames({"threads", "bf16"})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({2, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rope_llama3_qk)
    ->ArgNames({"backward", "threads"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
