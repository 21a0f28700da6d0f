// SPDX-License-Identifier: MIT
// Scalar attention-backward kernels: the fallback on every CPU, the only set
// on Cortex-M, and the readable statement of what the SIMD kernels compute.
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/softmax/exp_scalar.hpp"
#include "kernels/tile/tile-inl.hpp"

namespace qkv::kern {
namespace {

// Per row, 1 x 4 register tiles (kernels/tile) along n (n % 4 == 0): each C
// element summed in order of p.
void attn_gemm_f32_scalar(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t ar,
                          std::size_t ac, const float* b, std::size_t ldb, float* c, std::size_t ldc, int acc) {
  constexpr std::size_t kNr = 4;
  static_assert(kAttnBwdPad % kNr == 0, "n is whole tiles");
  using C = fixed<0>;  // one row per tile: the row stride is never used
  for (std::size_t r = 0; r < m; ++r)
    for (std::size_t j = 0; j < n; j += kNr) {
      float* cr = c + r * ldc + j;
      tile_fma<float, 1, kNr>(k, a + r * ar, fixed<0>(), ac, make_rows_b<float>(b + j, ldb, scalar_io()),
                              c_init<float, scalar_io, C>{cr, {}, acc != 0, {}}, c_store<float, scalar_io, C>{cr, {}, {}});
    }
}

void attn_softmax_grad_f32_scalar(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse,
                                  const float* D, const float* drop, float* s, float* dp, std::size_t ld) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float* dr = dp + r * ld;
    for (std::size_t c = 0; c < cols; ++c) {
      if (c >= valid[r]) {
        sr[c] = dr[c] = 0.f;
        continue;
      }
      const float p = exp_f32_shared(sr[c] - lse[r]);  // as attn_softmax_f32_scalar
      const float m = drop ? drop[r * ld + c] : 1.f;
      sr[c] = p * m;
      dr[c] = p * (dr[c] * m - D[r]);
    }
  }
}

// In 16 x 16 blocks, so the strided side of a block stays in L1.
void attn_transpose_f32_scalar(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                               std::size_t ld_dst) {
  constexpr std::size_t kB = 16;
  for (std::size_t c0 = 0; c0 < rows; c0 += kB) {
    const std::size_t nc = rows - c0 < kB ? rows - c0 : kB;
    for (std::size_t f0 = 0; f0 < cols; f0 += kB) {
      const std::size_t nf = cols - f0 < kB ? cols - f0 : kB;
      for (std::size_t f = f0; f < f0 + nf; ++f)
        for (std::size_t c = c0; c < c0 + nc; ++c) dst[f * ld_dst + c] = src[c * ld + f];
    }
  }
  for (std::size_t f = 0; f < cols; ++f)
    for (std::size_t c = rows; c < ld_dst; ++c) dst[f * ld_dst + c] = 0.f;
}

void attn_scale_rows_f32_scalar(std::size_t rows, std::size_t cols, std::size_t cols_pad, float scale,
                                const float* src, std::size_t ld, float* dst, std::size_t ld_dst) {
  for (std::size_t r = 0; r < rows && r < kAttnBwdAhead; ++r)
    for (std::size_t f = 0; f < cols; f += 16) __builtin_prefetch(src + r * ld + f);
  for (std::size_t r = 0; r < rows; ++r) {
    if (r + kAttnBwdAhead < rows) {
      for (std::size_t f = 0; f < cols; f += 16) __builtin_prefetch(src + (r + kAttnBwdAhead) * ld + f);
      for (std::size_t f = 0; f < cols_pad; f += 16) __builtin_prefetch(dst + (r + kAttnBwdAhead) * ld_dst + f, 1);
    }
    const float* s = src + r * ld;
    float* d = dst + r * ld_dst;
    for (std::size_t f = 0; f < cols; ++f) d[f] = scale * s[f];
    for (std::size_t f = cols; f < cols_pad; ++f) d[f] = 0.f;
  }
}

#ifdef QKV_HOSTED
// The fused forward's Q^T and O on hosted builds (attn_bwd.hpp).
void attn_transpose_scaled_f32_scalar(std::size_t rows, std::size_t cols, const float* src, std::size_t ld,
                                      float* dst, std::size_t ld_dst, std::size_t dst_cols, float scale,
                                      const float* col_scale) {
  transpose_scaled_rows_from(0, rows, cols, src, ld, dst, ld_dst, dst_cols, scale, col_scale);
}
#else
constexpr auto attn_transpose_scaled_f32_scalar = nullptr;
#endif

}  // namespace

const attn_bwd_kernels attn_bwd_scalar = {attn_gemm_f32_scalar, attn_softmax_grad_f32_scalar,
                                          attn_transpose_f32_scalar, attn_scale_rows_f32_scalar,
                                          attn_transpose_scaled_f32_scalar};

}  // namespace qkv::kern
