// SPDX-License-Identifier: MIT
// vec_s8-inl.hpp - the int8 entries of vec_kernels as plain loops, which
// each ISA's file compiles with its own flags (the host's vectorizer widens
// them: pmovsxbw + pmaddwd on x86, smlal on aarch64). On cores with the Arm
// DSP extension the dot product takes four codes per word through SXTB16 +
// SMLAD (kernels/gemm_lowp/dsp_words-inl.hpp). Internal linkage: include only
// in per-ISA translation units.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/requant.hpp"

#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
#include "kernels/gemm_lowp/dsp_words-inl.hpp"
#endif

// GCC's -O2 vectorizer (the per-ISA flags) keeps its very cheap cost model,
// which gives up on these loops (int8 may alias the int32 sums; unknown trip
// counts): hosted builds ask for the dynamic model here, bare metal keeps
// -Os code.
#if defined(QKV_HOSTED) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#define QKV_S8_PUSHED 1
#endif

namespace qkv::kern {
namespace {

inline std::int32_t dot_s8_plain(std::size_t n, const std::int8_t* __restrict x, const std::int8_t* __restrict y) {
  std::int32_t s = 0;
  std::size_t i = 0;
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
  const auto* xb = reinterpret_cast<const unsigned char*>(x);
  const auto* yb = reinterpret_cast<const unsigned char*>(y);
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t a = dsp_word(xb + i), b = dsp_word(yb + i);
    s = __smlad(dsp_even(a), dsp_even(b), s);
    s = __smlad(dsp_odd(a), dsp_odd(b), s);
  }
#endif
  for (; i < n; ++i) s += static_cast<std::int32_t>(x[i]) * y[i];
  return s;
}

inline void dot_rows_s8_plain(std::size_t m, std::size_t n, const std::int8_t* x, std::size_t ldx,
                              const std::int8_t* v, std::int32_t* __restrict y) {
  for (std::size_t i = 0; i < m; ++i) y[i] = dot_s8_plain(n, x + i * ldx, v);
}

inline void axpy_rows_s8_plain(std::size_t m, std::size_t n, const std::int16_t* __restrict w,
                               const std::int8_t* __restrict x, std::size_t ldx, std::int32_t* __restrict y) {
  for (std::size_t i = 0; i < m; ++i) {
    const std::int32_t wi = w[i];
    if (wi == 0) continue;  // masked-out and underflowed weights: common in long rows
    const std::int8_t* xi = x + i * ldx;
    for (std::size_t c = 0; c < n; ++c) y[c] += wi * xi[c];
  }
}

inline void requant_s8_plain(std::size_t n, const std::int32_t* acc, const std::int32_t* bias,
                             const std::int32_t* qm, std::int32_t zp, std::int8_t* out) {
  for (std::size_t c = 0; c < n; ++c) {
    const std::int32_t v = zp + util::requant_q31(util::sat_add(acc[c], bias[c]), qm[2 * c], qm[2 * c + 1]);
    out[c] = static_cast<std::int8_t>(v > 127 ? 127 : v < -128 ? -128 : v);
  }
}

}  // namespace
}  // namespace qkv::kern

#ifdef QKV_S8_PUSHED
#pragma GCC pop_options
#undef QKV_S8_PUSHED
#endif
