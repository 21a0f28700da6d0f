// SPDX-License-Identifier: MIT
// loss-inl.hpp - xsimd cross-entropy row kernels, templated on the
// architecture. Included only by the per-ISA translation unit
// (kernels/tables_<isa>.cpp); internal linkage throughout, as in vec-inl.hpp.
// The exponentials are the library's own (exp_nonpos_f32: every exponent is
// x - max <= 0), tails (n % W) its scalar twin: a row's split is fixed by n,
// so results stay deterministic.
#pragma once

#include "kernels/loss/loss.hpp"
#include "kernels/simd.hpp"
#include "kernels/softmax/exp-inl.hpp"
#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {
namespace {

template <class A>
void row_max_sumexp_f32(std::size_t n, const float* x, float* max, float* sum) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  // Max: two accumulators hide the max latency.
  float m = x[0];
  std::size_t i = 0;
  if (n >= 2 * W) {
    V m0 = V::load_unaligned(x), m1 = V::load_unaligned(x + W);
    for (i = 2 * W; i + 2 * W <= n; i += 2 * W) {
      m0 = xsimd::max(m0, V::load_unaligned(x + i));
      m1 = xsimd::max(m1, V::load_unaligned(x + i + W));
    }
    m = simd::reduce_max<A>(xsimd::max(m0, m1));
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  // Sum of exp(x - m): four accumulators, each exp independent.
  const V vm(m);
  V s0(0.f), s1(0.f), s2(0.f), s3(0.f);
  i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 += exp_nonpos_f32<A>(V::load_unaligned(x + i) - vm);
    s1 += exp_nonpos_f32<A>(V::load_unaligned(x + i + W) - vm);
    s2 += exp_nonpos_f32<A>(V::load_unaligned(x + i + 2 * W) - vm);
    s3 += exp_nonpos_f32<A>(V::load_unaligned(x + i + 3 * W) - vm);
  }
  for (; i + W <= n; i += W) s0 += exp_nonpos_f32<A>(V::load_unaligned(x + i) - vm);
  float s = simd::reduce_add<A>((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += exp_f32_scalar(x[i] - m);
  *max = m;
  *sum = s;
}

template <class A>
void row_scaled_exp_f32(std::size_t n, const float* x, float shift, float scale, float* y) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  const V vs(shift), vc(scale);
  std::size_t i = 0;
  for (; i + W <= n; i += W) (exp_nonpos_f32<A>(V::load_unaligned(x + i) - vs) * vc).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = exp_f32_scalar(x[i] - shift) * scale;
}

template <class A>
constexpr loss_kernels make_loss_kernels() {
  return {row_max_sumexp_f32<A>, row_scaled_exp_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
