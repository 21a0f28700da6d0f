// Scalar attention-backward kernels: the fallback on every CPU, the only set
// on Cortex-M, and the readable statement of what the SIMD kernels compute.
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {
namespace {

// Row by row, p outer: each C element is still summed in order of p.
void attn_gemm_f32_scalar(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t ar,
                          std::size_t ac, const float* b, std::size_t ldb, float* c, std::size_t ldc, int acc) {
  for (std::size_t r = 0; r < m; ++r) {
    float* cr = c + r * ldc;
    if (!acc)
      for (std::size_t j = 0; j < n; ++j) cr[j] = 0.f;
    for (std::size_t p = 0; p < k; ++p) {
      const float x = a[r * ar + p * ac];
      const float* bp = b + p * ldb;
      for (std::size_t j = 0; j < n; ++j) cr[j] += x * bp[j];
    }
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
      const float p = exp_f32_scalar(sr[c] - lse[r]);  // as attn_softmax_f32_scalar
      const float m = drop ? drop[r * ld + c] : 1.f;
      sr[c] = p * m;
      dr[c] = p * (dr[c] * m - D[r]);
    }
  }
}

}  // namespace

const attn_bwd_kernels attn_bwd_scalar = {attn_gemm_f32_scalar, attn_softmax_grad_f32_scalar};

}  // namespace qkv::kern
