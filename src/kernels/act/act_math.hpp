// SPDX-License-Identifier: MIT
// act_math.hpp - the activations and their derivatives, written once over a
// policy P (P::T is float in act_scalar.cpp, an xsimd batch in act-inl.hpp)
// that supplies exp, abs, min/max, a comparison and a select. Plain
// multiplies and adds (no contraction under -std=c++17), so the scalar set
// and the vector sets evaluate the same expressions; they differ only where
// their exp does. Internal linkage: each including object has its own copy.
//
// Forms (no cancellation anywhere, nothing overflows for finite x):
//   sigmoid(v) and 1 - sigmoid(v) from e = exp(-|v|) in (0, 1]:
//     p = 1 / (1 + e) = sigmoid(|v|), q = e p = sigmoid(-|v|).
//   gelu_tanh(x) = x sigmoid(t), t = 2 sqrt(2/pi) (x + 0.044715 x^3)
//     (0.5 (1 + tanh(t/2)) = sigmoid(t)).
//   gelu_erf(x) = x Phi(x), Phi(-|x|) = erfc(|x|/sqrt 2) / 2 with erfc from
//     Numerical Recipes' erfcc (Chebyshev fit, relative error < 1.2e-7 for
//     all z >= 0): erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2); for
//     |x| < 1/2, Phi(x) = 1/2 + x phi-series (Taylor, six terms).
//   The gelu forms see x clamped to [-20, 20]: beyond, the sigmoid / Phi is
//   exactly 0 or 1 in fp32, and x^3 cannot overflow.
#pragma once

namespace qkv::kern {
namespace {
namespace actc {
constexpr float kClamp = 20.0f;
constexpr float kTanhA = 1.5957691216057308f;       // 2 sqrt(2/pi)
constexpr float kTanhB = 0.07135481627159665f;      // 2 sqrt(2/pi) 0.044715
constexpr float kTanhB3 = 0.21406444881478996f;     // 3 kTanhB
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;  // 1 / sqrt(2 pi)
// Numerical Recipes erfcc, exponent polynomial in t (c0 .. c9).
constexpr float kE0 = -1.26551223f, kE1 = 1.00002368f, kE2 = 0.37409196f, kE3 = 0.09678418f,
                kE4 = -0.18628806f, kE5 = 0.27886807f, kE6 = -1.13520398f, kE7 = 1.48851587f,
                kE8 = -0.82215223f, kE9 = 0.17087277f;
// Phi(x) = 1/2 + x / sqrt(2 pi) sum_n (-x^2/2)^n / (n! (2n + 1)); n <= 5
// leaves < 5e-10 relative for |x| < 1/2.
constexpr float kS1 = -1.0f / 6.0f, kS2 = 1.0f / 40.0f, kS3 = -1.0f / 336.0f, kS4 = 1.0f / 3456.0f,
                kS5 = -1.0f / 42240.0f;
}  // namespace actc

// s = sigmoid(v), c = 1 - s, both to a few ulp (neither is formed as 1 - x).
template <class P>
struct act_sig {
  typename P::T s, c;
};

template <class P>
inline act_sig<P> act_sigmoid(typename P::T v) noexcept {
  using T = typename P::T;
  const T e = P::exp(T(0.0f) - P::abs(v));  // (0, 1]; 0 when |v| > ~87.3
  const T p = P::div(T(1.0f), T(1.0f) + e);  // sigmoid(|v|), [0.5, 1]
  const T q = e * p;                          // sigmoid(-|v|), [0, 0.5]
  const auto neg = P::lt(v, T(0.0f));
  return {P::sel(neg, q, p), P::sel(neg, p, q)};
}

template <class P>
inline typename P::T act_clamp(typename P::T x) noexcept {
  using T = typename P::T;
  return P::min(P::max(x, T(-actc::kClamp)), T(actc::kClamp));
}

// t = 2 sqrt(2/pi) (x + 0.044715 x^3), as x (A + B x^2).
template <class P>
inline typename P::T gelu_tanh_arg(typename P::T xc) noexcept {
  using T = typename P::T;
  return xc * (T(actc::kTanhA) + T(actc::kTanhB) * (xc * xc));
}

template <class P>
inline typename P::T gelu_tanh_f(typename P::T x) noexcept {
  return x * act_sigmoid<P>(gelu_tanh_arg<P>(act_clamp<P>(x))).s;
}

// d/dx x sigmoid(t) = s + x s (1 - s) t',  t' = A + 3 B x^2.
template <class P>
inline typename P::T gelu_tanh_d(typename P::T x) noexcept {
  using T = typename P::T;
  const T xc = act_clamp<P>(x);
  const T x2 = xc * xc;
  const act_sig<P> g = act_sigmoid<P>(xc * (T(actc::kTanhA) + T(actc::kTanhB) * x2));
  return g.s + xc * (g.s * g.c) * (T(actc::kTanhA) + T(actc::kTanhB3) * x2);
}

// Phi(x) = P(N(0,1) <= x) for xc in [-20, 20].
template <class P>
inline typename P::T act_phi(typename P::T xc) noexcept {
  using T = typename P::T;
  using namespace actc;
  const T z = P::abs(xc) * T(kInvSqrt2);
  const T z2 = (xc * xc) * T(0.5f);
  const T t = P::div(T(1.0f), T(1.0f) + T(0.5f) * z);
  T p = T(kE9) * t + T(kE8);
  p = p * t + T(kE7);
  p = p * t + T(kE6);
  p = p * t + T(kE5);
  p = p * t + T(kE4);
  p = p * t + T(kE3);
  p = p * t + T(kE2);
  p = p * t + T(kE1);
  const T h = T(0.5f) * (t * P::exp((T(kE0) - z2) + t * p));  // Phi(-|x|) = erfc(z) / 2
  // |x| < 1/2: the fit's exponent sums terms of magnitude ~5 to ~0 there
  // (cancellation worth several ulp); the series is better conditioned.
  const T x2 = xc * xc;
  T s = T(kS5) * x2 + T(kS4);
  s = s * x2 + T(kS3);
  s = s * x2 + T(kS2);
  s = s * x2 + T(kS1);
  s = s * x2 + T(1.0f);
  const T near0 = T(0.5f) + (xc * T(kInvSqrt2Pi)) * s;
  const T far = P::sel(P::lt(xc, T(0.0f)), h, T(1.0f) - h);
  return P::sel(P::lt(P::abs(xc), T(0.5f)), near0, far);
}

template <class P>
inline typename P::T gelu_erf_f(typename P::T x) noexcept {
  return x * act_phi<P>(act_clamp<P>(x));
}

// d/dx x Phi(x) = Phi(x) + x phi(x),  phi(x) = exp(-x^2/2) / sqrt(2 pi).
template <class P>
inline typename P::T gelu_erf_d(typename P::T x) noexcept {
  using T = typename P::T;
  const T xc = act_clamp<P>(x);
  const T phi = T(actc::kInvSqrt2Pi) * P::exp(T(0.0f) - (xc * xc) * T(0.5f));
  return act_phi<P>(xc) + xc * phi;
}

template <class P>
inline typename P::T silu_f(typename P::T x) noexcept {
  return x * act_sigmoid<P>(x).s;
}

// d/dx x s(x) = s (1 + x (1 - s)); -> 0 * (finite) for x -> -inf, never inf * 0.
template <class P>
inline typename P::T silu_d(typename P::T x) noexcept {
  using T = typename P::T;
  const act_sig<P> g = act_sigmoid<P>(x);
  return g.s * (T(1.0f) + x * g.c);
}

// max(x, 0): x < 0 gives +0; -0 and NaN pass through.
template <class P>
inline typename P::T relu_f(typename P::T x) noexcept {
  using T = typename P::T;
  return P::sel(P::lt(x, T(0.0f)), T(0.0f), x);
}

// dy where x > 0, else 0 (PyTorch's threshold_backward).
template <class P>
inline typename P::T relu_bwd(typename P::T x, typename P::T dy) noexcept {
  using T = typename P::T;
  return P::sel(P::lt(T(0.0f), x), dy, T(0.0f));
}

// The functions as types, for the row loops.
struct act_gelu_tanh {
  template <class P>
  static typename P::T f(typename P::T x) noexcept { return gelu_tanh_f<P>(x); }
  template <class P>
  static typename P::T b(typename P::T x, typename P::T dy) noexcept { return dy * gelu_tanh_d<P>(x); }
};
struct act_gelu_erf {
  template <class P>
  static typename P::T f(typename P::T x) noexcept { return gelu_erf_f<P>(x); }
  template <class P>
  static typename P::T b(typename P::T x, typename P::T dy) noexcept { return dy * gelu_erf_d<P>(x); }
};
struct act_silu {
  template <class P>
  static typename P::T f(typename P::T x) noexcept { return silu_f<P>(x); }
  template <class P>
  static typename P::T b(typename P::T x, typename P::T dy) noexcept { return dy * silu_d<P>(x); }
};
struct act_relu {
  template <class P>
  static typename P::T f(typename P::T x) noexcept { return relu_f<P>(x); }
  template <class P>
  static typename P::T b(typename P::T x, typename P::T dy) noexcept { return relu_bwd<P>(x, dy); }
};

// SwiGLU: y = (g s) u; dg = dy (u silu'(g)), du = dy (g s).
template <class P>
inline typename P::T swiglu_f(typename P::T g, typename P::T u) noexcept {
  return silu_f<P>(g) * u;
}

template <class P>
inline void swiglu_b(typename P::T g, typename P::T u, typename P::T dy, typename P::T* dg,
                     typename P::T* du) noexcept {
  using T = typename P::T;
  const act_sig<P> s = act_sigmoid<P>(g);
  *du = dy * (g * s.s);
  *dg = dy * (u * (s.s * (T(1.0f) + g * s.c)));
}

}  // namespace
}  // namespace qkv::kern
