// SPDX-License-Identifier: MIT
#include <emmintrin.h>

#include "peak/peak.hpp"

namespace qkv_bench {
// SSE2 has no FMA: a multiply and an add per lane per chain (2 FLOP).
double peak_chains_sse2(std::int64_t iters) {
  __m128 acc[12];
  const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm_set1_ps(float(i));
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], a), b);
  }
  __m128 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm_add_ps(s, acc[i]);
  alignas(16) float out[4];
  _mm_store_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return double(iters) * 12 * 4 * 2;
}
}  // namespace qkv_bench
