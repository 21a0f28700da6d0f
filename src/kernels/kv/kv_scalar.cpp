// SPDX-License-Identifier: MIT
// Scalar kv kernels: the fallback on every CPU and the only set on Cortex-M.
#include "kernels/kv/kv.hpp"

namespace qkv::kern {
namespace {

void kv_scores_scalar(std::size_t n, std::size_t d, const float* q, const float* t, float scale, float* s) {
  for (std::size_t j = 0; j < n; ++j) {
    const float* k = t + j * d;
    float a0 = 0.f, a1 = 0.f;  // two chains, as the SIMD kernels' two accumulators
    std::size_t c = 0;
    for (; c + 2 <= d; c += 2) {
      a0 += q[c] * k[c];
      a1 += q[c + 1] * k[c + 1];
    }
    if (c < d) a0 += q[c] * k[c];
    s[j] = scale * (a0 + a1);
  }
}

void kv_accum_scalar(std::size_t n, std::size_t d, const float* p, const float* t, float* out) {
  for (std::size_t c = 0; c < d; ++c) {
    float acc = out[c];
    for (std::size_t j = 0; j < n; ++j) acc += p[j] * t[j * d + c];
    out[c] = acc;
  }
}

}  // namespace

const kv_kernels kv_scalar = {kv_scores_scalar, kv_accum_scalar};

}  // namespace qkv::kern
