// SPDX-License-Identifier: MIT
// Built (never linked) once per kernel set, with that set's flags from
// cmake/QkvIsa.cmake and QKV_CHECK_ISA naming it: fails the build when the
// flags let the compiler assume a CPU feature the set's row of
// kRequiredFeatures (src/dispatch/dispatch.hpp) does not declare, i.e. a
// feature dispatch would not check before running that code.
#include "dispatch/dispatch.hpp"

static_assert((qkv::dispatch::assumed_features() & ~qkv::dispatch::kRequiredFeatures[QKV_CHECK_ISA]) == 0,
              "this kernel set's flags assume a feature its row of kRequiredFeatures lacks");

// Features outside dispatch's feature space: a flag that enables one needs a
// feature bit, a probe and a table entry first.
#if defined(__BMI__) || defined(__BMI2__) || defined(__LZCNT__) || defined(__MOVBE__) || \
    defined(__FMA4__) || defined(__XOP__) || defined(__SSE4A__) || defined(__AES__) || defined(__PCLMUL__) ||  \
    defined(__AVX512IFMA__) || defined(__AVX512VBMI__) ||                                                    \
    defined(__AVX512FP16__) || defined(__AVXVNNI__) || defined(__AMX_TILE__)
#error "a kernel set's flags enable an x86 feature dispatch does not probe"
#endif
// (The dot product, BF16, I8MM and half precision are probed on AArch64:
// assumed_features() maps their macros to feature bits, checked above.)
#if (defined(__arm__) && (defined(__ARM_FEATURE_DOTPROD) || defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC) || \
                          defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC) || defined(__ARM_FEATURE_MATMUL_INT8))) || \
    defined(__ARM_FEATURE_SVE) || defined(__ARM_FEATURE_SME)
#error "a kernel set's flags enable an ARM feature dispatch does not probe"
#endif
