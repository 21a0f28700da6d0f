// SPDX-License-Identifier: MIT
// Every kernel table of neon64: one translation unit, compiled with neon64's
// flags only (the *_neon64.cpp rule in src/CMakeLists.txt). Each table
// instantiates its module's -inl.hpp templates for this ISA;
// scripts/check-isa-objects.sh checks that no inline function is shared with
// another ISA's object.
#include "kernels/tables-inl.hpp"

namespace qkv::kern {

using Arch = xsimd::neon64;
QKV_DEFINE_ARCH_TABLES(neon64, Arch)
// GEMM register tile: 32 q registers: 8 x 2 vectors = 16 accumulators.
const gemm_kernels gemm_neon64 = make_gemm_kernels<Arch, 8, 2, 192, 256, 1024>("gemm_f32_8x8");
// Register tile: 32 q registers: 4x4 queries x 6 keys, 24 accumulators.
const attn_kernels attn_neon64 = make_attn_kernels<Arch, 4, 6, 32>();

// Reduced precision: int8 through the portable 8x8 tile (32 q registers: 8 x 2 int32 vectors = 16 accumulators);
// no bf16 dot product (the driver widens bf16 to fp32).
const gemm_s8_kernels gemm_s8_neon64 = make_gemm_s8_kernels<8, 8>("gemm_s8_8x8");
const gemm_bf16_kernels gemm_bf16_neon64 = kGemmBf16None;

}  // namespace qkv::kern
