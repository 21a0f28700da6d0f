// SPDX-License-Identifier: MIT
// The attention variants of today's models (issue 20), each paired in one
// process so the machine's speed phases hit both sides alike:
//  - BM_sdpa_decode_bw: one token against a context of L cached tokens,
//    GQA 32/8, d 128 ([B, kv_heads, L, d] K and V, as a cache holds them).
//    Each iteration also runs a STREAM-style copy of as many bytes as K and
//    V hold, and a read-only probe (a sum over as many bytes) on 1 thread
//    and on the benchmark's thread count; kv_GBps is K+V bytes over the
//    decode's median time, copy_GBps counts the copy's read and write,
//    read_GBps (read1_GBps) is the probe's rate at the thread count (at 1
//    thread); pct_bw and pct_read are the medians of the per-iteration ratios
//    of the decode's read rate to the copy's rate (read + write) and to the
//    probe's (decode only reads: the probe is its like-for-like yardstick);
//    at 1 thread also pct_read_cpu, the same ratio of the calling thread's
//    CPU times (on a shared machine, blind to the time it was descheduled).
//  - BM_sdpa_gqa_pair: GQA (kv_heads 8) against MHA (kv_heads 32) on the
//    same query shape: the same FLOPs, so vs_mha = MHA time / GQA time.
//  - BM_sdpa_window_pair: a causal sliding window against plain causal at
//    the same shape: vs_causal = causal time / window time.
//  - BM_sdpa_softcap_pair: logit soft-capping (cap 50, Gemma 2's) against
//    the same call without it, forward or backward: vs_plain = capped time /
//    plain time, the price of the tanh per score (and of its derivative).
//  - BM_sdpa_prefill: H32 kv8 T2048 d128 causal (a Llama-3-8B layer's
//    attention), optionally windowed: GFLOPS of the work done (the keys each
//    query sees, 4 * d FLOPs each) and % of the fp32 FMA peak.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <ctime>
#include <vector>

#include "bench_util.hpp"

namespace {

using qkv_bench::median;
using qkv_bench::now_s;

// The calling thread's CPU time in seconds.
double thread_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

void fill(std::vector<float>& v, float a, float b) {
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * float(i % 100003) + b);
}

// [B, heads, T, d] contiguous.
qkv_sdpa_strides bhtd(std::size_t H, std::size_t T, std::size_t D) { return {H * T * D, T * D, D}; }

// One attention problem with its buffers, fp32.
struct problem {
  qkv_sdpa_desc d{};
  std::vector<float> q, k, v, o, lse, dout, dq, dk, dv;
  std::vector<unsigned char> ws;
  problem(std::size_t B, std::size_t H, std::size_t KV, std::size_t Tq, std::size_t Tk, std::size_t D, int causal,
          std::size_t window, int threads, bool backward, float softcap = 0.f) {
    d.softcap = softcap;
    d.batch = B, d.heads = H, d.kv_heads = KV, d.q_len = Tq, d.kv_len = Tk, d.head_dim = D;
    d.q = d.o = bhtd(H, Tq, D);
    d.k = d.v = bhtd(KV, Tk, D);
    d.causal = causal, d.window = window;
    q.resize(B * H * Tq * D), o.resize(q.size()), lse.resize(B * H * Tq);
    k.resize(B * KV * Tk * D), v.resize(k.size());
    fill(q, 0.37f, 0.f), fill(k, 0.11f, 1.f), fill(v, 0.05f, 2.f);
    std::size_t f = 0, b = 0;
    qkv_sdpa_workspace_size(&d, threads, &f);
    if (backward) {
      qkv_sdpa_backward_workspace_size(&d, threads, &b);
      dout.resize(o.size()), dq.resize(q.size()), dk.resize(k.size()), dv.resize(v.size());
      fill(dout, 0.07f, 3.f);
    }
    ws.resize(std::max(f, b));
    forward();
  }
  qkv_status forward() {
    return qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), ws.data(), ws.size());
  }
  qkv_status backward() {
    return qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(), dq.data(),
                             dk.data(), dv.data(), ws.data(), ws.size());
  }
  qkv_status run(bool bwd) { return bwd ? backward() : forward(); }
};

// The read probe: n floats' bits summed as 64-bit words, 8 independent
// integer chains (no FP latency bound, nothing written), in `threads`
// contiguous parts on threads of their own (1: this one).
std::uint64_t read_part(const float* p, std::size_t n) {
  std::uint64_t acc[8] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int u = 0; u < 8; ++u) {
      std::uint64_t w;
      std::memcpy(&w, p + i + 2 * u, sizeof w);
      acc[u] += w;
    }
  std::uint64_t s = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
  for (; i < n; ++i) {
    std::uint32_t w;
    std::memcpy(&w, p + i, sizeof w);
    s += w;
  }
  return s;
}
std::uint64_t read_probe(const float* p, std::size_t n, int threads) {
  if (threads <= 1) return read_part(p, n);
  std::vector<std::uint64_t> sums(std::size_t(threads), 0);
  std::vector<std::thread> team;
  const std::size_t part = (n + std::size_t(threads) - 1) / std::size_t(threads);
  for (int t = 1; t < threads; ++t) {
    const std::size_t lo = std::min(n, std::size_t(t) * part), hi = std::min(n, lo + part);
    team.emplace_back([&, t, lo, hi] { sums[std::size_t(t)] = read_part(p + lo, hi - lo); });
  }
  sums[0] = read_part(p, std::min(n, part));
  std::uint64_t s = 0;
  for (auto& th : team) th.join();
  for (std::uint64_t x : sums) s += x;
  return s;
}

// args: B, context L, threads
void BM_sdpa_decode_bw(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), L = std::size_t(state.range(1));
  const int threads = int(state.range(2));
  qkv_set_num_threads(threads);
  problem p(B, 32, 8, 1, L, 128, 1, 0, threads, false);
  const std::size_t n = p.k.size() * 2;  // K and V floats
  std::vector<float> src(n), dst(n);
  fill(src, 0.3f, 0.f);
  std::vector<double> dec, cpy, rd, rd1, frac, frac_rd, frac_cpu;
  for (auto _ : state) {
    // dst's bytes were last touched before the previous decode; the copy's
    // source before that; K and V before both: all three come from as far.
    double t0 = now_s(), u0 = thread_s();
    benchmark::DoNotOptimize(read_probe(dst.data(), n, 1));
    const double r1 = now_s() - t0, r1_cpu = thread_s() - u0;
    double r = r1;
    if (threads > 1) {
      t0 = now_s();
      benchmark::DoNotOptimize(read_probe(dst.data(), n, threads));
      r = now_s() - t0;
    }
    t0 = now_s();
    std::memcpy(dst.data(), src.data(), n * sizeof(float));
    const double c = now_s() - t0;
    benchmark::DoNotOptimize(dst.data());
    t0 = now_s(), u0 = thread_s();
    if (p.forward() != QKV_OK) state.SkipWithError("decode failed");
    const double t = now_s() - t0, t_cpu = thread_s() - u0;
    frac_cpu.push_back(r1_cpu / t_cpu);
    dec.push_back(t);
    cpy.push_back(c);
    rd.push_back(r);
    rd1.push_back(r1);
    frac.push_back((double(n) / t) / (2.0 * double(n) / c));
    frac_rd.push_back(r / t);
  }
  const double bytes = double(n) * sizeof(float), td = median(dec), tc = median(cpy);
  state.counters["us_per_token"] = td * 1e6;
  state.counters["kv_GBps"] = bytes / td * 1e-9;
  state.counters["copy_GBps"] = 2.0 * bytes / tc * 1e-9;
  state.counters["read_GBps"] = bytes / median(rd) * 1e-9;
  if (threads > 1) state.counters["read1_GBps"] = bytes / median(rd1) * 1e-9;
  state.counters["pct_bw"] = 100.0 * median(frac);
  state.counters["pct_read"] = 100.0 * median(frac_rd);
  if (threads == 1) state.counters["pct_read_cpu"] = 100.0 * median(frac_cpu);
}

// args: B, H, T, d, backward, threads
void BM_sdpa_gqa_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), H = std::size_t(state.range(1)), T = std::size_t(state.range(2)),
             D = std::size_t(state.range(3));
  const bool bwd = state.range(4) != 0;
  const int threads = int(state.range(5));
  qkv_set_num_threads(threads);
  problem gqa(B, H, H / 4, T, T, D, 1, 0, threads, bwd), mha(B, H, H, T, T, D, 1, 0, threads, bwd);
  std::vector<double> mine, ratio;
  for (auto _ : state) {
    double t0 = now_s();
    if (mha.run(bwd) != QKV_OK) state.SkipWithError("mha failed");
    const double a = now_s() - t0;
    t0 = now_s();
    if (gqa.run(bwd) != QKV_OK) state.SkipWithError("gqa failed");
    const double b = now_s() - t0;
    mine.push_back(b);
    ratio.push_back(a / b);
  }
  const double flops = 4.0 * double(B * H) * double(T) * double(T) * double(D) * 0.5 * (bwd ? 2.5 : 1.0);
  state.counters["vs_mha"] = median(ratio);
  state.counters["GFLOPS"] = flops / median(mine) * 1e-9;
  state.SetLabel(bwd ? "group 4, backward" : "group 4, forward");
}

// args: B, H, T, d, window, threads
void BM_sdpa_window_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), H = std::size_t(state.range(1)), T = std::size_t(state.range(2)),
             D = std::size_t(state.range(3)), W = std::size_t(state.range(4));
  const int threads = int(state.range(5));
  qkv_set_num_threads(threads);
  problem win(B, H, H, T, T, D, 1, W, threads, false), causal(B, H, H, T, T, D, 1, 0, threads, false);
  std::vector<double> ratio;
  for (auto _ : state) {
    double t0 = now_s();
    if (causal.forward() != QKV_OK) state.SkipWithError("causal failed");
    const double a = now_s() - t0;
    t0 = now_s();
    if (win.forward() != QKV_OK) state.SkipWithError("window failed");
    ratio.push_back(a / (now_s() - t0));
  }
  state.counters["vs_causal"] = median(ratio);
}

// args: B, H, T, d, backward, threads
void BM_sdpa_softcap_pair(benchmark::State& state) {
  const auto B = std::size_t(state.range(0)), H = std::size_t(state.range(1)), T = std::size_t(state.range(2)),
             D = std::size_t(state.range(3));
  const bool bwd = state.range(4) != 0;
  const int threads = int(state.range(5));
  qkv_set_num_threads(threads);
  problem plain(B, H, H, T, T, D, 1, 0, threads, bwd), capped(B, H, H, T, T, D, 1, 0, threads, bwd, 50.f);
  std::vector<double> ratio;
  for (auto _ : state) {
    double t0 = now_s();
    if (plain.run(bwd) != QKV_OK) state.SkipWithError("plain failed");
    const double a = now_s() - t0;
    t0 = now_s();
    if (capped.run(bwd) != QKV_OK) state.SkipWithError("capped failed");
    ratio.push_back((now_s() - t0) / a);
  }
  state.counters["vs_plain"] = median(ratio);
  state.SetLabel(bwd ? "cap 50, backward" : "cap 50, forward");
}

// args: window (0: none), backward, threads
void BM_sdpa_prefill(benchmark::State& state) {
  const auto W = std::size_t(state.range(0));
  const bool bwd = state.range(1) != 0;
  const int threads = int(state.range(2));
  qkv_set_num_threads(threads);
  const std::size_t H = 32, T = 2048, D = 128;
  problem p(1, H, 8, T, T, D, 1, W, threads, bwd);
  std::vector<double> mine;
  for (auto _ : state) {
    const double t0 = now_s();
    if (p.run(bwd) != QKV_OK) state.SkipWithError("call failed");
    mine.push_back(now_s() - t0);
  }
  double seen = 0;  // keys the queries see
  for (std::size_t i = 0; i < T; ++i) seen += double(W && W < i + 1 ? W : i + 1);
  const double flops = 4.0 * double(H) * seen * double(D) * (bwd ? 2.5 : 1.0), tm = median(mine);
  state.counters["GFLOPS"] = flops / tm * 1e-9;
  const double peak = qkv_bench::peak_gflops(qkv_bench::active_isa(), threads);
  if (peak > 0) state.counters["pct_peak"] = flops / tm * 1e-9 * 100.0 / peak;
}

}  // namespace

BENCHMARK(BM_sdpa_decode_bw)
    ->Args({1, 512, 1})->Args({1, 4096, 1})->Args({1, 16384, 1})
    ->Args({8, 512, 1})->Args({8, 4096, 1})->Args({8, 16384, 1})
    ->Args({1, 4096, 2})->Args({1, 16384, 2})->Args({8, 16384, 2})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sdpa_gqa_pair)
    ->Args({1, 32, 1024, 128, 0, 1})->Args({1, 32, 1024, 128, 1, 1})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_window_pair)->Args({1, 4, 8192, 128, 1024, 1})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_softcap_pair)
    ->Args({1, 8, 1024, 64, 0, 1})->Args({1, 8, 1024, 64, 1, 1})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sdpa_prefill)
    ->Args({0, 0, 1})->Args({1024, 0, 1})->Args({4096, 0, 1})->Args({0, 1, 1})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
