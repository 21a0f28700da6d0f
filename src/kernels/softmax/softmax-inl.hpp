// SPDX-License-Identifier: MIT
// softmax-inl.hpp - xsimd softmax row kernels, templated on the architecture.
// Included only by softmax_<isa>.cpp; internal linkage throughout.
#pragma once

#include <cmath>

#include "kernels/softmax/exp-inl.hpp"
#include "kernels/softmax/softmax.hpp"

namespace qkv::kern {
namespace {

template <class A>
void softmax_exp_f32(std::size_t n, const float* x, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) exp_f32<A>(V::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {  // tail through a padded lane buffer: one code path, same rounding
    alignas(64) float buf[W] = {};
    for (std::size_t t = 0; i + t < n; ++t) buf[t] = x[i + t];
    exp_f32<A>(V::load_aligned(buf)).store_aligned(buf);
    for (std::size_t t = 0; i + t < n; ++t) y[i + t] = buf[t];
  }
}

template <class A>
float softmax_max_f32(std::size_t n, const float* x) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const float ninf = -__builtin_huge_valf();
  V m0(ninf), m1(ninf);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    m0 = vmax<A>(m0, V::load_unaligned(x + i));
    m1 = vmax<A>(m1, V::load_unaligned(x + i + W));
  }
  for (; i + W <= n; i += W) m0 = vmax<A>(m0, V::load_unaligned(x + i));
  float m = simd::reduce_max<A>(vmax<A>(m0, m1));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class A>
float softmax_exp_sum_f32(std::size_t n, float scale, float xmax, const float* x, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V vs(scale), vm(xmax);
  V s0(0.f), s1(0.f);
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const V e0 = exp_f32<A>(vs * (V::load_unaligned(x + i) - vm));
    const V e1 = exp_f32<A>(vs * (V::load_unaligned(x + i + W) - vm));
    if (y) {
      e0.store_unaligned(y + i);
      e1.store_unaligned(y + i + W);
    }
    s0 += e0;
    s1 += e1;
  }
  for (; i + W <= n; i += W) {
    const V e0 = exp_f32<A>(vs * (V::load_unaligned(x + i) - vm));
    if (y) e0.store_unaligned(y + i);
    s0 += e0;
  }
  if (i < n) {  // padded tail; pad lanes are masked out of the sum
    alignas(64) float buf[W];
    for (std::size_t t = 0; t < W; ++t) buf[t] = i + t < n ? x[i + t] : xmax;
    V e = exp_f32<A>(vs * (V::load_aligned(buf) - vm));
    e.store_aligned(buf);
    for (std::size_t t = i + W - n; t > 0; --t) buf[W - t] = 0.f;
    if (y)
      for (std::size_t t = 0; i + t < n; ++t) y[i + t] = buf[t];
    s1 += V::load_aligned(buf);
  }
  return simd::reduce_add<A>(s0 + s1);
}

template <class A>
void softmax_affine_f32(std::size_t n, float scale, float xmax, float offset, const float* x, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V vs(scale), vm(xmax), vo(-offset);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    simd::fmadd<A>(vs, V::load_unaligned(x + i) - vm, vo).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = std::fma(scale, x[i] - xmax, -offset);
}

template <class A>
void softmax_mul_f32(std::size_t n, float a, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V va(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W) (V::load_unaligned(y + i) * va).store_unaligned(y + i);
  for (; i < n; ++i) y[i] *= a;
}

template <class A>
constexpr softmax_kernels make_softmax_kernels() {
  return {softmax_exp_f32<A>, softmax_max_f32<A>, softmax_exp_sum_f32<A>, softmax_affine_f32<A>,
          softmax_mul_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
