// SPDX-License-Identifier: MIT
// tile_mve-inl.hpp - the register tile (tile-inl.hpp) on Helium (MVE)
// registers, float32x4_t: its arithmetic and its memory access, tails by
// predication (vctp) rather than scalar remainders. Included only by the
// *_mve.cpp translation units (arm_mve.h; hand-written, xsimd has no MVE).
//
// Eight 128-bit Q registers: A is broadcast from a core register (vfma
// q, q, r: bcast returns the float), so an MR x NV tile needs MR*NV
// accumulators and one B vector at a time: 3 x 2 = 6 + 1 (kMveMr, kMveNv).
#pragma once

#include <arm_mve.h>

#include "kernels/tile/tile-inl.hpp"

namespace qkv::kern {
namespace {

using mve_f32 = float32x4_t;

// The tile shape every MVE product kernel uses: 3 rows x 2 vectors.
constexpr std::size_t kMveMr = 3, kMveNv = 2, kMveW = 4;

template <>
struct vec_ops<mve_f32> {
  static constexpr std::size_t width = kMveW;
  static mve_f32 zero() { return vdupq_n_f32(0.0f); }
  static float bcast(float x) { return x; }
  // a*b + c, fused (VFMA), with a broadcast scalar or a vector a.
  static mve_f32 fma(float a, mve_f32 b, mve_f32 c) { return vfmaq_n_f32(c, b, a); }
  static mve_f32 fma(mve_f32 a, mve_f32 b, mve_f32 c) { return vfmaq_f32(c, a, b); }
  static mve_f32 mul(float a, mve_f32 b) { return vmulq_n_f32(b, a); }
  static mve_f32 mul(mve_f32 a, mve_f32 b) { return vmulq_f32(a, b); }
};

// Whole vectors (word-aligned floats: VLDRW/VSTRW need no more).
struct mve_io {
  static mve_f32 load(const float* p, std::size_t) { return vldrwq_f32(p); }
  static void store(float* p, std::size_t, mve_f32 x) { vstrwq_f32(p, x); }
};

// The first n lanes of a tile row of NV vectors (vctp32q predicates): lanes
// past n are neither read (they load as 0, without touching memory) nor
// written. Unpredicated code for whole tiles, this one at the edge only:
// each predicated access costs a VPST.
template <std::size_t NV>
struct mve_masked_io {
  mve_pred16_t p[NV];
  explicit mve_masked_io(std::size_t n) {
    for (std::size_t v = 0; v < NV; ++v) p[v] = vctp32q(n > v * kMveW ? static_cast<uint32_t>(n - v * kMveW) : 0u);
  }
  mve_f32 load(const float* q, std::size_t v) const { return vldrwq_z_f32(q, p[v]); }
  void store(float* q, std::size_t v, mve_f32 x) const { vstrwq_p_f32(q, x, p[v]); }
};

// B transposed, read in place: op(B)(k, j) = b[j*ldb + k], vector v of row k
// gathered from columns j = 4v..4v+3 (VLDRW gather, shifted offsets
// 0, ldb, 2 ldb, 3 ldb from the base b + 4v*ldb + k: one offset register for
// every v, so a 3 x 2 tile still fits the eight Q registers), lanes past n
// masked (Masked: whole vectors need no VPST). Offsets are 32-bit:
// 3*ldb < 2^32.
template <std::size_t NV, bool Masked>
struct mve_gather_b {
  const float* b;
  std::size_t vstep;  // 4*ldb: from one vector's columns to the next's
  uint32x4_t off;
  mve_pred16_t p[NV];
  mve_gather_b(const float* b_, std::size_t ldb, std::size_t n)
      : b(b_), vstep(kMveW * ldb), off(vmulq_n_u32(vidupq_n_u32(0, 1), static_cast<uint32_t>(ldb))) {
    for (std::size_t v = 0; v < NV; ++v)
      p[v] = vctp32q(n > v * kMveW ? static_cast<uint32_t>(n - v * kMveW) : 0u);
  }
  mve_f32 operator()(std::size_t k, std::size_t v) const {
    if constexpr (Masked)
      return vldrwq_gather_shifted_offset_z_f32(b + v * vstep + k, off, p[v]);
    else
      return vldrwq_gather_shifted_offset_f32(b + v * vstep + k, off);
  }
};

// GEMM's epilogue: C = alpha*acc + beta*C (one multiply, then one fused
// multiply-add), beta == 0 never reading C.
template <class IO>
struct mve_axpby {
  float* c;
  std::size_t ldc;
  float alpha, beta;
  IO io;
  void operator()(std::size_t i, std::size_t v, mve_f32 acc) const {
    float* q = c + i * ldc + v * kMveW;
    mve_f32 r = vmulq_n_f32(acc, alpha);
    if (beta != 0.0f) r = vfmaq_n_f32(r, io.load(q, v), beta);
    io.store(q, v, r);
  }
};

}  // namespace
}  // namespace qkv::kern
