// gemm kernels for neon64: gemm_f32_8x8. Compiled with that ISA's flags only.
#include "kernels/gemm/gemm-inl.hpp"

namespace qkv::kern {
namespace {
using Arch = xsimd::neon64;
constexpr std::size_t kMR = 8, kNV = 2, kNR = kNV * simd::vf<Arch>::size;
constexpr std::size_t kMC = 192, kKC = 256, kNC = 1024;
static_assert(kNR == 8 && kMC % kMR == 0 && kNC % kNR == 0, "blocks must hold whole tiles");
static_assert(kKC * kNR <= kGemmStackBFloats, "a B panel exceeds the stack B block");
constexpr ukernel_fn kFull = ukernel_simd<Arch, kMR, kNV>;
}  // namespace

const gemm_kernels gemm_neon64 = {"gemm_f32_8x8", kMR, kNR, kMC, kKC, kNC, 4 * kNR, 0, kFull,
                                   edge_via_tile<kMR, kNR, kFull>,
                                   strided_via_pack<kMR, kNR, kKC, kFull, edge_via_tile<kMR, kNR, kFull>>,
                                   pack_a_ref<kMR>, pack_b_ref<kNR>,
                                   direct_simd<Arch>,
    nullptr};

}  // namespace qkv::kern
