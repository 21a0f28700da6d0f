// SPDX-License-Identifier: MIT
// The reduced-precision tables of neon64_dot (AArch64 Advanced SIMD + the
// int8 dot product, FEAT_DotProd), compiled with its flags only (the
// *_neon64_dot.cpp rule in src/CMakeLists.txt); every other module maps
// neon64_dot to its neon64 table.
//   gemm_s8_8x12_dot: SDOT by element on the tile of
//   gemm_lowp_neon64-inl.hpp (24 int32 accumulators, 2 A and 3 B q
//   registers per quad of k), signed x signed: codes stored as they are (no
//   bias, no corrections, unlike x86's u8 x s8 vpdpbusd), exact modulo 2^32.
// No bf16 dot product without FEAT_BF16: the driver widens bf16 to fp32.
#include "kernels/gemm_lowp/gemm_lowp_neon64-inl.hpp"

namespace qkv::kern {

const gemm_s8_kernels gemm_s8_neon64_dot = make_gemm_s8_sdot_kernels<8, 12>("gemm_s8_8x12_dot");
const gemm_bf16_kernels gemm_bf16_neon64_dot = kGemmBf16None;

}  // namespace qkv::kern
