// SPDX-License-Identifier: MIT
// tile_simd-inl.hpp - the register tile (tile-inl.hpp) on xsimd batches:
// their arithmetic (one fused multiply-add per k, simd::fmadd) and their
// memory access. Included only by per-ISA translation units.
#pragma once

#include "kernels/simd.hpp"
#include "kernels/tile/tile-inl.hpp"

namespace qkv::kern {
namespace {

template <class A>
struct vec_ops<xsimd::batch<float, A>> {
  using V = xsimd::batch<float, A>;
  static constexpr std::size_t width = V::size;
  static V zero() { return V(0.0f); }
  static V bcast(float x) { return V(x); }
  static V fma(V a, V b, V c) { return simd::fmadd<A>(a, b, c); }
  static V mul(V a, V b) { return a * b; }
};

template <class A>
struct unaligned_io {
  using V = xsimd::batch<float, A>;
  static V load(const float* p, std::size_t) { return V::load_unaligned(p); }
  static void store(float* p, std::size_t, V x) { x.store_unaligned(p); }
};

// Loads from a 64-byte aligned packed panel (B operands only: no store).
template <class A>
struct aligned_io {
  using V = xsimd::batch<float, A>;
  static V load(const float* p, std::size_t) { return V::load_aligned(p); }
};

}  // namespace
}  // namespace qkv::kern
