// SPDX-License-Identifier: MIT
// attn_decode-inl.hpp - xsimd kernels of the decode path (few query rows
// per K/V head, keys in the lanes: ops/sdpa_decode.cpp), templated on the
// architecture. Included only by attn-inl.hpp (per-ISA translation units);
// internal linkage throughout.
//
// Both read K and V rows in place, once, as the caller's tensors hold them
// (no packing pass through memory: a decode step is bound by those reads):
//   scores:     W keys at a time; each W x W block of K (W rows, W features)
//               is loaded and transposed in registers (simd::transpose), so
//               lane j accumulates key j's dot product over f in order, one
//               fused multiply-add per feature, for RB query rows at once.
//   accumulate: RB rows x FB vectors of features in registers, streaming
//               the tile's V rows: acc[r][:] += bcast(p[r][j]) * V[j][:] in
//               key order (the tile path's order per element).
#pragma once

#include "kernels/attn/attn.hpp"
#include "kernels/tile/tile_simd-inl.hpp"

namespace qkv::kern {
namespace {

// Rows per register block of the scores kernel: RB accumulators beside the
// W vectors of a transposed block.
constexpr std::size_t kDecodeRows = 8;

// Scores of RB query rows against keys [0, kb), W keys per block. Full:
// the block holds W keys (else nk < W; the missing keys read as zeros and
// are not stored). The block after this one is prefetched row by row (K rows
// are often strided, one per token, which hardware prefetchers miss).
template <class A, std::size_t RB, bool Full>
QKV_TILE_INLINE void decode_scores_block(std::size_t nk, std::size_t d, const float* q, const float* kj,
                                         std::size_t ldk, float* s, std::size_t lds) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  alignas(64) float stage[W];
  V acc[RB];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < RB; ++r) acc[r] = V(0.0f);
  std::size_t f0 = 0;
  for (; f0 + W <= d; f0 += W) {
    // The block's rows from one pointer, recomputed each step: hidden from
    // the optimizer, so it does not hoist 2 W row pointers (loads and
    // prefetches) out of the loop and spill them (GCC 12 did).
    const float* kc = kj + f0;
    __asm__("" : "+r"(kc));
    V t[W];
#pragma GCC unroll 16
    for (std::size_t i = 0; i < W; ++i) {
      if (Full || i < nk) {
        t[i] = V::load_unaligned(kc + i * ldk);
        simd::prefetch_past(kc, (W + i) * ldk);  // the next W keys: maybe past K
      } else {
        t[i] = V(0.0f);
      }
    }
    simd::transpose<A>(t);  // t[ff] lane i = K[i][f0 + ff]
#pragma GCC unroll 16
    for (std::size_t ff = 0; ff < W; ++ff)
#pragma GCC unroll 16
      for (std::size_t r = 0; r < RB; ++r) acc[r] = simd::fmadd<A>(V(q[r * d + f0 + ff]), t[ff], acc[r]);
  }
  for (; f0 < d; ++f0) {  // d % W features: one column gathered at a time
    for (std::size_t i = 0; i < W; ++i) stage[i] = i < nk ? kj[i * ldk + f0] : 0.0f;
    const V c = V::load_aligned(stage);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < RB; ++r) acc[r] = simd::fmadd<A>(V(q[r * d + f0]), c, acc[r]);
  }
#pragma GCC unroll 16
  for (std::size_t r = 0; r < RB; ++r) {
    if (Full) {
      acc[r].store_unaligned(s + r * lds);
    } else {
      acc[r].store_aligned(stage);
      for (std::size_t i = 0; i < nk; ++i) s[r * lds + i] = stage[i];
    }
  }
}

template <class A, std::size_t RB>
void decode_scores_rows(std::size_t kb, std::size_t d, const float* q, const float* k, std::size_t ldk, float* s,
                        std::size_t lds) {
  constexpr std::size_t W = simd::vf<A>::size;
  std::size_t j = 0;
  for (; j + W <= kb; j += W) decode_scores_block<A, RB, true>(W, d, q, k + j * ldk, ldk, s + j, lds);
  if (j < kb) decode_scores_block<A, RB, false>(kb - j, d, q, k + j * ldk, ldk, s + j, lds);
}

// RB = r rows, for r <= RB.
template <class A, std::size_t RB>
inline void decode_scores_rest(std::size_t r, std::size_t kb, std::size_t d, const float* q, const float* k,
                               std::size_t ldk, float* s, std::size_t lds) {
  if constexpr (RB > 0) {
    if (r == RB)
      decode_scores_rows<A, RB>(kb, d, q, k, ldk, s, lds);
    else
      decode_scores_rest<A, RB - 1>(r, kb, d, q, k, ldk, s, lds);
  }
}

template <class A>
void attn_decode_scores_f32(std::size_t rows, std::size_t kb, std::size_t d, const float* q, const float* k,
                            std::size_t ldk, float* s, std::size_t lds) {
  for (std::size_t r0 = 0; r0 < rows; r0 += kDecodeRows) {
    const std::size_t rb = rows - r0 < kDecodeRows ? rows - r0 : kDecodeRows;
    decode_scores_rest<A, kDecodeRows>(rb, kb, d, q + r0 * d, k, ldk, s + r0 * lds, lds);
  }
}

// RB rows x FB vectors of features starting at column f of o [rows][dv]
// (dv apart), over keys [0, kb). Partial: the FB-th vector is the last
// dv % W features, staged through a buffer (never read or written past dv).
template <class A, std::size_t RB, std::size_t FB, bool Partial>
QKV_TILE_INLINE void decode_acc_block(std::size_t kb, std::size_t nf, const float* p, std::size_t ldp,
                                      const float* v, std::size_t ldv, const float* alpha, float* o,
                                      std::size_t dv, std::size_t ahead) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  constexpr std::size_t NF = Partial ? FB - 1 : FB;  // whole vectors
  alignas(64) float stage[W] = {};
  V acc[RB][FB];
#pragma GCC unroll 16
  for (std::size_t r = 0; r < RB; ++r) {
    const V a(alpha[r]);
#pragma GCC unroll 16
    for (std::size_t u = 0; u < NF; ++u) acc[r][u] = a * V::load_unaligned(o + r * dv + u * W);
    if (Partial) {
      for (std::size_t i = 0; i < nf; ++i) stage[i] = o[r * dv + NF * W + i];
      acc[r][FB - 1] = a * V::load_aligned(stage);
    }
  }
  for (std::size_t j = 0; j < kb; ++j) {
    const float* vj = v + j * ldv;
    for (std::size_t f = 0; f < ahead; f += 16) simd::prefetch_past(vj, kb * ldv + f);
    V b[FB];
#pragma GCC unroll 16
    for (std::size_t u = 0; u < NF; ++u) b[u] = V::load_unaligned(vj + u * W);
    if (Partial) {
      for (std::size_t i = 0; i < nf; ++i) stage[i] = vj[NF * W + i];
      b[FB - 1] = V::load_aligned(stage);
    }
#pragma GCC unroll 16
    for (std::size_t r = 0; r < RB; ++r) {
      const V pr(p[r * ldp + j]);
#pragma GCC unroll 16
      for (std::size_t u = 0; u < FB; ++u) acc[r][u] = simd::fmadd<A>(pr, b[u], acc[r][u]);
    }
  }
#pragma GCC unroll 16
  for (std::size_t r = 0; r < RB; ++r) {
#pragma GCC unroll 16
    for (std::size_t u = 0; u < NF; ++u) acc[r][u].store_unaligned(o + r * dv + u * W);
    if (Partial) {
      acc[r][FB - 1].store_aligned(stage);
      for (std::size_t i = 0; i < nf; ++i) o[r * dv + NF * W + i] = stage[i];
    }
  }
}

// The last n <= FB vectors of a row block (the final one partial when
// tail, nf floats of it).
template <class A, std::size_t RB, std::size_t FB>
inline void decode_acc_rest(std::size_t n, bool tail, std::size_t kb, std::size_t nf, const float* p,
                            std::size_t ldp, const float* v, std::size_t ldv, const float* alpha, float* o,
                            std::size_t dv) {
  if constexpr (FB > 0) {
    if (n == FB) {
      if (tail)
        decode_acc_block<A, RB, FB, true>(kb, nf, p, ldp, v, ldv, alpha, o, dv, 0);
      else
        decode_acc_block<A, RB, FB, false>(kb, nf, p, ldp, v, ldv, alpha, o, dv, 0);
    } else {
      decode_acc_rest<A, RB, FB - 1>(n, tail, kb, nf, p, ldp, v, ldv, alpha, o, dv);
    }
  }
}

// Feature blocks of FB = ACC / RB vectors (ACC: the ISA's accumulator
// budget, the attention tile's own register count).
template <class A, std::size_t RB, std::size_t ACC>
void decode_acc_rows(std::size_t kb, std::size_t dv, const float* p, std::size_t ldp, const float* v,
                     std::size_t ldv, const float* alpha, float* o) {
  constexpr std::size_t W = simd::vf<A>::size;
  constexpr std::size_t FB = ACC / RB > 0 ? ACC / RB : 1;
  std::size_t f = 0;
  // The first block also prefetches the next tile's V rows (kb rows on,
  // every 64-byte line of each): the driver reads K's tile between, so V's
  // stream would otherwise restart cold at every tile.
  for (; f + FB * W <= dv; f += FB * W)
    decode_acc_block<A, RB, FB, false>(kb, W, p, ldp, v + f, ldv, alpha, o + f, dv, f == 0 ? dv : 0);
  if (f < dv) {
    const std::size_t left = dv - f, n = (left + W - 1) / W;
    decode_acc_rest<A, RB, FB>(n, left % W != 0, kb, left % W, p, ldp, v + f, ldv, alpha, o + f, dv);
  }
}

template <class A, std::size_t RB, std::size_t ACC>
inline void decode_acc_rows_rest(std::size_t r, std::size_t kb, std::size_t dv, const float* p, std::size_t ldp,
                                 const float* v, std::size_t ldv, const float* alpha, float* o) {
  if constexpr (RB > 0) {
    if (r == RB)
      decode_acc_rows<A, RB, ACC>(kb, dv, p, ldp, v, ldv, alpha, o);
    else
      decode_acc_rows_rest<A, RB - 1, ACC>(r, kb, dv, p, ldp, v, ldv, alpha, o);
  }
}

template <class A, std::size_t ACC>
void attn_decode_accumulate_f32(std::size_t rows, std::size_t kb, std::size_t dv, const float* p, std::size_t ldp,
                                const float* v, std::size_t ldv, const float* alpha, float* o) {
  constexpr std::size_t RB = ACC < kDecodeRows ? ACC : kDecodeRows;
  for (std::size_t r0 = 0; r0 < rows; r0 += RB) {
    const std::size_t rb = rows - r0 < RB ? rows - r0 : RB;
    decode_acc_rows_rest<A, RB, ACC>(rb, kb, dv, p + r0 * ldp, ldp, v, ldv, alpha + r0, o + r0 * dv);
  }
}

}  // namespace
}  // namespace qkv::kern
