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
