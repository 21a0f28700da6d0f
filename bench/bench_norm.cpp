// SPDX-License-Identifier: MIT
// LayerNorm and RMSNorm (qkv/norm.h) over 1024 rows of n = 768 (GPT-2 small,
// BERT-base) and n = 4096 (Llama-7B): the forward, the fused residual add +
// norm, and the backward with the parameter gradients. Counter:
// bytes_per_second of the matrices each call must touch at least once
// (forward x, y; fused x, res, s, y; backward x, dy, dx), so the figure
// compares with the memory bandwidth.
#include <cmath>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace {

constexpr std::size_t kRows = 1024;

// op: 0 layernorm forward, 1 add+layernorm forward, 2 layernorm backward,
//     3 rmsnorm forward, 4 add+rmsnorm forward, 5 rmsnorm backward.
void BM_norm(benchmark::State& state) {
  const int op = int(state.range(0)), threads = int(state.range(2));
  const std::size_t n = std::size_t(state.range(1)), count = kRows * n;
  qkv_set_num_threads(threads);
  std::vector<float> x(count), res(count), s(count), y(count), dy(count), dx(count), g(n), b(n), dg(n), db(n),
      mean(kRows), rstd(kRows);
  for (std::size_t i = 0; i < count; ++i) {
    x[i] = std::sin(0.37f * float(i)) + 0.1f;
    res[i] = std::cos(0.11f * float(i));
    dy[i] = std::sin(0.05f * float(i) + 1.f);
  }
  for (std::size_t j = 0; j < n; ++j) {
    g[j] = 1.f + 0.01f * float(j % 7);
    b[j] = 0.01f * float(j % 5);
  }
  // Statistics for the backward.
  qkv_layernorm_forward(kRows, n, 1e-5f, x.data(), n, g.data(), b.data(), y.data(), n, mean.data(), rstd.data());
  static const char* const names[] = {"layernorm", "add_layernorm", "layernorm_backward",
                                      "rmsnorm", "add_rmsnorm", "rmsnorm_backward"};
  static const int arrays[] = {2, 4, 3, 2, 4, 3};
  for (auto _ : state) {
    qkv_status st = QKV_OK;
    switch (op) {
      case 0:
        st = qkv_layernorm_forward(kRows, n, 1e-5f, x.data(), n, g.data(), b.data(), y.data(), n, mean.data(),
                                   rstd.data());
        break;
      case 1:
        st = qkv_add_layernorm_forward(kRows, n, 1e-5f, x.data(), n, res.data(), n, s.data(), n, g.data(), b.data(),
                                       y.data(), n, mean.data(), rstd.data());
        break;
      case 2:
        st = qkv_layernorm_backward(kRows, n, x.data(), n, g.data(), mean.data(), rstd.data(), dy.data(), n,
                                    dx.data(), n, 0, dg.data(), db.data());
        break;
      case 3:
        st = qkv_rmsnorm_forward(kRows, n, 1e-6f, x.data(), n, g.data(), y.data(), n, rstd.data());
        break;
      case 4:
        st = qkv_add_rmsnorm_forward(kRows, n, 1e-6f, x.data(), n, res.data(), n, s.data(), n, g.data(), y.data(), n,
                                     rstd.data());
        break;
      default:
        st = qkv_rmsnorm_backward(kRows, n, x.data(), n, g.data(), rstd.data(), dy.data(), n, dx.data(), n, 0,
                                  dg.data());
    }
    if (st != QKV_OK) {
      state.SkipWithError("qkv norm call failed");
      return;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(arrays[op] * count * sizeof(float)));
  state.SetLabel(std::string(qkv_isa_name(qkv_bench::active_isa())) + "/t" + std::to_string(threads) + "/" +
                 names[op]);
}

}  // namespace

BENCHMARK(BM_norm)
    ->ArgNames({"op", "n", "threads"})
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {768, 4096}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
