// SPDX-License-Identifier: MIT
// act-inl.hpp - the activation kernels over xsimd, templated on the
// architecture (act_math.hpp with a batch policy). Included only by the
// per-ISA translation units (kernels/tables_<isa>.cpp); internal linkage.
// A row's tail (n % W) runs through the same vector code on a zero-padded
// stack copy, so an element's bits never depend on where it sits in a row.
#pragma once

#include "kernels/act/act.hpp"
#include "kernels/act/act_math.hpp"
#include "kernels/simd.hpp"
#include "kernels/softmax/exp-inl.hpp"

namespace qkv::kern {
namespace {

template <class A>
struct act_vops {
  using T = simd::vf<A>;
  // Every exponent here is <= 0 but for erfc's near z = 0 (|arg| < 1e-6):
  // the cheaper exp, which takes any argument <= 88.
  static T exp(T v) noexcept { return exp_nonpos_f32<A>(v); }
  static T abs(T v) noexcept { return xsimd::abs(v); }
  static T min(T a, T b) noexcept { return xsimd::min(a, b); }
  static T max(T a, T b) noexcept { return xsimd::max(a, b); }
  static T div(T a, T b) noexcept { return simd::div<A>(a, b); }
  static auto lt(T a, T b) noexcept { return a < b; }
  template <class M>
  static T sel(M m, T a, T b) noexcept { return xsimd::select(m, a, b); }
};

template <class A, class F>
void act_fwd_row(std::size_t n, const float* x, float* y) {
  using P = act_vops<A>;
  using V = typename P::T;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) F::template f<P>(V::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float b[W];
    for (std::size_t j = 0; j < W; ++j) b[j] = i + j < n ? x[i + j] : 0.0f;
    F::template f<P>(V::load_aligned(b)).store_aligned(b);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = b[j];
  }
}

template <class A, class F>
void act_bwd_row(std::size_t n, const float* x, const float* dy, float* dx) {
  using P = act_vops<A>;
  using V = typename P::T;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    F::template b<P>(V::load_unaligned(x + i), V::load_unaligned(dy + i)).store_unaligned(dx + i);
  if (i < n) {
    alignas(64) float bx[W], bd[W];
    for (std::size_t j = 0; j < W; ++j) {
      bx[j] = i + j < n ? x[i + j] : 0.0f;
      bd[j] = i + j < n ? dy[i + j] : 0.0f;
    }
    F::template b<P>(V::load_aligned(bx), V::load_aligned(bd)).store_aligned(bx);
    for (std::size_t j = 0; i + j < n; ++j) dx[i + j] = bx[j];
  }
}

template <class A>
void swiglu_fwd_row(std::size_t n, const float* g, const float* u, float* y) {
  using P = act_vops<A>;
  using V = typename P::T;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    swiglu_f<P>(V::load_unaligned(g + i), V::load_unaligned(u + i)).store_unaligned(y + i);
  if (i < n) {
    alignas(64) float bg[W], bu[W];
    for (std::size_t j = 0; j < W; ++j) {
      bg[j] = i + j < n ? g[i + j] : 0.0f;
      bu[j] = i + j < n ? u[i + j] : 0.0f;
    }
    swiglu_f<P>(V::load_aligned(bg), V::load_aligned(bu)).store_aligned(bg);
    for (std::size_t j = 0; i + j < n; ++j) y[i + j] = bg[j];
  }
}

template <class A>
void swiglu_bwd_row(std::size_t n, const float* g, const float* u, const float* dy, float* dg, float* du) {
  using P = act_vops<A>;
  using V = typename P::T;
  constexpr std::size_t W = V::size;
  std::size_t i = 0;
  V vg, vu;
  for (; i + W <= n; i += W) {
    swiglu_b<P>(V::load_unaligned(g + i), V::load_unaligned(u + i), V::load_unaligned(dy + i), &vg, &vu);
    vg.store_unaligned(dg + i);
    vu.store_unaligned(du + i);
  }
  if (i < n) {
    alignas(64) float bg[W], bu[W], bd[W];
    for (std::size_t j = 0; j < W; ++j) {
      bg[j] = i + j < n ? g[i + j] : 0.0f;
      bu[j] = i + j < n ? u[i + j] : 0.0f;
      bd[j] = i + j < n ? dy[i + j] : 0.0f;
    }
    swiglu_b<P>(V::load_aligned(bg), V::load_aligned(bu), V::load_aligned(bd), &vg, &vu);
    vg.store_aligned(bg);
    vu.store_aligned(bu);
    for (std::size_t j = 0; i + j < n; ++j) {
      dg[i + j] = bg[j];
      du[i + j] = bu[j];
    }
  }
}

template <class A>
constexpr act_kernels make_act_kernels() {
  return {{act_fwd_row<A, act_gelu_tanh>, act_fwd_row<A, act_gelu_erf>, act_fwd_row<A, act_silu>,
           act_fwd_row<A, act_relu>},
          {act_bwd_row<A, act_gelu_tanh>, act_bwd_row<A, act_gelu_erf>, act_bwd_row<A, act_silu>,
           act_bwd_row<A, act_relu>},
          swiglu_fwd_row<A>,
          swiglu_bwd_row<A>};
}

}  // namespace
}  // namespace qkv::kern
