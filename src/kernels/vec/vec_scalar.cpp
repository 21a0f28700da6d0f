// SPDX-License-Identifier: MIT
// Scalar level-1 kernels: the fallback on every CPU and the only set on Cortex-M.
#include "kernels/lowp_elem-inl.hpp"
#include "kernels/vec/vec.hpp"
#include "kernels/vec/vec_s8-inl.hpp"

namespace qkv::kern {
namespace {

// Four partial sums: the same association shape as the SIMD kernels, and it
// lets a Cortex-M7/M55 compiler overlap the FPU latency.
float dot_f32_scalar(std::size_t n, const float* x, const float* y) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
  }
  for (; i < n; ++i) s0 += x[i] * y[i];
  return (s0 + s1) + (s2 + s3);
}

void axpy_f32_scalar(std::size_t n, float alpha, const float* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void dot_rows_f32_scalar(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y) {
  for (std::size_t i = 0; i < m; ++i) y[i] = dot_f32_scalar(n, x + i * ldx, v);
}

#ifdef QKV_HOSTED
// dot_f32_scalar's order on the widened elements.
template <qkv_dtype T>
void dot_rows_lowp_t(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const void* v, float* y) {
  for (std::size_t r = 0; r < m; ++r) {
    const float* xr = x + r * ldx;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      s0 += xr[i] * lowp_elem<T>(v, i);
      s1 += xr[i + 1] * lowp_elem<T>(v, i + 1);
      s2 += xr[i + 2] * lowp_elem<T>(v, i + 2);
      s3 += xr[i + 3] * lowp_elem<T>(v, i + 3);
    }
    for (; i < n; ++i) s0 += xr[i] * lowp_elem<T>(v, i);
    y[r] = (s0 + s1) + (s2 + s3);
  }
}

void dot_rows_lowp_scalar(qkv_dtype vt, std::size_t m, std::size_t n, const float* x, std::size_t ldx, const void* v,
                          float* y) {
  if (vt == QKV_DTYPE_BF16) return dot_rows_lowp_t<QKV_DTYPE_BF16>(m, n, x, ldx, v, y);
  if (vt == QKV_DTYPE_F16) return dot_rows_lowp_t<QKV_DTYPE_F16>(m, n, x, ldx, v, y);
  dot_rows_lowp_t<QKV_DTYPE_I8>(m, n, x, ldx, v, y);
}

template <qkv_dtype T>
void rows_times_lowp_t(std::size_t m, std::size_t k, std::size_t n, const float* x, std::size_t ldx, const void* v,
                       std::size_t ldv, float* y, std::size_t ldy) {
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t c = 0; c < n; ++c) {
      float s = 0.f;
      for (std::size_t j = 0; j < k; ++j) s += x[r * ldx + j] * lowp_elem<T>(v, j * ldv + c);
      y[r * ldy + c] = s;
    }
}

void rows_times_lowp_scalar(qkv_dtype vt, std::size_t m, std::size_t k, std::size_t n, const float* x,
                            std::size_t ldx, const void* v, std::size_t ldv, float* y, std::size_t ldy) {
  if (vt == QKV_DTYPE_BF16) return rows_times_lowp_t<QKV_DTYPE_BF16>(m, k, n, x, ldx, v, ldv, y, ldy);
  if (vt == QKV_DTYPE_F16) return rows_times_lowp_t<QKV_DTYPE_F16>(m, k, n, x, ldx, v, ldv, y, ldy);
  rows_times_lowp_t<QKV_DTYPE_I8>(m, k, n, x, ldx, v, ldv, y, ldy);
}
#endif

}  // namespace

#ifdef QKV_HOSTED
const vec_kernels vec_scalar = {dot_f32_scalar,    axpy_f32_scalar,    dot_rows_f32_scalar, dot_rows_s8_plain,
                                axpy_rows_s8_plain, requant_s8_plain, dot_rows_lowp_scalar,
                                rows_times_lowp_scalar};
#else
const vec_kernels vec_scalar = {dot_f32_scalar, axpy_f32_scalar, dot_rows_f32_scalar, dot_rows_s8_plain, axpy_rows_s8_plain, requant_s8_plain};
#endif

}  // namespace qkv::kern
