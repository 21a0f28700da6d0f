// SPDX-License-Identifier: MIT
// Helium (MVE) optimizer kernels: optim-inl.hpp's bodies on float32x4_t
// (fused multiply-adds where those fuse), whole vectors unpredicated and the
// last n % 4 elements through the same body under a vctp predicate (lanes
// past n neither read nor written), so every element sees the same
// instructions wherever it sits and any split of a buffer gives the same
// bits. MVE has no vector square root or division: AdamW's take the FPU's
// IEEE VSQRT and VDIV lane by lane (correctly rounded, as a vector one is).
#include <cmath>

#include "kernels/optim/optim.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW;

// IO of one vector: all four lanes, or those a predicate keeps.
struct whole {
  mve_f32 load(const float* p) const { return vldrwq_f32(p); }
  void store(float* p, mve_f32 x) const { vstrwq_f32(p, x); }
};
struct part {
  mve_pred16_t pred;
  mve_f32 load(const float* p) const { return vldrwq_z_f32(p, pred); }
  void store(float* p, mve_f32 x) const { vstrwq_p_f32(p, x, pred); }
};

template <class IO>
inline void sgd_vec(const sgd_args& a, const IO& io, float* p, const float* g, float* buf) {
  const mve_f32 pv = io.load(p);
  mve_f32 gv = io.load(g);
  if (a.weight_decay != 0.f) gv = vfmaq_n_f32(gv, pv, a.weight_decay);
  if (a.use_momentum) {
    const mve_f32 b = a.first ? gv : vfmaq_n_f32(vmulq_n_f32(io.load(buf), a.momentum), gv, a.damp_keep);
    io.store(buf, b);
    gv = a.nesterov ? vfmaq_n_f32(gv, b, a.momentum) : b;
  }
  io.store(p, vfmaq_n_f32(pv, gv, -a.lr));
}

void sgd_f32_mve(std::size_t n, const sgd_args& a, float* p, const float* g, float* buf) {
  std::size_t i = 0;
  for (; i + W <= n; i += W) sgd_vec(a, whole(), p + i, g + i, a.use_momentum ? buf + i : nullptr);
  if (i < n) sgd_vec(a, part{vctp32q(static_cast<uint32_t>(n - i))}, p + i, g + i, a.use_momentum ? buf + i : nullptr);
}

// m / (sqrt(v) * inv_bc2 + eps) lane by lane: the square root and the
// division in the FPU; the multiply-add fused as in optim-inl.hpp.
inline mve_f32 adam_ratio(mve_f32 m, mve_f32 v, float inv_bc2, float eps) {
  mve_f32 r = m;
  for (int l = 0; l < 4; ++l) {
    const float denom = std::fma(std::sqrt(v[l]), inv_bc2, eps);
    r[l] = m[l] / denom;
  }
  return r;
}

template <class IO>
inline void adamw_vec(const adamw_args& a, const IO& io, float* p, const float* g, float* m, float* v) {
  const mve_f32 gv = io.load(g);
  const mve_f32 og = vmulq_n_f32(gv, a.one_minus_beta1), og2 = vmulq_n_f32(gv, a.one_minus_beta2);
  const mve_f32 mv = a.first ? og : vfmaq_n_f32(og, io.load(m), a.beta1);
  const mve_f32 vv = a.first ? vmulq_f32(og2, gv) : vfmaq_f32(vmulq_n_f32(io.load(v), a.beta2), og2, gv);
  io.store(m, mv);
  io.store(v, vv);
  const mve_f32 ratio = adam_ratio(mv, vv, a.inv_bc2_sqrt, a.eps);
  io.store(p, vfmaq_n_f32(vmulq_n_f32(io.load(p), a.decay), ratio, -a.step_size));
}

void adamw_f32_mve(std::size_t n, const adamw_args& a, float* p, float* g, float* m, float* v) {
  std::size_t i = 0;
  for (; i + W <= n; i += W) adamw_vec(a, whole(), p + i, g + i, m + i, v + i);
  if (i < n) adamw_vec(a, part{vctp32q(static_cast<uint32_t>(n - i))}, p + i, g + i, m + i, v + i);
}

}  // namespace

const optim_kernels optim_mve = {sgd_f32_mve, adamw_f32_mve};

}  // namespace qkv::kern
