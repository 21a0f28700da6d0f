// SPDX-License-Identifier: MIT
// Every kernel table of avx512 but the GEMMs', whose hand-scheduled tiles have
// their own translation units (kernels/gemm/gemm_avx512.cpp,
// kernels/gemm_lowp/gemm_lowp_avx512.cpp). Compiled with
// avx512's flags only (the *_avx512.cpp rule in src/CMakeLists.txt). Each
// table instantiates its module's -inl.hpp templates for this ISA;
// scripts/check-isa-objects.sh checks that no inline function is shared with
// another ISA's object.
#include "kernels/tables-inl.hpp"

namespace qkv::kern {

using Arch = xsimd::avx512bw;
QKV_DEFINE_ARCH_TABLES(avx512, Arch)
// Register tile: 32 zmm: 4x16 queries x 6 keys, 24 accumulators.
const attn_kernels attn_avx512 = make_attn_kernels<Arch, 4, 6, 64>();

// Reduced precision: int8 in gemm_lowp/gemm_lowp_avx512.cpp (vpmaddwd); no
// bf16 dot product (the driver widens bf16 to fp32).
const gemm_bf16_kernels gemm_bf16_avx512 = kGemmBf16None;

}  // namespace qkv::kern
