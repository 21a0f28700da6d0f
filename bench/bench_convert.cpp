// SPDX-License-Identifier: MIT
// Conversions and int8 quantization (qkv/dtype.h): bytes read + written per
// second, on every runnable ISA (the label), next to memcpy of the same
// bytes as the memory-speed yardstick. Sizes: 16 KiB of fp32 (L1), 1 MiB
// (L2) and 64 MiB (memory).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "qkv/qkv.h"

namespace {

const std::int64_t kSizes[] = {4096, 262144, 16777216};

bool use_isa(benchmark::State& state, qkv_isa isa) {
  int ok = 0;
  qkv_isa_query(isa, nullptr, &ok);
  if (!ok || qkv_set_isa(isa) != QKV_OK) {
    state.SkipWithError("ISA not runnable here");
    return false;
  }
  state.SetLabel(qkv_isa_name(isa));
  return true;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["bytes_per_s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate,
                                                     benchmark::Counter::kIs1024);
}

std::vector<float> data(std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>(i * 2654435761u % 20001) - 10000) * 1e-3f;
  return x;
}

std::size_t size_of(qkv_dtype t) { return t == QKV_DTYPE_F32 ? 4 : 2; }

// args: isa, n, src dtype, dst dtype
void BM_convert(benchmark::State& state) {
  const auto isa = static_cast<qkv_isa>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const auto st = static_cast<qkv_dtype>(state.range(2)), dt = static_cast<qkv_dtype>(state.range(3));
  if (!use_isa(state, isa)) return;
  const std::vector<float> f = data(n);
  std::vector<unsigned char> src(n * size_of(st)), dst(n * size_of(dt));
  if (st == QKV_DTYPE_F32)
    std::memcpy(src.data(), f.data(), n * 4);
  else
    qkv_convert(n, QKV_DTYPE_F32, f.data(), st, src.data());
  for (auto _ : state) {
    qkv_convert(n, st, src.data(), dt, dst.data());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, static_cast<double>(n * (size_of(st) + size_of(dt))));
  state.SetLabel(std::string(qkv_isa_name(isa)) + " " + qkv_dtype_name(st) + "->" + qkv_dtype_name(dt));
}

void BM_quantize_q8_0(benchmark::State& state) {
  const auto isa = static_cast<qkv_isa>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  if (!use_isa(state, isa)) return;
  const std::vector<float> x = data(n);
  std::vector<qkv_block_q8_0> y(n / QKV_Q8_0_BLOCK);
  for (auto _ : state) {
    qkv_quantize_q8_0(n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, static_cast<double>(n * 4 + y.size() * sizeof(qkv_block_q8_0)));
}

void BM_quantize_rows_s8(benchmark::State& state) {
  const auto isa = static_cast<qkv_isa>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  if (!use_isa(state, isa)) return;
  const std::size_t cols = 4096, rows = n / cols;
  const std::vector<float> x = data(rows * cols);
  std::vector<std::int8_t> q(rows * cols);
  std::vector<float> s(rows);
  for (auto _ : state) {
    qkv_quantize_rows_s8(rows, cols, x.data(), cols, q.data(), cols, s.data());
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, static_cast<double>(rows * cols * 5));
}

void BM_dequantize_q8_0(benchmark::State& state) {
  const auto isa = static_cast<qkv_isa>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  if (!use_isa(state, isa)) return;
  const std::vector<float> x = data(n);
  std::vector<qkv_block_q8_0> y(n / QKV_Q8_0_BLOCK);
  qkv_quantize_q8_0(n, x.data(), y.data());
  std::vector<float> out(n);
  for (auto _ : state) {
    qkv_dequantize_q8_0(n, y.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, static_cast<double>(n * 4 + y.size() * sizeof(qkv_block_q8_0)));
}

// memcpy of fp32 -> bf16's bytes (6 per element): the memory-speed yardstick.
void BM_memcpy_6B(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<unsigned char> a(n * 4, 1), b(n * 4);
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), n * 3);  // 3 bytes read + 3 written per element
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, static_cast<double>(n * 6));
}

void isa_sizes(benchmark::internal::Benchmark* b) {
  for (int isa = 0; isa < QKV_ISA_COUNT; ++isa) {
    int ok = 0;
    qkv_isa_query(static_cast<qkv_isa>(isa), nullptr, &ok);
    if (ok)
      for (std::int64_t n : kSizes) b->Args({isa, n});
  }
}

void convert_cases(benchmark::internal::Benchmark* b) {
  const int pairs[][2] = {{QKV_DTYPE_F32, QKV_DTYPE_BF16}, {QKV_DTYPE_BF16, QKV_DTYPE_F32},
                          {QKV_DTYPE_F32, QKV_DTYPE_F16},  {QKV_DTYPE_F16, QKV_DTYPE_F32},
                          {QKV_DTYPE_BF16, QKV_DTYPE_F16}};
  for (int isa = 0; isa < QKV_ISA_COUNT; ++isa) {
    int ok = 0;
    qkv_isa_query(static_cast<qkv_isa>(isa), nullptr, &ok);
    if (ok)
      for (const auto& p : pairs)
        for (std::int64_t n : kSizes) b->Args({isa, n, p[0], p[1]});
  }
}

}  // namespace

BENCHMARK(BM_convert)->Apply(convert_cases);
BENCHMARK(BM_quantize_q8_0)->Apply(isa_sizes);
BENCHMARK(BM_dequantize_q8_0)->Apply(isa_sizes);
BENCHMARK(BM_quantize_rows_s8)->Apply(isa_sizes);
BENCHMARK(BM_memcpy_6B)->Arg(4096)->Arg(262144)->Arg(16777216);
