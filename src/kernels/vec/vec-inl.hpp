// SPDX-License-Identifier: MIT
// vec-inl.hpp - xsimd level-1 kernels, templated on the architecture.
// Included only by the per-ISA translation units (vec_<isa>.cpp), each
// compiled with that ISA's flags; everything here has internal linkage so
// that no ISA's copy of an inline function can replace another's.
#pragma once

#include "kernels/simd.hpp"
#include "kernels/vec/vec.hpp"

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

template <class A>
constexpr vec_kernels make_vec_kernels() {
  return {dot_f32<A>, axpy_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
