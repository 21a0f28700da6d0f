// SPDX-License-Identifier: MIT
// Scalar LayerNorm/RMSNorm row kernels: the fallback on every CPU and the
// only set on Cortex-M. The algorithms of norm_row.hpp over float (four
// partial sums, the association shape of the SIMD kernels). Hosted builds
// only for now: the norms do not fit the Cortex-M4 .text budget (qkv/norm.h).
#include "kernels/norm/norm.hpp"

#ifdef QKV_HOSTED
#include <cmath>

#include "kernels/norm/norm_row.hpp"

namespace qkv::kern {
namespace {

struct norm_scalar_policy {
  using V = float;
  static constexpr std::size_t W = 1;
  template <class T>
  static float ld(const float* p) noexcept {
    return *p;
  }
  static void st(float* p, float v) noexcept { *p = v; }
  template <class T>
  static float splat(float a) noexcept {
    return a;
  }
  static float abs(float v) noexcept { return std::fabs(v); }
  static float max(float a, float b) noexcept { return b > a ? b : a; }
  static float hsum(float v) noexcept { return v; }
  static float hmax(float v) noexcept { return v; }
};

void row_forward_f32_scalar(std::size_t n, bool center, float eps, const float* x, const float* res, float* s_out,
                            const float* gamma, const float* beta, float* y, float* mean, float* rstd) {
  norm_row_forward<norm_scalar_policy>(n, center, eps, x, res, s_out, gamma, beta, y, mean, rstd);
}

void row_backward_f32_scalar(std::size_t n, bool center, const float* x, float mu, float rstd, const float* gamma,
                             const float* dy, float* dx, bool accumulate) {
  norm_row_backward<norm_scalar_policy>(n, center, x, mu, rstd, gamma, dy, dx, accumulate);
}

void cols_accumulate_f32_scalar(std::size_t n, const float* x, float mu, float rstd, const float* dy, float* sg,
                                float* sb) {
  norm_cols_accumulate<norm_scalar_policy>(n, x, mu, rstd, dy, sg, sb);
}

}  // namespace

const norm_kernels norm_scalar = {row_forward_f32_scalar, row_backward_f32_scalar, cols_accumulate_f32_scalar};

}  // namespace qkv::kern

#endif  // QKV_HOSTED
