// SPDX-License-Identifier: MIT
// Helium (MVE) level-1 kernels: four lane sums (fused multiply-adds), the
// last n % 4 elements loaded under a vctp predicate (lanes past n load as 0
// and add 0), the lanes then summed as (l0 + l1) + (l2 + l3).
#include "kernels/tile/tile_mve-inl.hpp"
#include "kernels/vec/vec.hpp"
#include "kernels/vec/vec_s8-inl.hpp"

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

// int8 codes 16 lanes at a time into one int32 sum (VMLADAVA.S8), the tail
// under a vctp8 predicate (lanes past n load as 0).
std::int32_t dot_s8_mve(std::size_t n, const std::int8_t* x, const std::int8_t* y) {
  std::int32_t s = 0;
  for (std::size_t q = n / 16; q; --q, x += 16, y += 16) s = vmladavaq_s8(s, vldrbq_s8(x), vldrbq_s8(y));
  if (n % 16) {
    const mve_pred16_t p = vctp8q(static_cast<uint32_t>(n % 16));
    s = vmladavaq_p_s8(s, vldrbq_z_s8(x, p), vldrbq_z_s8(y, p), p);
  }
  return s;
}

// y += w x: four codes widened to int32 by the load (VLDRB.S32), VMLA by the scalar.
void axpy_s8_mve(std::size_t n, std::int32_t w, const std::int8_t* x, std::int32_t* y) {
  for (std::size_t q = n / 4; q; --q, x += 4, y += 4) vstrwq_s32(y, vmlaq_n_s32(vldrwq_s32(y), vldrbq_s32(x), w));
  if (n % 4) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % 4));
    vstrwq_p_s32(y, vmlaq_n_s32(vldrwq_z_s32(y, p), vldrbq_z_s32(x, p), w), p);
  }
}

void dot_rows_s8_mve(std::size_t m, std::size_t n, const std::int8_t* x, std::size_t ldx, const std::int8_t* v,
                     std::int32_t* y) {
  for (std::size_t i = 0; i < m; ++i) y[i] = dot_s8_mve(n, x + i * ldx, v);
}

void axpy_rows_s8_mve(std::size_t m, std::size_t n, const std::int16_t* w, const std::int8_t* x, std::size_t ldx,
                      std::int32_t* y) {
  for (std::size_t i = 0; i < m; ++i)
    if (w[i]) axpy_s8_mve(n, w[i], x + i * ldx, y);
}

// The projections' epilogue four features at a time, bit for bit the scalar
// rules (util/requant.hpp) as gemmlowp's NEON code does them: VQADD is the
// saturating bias, VQSHL the saturated left shift, VQRDMULH the SRDHM, and a
// rounding VRSHL by the negative right shift after adding -1 to negative
// values (when shifting) rounds half away from zero like RDBPOT. VLD2
// splits the (multiplier, shift) pairs; VSTRB narrows the clamped lanes.
void requant_s8_mve(std::size_t n, const std::int32_t* acc, const std::int32_t* bias, const std::int32_t* qm,
                    std::int32_t zp, std::int8_t* out) {
  const int32x4_t zero = vdupq_n_s32(0), lo = vdupq_n_s32(-128), hi = vdupq_n_s32(127), z = vdupq_n_s32(zp);
  std::size_t c = 0;
  for (; c + 4 <= n; c += 4) {
    const int32x4x2_t m = vld2q_s32(qm + 2 * c);
    const int32x4_t left = vmaxq_s32(m.val[1], zero), neg_right = vminq_s32(m.val[1], zero);
    int32x4_t x = vqaddq_s32(vldrwq_s32(acc + c), vldrwq_s32(bias + c));
    x = vqrdmulhq_s32(vqshlq_s32(x, left), m.val[0]);
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, neg_right), 31));
    x = vaddq_s32(vrshlq_s32(x, neg_right), z);
    vstrbq_s32(out + c, vminq_s32(vmaxq_s32(x, lo), hi));
  }
  requant_s8_plain(n - c, acc + c, bias + c, qm + 2 * c, zp, out + c);
}

void dot_rows_f32_mve(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y) {
  for (std::size_t i = 0; i < m; ++i) y[i] = dot_f32_mve(n, x + i * ldx, v);
}

}  // namespace

const vec_kernels vec_mve = {dot_f32_mve, axpy_f32_mve, dot_rows_f32_mve, dot_rows_s8_mve, axpy_rows_s8_mve, requant_s8_mve};

}  // namespace qkv::kern
