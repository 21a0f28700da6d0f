// SPDX-License-Identifier: MIT
// attn_bwd-inl.hpp - xsimd micro-kernels of the attention backward, templated
// on the architecture. Included only by the per-ISA translation units
// (attn_bwd_<isa>.cpp); internal linkage throughout, as in vec-inl.hpp.
#pragma once

#include <type_traits>

#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/softmax/exp-inl.hpp"
#include "kernels/tile/tile_simd-inl.hpp"

namespace qkv::kern {
namespace {

// Register tile of the GEMM: MR rows x NV vectors of C stay in registers.
// 32 vector registers (AVX-512, AArch64): 6 x 4 = 24 accumulators + 4 B
// vectors + 1 broadcast. 16 registers (SSE2, AVX2, ARMv7): 6 x 2 = 12 + 3.
template <class A>
constexpr int attn_nv_max() {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value) return 4;
#endif
#if defined(__aarch64__)
  return 4;
#else
  return 2;
#endif
}
constexpr int kAttnMr = 6;

// gemm_f32_<MR>x<NV vectors>: C tile = (acc ? C : 0) + A(MR x k) B(k x NV*W),
// the register tile (kernels/tile) on A in place.
template <class A, int MR, int NV>
inline void attn_gemm_tile(std::size_t k, const float* a, std::size_t ar, std::size_t ac, const float* b,
                           std::size_t ldb, float* c, std::size_t ldc, int acc) {
  using V = simd::vf<A>;
  using IO = unaligned_io<A>;
  tile_fma<V, MR, NV>(k, a, ar, ac, make_rows_b<V>(b, ldb, IO()), c_init<V, IO, std::size_t>{c, ldc, acc != 0, {}},
                      c_store<V, IO, std::size_t>{c, ldc, {}});
}

// One column panel of NV vectors over all m rows: full MR tiles, then the rest.
template <class A, int NV>
void attn_gemm_panel(std::size_t m, std::size_t k, const float* a, std::size_t ar, std::size_t ac, const float* b,
                     std::size_t ldb, float* c, std::size_t ldc, int acc) {
  std::size_t r = 0;
  for (; r + kAttnMr <= m; r += kAttnMr)
    attn_gemm_tile<A, kAttnMr, NV>(k, a + r * ar, ar, ac, b, ldb, c + r * ldc, ldc, acc);
  a += r * ar;
  c += r * ldc;
  switch (m - r) {
    case 5: attn_gemm_tile<A, 5, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 4: attn_gemm_tile<A, 4, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 3: attn_gemm_tile<A, 3, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 2: attn_gemm_tile<A, 2, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 1: attn_gemm_tile<A, 1, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    default: break;
  }
}

template <class A>
void attn_gemm_f32(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t ar, std::size_t ac,
                   const float* b, std::size_t ldb, float* c, std::size_t ldc, int acc) {
  constexpr std::size_t W = simd::vf<A>::size;
  constexpr int NVM = attn_nv_max<A>();
  std::size_t j = 0;
  for (; j + NVM * W <= n; j += NVM * W) attn_gemm_panel<A, NVM>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
  switch ((n - j) / W) {  // n % W == 0 (n is a multiple of kAttnBwdPad)
    case 3:
      if constexpr (NVM > 3) attn_gemm_panel<A, 3>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
      break;
    case 2:
      if constexpr (NVM > 2) attn_gemm_panel<A, 2>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
      break;
    case 1: attn_gemm_panel<A, 1>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc); break;
    default: break;
  }
}

// One row's visible columns [0, nv): whole vectors, then the partly visible
// last one (exact small integers in float select its lanes).
template <class A, bool Drop>
QKV_TILE_INLINE void softmax_grad_row(std::size_t nv, simd::vf<A> vlse, simd::vf<A> vD, const float* mr, float* sr,
                                      float* dr) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  alignas(64) static constexpr float kIota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  auto one = [&](std::size_t c, bool last) {
    // s - lse as the forward's s - m, then its exp (attn_softmax_f32).
    const V p = exp_nonpos_f32<A>(V::load_unaligned(sr + c) - vlse);
    V g = V::load_unaligned(dr + c);
    V pd = p;
    if constexpr (Drop) {
      const V m = V::load_unaligned(mr + c);
      pd = p * m;
      g = g * m;
    }
    V ds = p * (g - vD);
    if (last) {
      const auto keep = (V::load_aligned(kIota) + V(static_cast<float>(c))) < V(static_cast<float>(nv));
      pd = xsimd::select(keep, pd, V(0.f));
      ds = xsimd::select(keep, ds, V(0.f));
    }
    pd.store_unaligned(sr + c);
    ds.store_unaligned(dr + c);
  };
  std::size_t c = 0;
  for (; c + W <= nv; c += W) one(c, false);
  if (c < nv) one(c, true);
}

template <class A, bool Drop>
void softmax_grad_rows(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse, const float* D,
                       const float* drop, float* s, float* dp, std::size_t ld) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  for (std::size_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float* dr = dp + r * ld;
    const std::size_t nv = valid[r];
    softmax_grad_row<A, Drop>(nv, V(lse[r]), V(D[r]), Drop ? drop + r * ld : nullptr, sr, dr);
    for (std::size_t c = (nv + W - 1) / W * W; c < cols; c += W) {
      V(0.f).store_unaligned(sr + c);
      V(0.f).store_unaligned(dr + c);
    }
  }
}

template <class A>
void attn_softmax_grad_f32(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse,
                           const float* D, const float* drop, float* s, float* dp, std::size_t ld) {
  if (drop)
    softmax_grad_rows<A, true>(rows, cols, valid, lse, D, drop, s, dp, ld);
  else
    softmax_grad_rows<A, false>(rows, cols, valid, lse, D, drop, s, dp, ld);
}

// transpose_f32_<W>x<W>: blocks of W source rows x W columns, transposed in
// registers (simd::transpose). The last, partial block of rows is filled up
// with zero rows while its W destination columns fit in ld_dst: they are
// the padding the contract zeroes. Columns past the last whole vector, rows
// that do not fit, and the rest of the padding go element by element.
template <class A>
void attn_transpose_f32(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                        std::size_t ld_dst) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V zero(0.f);
  V v[W];
  std::size_t c0 = 0;  // destination columns [0, c0) are written
  for (; c0 < rows && c0 + W <= ld_dst; c0 += W) {
    const std::size_t nr = rows - c0 < W ? rows - c0 : W;
    const float* s = src + c0 * ld;
    float* d = dst + c0;
    std::size_t f0 = 0;
    for (; f0 + W <= cols; f0 += W) {
#pragma GCC unroll 16
      for (std::size_t i = 0; i < W; ++i) v[i] = i < nr ? V::load_unaligned(s + i * ld + f0) : zero;
      simd::transpose<A>(v);
#pragma GCC unroll 16
      for (std::size_t i = 0; i < W; ++i) v[i].store_unaligned(d + (f0 + i) * ld_dst);
    }
    for (; f0 < cols; ++f0)
      for (std::size_t i = 0; i < W; ++i) d[f0 * ld_dst + i] = i < nr ? s[i * ld + f0] : 0.f;
  }
  for (std::size_t f = 0; f < cols; ++f) {
    float* d = dst + f * ld_dst;
    std::size_t c = c0;
    for (; c < rows; ++c) d[c] = src[c * ld + f];
    for (; c + W <= ld_dst; c += W) zero.store_unaligned(d + c);
    for (; c < ld_dst; ++c) d[c] = 0.f;
  }
}

// scale * x per element, whole vectors then the last cols % W one by one
// (the same single multiply). ARMv7 NEON flushes subnormals to zero, unlike
// its VFP unit and every other ISA here, so there the multiply stays scalar
// and the results stay those of IEEE arithmetic.
template <class A>
void attn_scale_rows_f32(std::size_t rows, std::size_t cols, std::size_t cols_pad, float scale, const float* src,
                         std::size_t ld, float* dst, std::size_t ld_dst) {
  using V = simd::vf<A>;
  constexpr bool kVectorMul = !std::is_same<A, xsimd::neon>::value;
  constexpr std::size_t W = kVectorMul ? V::size : 1;
  const V vs(scale);
  for (std::size_t r = 0; r < rows && r < kAttnBwdAhead; ++r)
    for (std::size_t f = 0; f < cols; f += 16) __builtin_prefetch(src + r * ld + f);
  for (std::size_t r = 0; r < rows; ++r) {
    if (r + kAttnBwdAhead < rows) {
      const float* sp = src + (r + kAttnBwdAhead) * ld;
      float* dp = dst + (r + kAttnBwdAhead) * ld_dst;
      for (std::size_t f = 0; f < cols; f += 16) __builtin_prefetch(sp + f);
      for (std::size_t f = 0; f < cols_pad; f += 16) __builtin_prefetch(dp + f, 1);
    }
    const float* s = src + r * ld;
    float* d = dst + r * ld_dst;
    std::size_t f = 0;
    if constexpr (kVectorMul)
      for (; f + W <= cols; f += W) (vs * V::load_unaligned(s + f)).store_unaligned(d + f);
    for (; f < cols; ++f) d[f] = scale * s[f];
    for (; f < cols_pad; ++f) d[f] = 0.f;
  }
}

// attn_bwd.hpp: transpose_scaled. W x W blocks transposed in registers and
// scaled on the way out (a destination row is one source column: one
// factor); partial blocks and the padding element by element. ARMv7 NEON
// flushes subnormals to zero in vector arithmetic (scale_rows' kVectorMul):
// there every element takes the scalar multiply.
template <class A>
void attn_transpose_scaled_f32(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                               std::size_t ld_dst, std::size_t dst_cols, float scale, const float* col_scale) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  constexpr bool kVectorMul = !std::is_same<A, xsimd::neon>::value;
  V v[W];
  std::size_t c0 = 0;  // W source rows at a time, each read whole
  for (; kVectorMul && c0 + W <= rows; c0 += W) {
    std::size_t f0 = 0;
    for (; f0 + W <= cols; f0 += W) {
#pragma GCC unroll 16
      for (std::size_t i = 0; i < W; ++i) v[i] = V::load_unaligned(src + (c0 + i) * ld + f0);
      simd::transpose<A>(v);
#pragma GCC unroll 16
      for (std::size_t i = 0; i < W; ++i)
        (v[i] * V(col_scale ? col_scale[f0 + i] : scale)).store_unaligned(dst + (f0 + i) * ld_dst + c0);
    }
    for (; f0 < cols; ++f0) {
      const float sf = col_scale ? col_scale[f0] : scale;
      for (std::size_t c = c0; c < c0 + W; ++c) dst[f0 * ld_dst + c] = src[c * ld + f0] * sf;
    }
  }
  transpose_scaled_rows_from(c0, rows, cols, src, ld, dst, ld_dst, dst_cols, scale, col_scale);
}

template <class A>
constexpr attn_bwd_kernels make_attn_bwd_kernels() {
  return {attn_gemm_f32<A>, attn_softmax_grad_f32<A>, attn_transpose_f32<A>, attn_scale_rows_f32<A>,
          attn_transpose_scaled_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
