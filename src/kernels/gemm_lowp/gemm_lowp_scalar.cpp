// SPDX-License-Identifier: MIT
// Scalar reduced-precision tables: the fallback on every CPU and the only set
// on Cortex-M4/M7. int8 through the portable 4x4 tile (16 int32
// accumulators) or, where the target has the DSP extension (Cortex-M4, M7,
// M55, Armv7-A), in its place the SMLAD 2x2 tile of gemm_lowp_dsp-inl.hpp
// (a compile-time choice: one int8 kernel per image, the M4's .text budget);
// no bf16 dot product (the driver widens bf16 to fp32).
#if defined(__ARM_FEATURE_DSP)
#include "kernels/gemm_lowp/gemm_lowp_dsp-inl.hpp"
#else
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"
#endif

namespace qkv::kern {

#if defined(__ARM_FEATURE_DSP)
const gemm_s8_kernels gemm_s8_scalar = make_gemm_s8_dsp_kernels();
#else
const gemm_s8_kernels gemm_s8_scalar = make_gemm_s8_kernels<4, 4>("gemm_s8_4x4");
#endif
const gemm_bf16_kernels gemm_bf16_scalar = kGemmBf16None;

}  // namespace qkv::kern
