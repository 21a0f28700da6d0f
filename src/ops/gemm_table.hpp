// SPDX-License-Identifier: MIT
// gemm_table - the GEMM kernel table the ops use for an ISA: the ISA's table,
// or, for AVX-512 on a CPU where dispatch/uarch chose the assembly full
// tile, that variant (the same results either way).
#pragma once

#include "dispatch/uarch.hpp"
#include "kernels/gemm/gemm.hpp"

namespace qkv::ops {

inline const kern::gemm_kernels& gemm_table(qkv_isa isa) noexcept {
#ifdef QKV_HAVE_GEMM_AVX512_ASM
  if ((isa == QKV_ISA_AVX512 || isa == QKV_ISA_AVX512_BF16) && dispatch::uarch().avx512_tile == dispatch::gemm_tile::assembly)
    return kern::gemm_avx512_asm;
#endif
  return kern::gemm_for(isa);
}

}  // namespace qkv::ops
