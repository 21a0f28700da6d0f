// SPDX-License-Identifier: MIT
// optim-inl.hpp - xsimd optimizer kernels, templated on the architecture.
// Included only by the per-ISA translation units (optim_<isa>.cpp); internal
// linkage throughout, as in vec-inl.hpp.
//
// The tail (n % W elements) is copied into a W-wide stack block, run through
// the same vector body and copied back: every element sees the same
// instructions (fused multiply-adds included) wherever it sits, so a buffer
// updated whole, in pieces or by any number of threads gets the same bits.
#pragma once

#include <cstring>

#include "kernels/optim/optim.hpp"
#include "kernels/simd.hpp"

namespace qkv::kern {
namespace {

template <class A>
struct sgd_body {
  using V = simd::vf<A>;
  const sgd_args& a;
  V lr, wd, mom, keep;
  explicit sgd_body(const sgd_args& args)
      : a(args), lr(args.lr), wd(args.weight_decay), mom(args.momentum), keep(args.damp_keep) {}

  // One vector of W elements at p, g, buf (buf unused without momentum).
  void operator()(float* p, const float* g, float* buf) const {
    V pv = V::load_unaligned(p);
    V gv = V::load_unaligned(g);
    if (a.weight_decay != 0.f) gv = simd::fmadd<A>(wd, pv, gv);
    if (a.use_momentum) {
      V b = a.first ? gv : simd::fmadd<A>(keep, gv, mom * V::load_unaligned(buf));
      b.store_unaligned(buf);
      gv = a.nesterov ? simd::fmadd<A>(mom, b, gv) : b;
    }
    simd::fmadd<A>(-lr, gv, pv).store_unaligned(p);
  }
};

template <class A>
void sgd_f32(std::size_t n, const sgd_args& a, float* p, const float* g, float* buf) {
  constexpr std::size_t W = simd::vf<A>::size;
  const sgd_body<A> body(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W) body(p + i, g + i, a.use_momentum ? buf + i : nullptr);
  if (i == n) return;
  const std::size_t r = n - i;
  float tp[W] = {}, tg[W] = {}, tb[W] = {};
  std::memcpy(tp, p + i, r * sizeof(float));
  std::memcpy(tg, g + i, r * sizeof(float));
  if (a.use_momentum && !a.first) std::memcpy(tb, buf + i, r * sizeof(float));
  body(tp, tg, tb);
  std::memcpy(p + i, tp, r * sizeof(float));
  if (a.use_momentum) std::memcpy(buf + i, tb, r * sizeof(float));
}

template <class A>
struct adamw_body {
  using V = simd::vf<A>;
  const adamw_args& a;
  V decay, b1, omb1, b2, omb2, neg_step, inv_bc2, eps, gscale;
  explicit adamw_body(const adamw_args& args)
      : a(args), decay(args.decay), b1(args.beta1), omb1(args.one_minus_beta1), b2(args.beta2),
        omb2(args.one_minus_beta2), neg_step(-args.step_size), inv_bc2(args.inv_bc2_sqrt), eps(args.eps),
        gscale(args.grad_scale) {}

  void operator()(float* p, float* g, float* m, float* v) const {
#ifdef QKV_HOSTED
    const V gv = V::load_unaligned(g) * gscale;
    if (a.zero_grads) V(0.f).store_unaligned(g);
#else
    const V gv = V::load_unaligned(g);
#endif
    const V og = omb1 * gv, og2 = omb2 * gv;
    const V mv = a.first ? og : simd::fmadd<A>(b1, V::load_unaligned(m), og);
    const V vv = a.first ? og2 * gv : simd::fmadd<A>(og2, gv, b2 * V::load_unaligned(v));
    mv.store_unaligned(m);
    vv.store_unaligned(v);
    const V denom = simd::fmadd<A>(simd::sqrt<A>(vv), inv_bc2, eps);
    simd::fmadd<A>(neg_step, simd::div<A>(mv, denom), decay * V::load_unaligned(p)).store_unaligned(p);
  }
};

template <class A>
void adamw_f32(std::size_t n, const adamw_args& a, float* p, float* g, float* m, float* v) {
  constexpr std::size_t W = simd::vf<A>::size;
  const adamw_body<A> body(a);
  std::size_t i = 0;
  for (; i + W <= n; i += W) body(p + i, g + i, m + i, v + i);
  if (i == n) return;
  const std::size_t r = n - i;
  float tp[W] = {}, tg[W] = {}, tm[W] = {}, tv[W] = {};
  std::memcpy(tp, p + i, r * sizeof(float));
  std::memcpy(tg, g + i, r * sizeof(float));
  if (!a.first) {
    std::memcpy(tm, m + i, r * sizeof(float));
    std::memcpy(tv, v + i, r * sizeof(float));
  }
  body(tp, tg, tm, tv);
  std::memcpy(p + i, tp, r * sizeof(float));
  std::memcpy(m + i, tm, r * sizeof(float));
  std::memcpy(v + i, tv, r * sizeof(float));
#ifdef QKV_HOSTED
  if (a.zero_grads) std::memcpy(g + i, tg, r * sizeof(float));  // the zeros body stored
#endif
}

template <class A>
constexpr optim_kernels make_optim_kernels() {
  return {sgd_f32<A>, adamw_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
