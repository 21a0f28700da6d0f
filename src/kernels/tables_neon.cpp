// SPDX-License-Identifier: MIT
// Every kernel table of neon: one translation unit, compiled with neon's
// flags only (the *_neon.cpp rule in src/CMakeLists.txt). Each table
// instantiates its module's -inl.hpp templates for this ISA;
// scripts/check-isa-objects.sh checks that no inline function is shared with
// another ISA's object.
#include "kernels/tables-inl.hpp"

namespace qkv::kern {

using Arch = xsimd::neon;
QKV_DEFINE_ARCH_TABLES(neon, Arch)
// GEMM register tile: 16 q registers: 4 x 2 vectors = 8 accumulators.
const gemm_kernels gemm_neon = make_gemm_kernels<Arch, 4, 2, 128, 256, 1024>("gemm_f32_4x8");
// Register tile: 16 q registers: 2x4 queries x 5 keys, 10 accumulators.
const attn_kernels attn_neon = make_attn_kernels<Arch, 2, 5, 16>();

// Reduced precision: int8 through the portable 4x8 tile (16 q registers: 4 x 2 int32 vectors = 8 accumulators);
// no bf16 dot product (the driver widens bf16 to fp32).
const gemm_s8_kernels gemm_s8_neon = make_gemm_s8_kernels<4, 8>("gemm_s8_4x8");
const gemm_bf16_kernels gemm_bf16_neon = kGemmBf16None;

}  // namespace qkv::kern
