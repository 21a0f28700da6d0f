// SPDX-License-Identifier: MIT
// kv-inl.hpp - xsimd kv kernels, templated on the architecture (internal
// linkage: included only by the tables_<isa>.cpp files).
//
// Cached elements are widened in registers as they are loaded (kv_load,
// widen-inl.hpp). q8_0 goes by blocks: the codes as floats, and the block's
// scale applied once to the block's partial dot product (scores) or to p
// (the weighted sum), so its rounding differs from a dequantize-then-
// multiply by an fp32 ulp or so. Each row's span is
// prefetched kKvAhead keys early, every line of it (bench/README.md: with
// none the reads ran ~10 % slower, 8 keys ahead waited on memory). On
// AVX-512, q8_0 walks 16 keys at a time (kv_q8_avx512-inl.hpp) with the
// same bits as key by key.
#pragma once

#include <cstdint>

#include "kernels/kv/kv.hpp"
#include "kernels/kv/kv_q8_avx512-inl.hpp"
#include "kernels/lowp_elem-inl.hpp"
#include "kernels/simd.hpp"
#include "kernels/widen-inl.hpp"
#include "util/half.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kKvAhead = 16;  // keys between a row's prefetch and its use

// Element c of a row of format F (F32, BF16, F16), widened (the scalar tails).
template <qkv_kv_format F>
inline float kv_elem(const unsigned char* row, std::size_t c) {
  static_assert(F != QKV_KV_Q8_0, "q8_0 goes by blocks");
  return lowp_elem<F == QKV_KV_F32 ? QKV_DTYPE_F32 : F == QKV_KV_BF16 ? QKV_DTYPE_BF16 : QKV_DTYPE_F16>(row, c);
}

// W elements from c, widened (F32, BF16, F16; Q8_0 goes by blocks below).
template <class A, qkv_kv_format F>
inline simd::vf<A> kv_load(const unsigned char* row, std::size_t c) {
  if constexpr (F == QKV_KV_F32) return simd::vf<A>::load_unaligned(reinterpret_cast<const float*>(row) + c);
  const auto* h = reinterpret_cast<const std::uint16_t*>(row) + c;
  if constexpr (F == QKV_KV_BF16) return widen_bf16<A>(h);
  return widen_f16<A>(h);
}

// q8_0 in two parts, so a block's scale multiplies once: W codes from qs
// as floats (widen_s8), and the block's scale in every lane.
template <class A>
inline simd::vf<A> kv_q8_scale(const qkv_block_q8_0& b) {
  using V = simd::vf<A>;
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value)
    return V(_mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(b.d))));
#endif
#if defined(__AVX2__) && defined(__F16C__)
  if constexpr (std::is_base_of<xsimd::avx2, A>::value && V::size == 8)
    return V(_mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(b.d))));
#endif
  return V(util::f16_to_f32(b.d));
}

// The line of p, into L2 (prefetcht1: from memory the walks ran 5-45 %
// faster than with t0, which fills L1's few miss buffers).
inline void kv_prefetch_line(const unsigned char* p) { __builtin_prefetch(p, 0, 2); }

// Every line of bytes [0, n) from p.
inline void kv_prefetch(const unsigned char* p, std::size_t n) {
  for (std::size_t o = 0; o < n; o += 64) kv_prefetch_line(p + o);
  kv_prefetch_line(p + n - 1);  // the line a span that starts mid-line ends in
}

// The bytes of a row a call reads: from its first head's part to the end of
// its last one (parts are hs.part bytes, the bytes of d elements).
inline std::size_t kv_span(const kv_heads& hs) { return ((hs.nh - 1 + hs.skew) / hs.group + 1) * hs.part; }

// scale * dot(q, row part k) of d elements.
template <class A, qkv_kv_format F>
inline float kv_dot(std::size_t d, const float* q, const unsigned char* k, float scale) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  if constexpr (F == QKV_KV_Q8_0) {  // per block: scale * sum of q * code
    const auto* blk = reinterpret_cast<const qkv_block_q8_0*>(k);
    V a(0.f);
    for (std::size_t b = 0; b < d / QKV_Q8_0_BLOCK; ++b) {
      const float* qb = q + b * QKV_Q8_0_BLOCK;
      V t = V::load_unaligned(qb) * widen_s8<A>(blk[b].qs);
#pragma GCC unroll 8
      for (std::size_t c = W; c < QKV_Q8_0_BLOCK; c += W)
        t = simd::fmadd<A>(V::load_unaligned(qb + c), widen_s8<A>(blk[b].qs + c), t);
      a = simd::fmadd<A>(t, kv_q8_scale<A>(blk[b]), a);
    }
    return scale * simd::reduce_add<A>(a);
  } else {
    V a0(0.f), a1(0.f);
    std::size_t c = 0;
    for (; c + 2 * W <= d; c += 2 * W) {
      a0 = simd::fmadd<A>(V::load_unaligned(q + c), kv_load<A, F>(k, c), a0);
      a1 = simd::fmadd<A>(V::load_unaligned(q + c + W), kv_load<A, F>(k, c + W), a1);
    }
    for (; c + W <= d; c += W) a0 = simd::fmadd<A>(V::load_unaligned(q + c), kv_load<A, F>(k, c), a0);
    float acc = simd::reduce_add<A>(a0 + a1);
    for (; c < d; ++c) acc += q[c] * kv_elem<F>(k, c);
    return scale * acc;
  }
}

// o[c] += p * row part v [c] for c < d.
template <class A, qkv_kv_format F>
inline void kv_axpy(std::size_t d, float p, const unsigned char* v, float* o) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  if constexpr (F == QKV_KV_Q8_0) {  // per block: (p * scale) * code
    const auto* blk = reinterpret_cast<const qkv_block_q8_0*>(v);
    for (std::size_t b = 0; b < d / QKV_Q8_0_BLOCK; ++b) {
      const V ps = V(p) * kv_q8_scale<A>(blk[b]);
      float* ob = o + b * QKV_Q8_0_BLOCK;
#pragma GCC unroll 8
      for (std::size_t c = 0; c < QKV_Q8_0_BLOCK; c += W)
        simd::fmadd<A>(ps, widen_s8<A>(blk[b].qs + c), V::load_unaligned(ob + c)).store_unaligned(ob + c);
    }
  } else {
    std::size_t c = 0;
    for (; c + W <= d; c += W)
      simd::fmadd<A>(V(p), kv_load<A, F>(v, c), V::load_unaligned(o + c)).store_unaligned(o + c);
    for (; c < d; ++c) o[c] += p * kv_elem<F>(v, c);
  }
}

// Query head u's part of a row, stepped head by head (a division per head
// and key cost the q8_0 walk ~10 %): heads u and u + 1 share a part unless
// u + 1 + skew is a multiple of group.
struct kv_part_step {
  std::size_t g, off;  // (u + skew) % group, its part's byte offset
  explicit kv_part_step(const kv_heads& hs) : g(hs.skew), off(0) {}
  void next(const kv_heads& hs) {
    if (++g == hs.group) g = 0, off += hs.part;
  }
};

// The grouped walks' prefetches: the spans of rows [j, n), line by line, a
// few per head, so that a group's lines are asked for spread over its heads
// rather than in one burst (which made the grouped walk slower than the
// key-by-key one from memory). bench/README.md has the figures.
struct kv_prefetch_cursor {
  const unsigned char* rows;
  std::size_t j, off, n, stride, span;
  void step(std::size_t lines) {
    for (; lines && j < n; --lines) {
      kv_prefetch_line(rows + j * stride + off);
      off += 64;
      if (off >= span) {
        kv_prefetch_line(rows + j * stride + span - 1);
        off = 0, ++j;
      }
    }
  }
};

// q8_0 on AVX-512 takes whole groups of 16 keys (kv_q8_avx512-inl.hpp, the
// same bits) when a group's spans fit in half of L1 (a group revisits its
// rows head after head; d_head 128 x 12 heads did not fit and ran ~10 %
// slower from L2); the rest go key by key.
template <class A, qkv_kv_format F>
constexpr bool kv_grouped() {
#if defined(__AVX512F__)
  return F == QKV_KV_Q8_0 && std::is_base_of<xsimd::avx512f, A>::value;
#else
  return false;
#endif
}

#if defined(__AVX512F__)
// The whole groups of 16 keys from key 0, when 16 row spans fit in half of
// L1 (else none): body(u, head u's part of the group's first row, that
// row's key, kv_rows16(stride)) per group and head. Returns the keys done.
template <class Body>
inline std::size_t kv_groups(const kv_heads& hs, std::size_t n, const unsigned char* rows, std::size_t stride,
                             Body body) {
  const std::size_t span = kv_span(hs);
  if (kKvGroup * span > hs.l1d / 2 || stride > kKvMaxStride) return 0;
  const std::size_t lines = (kKvGroup * ((span + 63) / 64 + 1) + hs.nh - 1) / hs.nh;  // a group's, per head
  const __m512i rows16 = kv_rows16(stride);
  std::size_t j = 0;
  for (kv_prefetch_cursor pf{rows, kKvAhead, 0, n, stride, span}; j + kKvGroup <= n; j += kKvGroup) {
    kv_part_step h(hs);
    for (std::size_t u = 0; u < hs.nh; ++u, h.next(hs), pf.step(lines))
      body(u, rows + j * stride + h.off, j, rows16);
  }
  return j;
}
#endif

template <class A, qkv_kv_format F>
void kv_scores_f(const kv_heads& hs, std::size_t n, std::size_t d, const float* q, const unsigned char* rows,
                 std::size_t stride, float scale, float* s, std::size_t lds) {
  const std::size_t span = kv_span(hs);
  std::size_t j = 0;
#if defined(__AVX512F__)
  if constexpr (kv_grouped<A, F>())
    j = kv_groups(hs, n, rows, stride, [&](std::size_t u, const unsigned char* part, std::size_t j0, __m512i r16) {
      kv_q8_scores16(d, q + u * d, part, stride, r16, scale, s + u * lds + j0);
    });
#endif
  for (; j < n; ++j) {
    const unsigned char* row = rows + j * stride;
    if (j + kKvAhead < n) kv_prefetch(row + kKvAhead * stride, span);
    kv_part_step h(hs);
    for (std::size_t u = 0; u < hs.nh; ++u, h.next(hs)) s[u * lds + j] = kv_dot<A, F>(d, q + u * d, row + h.off, scale);
  }
}

// The output rows stay in L1 (nh * d floats) while the cache rows stream
// past: every element still sums its keys in order.
template <class A, qkv_kv_format F>
void kv_accum_f(const kv_heads& hs, std::size_t n, std::size_t d, const float* p, std::size_t lds,
                const unsigned char* rows, std::size_t stride, float* out) {
  const std::size_t span = kv_span(hs);
  std::size_t j = 0;
#if defined(__AVX512F__)
  if constexpr (kv_grouped<A, F>())
    j = kv_groups(hs, n, rows, stride, [&](std::size_t u, const unsigned char* part, std::size_t j0, __m512i r16) {
      kv_q8_accum16(d, p + u * lds + j0, part, stride, r16, out + u * d);
    });
#endif
  for (; j < n; ++j) {
    const unsigned char* row = rows + j * stride;
    if (j + kKvAhead < n) kv_prefetch(row + kKvAhead * stride, span);
    kv_part_step h(hs);
    for (std::size_t u = 0; u < hs.nh; ++u, h.next(hs)) kv_axpy<A, F>(d, p[u * lds + j], row + h.off, out + u * d);
  }
}

template <class A, qkv_kv_format F>
void kv_walk_f(const kv_heads& hs, std::size_t n, std::size_t d, const float* w, std::size_t lds,
               const unsigned char* rows, std::size_t stride, float scale, float* s, float* out) {
  if (s)
    kv_scores_f<A, F>(hs, n, d, w, rows, stride, scale, s, lds);
  else
    kv_accum_f<A, F>(hs, n, d, w, lds, rows, stride, out);
}

template <class A>
void kv_walk(qkv_kv_format f, const kv_heads& hs, std::size_t n, std::size_t d, const float* w, std::size_t lds,
             const void* rows, std::size_t stride, float scale, float* s, float* out) {
  const auto* r = static_cast<const unsigned char*>(rows);
  switch (f) {
    case QKV_KV_BF16: return kv_walk_f<A, QKV_KV_BF16>(hs, n, d, w, lds, r, stride, scale, s, out);
    case QKV_KV_F16: return kv_walk_f<A, QKV_KV_F16>(hs, n, d, w, lds, r, stride, scale, s, out);
    case QKV_KV_Q8_0: return kv_walk_f<A, QKV_KV_Q8_0>(hs, n, d, w, lds, r, stride, scale, s, out);
    default: return kv_walk_f<A, QKV_KV_F32>(hs, n, d, w, lds, r, stride, scale, s, out);
  }
}

template <class A>
constexpr kv_kernels make_kv_kernels() {
  return {kv_walk<A>};
}

}  // namespace
}  // namespace qkv::kern
