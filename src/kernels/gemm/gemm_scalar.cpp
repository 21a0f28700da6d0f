// SPDX-License-Identifier: MIT
// Scalar gemm kernels: the fallback on every CPU and the only set on
// Cortex-M. A 4x4 tile: 16 accumulators + 4 + 4 operands fit the 32 single
// registers of a Cortex-M4F/M7 FPU.
#include "kernels/gemm/gemm_portable-inl.hpp"
#include "kernels/tile/tile-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 4, kNR = 4;

// gemm_f32_4x4: C[4x4] = alpha * Ap.Bp + beta * C, the register tile
// (kernels/tile) on floats.
void gemm_f32_4x4_scalar(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                         std::size_t ldc) {
  tile_fma<float, kMR, kNR>(kc, a, fixed<1>(), fixed<kMR>(), make_rows_b<float>(b, fixed<kNR>(), scalar_io()),
                            zero_init<float>(), axpby_store<float, scalar_io>(c, ldc, alpha, beta, {}));
}

// Small blocks: a bare-metal caller sizes its workspace from these (at most
// 32*128 + 128*128 floats = 80 KiB); no cache to fill on a Cortex-M.
constexpr std::size_t kMC = 32, kKC = 128, kNC = 128;
// Hosted, derived blocks may reach kGemmKcLimit; bare metal keeps these
// blocks, and the strided path's stack panels stay small (4 KiB).
#ifdef QKV_HOSTED
constexpr std::size_t kKcMax = kGemmKcLimit;
#else
constexpr std::size_t kKcMax = kKC;
#endif
static_assert(kKcMax * kNR <= kGemmStackBFloats, "a B panel exceeds the stack B block");

}  // namespace

const gemm_kernels gemm_scalar = {
    "gemm_f32_4x4", kMR, kNR, kMC, kKC, kNC, kKcMax, 4 * kNR, 0, gemm_f32_4x4_scalar,
    strided_via_pack<kMR, kNR, kKcMax, gemm_f32_4x4_scalar>,
    pack_a_ref<kMR>, pack_b_ref<kNR>, direct_scalar,
    nullptr};

}  // namespace qkv::kern
