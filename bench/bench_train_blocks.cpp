// SPDX-License-Identifier: MIT
// Training building blocks: optimizer steps, cross-entropy and embeddings.
// All are bound by memory traffic, so the rate reported is GB/s of the bytes
// each call must move (reads + writes of its arrays), per ISA and thread count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "qkv/qkv.h"

namespace {

// Args: {size, isa, threads}. Sets the ISA and thread count for one
// benchmark and restores the previous ones after it, so that benchmarks in
// other files keep the defaults.
class run_scope {
 public:
  run_scope(benchmark::State& state, int isa_arg, int threads) {
    qkv_get_isa(&isa_);
    qkv_get_num_threads(&threads_);
    const auto isa = static_cast<qkv_isa>(isa_arg);
    ok_ = qkv_set_isa(isa) == QKV_OK;
    if (!ok_) {
      state.SkipWithError("ISA not supported here");
      return;
    }
    qkv_set_num_threads(threads);
    state.SetLabel(std::string(qkv_isa_name(isa)) + "/t" + std::to_string(threads));
  }
  ~run_scope() {
    qkv_set_isa(isa_);
    qkv_set_num_threads(threads_);
  }
  run_scope(const run_scope&) = delete;
  run_scope& operator=(const run_scope&) = delete;
  bool ok() const { return ok_; }

 private:
  qkv_isa isa_ = QKV_ISA_SCALAR;
  int threads_ = 1;
  bool ok_ = false;
};

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

std::vector<float> filled(std::size_t n, float bound, std::uint64_t seed) {
  std::vector<float> v(n);
  qkv_init_uniform(v.data(), n, bound, seed);
  return v;
}

void BM_adamw_step(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  run_scope scope(state, int(state.range(1)), int(state.range(2)));
  if (!scope.ok()) return;
  auto p = filled(n, 1.f, 1), g = filled(n, 1.f, 2);
  std::vector<float> s(2 * n, 0.f);
  const qkv_adamw_config c = {1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
  std::uint64_t t = 1;
  for (auto _ : state) benchmark::DoNotOptimize(qkv_adamw_step(&c, t++, n, p.data(), g.data(), s.data()));
  set_bytes(state, 28.0 * double(n));  // p, m, v read and written; g read
}

void BM_sgd_momentum_step(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  run_scope scope(state, int(state.range(1)), int(state.range(2)));
  if (!scope.ok()) return;
  auto p = filled(n, 1.f, 1), g = filled(n, 1.f, 2);
  std::vector<float> buf(n, 0.f);
  const qkv_sgd_config c = {1e-2f, 0.9f, 0.f, 1e-4f, 1};
  std::uint64_t t = 1;
  for (auto _ : state) benchmark::DoNotOptimize(qkv_sgd_step(&c, t++, n, p.data(), g.data(), buf.data()));
  set_bytes(state, 20.0 * double(n));  // p, buf read and written; g read
}

// Language-model head shapes: rows = tokens, classes = vocabulary (GPT-2's).
// Bytes: the compulsory traffic, logits read once and the gradient written
// once (8 bytes a logit), so separate and fused calls compare directly.
void BM_cross_entropy_fwd_then_bwd(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0)), classes = std::size_t{50257};
  run_scope scope(state, int(state.range(1)), int(state.range(2)));
  if (!scope.ok()) return;
  const auto x = filled(rows * classes, 4.f, 3);
  std::vector<std::int32_t> targets(rows);
  for (std::size_t r = 0; r < rows; ++r) targets[r] = std::int32_t((r * 7919) % classes);
  std::vector<float> d(rows * classes);
  float loss = 0;
  for (auto _ : state) {
    qkv_cross_entropy_forward(rows, classes, x.data(), classes, targets.data(), -100, &loss);
    qkv_cross_entropy_backward(rows, classes, x.data(), classes, targets.data(), -100, 1.f, d.data(), classes);
    benchmark::DoNotOptimize(loss);
  }
  set_bytes(state, 8.0 * double(rows * classes));
}

void BM_cross_entropy_fused(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0)), classes = std::size_t{50257};
  run_scope scope(state, int(state.range(1)), int(state.range(2)));
  if (!scope.ok()) return;
  const auto x = filled(rows * classes, 4.f, 3);
  std::vector<std::int32_t> targets(rows);
  for (std::size_t r = 0; r < rows; ++r) targets[r] = std::int32_t((r * 7919) % classes);
  std::vector<float> d(rows * classes);
  float loss = 0;
  for (auto _ : state) {
    qkv_cross_entropy_forward_backward(rows, classes, x.data(), classes, targets.data(), -100, 1.f, &loss,
                                       d.data(), classes);
    benchmark::DoNotOptimize(loss);
  }
  set_bytes(state, 8.0 * double(rows * classes));
}

// GPT-2 small: d = 768, vocab 50257, 1024 positions.
void BM_embedding_fwd_bwd(benchmark::State& state) {
  const std::size_t T = static_cast<std::size_t>(state.range(0)), B = 4, d = 768;
  run_scope scope(state, int(state.range(1)), int(state.range(2)));
  if (!scope.ok()) return;
  const qkv_embedding_desc desc = {50257, d, 1024};
  const auto tok = filled(desc.vocab * d, 0.02f, 4), pos = filled(desc.max_positions * d, 0.02f, 5);
  std::vector<float> dtok(tok.size(), 0.f), dpos(pos.size(), 0.f), out(B * T * d);
  std::vector<std::int32_t> ids(B * T);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 104729) % desc.vocab);
  for (auto _ : state) {
    qkv_embedding_forward(&desc, B, T, 0, ids.data(), tok.data(), pos.data(), out.data(), d, nullptr);
    qkv_embedding_backward(&desc, B, T, 0, ids.data(), out.data(), d, dtok.data(), dpos.data(), nullptr);
  }
  // forward: two rows read, one written; backward: one read, two read-modify-written
  set_bytes(state, 4.0 * 8.0 * double(B * T * d));
}

// Each size on the scalar kernels and on the best ISA of this CPU, 1 and 2 threads.
void isa_thread_args(benchmark::internal::Benchmark* b, std::initializer_list<long> sizes) {
  qkv_isa best = QKV_ISA_SCALAR;
  qkv_get_isa(&best);
  std::vector<int> isas = {int(QKV_ISA_SCALAR)};
  if (best != QKV_ISA_SCALAR) isas.push_back(int(best));
  for (long n : sizes)
    for (int isa : isas)
      for (int t : {1, 2}) b->Args({n, isa, t});
  b->UseRealTime();
}

}  // namespace

BENCHMARK(BM_adamw_step)->Apply([](auto* b) { isa_thread_args(b, {1 << 14, 1 << 18, 7 << 20}); });
BENCHMARK(BM_sgd_momentum_step)->Apply([](auto* b) { isa_thread_args(b, {1 << 18, 7 << 20}); });
BENCHMARK(BM_cross_entropy_fwd_then_bwd)->Apply([](auto* b) { isa_thread_args(b, {64}); });
BENCHMARK(BM_cross_entropy_fused)->Apply([](auto* b) { isa_thread_args(b, {64}); });
BENCHMARK(BM_embedding_fwd_bwd)->Apply([](auto* b) { isa_thread_args(b, {256, 1024}); });
