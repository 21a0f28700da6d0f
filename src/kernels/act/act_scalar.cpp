// SPDX-License-Identifier: MIT
// Scalar activation kernels: the fallback on every CPU and the only set on
// Cortex-M. The math is act_math.hpp's, on floats, with the library's own
// exp (exp_f32_shared, exp_scalar.hpp). Hosted builds only, as ops/act.cpp.
#ifdef QKV_HOSTED
#include <cmath>

#include "kernels/act/act.hpp"
#include "kernels/act/act_math.hpp"
#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {
namespace {

struct act_sops {
  using T = float;
  static float exp(float v) noexcept { return exp_f32_shared(v); }
  static float abs(float v) noexcept { return std::fabs(v); }
  static float min(float a, float b) noexcept { return b < a ? b : a; }
  static float max(float a, float b) noexcept { return a < b ? b : a; }
  static float div(float a, float b) noexcept { return a / b; }
  static bool lt(float a, float b) noexcept { return a < b; }
  static float sel(bool m, float a, float b) noexcept { return m ? a : b; }
};

template <class F>
void act_fwd_row(std::size_t n, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = F::template f<act_sops>(x[i]);
}

template <class F>
void act_bwd_row(std::size_t n, const float* x, const float* dy, float* dx) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = F::template b<act_sops>(x[i], dy[i]);
}

void swiglu_fwd_row(std::size_t n, const float* g, const float* u, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = swiglu_f<act_sops>(g[i], u[i]);
}

void swiglu_bwd_row(std::size_t n, const float* g, const float* u, const float* dy, float* dg, float* du) {
  for (std::size_t i = 0; i < n; ++i) {
    float a, b;
    swiglu_b<act_sops>(g[i], u[i], dy[i], &a, &b);
    dg[i] = a;
    du[i] = b;
  }
}

}  // namespace

const act_kernels act_scalar = {{act_fwd_row<act_gelu_tanh>, act_fwd_row<act_gelu_erf>, act_fwd_row<act_silu>,
                                 act_fwd_row<act_relu>},
                                {act_bwd_row<act_gelu_tanh>, act_bwd_row<act_gelu_erf>, act_bwd_row<act_silu>,
                                 act_bwd_row<act_relu>},
                                swiglu_fwd_row,
                                swiglu_bwd_row};

}  // namespace qkv::kern

#endif  // QKV_HOSTED
