// SPDX-License-Identifier: MIT
// attn-inl.hpp - xsimd tile kernels of the fused attention forward,
// templated on the architecture and the register tile. Included only by
// attn_<isa>.cpp; internal linkage throughout.
//
// Register tiles (QV vectors of queries x NB keys or features):
//   scores:     acc[NB keys][QV]     += bcast(K[j][f]) * Qt[f][QV vectors]
//   accumulate: acc[NB features][QV] += bcast(V[j][f]) * Pt[j][QV vectors]
// e.g. avx512 QV=4, NB=6: 24 accumulators, 4 loads + 6 broadcasts per 24 FMAs.
#pragma once

#include "kernels/attn/attn.hpp"
#include "kernels/act/act-inl.hpp"  // act_vops: the vector policy of softcap_math.hpp
#include "kernels/attn/softcap_math.hpp"
#include "kernels/attn/attn_decode-inl.hpp"
#include "kernels/softmax/exp-inl.hpp"
#include "kernels/tile/tile_simd-inl.hpp"

namespace qkv::kern {
namespace {

// One register tile of S^T: NB keys (rows of K, ldk apart) x QV vectors of
// queries (rows of Q^T, BR apart), over all d.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_scores_tile(std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st) {
  using V = simd::vf<A>;
  using IO = unaligned_io<A>;
  tile_fma<V, NB, QV>(d, k, ldk, fixed<1>(), make_rows_b<V>(qt, fixed<BR>(), IO()), zero_init<V>(),
                      c_store<V, IO, fixed<BR>>{st, {}, {}});
}

// The last r < NB keys, by a tile of exactly r rows.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_scores_rest(std::size_t r, std::size_t d, const float* qt, const float* k, std::size_t ldk,
                             float* st) {
  if constexpr (NB > 0) {
    if (r == NB)
      attn_scores_tile<A, QV, NB, BR>(d, qt, k, ldk, st);
    else
      attn_scores_rest<A, QV, NB - 1, BR>(r, d, qt, k, ldk, st);
  }
}

template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
void attn_scores_f32(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st) {
  constexpr std::size_t PW = QV * simd::vf<A>::size;  // queries per panel
  static_assert(BR % PW == 0, "a tile is whole panels");
  for (std::size_t p = 0; p < BR; p += PW) {
    std::size_t j = 0;
    for (; j + NB <= kb; j += NB) attn_scores_tile<A, QV, NB, BR>(d, qt + p, k + j * ldk, ldk, st + j * BR + p);
    attn_scores_rest<A, QV, NB - 1, BR>(kb - j, d, qt + p, k + j * ldk, ldk, st + j * BR + p);
  }
}

// r <= NB keys against the last n <= QV vectors of a panel, by a tile of
// exactly that shape.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_scores_last(std::size_t n, std::size_t r, std::size_t d, const float* qt, const float* k,
                             std::size_t ldk, float* st) {
  if constexpr (QV > 0) {
    constexpr std::size_t W = simd::vf<A>::size;
    if (n == QV)
      attn_scores_rest<A, QV, NB, BR>(r, d, qt, k, ldk, st);
    else
      attn_scores_last<A, QV - 1, NB, BR>(n, r, d, qt + W, k, ldk, st + W);
  }
}

// attn.hpp: scores_stairs. Per group of NB keys, the panel's vectors from
// the first whose end is past the group's first key.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
void attn_scores_stairs_f32(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk,
                            float* st, const std::size_t* ends) {
  constexpr std::size_t W = simd::vf<A>::size, PW = QV * W;
  for (std::size_t p = 0; p < BR; p += PW) {
    const std::size_t* e = ends + p / W;
    for (std::size_t j = 0; j < kb; j += NB) {
      std::size_t s = 0;
      while (s < QV && e[s] <= j) ++s;
      if (s == QV) break;  // the ends never fall: no later key either
      const std::size_t r = kb - j < NB ? kb - j : NB;
      attn_scores_last<A, QV, NB, BR>(QV - s, r, d, qt + p, k + j * ldk, ldk, st + j * BR + p);
    }
  }
}

template <class A, std::size_t BR>
void attn_softmax_f32(std::size_t kb, float* st, float* m, float* l, float* alpha) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  constexpr std::size_t C = BR / W;
  const V ninf(-__builtin_huge_valf());
  V mx[C], mu[C], sum[C];
#pragma GCC unroll 16
  for (std::size_t c = 0; c < C; ++c) mx[c] = V::load_unaligned(m + c * W);
  for (std::size_t j = 0; j < kb; ++j)
#pragma GCC unroll 16
    for (std::size_t c = 0; c < C; ++c) mx[c] = vmax<A>(mx[c], V::load_unaligned(st + j * BR + c * W));
#pragma GCC unroll 16
  for (std::size_t c = 0; c < C; ++c) {
    mu[c] = xsimd::select(mx[c] == ninf, V(0.0f), mx[c]);
    const V a = exp_nonpos_f32<A>(V::load_unaligned(m + c * W) - mu[c]);
    a.store_unaligned(alpha + c * W);
    mx[c].store_unaligned(m + c * W);
    sum[c] = V::load_unaligned(l + c * W) * a;
  }
  for (std::size_t j = 0; j < kb; ++j)
#pragma GCC unroll 16
    for (std::size_t c = 0; c < C; ++c) {
      const V e = exp_nonpos_f32<A>(V::load_unaligned(st + j * BR + c * W) - mu[c]);
      e.store_unaligned(st + j * BR + c * W);
      sum[c] += e;
    }
#pragma GCC unroll 16
  for (std::size_t c = 0; c < C; ++c) sum[c].store_unaligned(l + c * W);
}

// The accumulator tile starts from O^T rescaled by alpha (the first key
// chunk), or from O^T as it is (c_init).
template <class A, std::size_t BR>
struct rescaled_ot {
  const float* ot;
  const float* alpha;
  simd::vf<A> operator()(std::size_t n, std::size_t u) const {
    using V = simd::vf<A>;
    return V::load_unaligned(ot + n * BR + u * V::size) * V::load_unaligned(alpha + u * V::size);
  }
};

// This block's V line in the next key chunk: one L2 fetch in flight per
// step (a hint: it never faults, even past the end of V). vj: key j's row.
struct prefetch_next_chunk {
  std::size_t ahead;  // key_chunk * ldv
  void operator()(const float* vj) const { simd::prefetch_past(vj, ahead); }
};

// One register tile of O^T: NB features (columns of V, read along rows ldv
// apart) x QV vectors of queries (rows of P^T, BR apart), over kb keys;
// alpha == nullptr: no rescale (a later chunk of the same tile).
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_accumulate_tile(std::size_t kb, const float* pt, const float* v, std::size_t ldv,
                                 const float* alpha, float* ot, std::size_t chunk) {
  using V = simd::vf<A>;
  using IO = unaligned_io<A>;
  const auto pt_rows = make_rows_b<V>(pt, fixed<BR>(), IO());
  const c_store<V, IO, fixed<BR>> store{ot, {}, {}};
  if (alpha)
    tile_fma<V, NB, QV>(kb, v, fixed<1>(), ldv, pt_rows, rescaled_ot<A, BR>{ot, alpha}, store,
                        prefetch_next_chunk{chunk * ldv});
  else
    tile_fma<V, NB, QV>(kb, v, fixed<1>(), ldv, pt_rows, c_init<V, IO, fixed<BR>>{ot, {}, true, {}}, store,
                        prefetch_next_chunk{chunk * ldv});
}

template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_accumulate_rest(std::size_t r, std::size_t kb, const float* pt, const float* v, std::size_t ldv,
                                 const float* alpha, float* ot, std::size_t chunk) {
  if constexpr (NB > 0) {
    if (r == NB)
      attn_accumulate_tile<A, QV, NB, BR>(kb, pt, v, ldv, alpha, ot, chunk);
    else
      attn_accumulate_rest<A, QV, NB - 1, BR>(r, kb, pt, v, ldv, alpha, ot, chunk);
  }
}

template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
void attn_accumulate_f32(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                         const float* alpha, float* ot, std::size_t chunk) {
  constexpr std::size_t PW = QV * simd::vf<A>::size;
  // Keys in chunks: every feature block of a chunk reuses the same P^T and V
  // rows from L1. (A feature block streaming too many keys re-reads a column
  // strip of V whose rows, at some strides, crowd into a few L1 sets and get
  // evicted between blocks: ops/attn_blocking.hpp.)
  for (std::size_t j0 = 0; j0 < kb; j0 += chunk) {
    const std::size_t kc = kb - j0 < chunk ? kb - j0 : chunk;
    const float* ptc = pt + j0 * BR;
    const float* vc = v + j0 * ldv;
    for (std::size_t p = 0; p < BR; p += PW) {
      const float* ap = j0 == 0 ? alpha + p : nullptr;
      std::size_t f = 0;
      for (; f + NB <= dv; f += NB)
        attn_accumulate_tile<A, QV, NB, BR>(kc, ptc + p, vc + f, ldv, ap, ot + f * BR + p, chunk);
      attn_accumulate_rest<A, QV, NB - 1, BR>(dv - f, kc, ptc + p, vc + f, ldv, ap, ot + f * BR + p, chunk);
    }
  }
}

// Keys [k, e[S]) on vectors S..QV-1 of the register tile, then the next
// step; e nondecreasing, so vector u takes keys [0, e[u]) in key order.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR, std::size_t S = 0>
QKV_TILE_INLINE void attn_stairs_steps(std::size_t k, const std::size_t* e, const float* pt, const float* v,
                                       std::size_t ldv, simd::vf<A> (&acc)[NB][QV]) {
  if constexpr (S < QV) {
    using V = simd::vf<A>;
    constexpr std::size_t W = V::size;
    for (; k < e[S]; ++k) {
      V b[QV];
#pragma GCC unroll 16
      for (std::size_t u = S; u < QV; ++u) b[u] = V::load_unaligned(pt + k * BR + u * W);
#pragma GCC unroll 16
      for (std::size_t i = 0; i < NB; ++i) {
        const V av(v[k * ldv + i]);
#pragma GCC unroll 16
        for (std::size_t u = S; u < QV; ++u) acc[i][u] = vec_ops<V>::fma(av, b[u], acc[i][u]);
      }
    }
    attn_stairs_steps<A, QV, NB, BR, S + 1>(k, e, pt, v, ldv, acc);
  }
}

// One register tile of O^T (NB features x QV vectors) over keys whose
// vector u takes the first e[u] (alpha null: no rescale).
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_accumulate_stairs_tile(const std::size_t* e, const float* pt, const float* v, std::size_t ldv,
                                        const float* alpha, float* ot) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  V acc[NB][QV];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < NB; ++i)
#pragma GCC unroll 16
    for (std::size_t u = 0; u < QV; ++u) {
      acc[i][u] = V::load_unaligned(ot + i * BR + u * W);
      if (alpha) acc[i][u] = acc[i][u] * V::load_unaligned(alpha + u * W);
    }
  attn_stairs_steps<A, QV, NB, BR>(0, e, pt, v, ldv, acc);
#pragma GCC unroll 16
  for (std::size_t i = 0; i < NB; ++i)
#pragma GCC unroll 16
    for (std::size_t u = 0; u < QV; ++u) acc[i][u].store_unaligned(ot + i * BR + u * W);
}

template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
inline void attn_accumulate_stairs_rest(std::size_t r, const std::size_t* e, const float* pt, const float* v,
                                        std::size_t ldv, const float* alpha, float* ot) {
  if constexpr (NB > 0) {
    if (r == NB)
      attn_accumulate_stairs_tile<A, QV, NB, BR>(e, pt, v, ldv, alpha, ot);
    else
      attn_accumulate_stairs_rest<A, QV, NB - 1, BR>(r, e, pt, v, ldv, alpha, ot);
  }
}

// attn.hpp: accumulate_stairs. Per chunk and panel: the whole-tile kernel
// where every vector takes every key of the chunk, none where no vector
// takes one (their weights are 0: alpha is 1, or 0 on a zero row), else
// register tiles that step down the stairs.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
void attn_accumulate_stairs_f32(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                                const float* alpha, float* ot, std::size_t chunk, const std::size_t* ends) {
  constexpr std::size_t W = simd::vf<A>::size, PW = QV * W;
  for (std::size_t j0 = 0; j0 < kb; j0 += chunk) {
    const std::size_t kc = kb - j0 < chunk ? kb - j0 : chunk;
    const float* ptc = pt + j0 * BR;
    const float* vc = v + j0 * ldv;
    for (std::size_t p = 0; p < BR; p += PW) {
      std::size_t e[QV];  // the panel's ends within the chunk
      for (std::size_t u = 0; u < QV; ++u) {
        const std::size_t x = ends[p / W + u];
        e[u] = x <= j0 ? 0 : x - j0 < kc ? x - j0 : kc;
      }
      if (e[QV - 1] == 0) continue;
      const float* ap = j0 == 0 && alpha ? alpha + p : nullptr;
      std::size_t f = 0;
      if (e[0] == kc) {
        for (; f + NB <= dv; f += NB)
          attn_accumulate_tile<A, QV, NB, BR>(kc, ptc + p, vc + f, ldv, ap, ot + f * BR + p, chunk);
        attn_accumulate_rest<A, QV, NB - 1, BR>(dv - f, kc, ptc + p, vc + f, ldv, ap, ot + f * BR + p, chunk);
        continue;
      }
      for (; f + NB <= dv; f += NB)
        attn_accumulate_stairs_tile<A, QV, NB, BR>(e, ptc + p, vc + f, ldv, ap, ot + f * BR + p);
      attn_accumulate_stairs_rest<A, QV, NB - 1, BR>(dv - f, e, ptc + p, vc + f, ldv, ap, ot + f * BR + p);
    }
  }
}

// Soft-capping (attn.hpp: softcap) over whole vectors; the tail (n % W)
// through the same code on a zero-padded stack copy. WithD: also 1 - tanh^2
// (the backward); without, the forward computes none of it.
template <class A, bool WithD>
void attn_softcap_rows(std::size_t n, float cap, float* s, float* dtanh) {
  using P = act_vops<A>;
  using V = typename P::T;
  constexpr std::size_t W = V::size;
  const V c(cap), ic(1.0f / cap);
  auto step = [&](const float* in, float* out, float* dout) {
    const cap_tanh<P> r = softcap_tanh<P>(V::load_unaligned(in) * ic);
    (c * r.t).store_unaligned(out);
    if constexpr (WithD) r.d.store_unaligned(dout);
  };
  std::size_t i = 0;
  for (; i + W <= n; i += W) step(s + i, s + i, WithD ? dtanh + i : nullptr);
  if (i < n) {
    alignas(64) float b[W], d[W];
    for (std::size_t j = 0; j < W; ++j) b[j] = i + j < n ? s[i + j] : 0.0f;
    step(b, b, d);
    for (std::size_t j = 0; i + j < n; ++j) {
      s[i + j] = b[j];
      if constexpr (WithD) dtanh[i + j] = d[j];
    }
  }
}

template <class A>
void attn_softcap_f32(std::size_t n, float cap, float* s, float* dtanh) {
  if (dtanh)
    attn_softcap_rows<A, true>(n, cap, s, dtanh);
  else
    attn_softcap_rows<A, false>(n, cap, s, nullptr);
}

// The table for one ISA: QV vectors x NB rows per register tile, BR queries per tile.
template <class A, std::size_t QV, std::size_t NB, std::size_t BR>
constexpr attn_kernels make_attn_kernels() {
  static_assert(BR <= kAttnMaxBr, "workspace sizes assume br <= kAttnMaxBr");
  return {BR,
          attn_scores_f32<A, QV, NB, BR>,
          attn_softmax_f32<A, BR>,
          attn_accumulate_f32<A, QV, NB, BR>,
          attn_softcap_f32<A>,
          attn_decode_scores_f32<A>,
          attn_decode_accumulate_f32<A, QV * NB>,
          simd::vf<A>::size,
          attn_scores_stairs_f32<A, QV, NB, BR>,
          attn_accumulate_stairs_f32<A, QV, NB, BR>};
}

}  // namespace
}  // namespace qkv::kern
