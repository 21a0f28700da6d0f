// SPDX-License-Identifier: MIT
// Scalar reduced-precision tables: the fallback on every CPU and the only set
// on Cortex-M. int8 through the portable 4x4 tile (16 int32 accumulators);
// no bf16 dot product (the driver widens bf16 to fp32).
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"

namespace qkv::kern {

const gemm_s8_kernels gemm_s8_scalar = make_gemm_s8_kernels<4, 4>("gemm_s8_4x4");
const gemm_bf16_kernels gemm_bf16_scalar = kGemmBf16None;

}  // namespace qkv::kern
