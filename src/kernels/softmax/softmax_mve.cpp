// SPDX-License-Identifier: MIT
// Helium (MVE) softmax row kernels: the library's exp on four lanes
// (exp_mve-inl.hpp), whole vectors unpredicated and the last n % 4 elements
// through the same instructions under a vctp predicate (lanes past n neither
// read nor written), so an element's result never depends on where it sits.
#include "kernels/softmax/exp_mve-inl.hpp"
#include "kernels/softmax/softmax.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW;

// Lanes added in a fixed order: (l0 + l1) + (l2 + l3).
inline float sum_lanes(mve_f32 s) {
  return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1)) + (vgetq_lane_f32(s, 2) + vgetq_lane_f32(s, 3));
}

void softmax_exp_f32_mve(std::size_t n, const float* x, float* y) {
  std::size_t i = 0;
  for (; i + W <= n; i += W) vstrwq_f32(y + i, exp_mve(vldrwq_f32(x + i)));
  if (i < n) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n - i));
    vstrwq_p_f32(y + i, exp_mve(vldrwq_z_f32(x + i, p)), p);
  }
}

// VMAXNM ignores a NaN as the scalar set's comparison does (x > m is false).
float softmax_max_f32_mve(std::size_t n, const float* x) {
  const float ninf = -__builtin_huge_valf();
  mve_f32 m = vdupq_n_f32(ninf);
  std::size_t i = 0;
  for (; i + W <= n; i += W) m = vmaxnmq_f32(m, vldrwq_f32(x + i));
  if (i < n) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n - i));
    m = vmaxnmq_m_f32(m, m, vldrwq_z_f32(x + i, p), p);  // inactive lanes keep m
  }
  return vmaxnmvq_f32(ninf, m);
}

float softmax_exp_sum_f32_mve(std::size_t n, float scale, float xmax, const float* x, float* y) {
  mve_f32 s = vdupq_n_f32(0.0f);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    const mve_f32 e = exp_mve(vmulq_n_f32(vsubq_n_f32(vldrwq_f32(x + i), xmax), scale));
    if (y) vstrwq_f32(y + i, e);
    s = vaddq_f32(s, e);
  }
  if (i < n) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n - i));
    const mve_f32 e = exp_mve(vmulq_n_f32(vsubq_n_f32(vldrwq_z_f32(x + i, p), xmax), scale));
    if (y) vstrwq_p_f32(y + i, e, p);
    s = vaddq_m_f32(s, s, e, p);  // lanes past n add nothing
  }
  return sum_lanes(s);
}

void softmax_affine_f32_mve(std::size_t n, float scale, float xmax, float offset, const float* x, float* y) {
  const mve_f32 vo = vdupq_n_f32(-offset);
  std::size_t i = 0;
  for (; i + W <= n; i += W) vstrwq_f32(y + i, vfmaq_n_f32(vo, vsubq_n_f32(vldrwq_f32(x + i), xmax), scale));
  if (i < n) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n - i));
    vstrwq_p_f32(y + i, vfmaq_n_f32(vo, vsubq_n_f32(vldrwq_z_f32(x + i, p), xmax), scale), p);
  }
}

void softmax_mul_f32_mve(std::size_t n, float a, float* y) {
  std::size_t i = 0;
  for (; i + W <= n; i += W) vstrwq_f32(y + i, vmulq_n_f32(vldrwq_f32(y + i), a));
  if (i < n) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n - i));
    vstrwq_p_f32(y + i, vmulq_n_f32(vldrwq_z_f32(y + i, p), a), p);
  }
}

}  // namespace

const softmax_kernels softmax_mve = {softmax_exp_f32_mve, softmax_max_f32_mve, softmax_exp_sum_f32_mve,
                                     softmax_affine_f32_mve, softmax_mul_f32_mve};

}  // namespace qkv::kern
