// SPDX-License-Identifier: MIT
// Every kernel table of avx2: one translation unit, compiled with avx2's
// flags only (the *_avx2.cpp rule in src/CMakeLists.txt). Each table
// instantiates its module's -inl.hpp templates for this ISA;
// scripts/check-isa-objects.sh checks that no inline function is shared with
// another ISA's object.
#include "kernels/tables-inl.hpp"

namespace qkv::kern {

using Arch = xsimd::fma3<xsimd::avx2>;
QKV_DEFINE_ARCH_TABLES(avx2, Arch)
// GEMM register tile: 16 ymm: 6 x 2 vectors = 12 accumulators + 2 B + 1 broadcast.
const gemm_kernels gemm_avx2 = make_gemm_kernels<Arch, 6, 2, 192, 256, 1024>("gemm_f32_6x16");
// Register tile: 16 ymm: 2x8 queries x 6 keys, 12 accumulators.
const attn_kernels attn_avx2 = make_attn_kernels<Arch, 2, 6, 32>();

// Reduced precision: int8 in gemm_lowp/gemm_lowp_avx2.cpp (vpmaddwd); no bf16
// dot product (the driver widens bf16 to fp32).
const gemm_bf16_kernels gemm_bf16_avx2 = kGemmBf16None;

}  // namespace qkv::kern
