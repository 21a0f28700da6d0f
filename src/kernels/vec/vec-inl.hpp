// SPDX-License-Identifier: MIT
// vec-inl.hpp - xsimd level-1 kernels, templated on the architecture.
// Included only by the per-ISA translation units (vec_<isa>.cpp), each
// compiled with that ISA's flags; everything here has internal linkage so
// that no ISA's copy of an inline function can replace another's.
#pragma once

#include "kernels/lowp_elem-inl.hpp"
#include "kernels/simd.hpp"
#include "kernels/vec/vec.hpp"
#include "kernels/vec/vec_s8-inl.hpp"
#include "kernels/widen-inl.hpp"
#include "qkv/dtype.h"

namespace qkv::kern {
namespace {

template <class A>
float dot_f32(std::size_t n, const float* x, const float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  V a0(0.f), a1(0.f), a2(0.f), a3(0.f);
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 = simd::fmadd<A>(V::load_unaligned(x + i), V::load_unaligned(y + i), a0);
    a1 = simd::fmadd<A>(V::load_unaligned(x + i + W), V::load_unaligned(y + i + W), a1);
    a2 = simd::fmadd<A>(V::load_unaligned(x + i + 2 * W), V::load_unaligned(y + i + 2 * W), a2);
    a3 = simd::fmadd<A>(V::load_unaligned(x + i + 3 * W), V::load_unaligned(y + i + 3 * W), a3);
  }
  for (; i + W <= n; i += W)
    a0 = simd::fmadd<A>(V::load_unaligned(x + i), V::load_unaligned(y + i), a0);
  float s = simd::reduce_add<A>((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

template <class A>
void axpy_f32(std::size_t n, float alpha, const float* x, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V va(alpha);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    simd::fmadd<A>(va, V::load_unaligned(x + i), V::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// Elements of v (F32, or BF16 / F16 bits / I8 codes widened exactly as
// loaded): W of them from i (one: lowp_elem).
template <class A, qkv_dtype T>
inline simd::vf<A> load_v(const void* v, std::size_t i) {
  if constexpr (T == QKV_DTYPE_BF16) return widen_bf16<A>(static_cast<const std::uint16_t*>(v) + i);
  if constexpr (T == QKV_DTYPE_F16) return widen_f16<A>(static_cast<const std::uint16_t*>(v) + i);
  if constexpr (T == QKV_DTYPE_I8) return widen_s8<A>(static_cast<const std::int8_t*>(v) + i);
  if constexpr (T == QKV_DTYPE_F32) return simd::vf<A>::load_unaligned(static_cast<const float*>(v) + i);
}

// R rows of dot_f32 side by side: v's vectors loaded once for all R, each
// row's four partial sums and tail as dot_f32 has them. The row loops are
// unrolled so that the 4 R sums live in registers (GCC keeps the arrays in
// memory otherwise).
template <class A, std::size_t R, qkv_dtype T>
void dot_group(std::size_t n, const float* x, std::size_t ldx, const void* v, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  V a0[R], a1[R], a2[R], a3[R];
  #pragma GCC unroll 4
  for (std::size_t r = 0; r < R; ++r) a0[r] = a1[r] = a2[r] = a3[r] = V(0.f);
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    const V v0 = load_v<A, T>(v, i), v1 = load_v<A, T>(v, i + W), v2 = load_v<A, T>(v, i + 2 * W),
            v3 = load_v<A, T>(v, i + 3 * W);
    #pragma GCC unroll 4
    for (std::size_t r = 0; r < R; ++r) {
      const float* xr = x + r * ldx + i;
      a0[r] = simd::fmadd<A>(V::load_unaligned(xr), v0, a0[r]);
      a1[r] = simd::fmadd<A>(V::load_unaligned(xr + W), v1, a1[r]);
      a2[r] = simd::fmadd<A>(V::load_unaligned(xr + 2 * W), v2, a2[r]);
      a3[r] = simd::fmadd<A>(V::load_unaligned(xr + 3 * W), v3, a3[r]);
    }
  }
  for (; i + W <= n; i += W) {
    const V vv = load_v<A, T>(v, i);
    #pragma GCC unroll 4
    for (std::size_t r = 0; r < R; ++r) a0[r] = simd::fmadd<A>(V::load_unaligned(x + r * ldx + i), vv, a0[r]);
  }
  #pragma GCC unroll 4
  for (std::size_t r = 0; r < R; ++r) {
    const float* xr = x + r * ldx;
    float s = simd::reduce_add<A>((a0[r] + a1[r]) + (a2[r] + a3[r]));
    for (std::size_t j = i; j < n; ++j) s += xr[j] * lowp_elem<T>(v, j);
    y[r] = s;
  }
}

// Groups of 4 rows for 16-lane vectors (AVX-512: 32 registers hold their
// 16 sums), of 2 elsewhere (8 sums).
template <class A, qkv_dtype T>
void dot_rows_t(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const void* v, float* y) {
  constexpr std::size_t G = simd::vf<A>::size >= 16 ? 4 : 2;
  std::size_t r = 0;
  for (; r + G <= m; r += G) dot_group<A, G, T>(n, x + r * ldx, ldx, v, y + r);
  for (; r < m; ++r) dot_group<A, 1, T>(n, x + r * ldx, ldx, v, y + r);
}

template <class A>
void dot_rows_f32(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y) {
  dot_rows_t<A, QKV_DTYPE_F32>(m, n, x, ldx, v, y);
}

#ifdef QKV_HOSTED
template <class A>
void dot_rows_lowp(qkv_dtype vt, std::size_t m, std::size_t n, const float* x, std::size_t ldx, const void* v,
                   float* y) {
  if (vt == QKV_DTYPE_BF16) return dot_rows_t<A, QKV_DTYPE_BF16>(m, n, x, ldx, v, y);
  if (vt == QKV_DTYPE_F16) return dot_rows_t<A, QKV_DTYPE_F16>(m, n, x, ldx, v, y);
  dot_rows_t<A, QKV_DTYPE_I8>(m, n, x, ldx, v, y);
}

// R rows x C vectors of columns from column c0: the C vectors of v's row j
// widened once, then one multiply-add per row and vector; the R x C sums
// stay in registers (C from the register count: rows_times_vectors).
template <class A, qkv_dtype T, std::size_t R, std::size_t C>
void rows_times_block(std::size_t k, const float* x, std::size_t ldx, const unsigned char* v, std::size_t ldv,
                      float* y, std::size_t ldy) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  V acc[R][C];
  #pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (std::size_t c = 0; c < C; ++c) acc[r][c] = V(0.f);
  for (std::size_t j = 0; j < k; ++j) {
    // Row j from v's base: never a pointer past the last row (a huge ldv
    // would overflow it).
    const unsigned char* vj = v + j * ldv;
    V w[C];
    #pragma GCC unroll 8
    for (std::size_t c = 0; c < C; ++c) w[c] = load_v<A, T>(vj, c * W);
    #pragma GCC unroll 8
    for (std::size_t r = 0; r < R; ++r) {
      const V xr(x[r * ldx + j]);
      #pragma GCC unroll 8
      for (std::size_t c = 0; c < C; ++c) acc[r][c] = simd::fmadd<A>(xr, w[c], acc[r][c]);
    }
  }
  #pragma GCC unroll 8
  for (std::size_t r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (std::size_t c = 0; c < C; ++c) acc[r][c].store_unaligned(y + r * ldy + c * W);
}

// Vectors per block for R rows: R x C sums, C widened vectors and the
// broadcast within the register file (32 vectors with 16 lanes, else 16),
// at most 8, even from 2 (whole 64-byte lines of bf16 where W is 16).
template <class A, std::size_t R>
constexpr std::size_t rows_times_vectors() {
  constexpr std::size_t regs = simd::vf<A>::size >= 16 ? 32 : 16;
  constexpr std::size_t c = (regs - 2) / (R + 1) > 8 ? 8 : (regs - 2) / (R + 1);
  return c >= 2 ? c / 2 * 2 : 1;
}

template <class A, qkv_dtype T, std::size_t R>
void rows_times_r(std::size_t k, std::size_t n, const float* x, std::size_t ldx, const void* v_, std::size_t ldv,
                  float* y, std::size_t ldy) {
  constexpr std::size_t W = simd::vf<A>::size, C = rows_times_vectors<A, R>();
  constexpr std::size_t eb = T == QKV_DTYPE_I8 ? 1 : 2;
  const auto* v = static_cast<const unsigned char*>(v_);
  std::size_t c0 = 0;
  for (; c0 + C * W <= n; c0 += C * W) rows_times_block<A, T, R, C>(k, x, ldx, v + c0 * eb, ldv * eb, y + c0, ldy);
  for (; c0 + W <= n; c0 += W) rows_times_block<A, T, R, 1>(k, x, ldx, v + c0 * eb, ldv * eb, y + c0, ldy);
  for (; c0 < n; ++c0)  // the last columns, one at a time, with the vectors' multiply-add
    for (std::size_t r = 0; r < R; ++r) {
      simd::vf<A> s(0.f);
      for (std::size_t j = 0; j < k; ++j)
        s = simd::fmadd<A>(simd::vf<A>(x[r * ldx + j]), simd::vf<A>(lowp_elem<T>(v, j * ldv + c0)), s);
      alignas(64) float lane[W];
      s.store_aligned(lane);
      y[r * ldy + c0] = lane[0];
    }
}

template <class A, qkv_dtype T>
void rows_times_lowp_t(std::size_t m, std::size_t k, std::size_t n, const float* x, std::size_t ldx, const void* v,
                       std::size_t ldv, float* y, std::size_t ldy) {
  switch (m) {
    case 1: return rows_times_r<A, T, 1>(k, n, x, ldx, v, ldv, y, ldy);
    case 2: return rows_times_r<A, T, 2>(k, n, x, ldx, v, ldv, y, ldy);
    case 3: return rows_times_r<A, T, 3>(k, n, x, ldx, v, ldv, y, ldy);
    case 4: return rows_times_r<A, T, 4>(k, n, x, ldx, v, ldv, y, ldy);
    default:  // 5..8: four rows, then the rest
      rows_times_r<A, T, 4>(k, n, x, ldx, v, ldv, y, ldy);
      return rows_times_lowp_t<A, T>(m - 4, k, n, x + 4 * ldx, ldx, v, ldv, y + 4 * ldy, ldy);
  }
}

template <class A>
void rows_times_lowp(qkv_dtype vt, std::size_t m, std::size_t k, std::size_t n, const float* x, std::size_t ldx,
                     const void* v, std::size_t ldv, float* y, std::size_t ldy) {
  if (vt == QKV_DTYPE_BF16) return rows_times_lowp_t<A, QKV_DTYPE_BF16>(m, k, n, x, ldx, v, ldv, y, ldy);
  if (vt == QKV_DTYPE_F16) return rows_times_lowp_t<A, QKV_DTYPE_F16>(m, k, n, x, ldx, v, ldv, y, ldy);
  rows_times_lowp_t<A, QKV_DTYPE_I8>(m, k, n, x, ldx, v, ldv, y, ldy);
}
#endif

template <class A>
constexpr vec_kernels make_vec_kernels() {
#ifdef QKV_HOSTED
  return {dot_f32<A>, axpy_f32<A>, dot_rows_f32<A>, dot_rows_s8_plain, axpy_rows_s8_plain, requant_s8_plain,
          dot_rows_lowp<A>, rows_times_lowp<A>};
#else
  return {dot_f32<A>, axpy_f32<A>, dot_rows_f32<A>, dot_rows_s8_plain, axpy_rows_s8_plain, requant_s8_plain};
#endif
}

}  // namespace
}  // namespace qkv::kern
