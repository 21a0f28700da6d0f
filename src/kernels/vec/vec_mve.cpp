// SPDX-License-Identifier: MIT
// Helium (MVE) level-1 kernels: four lane sums (fused multiply-adds), the
// last n % 4 elements loaded under a vctp predicate (lanes past n load as 0
// and add 0), the lanes then summed as (l0 + l1) + (l2 + l3).
#include "kernels/tile/tile_mve-inl.hpp"
#include "kernels/vec/vec.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW;

// Loops count whole vectors down with the pointers moving (a low-overhead
// loop with post-incremented loads), then at most one predicated vector.
float dot_f32_mve(std::size_t n, const float* x, const float* y) {
  mve_f32 s = vdupq_n_f32(0.0f);
  for (std::size_t q = n / W; q; --q, x += W, y += W) s = vfmaq_f32(s, vldrwq_f32(x), vldrwq_f32(y));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    s = vfmaq_m_f32(s, vldrwq_z_f32(x, p), vldrwq_z_f32(y, p), p);
  }
  return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1)) + (vgetq_lane_f32(s, 2) + vgetq_lane_f32(s, 3));
}

void axpy_f32_mve(std::size_t n, float alpha, const float* x, float* y) {
  for (std::size_t q = n / W; q; --q, x += W, y += W) vstrwq_f32(y, vfmaq_n_f32(vldrwq_f32(y), vldrwq_f32(x), alpha));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    vstrwq_p_f32(y, vfmaq_n_f32(vldrwq_z_f32(y, p), vldrwq_z_f32(x, p), alpha), p);
  }
}

void dot_rows_f32_mve(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y) {
  for (std::size_t i = 0; i < m; ++i) y[i] = dot_f32_mve(n, x + i * ldx, v);
}

}  // namespace

const vec_kernels vec_mve = {dot_f32_mve, axpy_f32_mve, dot_rows_f32_mve};

}  // namespace qkv::kern
