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
  std::size_t i = 0;
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
  // Two value rows at a time: for four columns, SXTB16 splits each row's
  // word, PKHBT/PKHTB pair column c of both rows as one int16x2 (the
  // compiler forms them from the masks and shifts below), and SMLAD adds
  // w_i v_i[c] + w_{i+1} v_{i+1}[c]: 8 MACs in 4 SMLAD.
  for (; i + 2 <= m; i += 2) {
    if (w[i] == 0 && w[i + 1] == 0) continue;
    const auto wp = static_cast<int16x2_t>((static_cast<std::uint32_t>(static_cast<std::uint16_t>(w[i]))) |
                                           (static_cast<std::uint32_t>(static_cast<std::uint16_t>(w[i + 1])) << 16));
    const auto* r0 = reinterpret_cast<const unsigned char*>(x + i * ldx);
    const auto* r1 = r0 + ldx;
    std::size_t c = 0;
    for (; c + 4 <= n; c += 4) {
      const std::uint32_t ae = static_cast<std::uint32_t>(dsp_even(dsp_word(r0 + c)));
      const std::uint32_t ao = static_cast<std::uint32_t>(dsp_odd(dsp_word(r0 + c)));
      const std::uint32_t be = static_cast<std::uint32_t>(dsp_even(dsp_word(r1 + c)));
      const std::uint32_t bo = static_cast<std::uint32_t>(dsp_odd(dsp_word(r1 + c)));
      y[c] = __smlad(static_cast<int16x2_t>((ae & 0xffffu) | (be << 16)), wp, y[c]);
      y[c + 1] = __smlad(static_cast<int16x2_t>((ao & 0xffffu) | (bo << 16)), wp, y[c + 1]);
      y[c + 2] = __smlad(static_cast<int16x2_t>((ae >> 16) | (be & 0xffff0000u)), wp, y[c + 2]);
      y[c + 3] = __smlad(static_cast<int16x2_t>((ao >> 16) | (bo & 0xffff0000u)), wp, y[c + 3]);
    }
    const std::int32_t w0 = w[i], w1 = w[i + 1];
    for (; c < n; ++c) y[c] += w0 * x[i * ldx + c] + w1 * x[(i + 1) * ldx + c];
  }
#endif
  for (; i < m; ++i) {
    const std::int32_t wi = w[i];
    if (wi == 0) continue;  // masked-out and underflowed weights: common in long rows
    const std::int8_t* xi = x + i * ldx;
    for (std::size_t c = 0; c < n; ++c) y[c] += wi * xi[c];
  }
}

inline void requant_s8_plain(std::size_t n, const std::int32_t* acc, const std::int32_t* bias,
                             const std::int32_t* qm, std::int32_t zp, std::int8_t* out) {
  for (std::size_t c = 0; c < n; ++c) {
    out[c] = util::clamp_s8(zp + util::requant_q31(util::sat_add(acc[c], bias[c]), qm[2 * c], qm[2 * c + 1]));
  }
}

}  // namespace
}  // namespace qkv::kern

#ifdef QKV_S8_PUSHED
#pragma GCC pop_options
#undef QKV_S8_PUSHED
#endif
