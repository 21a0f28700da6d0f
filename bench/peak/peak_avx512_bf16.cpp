// SPDX-License-Identifier: MIT
// The dot-product peaks of avx512_bf16, measured like the fp32 one: 24
// independent zmm chains of vdpbf16ps (16 lanes x 2 multiply-adds = 64 FLOP
// per instruction) or vpdpbusd (16 lanes x 4 = 128 integer ops). Nominal
// figures are 2x and 4x the fp32 FMA peak when the dot products issue at the
// FMA rate; these probes say what the CPU does. The chains are one asm
// statement: GCC 12 spills an array of 24 accumulators written with the
// intrinsics to the stack, which measured store forwarding instead.
#include <immintrin.h>

#include "peak/peak.hpp"

#define QKV_DOT4(op, n0, n1, n2, n3) \
  op " %[a], %[b], %" #n0 "\n\t" op " %[a], %[b], %" #n1 "\n\t" op " %[a], %[b], %" #n2 "\n\t" op " %[a], %[b], %" #n3 "\n\t"
#define QKV_DOT12(op) QKV_DOT4(op, 0, 1, 2, 3) QKV_DOT4(op, 4, 5, 6, 7) QKV_DOT4(op, 8, 9, 10, 11)

namespace qkv_bench {
namespace {

// 24 chains of `op` (AT&T operand order: b, a, accumulator) on zmm
// accumulators, `iters` times.
template <int Op>
void dot_chains(std::int64_t iters, __m512i a, __m512i b, __m512i* out) {
  __m512i c0 = out[0], c1 = out[1], c2 = out[2], c3 = out[3], c4 = out[4], c5 = out[5], c6 = out[6], c7 = out[7],
          c8 = out[8], c9 = out[9], c10 = out[10], c11 = out[11], c12 = out[12], c13 = out[13], c14 = out[14],
          c15 = out[15], c16 = out[16], c17 = out[17], c18 = out[18], c19 = out[19], c20 = out[20], c21 = out[21],
          c22 = out[22], c23 = out[23];
  // Two asm statements of 12 chains each: an in-out operand counts twice
  // against GCC's limit of 30.
  for (std::int64_t it = 0; it < iters; ++it) {
#define QKV_DOT_OPERANDS(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11)                                 \
  : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(x6), "+v"(x7), "+v"(x8), "+v"(x9), \
    "+v"(x10), "+v"(x11)                                                                                 \
  : [a] "v"(a), [b] "v"(b)
    if constexpr (Op == 0) {
      asm volatile(QKV_DOT12("vdpbf16ps") QKV_DOT_OPERANDS(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11));
      asm volatile(QKV_DOT12("vdpbf16ps") QKV_DOT_OPERANDS(c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23));
    } else {
      asm volatile(QKV_DOT12("vpdpbusd") QKV_DOT_OPERANDS(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11));
      asm volatile(QKV_DOT12("vpdpbusd") QKV_DOT_OPERANDS(c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23));
    }
#undef QKV_DOT_OPERANDS
  }
  const __m512i c[24] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11,
                         c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23};
  for (int i = 0; i < 24; ++i) out[i] = c[i];
}

}  // namespace

double peak_chains_bf16_dot(std::int64_t iters) {
  // bf16 1/1024 in every half: each step adds 2^-19 per lane, far from
  // overflow and from subnormals.
  __m512i acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_castps_si512(_mm512_set1_ps(float(i)));
  dot_chains<0>(iters, _mm512_set1_epi16(0x3A80), _mm512_set1_epi16(0x3A80), acc);
  __m512 s = _mm512_castsi512_ps(acc[0]);
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, _mm512_castsi512_ps(acc[i]));
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * 24 * 16 * 4;
}

double peak_chains_vnni_dot(std::int64_t iters) {
  __m512i acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_epi32(i);
  dot_chains<1>(iters, _mm512_set1_epi8(3), _mm512_set1_epi8(-5), acc);
  __m512i s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_epi32(s, acc[i]);
  volatile int sink = _mm512_reduce_add_epi32(s);
  (void)sink;
  return double(iters) * 24 * 16 * 8;
}

}  // namespace qkv_bench
