// SPDX-License-Identifier: MIT
// norm-inl.hpp - xsimd LayerNorm/RMSNorm row kernels, templated on the
// architecture: the algorithms of norm_row.hpp over xsimd batches. Included
// only by the per-ISA translation units (kernels/tables_<isa>.cpp); internal
// linkage throughout, as in vec-inl.hpp.
#pragma once

#include <cmath>
#include <type_traits>

#include "kernels/norm/norm.hpp"
#include "kernels/norm/norm_row.hpp"
#include "kernels/simd.hpp"

namespace qkv::kern {
namespace {

template <class A>
struct norm_simd_policy {
  using V = simd::vf<A>;
  static constexpr std::size_t W = V::size;
  template <class T>
  static T ld(const float* p) noexcept {
    if constexpr (std::is_same<T, float>::value)
      return *p;
    else
      return V::load_unaligned(p);
  }
  static void st(float* p, V v) noexcept { v.store_unaligned(p); }
  static void st(float* p, float v) noexcept { *p = v; }
  template <class T>
  static T splat(float a) noexcept {
    return T(a);
  }
  static V abs(V v) noexcept { return xsimd::abs(v); }
  static float abs(float v) noexcept { return std::fabs(v); }
  static V max(V a, V b) noexcept { return xsimd::max(a, b); }
  static float max(float a, float b) noexcept { return b > a ? b : a; }
  static float hsum(V v) noexcept { return simd::reduce_add<A>(v); }
  static float hmax(V v) noexcept { return simd::reduce_max<A>(v); }
};

template <class A>
void row_forward_f32(std::size_t n, bool center, float eps, const float* x, const float* res, float* s_out,
                     const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  norm_row_forward<norm_simd_policy<A>>(n, center, eps, x, res, s_out, gamma, beta, y, mean, rstd);
}

template <class A>
void row_backward_f32(std::size_t n, bool center, const float* x, float mu, float rstd, const float* gamma,
                      const float* dy, float* dx, bool accumulate) {
  norm_row_backward<norm_simd_policy<A>>(n, center, x, mu, rstd, gamma, dy, dx, accumulate);
}

template <class A>
void cols_accumulate_f32(std::size_t n, const float* x, float mu, float rstd, const float* dy, float* sg,
                         float* sb) {
  norm_cols_accumulate<norm_simd_policy<A>>(n, x, mu, rstd, dy, sg, sb);
}

template <class A>
constexpr norm_kernels make_norm_kernels() {
  return {row_forward_f32<A>, row_backward_f32<A>, cols_accumulate_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
