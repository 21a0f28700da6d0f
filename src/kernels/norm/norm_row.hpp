// SPDX-License-Identifier: MIT
// norm_row.hpp - the LayerNorm/RMSNorm row algorithms, written once over a
// vector policy P and instantiated by norm-inl.hpp (P: an xsimd batch, per
// ISA) and norm_scalar.cpp (P: float, the only set on Cortex-M). Internal
// linkage throughout (kernels/simd.hpp's rule for per-ISA objects).
//
// P provides: V (the vector type), W (its lanes), and for T in {V, float}:
// ld<T>(p), st(p, T), splat<T>(a), abs(T), max(T, T), hsum(V), hmax(V).
//
// Sums: four vector accumulators over blocks of 4W, then W-blocks into the
// first, the lanes added ((a0 + a1) + (a2 + a3)) and then the n % W tail in
// order: a fixed order that depends on n alone. The statistics are two-pass
// (shifted mean, then the sum of squared deviations from it), so the
// variance has no cancellation: each sum's rounding error is at most about
// (n / (4W) + log2(4W) + 2) * 2^-24 of its sum of magnitudes.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

namespace qkv::kern {
namespace {

// Reduces f over i < n: f(i, a, b) adds element i's terms into accumulators
// a and b (of type V or float). Returns hsum(a) and, per MaxB, hmax(b) or hsum(b).
template <class P, bool MaxB, class F>
void norm_reduce(std::size_t n, F f, float* out_a, float* out_b) {
  using V = typename P::V;
  constexpr std::size_t W = P::W;
  V a0 = P::template splat<V>(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    f(i, a0, b0);
    f(i + W, a1, b1);
    f(i + 2 * W, a2, b2);
    f(i + 3 * W, a3, b3);
  }
  for (; i + W <= n; i += W) f(i, a0, b0);
  float a = P::hsum((a0 + a1) + (a2 + a3));
  float b = MaxB ? P::hmax(P::max(P::max(b0, b1), P::max(b2, b3))) : P::hsum((b0 + b1) + (b2 + b3));
  for (; i < n; ++i) f(i, a, b);
  *out_a = a;
  *out_b = b;
}

// f(i, t) for every element, t a V (whole vectors) or a float (the tail).
template <class P, class F>
void norm_each(std::size_t n, F f) {
  using V = typename P::V;
  constexpr std::size_t W = P::W;
  std::size_t i = 0;
  const V tag = P::template splat<V>(0.f);
  for (; i + W <= n; i += W) f(i, tag);
  for (; i < n; ++i) f(i, 0.f);
}

// Center (LayerNorm) is a template parameter: no per-element branch.
template <class P, bool center>
void norm_row_forward_kind(std::size_t n, float eps, const float* x, const float* res, float* s_out,
                           const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  // Pass 1: s (stored when there is a residual), the sum of s - c (LayerNorm,
  // c = s[0]: a shift that makes a constant row exact) or of s^2 (RMSNorm),
  // and max|s|. Unscaled, valid while max|s| <= 2^40 (no overflow below
  // n = 2^48 elements).
  float c = res ? x[0] + res[0] : x[0];
  if constexpr (!center) c = 0.f;
  float sum, amax;
  const float* s = x;
  if (res) {
    float* sd = s_out ? s_out : y;
    norm_reduce<P, true>(
        n,
        [&](std::size_t i, auto& a, auto& b) {
          using T = typename std::remove_reference<decltype(a)>::type;
          const T v = P::template ld<T>(x + i) + P::template ld<T>(res + i);
          P::st(sd + i, v);
          const T d = v - P::template splat<T>(c);
          if constexpr (center)
            a = a + d;
          else
            a = a + d * d;
          b = P::max(b, P::abs(v));
        },
        &sum, &amax);
    s = sd;
  } else {
    norm_reduce<P, true>(
        n,
        [&](std::size_t i, auto& a, auto& b) {
          using T = typename std::remove_reference<decltype(a)>::type;
          const T v = P::template ld<T>(x + i);
          const T d = v - P::template splat<T>(c);
          if constexpr (center)
            a = a + d;
          else
            a = a + d * d;
          b = P::max(b, P::abs(v));
        },
        &sum, &amax);
  }
  // k: a power of two with max|s| * k < 2^20 (1 for max|s| <= 2^40). NaN
  // and infinity leave it at 1 (and the row NaN).
  float k = 1.f;
  if (amax > 0x1p40f) {
    for (float a = amax; a >= 0x1p20f && a <= 0x1.fffffep127f; a *= 0x1p-20f) k *= 0x1p-20f;
    c *= k;
  }
  const float kc = c;
  auto dev = [&](auto v, float m) {  // (s * k - c) - m
    using T = decltype(v);
    return (v * P::template splat<T>(k) - P::template splat<T>(kc)) - P::template splat<T>(m);
  };
  float m = 0.f, sq = 0.f, unused;
  if constexpr (center) {
    if (k != 1.f)
      norm_reduce<P, false>(
          n, [&](std::size_t i, auto& a, auto&) { a = a + dev(P::template ld<typename std::remove_reference<decltype(a)>::type>(s + i), 0.f); }, &sum,
          &unused);
    m = sum / static_cast<float>(n);
  }
  // Pass 2: the sum of squared deviations (RMSNorm: pass 1 has it, unless scaled).
  if (center || k != 1.f)
    norm_reduce<P, false>(
        n,
        [&](std::size_t i, auto& a, auto&) {
          const auto d = dev(P::template ld<typename std::remove_reference<decltype(a)>::type>(s + i), m);
          a = a + d * d;
        },
        &sq, &unused);
  else
    sq = sum;
  const float var = sq / static_cast<float>(n);  // of s * k
  const float den = var + eps * k * k;
  const float r = den > 0.f ? k / std::sqrt(den) : 1.f / std::sqrt(eps);
  const float mu = (kc + m) / k;
  if (mean) *mean = mu;
  if (rstd) *rstd = r;
  // Pass 3: y = (s - mu) * rstd * gamma + beta.
  norm_each<P>(n, [&](std::size_t i, auto z) {
    using T = decltype(z);
    T t = (P::template ld<T>(s + i) - P::template splat<T>(mu)) * P::template splat<T>(r);
    if (gamma) t = t * P::template ld<T>(gamma + i);
    if (beta) t = t + P::template ld<T>(beta + i);
    P::st(y + i, t);
  });
}

template <class P>
void norm_row_forward(std::size_t n, bool center, float eps, const float* x, const float* res, float* s_out,
                      const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  if (center)
    norm_row_forward_kind<P, true>(n, eps, x, res, s_out, gamma, beta, y, mean, rstd);
  else
    norm_row_forward_kind<P, false>(n, eps, x, res, s_out, gamma, beta, y, mean, rstd);
}

template <class P>
void norm_row_backward(std::size_t n, bool center, const float* x, float mu, float rstd, const float* gamma,
                       const float* dy, float* dx, bool accumulate) {
  auto xhat = [&](auto z, std::size_t i) {
    using T = decltype(z);
    return (P::template ld<T>(x + i) - P::template splat<T>(mu)) * P::template splat<T>(rstd);
  };
  auto grad = [&](auto z, std::size_t i) {
    using T = decltype(z);
    const T d = P::template ld<T>(dy + i);
    return gamma ? d * P::template ld<T>(gamma + i) : d;
  };
  float sg, sgx;
  norm_reduce<P, false>(
      n,
      [&](std::size_t i, auto& a, auto& b) {
        using T = typename std::remove_reference<decltype(a)>::type;
        const T z = P::template splat<T>(0.f);
        const T g = grad(z, i);
        a = a + g;
        b = b + g * xhat(z, i);
      },
      &sg, &sgx);
  const float inv_n = 1.f / static_cast<float>(n);
  const float mg = center ? sg * inv_n : 0.f, mgx = sgx * inv_n;
  norm_each<P>(n, [&](std::size_t i, auto z) {
    using T = decltype(z);
    T t = P::template splat<T>(rstd) *
          ((grad(z, i) - P::template splat<T>(mg)) - xhat(z, i) * P::template splat<T>(mgx));
    if (accumulate) t = P::template ld<T>(dx + i) + t;
    P::st(dx + i, t);
  });
}

template <class P>
void norm_cols_accumulate(std::size_t n, const float* x, float mu, float rstd, const float* dy, float* sg,
                          float* sb) {
  if (sg)
    norm_each<P>(n, [&](std::size_t i, auto z) {
      using T = decltype(z);
      const T xh = (P::template ld<T>(x + i) - P::template splat<T>(mu)) * P::template splat<T>(rstd);
      P::st(sg + i, P::template ld<T>(sg + i) + P::template ld<T>(dy + i) * xh);
    });
  if (sb)
    norm_each<P>(n, [&](std::size_t i, auto z) {
      using T = decltype(z);
      P::st(sb + i, P::template ld<T>(sb + i) + P::template ld<T>(dy + i));
    });
}

}  // namespace
}  // namespace qkv::kern
