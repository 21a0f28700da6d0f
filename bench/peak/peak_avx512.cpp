// SPDX-License-Identifier: MIT
// 24 independent zmm FMA chains: enough to cover 4-cycle latency x 2 ports
// with room to spare; 64 FLOP per cycle per core on two 512-bit FMA pipes.
#include <immintrin.h>

#include "peak/peak.hpp"

namespace qkv_bench {
double peak_chains_avx512(std::int64_t iters) {
  __m512 acc[24];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * 24 * 16 * 2;
}
}  // namespace qkv_bench
