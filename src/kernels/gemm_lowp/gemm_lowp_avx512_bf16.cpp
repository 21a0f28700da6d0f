// SPDX-License-Identifier: MIT
// The reduced-precision tables of avx512_bf16 (AVX-512 + AVX512_BF16 +
// AVX512_VNNI), compiled with its flags only (the *_avx512_bf16.cpp rule in
// src/CMakeLists.txt). Every other module maps avx512_bf16 to its avx512
// table (QKV_DECLARE_KERNEL_TABLES).
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {

// For now the portable int8 tile (8 zmm accumulators) and no bf16 kernel.
const gemm_s8_kernels gemm_s8_avx512_bf16 = make_gemm_s8_kernels<8, 16>("gemm_s8_8x16");
const gemm_bf16_kernels gemm_bf16_avx512_bf16 = kGemmBf16None;

}  // namespace qkv::kern
