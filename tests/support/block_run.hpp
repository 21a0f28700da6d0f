// SPDX-License-Identifier: MIT
// One decoder block's call buffers (qkv/block.h), sized by the library's own
// queries: the block tests' runner (tests/test_block.cpp, fp32; and
// tests/test_block_bf16.cpp, bf16 compute).
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qkv/block.h"
#include "support/random.hpp"

namespace qkv_test {

// qkv_block_init's params with the norms' gains and shifts moved away from
// 1 and 0, so that their use and their gradients show.
inline std::vector<float> block_params(const qkv_block_desc& d, std::uint64_t seed) {
  qkv_block_layout l{};
  REQUIRE(qkv_block_param_layout(&d, &l) == QKV_OK);
  std::vector<float> p(l.count);
  REQUIRE(qkv_block_init(&d, p.data(), seed) == QKV_OK);
  const auto jitter = random_vector(4 * d.d_model, seed + 3);
  const std::size_t norms[4] = {l.norm1_g, l.norm1_b, l.norm2_g, l.norm2_b};
  for (int k = 0; k < 4; ++k)
    for (std::size_t j = 0; norms[k] != SIZE_MAX && j < d.d_model; ++j) p[norms[k] + j] += 0.3f * jitter[k * d.d_model + j];
  return p;
}

struct block_run {
  qkv_block_desc d;
  qkv_block_layout lay{};
  std::size_t B, T, n;
  std::vector<float> params, x, y, cache, fws, bws, grads, dx;

  block_run(const qkv_block_desc& desc, std::size_t b, std::size_t t, std::vector<float> prm, std::vector<float> xin,
            int threads = 3)
      : d(desc), B(b), T(t), n(b * t * desc.d_model), params(std::move(prm)), x(std::move(xin)) {
    REQUIRE(qkv_block_param_layout(&d, &lay) == QKV_OK);
    REQUIRE(params.size() == lay.count);
    REQUIRE(x.size() == n);
    std::size_t cb = 0, fb = 0, bb = 0;
    REQUIRE(qkv_block_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_block_forward_workspace_size(&d, B, T, threads, &fb) == QKV_OK);
    REQUIRE(qkv_block_backward_workspace_size(&d, B, T, threads, &bb) == QKV_OK);
    cache.resize(cb / sizeof(float) + 16);  // + 16: room to 64-byte align
    fws.resize(fb / sizeof(float) + 1);
    bws.resize(bb / sizeof(float) + 1);
    y.assign(n, 0.f);
    grads.assign(lay.count, 0.f);
    dx.assign(n, 0.f);
  }
  // Params from block_params(desc, seed), X random from seed + 7.
  block_run(const qkv_block_desc& desc, std::size_t b, std::size_t t, std::uint64_t seed, int threads = 3)
      : block_run(desc, b, t, block_params(desc, seed), random_vector(b * t * desc.d_model, seed + 7), threads) {}

  float* aligned_cache() {
    const auto a = reinterpret_cast<std::uintptr_t>(cache.data());
    return cache.data() + ((64 - a % 64) % 64) / sizeof(float);
  }
  std::size_t cache_bytes() const { return (cache.size() - 16) * sizeof(float); }
  qkv_status forward(bool training, const float* in = nullptr, float* out = nullptr) {
    return qkv_block_forward(&d, params.data(), B, T, in ? in : x.data(), out ? out : y.data(), training ? 1 : 0,
                             aligned_cache(), cache_bytes(), fws.data(), fws.size() * sizeof(float));
  }
  qkv_status backward(const float* dy, float* dxp) {
    return qkv_block_backward(&d, params.data(), B, T, x.data(), aligned_cache(), cache_bytes(), dy, dxp,
                              grads.data(), bws.data(), bws.size() * sizeof(float));
  }
};

}  // namespace qkv_test
