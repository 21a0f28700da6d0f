// SPDX-License-Identifier: MIT
// The attn_bf16 set of avx512_bf16: vdpbf16ps register tiles of NB rows x
// QV = 4 zmm of queries (br = 64, the avx512 attn set's), compiled with the
// avx512_bf16 flags only (src/CMakeLists.txt's *_<isa>.cpp rule):
//   scores:     acc[NB keys][4]     += bcast32(K pair) . qp[pair][4 zmm]
//   accumulate: acc[NB features][4] += bcast32(vp[key pair][f]) . pp[key pair][4 zmm]
// Each step: 4 loads and NB broadcasts for 4*NB vdpbf16ps, 32 products each.
#include <immintrin.h>

#include <cstring>

#include "kernels/attn_bf16/attn_bf16.hpp"
#include "kernels/attn_bf16/attn_bf16_bwd.hpp"
#include "kernels/softmax/exp-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kBr = 64, kQV = 4, kNB = 6;

inline __m512i bcast_pair(const std::uint16_t* p) {
  std::uint32_t u;
  std::memcpy(&u, p, 4);
  return _mm512_set1_epi32(static_cast<int>(u));
}
inline __m512 dot(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }
inline __mmask16 mask16(std::size_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }

template <std::size_t NB>
inline void scores_tile(std::size_t d, const std::uint32_t* qp, const std::uint16_t* k, std::size_t ldk, float scale,
                        float* st) {
  __m512 acc[NB][kQV];
  #pragma GCC unroll 8
  for (std::size_t n = 0; n < NB; ++n)
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) acc[n][u] = _mm512_setzero_ps();
  const std::size_t pairs = d / 2;
  for (std::size_t i = 0; i < pairs; ++i) {
    __m512i q[kQV];
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) q[u] = _mm512_loadu_si512(qp + i * kBr + 16 * u);
    #pragma GCC unroll 8
    for (std::size_t n = 0; n < NB; ++n) {
      const __m512i kk = bcast_pair(k + n * ldk + 2 * i);
      #pragma GCC unroll 8
      for (std::size_t u = 0; u < kQV; ++u) acc[n][u] = dot(acc[n][u], q[u], kk);
    }
  }
  if (d & 1) {  // the last feature, paired with 0 (never read past the row)
    __m512i q[kQV];
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) q[u] = _mm512_loadu_si512(qp + pairs * kBr + 16 * u);
    #pragma GCC unroll 8
    for (std::size_t n = 0; n < NB; ++n) {
      const __m512i kk = _mm512_set1_epi32(static_cast<int>(k[n * ldk + d - 1]));
      #pragma GCC unroll 8
      for (std::size_t u = 0; u < kQV; ++u) acc[n][u] = dot(acc[n][u], q[u], kk);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  #pragma GCC unroll 8
  for (std::size_t n = 0; n < NB; ++n)
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) _mm512_storeu_ps(st + n * kBr + 16 * u, _mm512_mul_ps(acc[n][u], s));
}

template <std::size_t NB>
inline void scores_rest(std::size_t r, std::size_t d, const std::uint32_t* qp, const std::uint16_t* k,
                        std::size_t ldk, float scale, float* st) {
  if constexpr (NB > 0) {
    if (r == NB)
      scores_tile<NB>(d, qp, k, ldk, scale, st);
    else
      scores_rest<NB - 1>(r, d, qp, k, ldk, scale, st);
  }
}

void scores(std::size_t kb, std::size_t d, const std::uint32_t* qp, const std::uint16_t* k, std::size_t ldk,
            float scale, float* st) {
  std::size_t j = 0;
  for (; j + kNB <= kb; j += kNB) scores_tile<kNB>(d, qp, k + j * ldk, ldk, scale, st + j * kBr);
  scores_rest<kNB - 1>(kb - j, d, qp, k + j * ldk, ldk, scale, st + j * kBr);
}

// bf16 (nearest even) of 16 floats, zero-extended to dwords.
inline __m512i bf16_dwords(__m512 x) {
  const __m256bh h = _mm512_cvtneps_pbh(x);
  __m256i hi;
  std::memcpy(&hi, &h, sizeof hi);
  return _mm512_cvtepu16_epi32(hi);
}

void pack_p(std::size_t kb, const float* st, std::uint32_t* pp) {
  for (std::size_t i = 0; 2 * i < kb; ++i) {
    const float* p0 = st + 2 * i * kBr;
    const bool two = 2 * i + 1 < kb;
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) {
      const __m512i lo = bf16_dwords(_mm512_loadu_ps(p0 + 16 * u));
      const __m512i hi = two ? bf16_dwords(_mm512_loadu_ps(p0 + kBr + 16 * u)) : _mm512_setzero_si512();
      _mm512_storeu_si512(pp + i * kBr + 16 * u, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

// attn_kernels::softmax (kernels/attn/attn.hpp), the same operations in the
// same order, but P leaves as bf16 key pairs in pp and st keeps the scores.
void softmax_pairs(std::size_t kb, const float* st, float* m, float* l, float* alpha, std::uint32_t* pp) {
  using A = xsimd::avx512bw;
  using V = simd::vf<A>;
  const V ninf(-__builtin_huge_valf());
  V mx[kQV], mu[kQV], sum[kQV];
#pragma GCC unroll 8
  for (std::size_t c = 0; c < kQV; ++c) mx[c] = V::load_unaligned(m + 16 * c);
  for (std::size_t j = 0; j < kb; ++j)
#pragma GCC unroll 8
    for (std::size_t c = 0; c < kQV; ++c) mx[c] = vmax<A>(mx[c], V::load_unaligned(st + j * kBr + 16 * c));
#pragma GCC unroll 8
  for (std::size_t c = 0; c < kQV; ++c) {
    mu[c] = xsimd::select(mx[c] == ninf, V(0.0f), mx[c]);
    const V a = exp_nonpos_f32<A>(V::load_unaligned(m + 16 * c) - mu[c]);
    a.store_unaligned(alpha + 16 * c);
    mx[c].store_unaligned(m + 16 * c);
    sum[c] = V::load_unaligned(l + 16 * c) * a;
  }
  for (std::size_t i = 0; 2 * i < kb; ++i) {
    const float* s0 = st + 2 * i * kBr;
    const bool two = 2 * i + 1 < kb;
#pragma GCC unroll 8
    for (std::size_t c = 0; c < kQV; ++c) {
      const V e0 = exp_nonpos_f32<A>(V::load_unaligned(s0 + 16 * c) - mu[c]);
      sum[c] += e0;
      __m512i hi = _mm512_setzero_si512();
      if (two) {
        const V e1 = exp_nonpos_f32<A>(V::load_unaligned(s0 + kBr + 16 * c) - mu[c]);
        sum[c] += e1;
        hi = bf16_dwords(e1);
      }
      _mm512_storeu_si512(pp + i * kBr + 16 * c, _mm512_or_si512(bf16_dwords(e0), _mm512_slli_epi32(hi, 16)));
    }
  }
#pragma GCC unroll 8
  for (std::size_t c = 0; c < kQV; ++c) sum[c].store_unaligned(l + 16 * c);
}

void pack_v(std::size_t kb, std::size_t dv, const std::uint16_t* v, std::size_t ldv, std::uint32_t* vp) {
  for (std::size_t i = 0; 2 * i < kb; ++i) {
    const std::uint16_t* r0 = v + 2 * i * ldv;
    const bool two = 2 * i + 1 < kb;
    for (std::size_t f = 0; f < dv; f += 16) {
      const __mmask16 m = mask16(dv - f);
      const __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0 + f));
      const __m512i hi =
          two ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0 + ldv + f)) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(vp + i * dv + f, m, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
}

template <std::size_t NB>
inline void accumulate_tile(std::size_t pairs, std::size_t dv, const std::uint32_t* pp, const std::uint32_t* vp,
                            const float* alpha, float* ot) {
  __m512 acc[NB][kQV];
  #pragma GCC unroll 8
  for (std::size_t u = 0; u < kQV; ++u) {
    const __m512 a = _mm512_loadu_ps(alpha + 16 * u);
    #pragma GCC unroll 8
    for (std::size_t n = 0; n < NB; ++n) acc[n][u] = _mm512_mul_ps(_mm512_loadu_ps(ot + n * kBr + 16 * u), a);
  }
  for (std::size_t i = 0; i < pairs; ++i) {
    __m512i p[kQV];
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) p[u] = _mm512_loadu_si512(pp + i * kBr + 16 * u);
    #pragma GCC unroll 8
    for (std::size_t n = 0; n < NB; ++n) {
      const __m512i vv = _mm512_set1_epi32(static_cast<int>(vp[i * dv + n]));
      #pragma GCC unroll 8
      for (std::size_t u = 0; u < kQV; ++u) acc[n][u] = dot(acc[n][u], p[u], vv);
    }
  }
  #pragma GCC unroll 8
  for (std::size_t n = 0; n < NB; ++n)
    #pragma GCC unroll 8
    for (std::size_t u = 0; u < kQV; ++u) _mm512_storeu_ps(ot + n * kBr + 16 * u, acc[n][u]);
}

template <std::size_t NB>
inline void accumulate_rest(std::size_t r, std::size_t pairs, std::size_t dv, const std::uint32_t* pp,
                            const std::uint32_t* vp, const float* alpha, float* ot) {
  if constexpr (NB > 0) {
    if (r == NB)
      accumulate_tile<NB>(pairs, dv, pp, vp, alpha, ot);
    else
      accumulate_rest<NB - 1>(r, pairs, dv, pp, vp, alpha, ot);
  }
}

void accumulate(std::size_t kb, std::size_t dv, const std::uint32_t* pp, const std::uint32_t* vp, const float* alpha,
                float* ot) {
  const std::size_t pairs = (kb + 1) / 2;
  std::size_t f = 0;
  for (; f + kNB <= dv; f += kNB) accumulate_tile<kNB>(pairs, dv, pp, vp + f, alpha, ot + f * kBr);
  accumulate_rest<kNB - 1>(dv - f, pairs, dv, pp, vp + f, alpha, ot + f * kBr);
}

}  // namespace

extern const attn_bf16_kernels attn_bf16_avx512_bf16;
const attn_bf16_kernels attn_bf16_avx512_bf16 = {kBr,        scores,   softmax_pairs,
                                                 pack_p,     pack_v,   accumulate,
                                                 attn_bf16_pair_cols, attn_bf16_round_rows, attn_bf16_pair_rows,
                                                 attn_bf16_gemm_pairs};

}  // namespace qkv::kern
