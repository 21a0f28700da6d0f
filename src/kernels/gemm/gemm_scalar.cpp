// Scalar gemm kernels: the fallback on every CPU and the only set on
// Cortex-M. A 4x4 tile: 16 accumulators + 4 + 4 operands fit the 32 single
// registers of a Cortex-M4F/M7 FPU.
#include "kernels/gemm/gemm_portable-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 4, kNR = 4;

// gemm_f32_4x4: C[4x4] = alpha * Ap.Bp + beta * C.
void gemm_f32_4x4_scalar(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                         std::size_t ldc) {
  float acc[kMR][kNR];  // not `= {}`: no memset call (util/copy.hpp)
  for (auto& row : acc)
    for (float& x : row) x = 0.0f;
  for (std::size_t k = 0; k < kc; ++k, a += kMR, b += kNR)
    for (std::size_t i = 0; i < kMR; ++i)
      for (std::size_t j = 0; j < kNR; ++j) acc[i][j] += a[i] * b[j];
  for (std::size_t i = 0; i < kMR; ++i)
    for (std::size_t j = 0; j < kNR; ++j) c[i * ldc + j] = epilogue_scalar(acc[i][j], alpha, beta, c + i * ldc + j);
}

// Small blocks: a bare-metal caller sizes its workspace from these (at most
// 32*128 + 128*128 floats = 80 KiB); no cache to fill on a Cortex-M.
constexpr std::size_t kMC = 32, kKC = 128, kNC = 128;
static_assert(kKC * kNR <= kGemmStackBFloats, "a B panel exceeds the stack B block");

}  // namespace

const gemm_kernels gemm_scalar = {
    "gemm_f32_4x4", kMR, kNR, kMC, kKC, kNC, 4 * kNR, 0, gemm_f32_4x4_scalar,
    edge_via_tile<kMR, kNR, gemm_f32_4x4_scalar>,
    strided_via_pack<kMR, kNR, kKC, gemm_f32_4x4_scalar, edge_via_tile<kMR, kNR, gemm_f32_4x4_scalar>>,
    pack_a_ref<kMR>, pack_b_ref<kNR>, direct_scalar,
    nullptr};

}  // namespace qkv::kern
