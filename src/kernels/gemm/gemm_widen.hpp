// SPDX-License-Identifier: MIT
// gemm_widen - per-ISA packers that widen qkv_gemm_ex's fp16 and bf16
// operands to fp32 straight into the panels of the same ISA's fp32 GEMM
// table (kernels/gemm/gemm.hpp: A panels of mr rows, B panels of nr
// columns, k-major, zero-padded), for the ISAs that convert fp16 in
// hardware where the driver's portable packers (ops/gemm_ex_pack.hpp) would
// emulate it: mve (VCVTB.F32.F16). Every other ISA has none (nullptr).
//
// Contract: the panels of ops/gemm_ex_pack.hpp's widen_pack_a / widen_pack_b
// bit for bit for every non-NaN value (the widening is exact); an fp16 NaN
// may widen to another NaN, where the ISA's fp32 tiles give the same C for
// any NaN operand (the file defining the table says why). No allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/dtype.h"
#include "qkv/runtime.h"

namespace qkv::kern {

struct gemm_widen_kernels {
  std::size_t mr, nr;  // the fp32 table's tile the panels are for
  // op(A)[0:mc, 0:kc] of type t (QKV_DTYPE_F16 or QKV_DTYPE_BF16 bits) into
  // ceil(mc/mr) fp32 A panels at dst (64-byte aligned). op(A)(i,k) =
  // a[i*lda + k], or a[k*lda + i] when trans.
  void (*pack_a)(qkv_dtype t, bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a, std::size_t lda,
                 float* dst);
  // op(B)[0:kc, 0:nc] of type t into ceil(nc/nr) fp32 B panels at dst.
  // op(B)(k,j) = b[k*ldb + j], or b[j*ldb + k] when trans.
  void (*pack_b)(qkv_dtype t, bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 float* dst);
};

#ifdef QKV_HAVE_MVE
extern const gemm_widen_kernels gemm_widen_mve;
inline constexpr bool kHaveGemmWiden = true;
#else
inline constexpr bool kHaveGemmWiden = false;  // the driver's packers everywhere: no branch compiled in
#endif

// The packers of `isa`, or nullptr.
inline const gemm_widen_kernels* gemm_widen_for(qkv_isa isa) noexcept {
#ifdef QKV_HAVE_MVE
  if (isa == QKV_ISA_MVE) return &gemm_widen_mve;
#endif
  (void)isa;
  return nullptr;
}

}  // namespace qkv::kern
