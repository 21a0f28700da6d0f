// SPDX-License-Identifier: MIT
// TEMPORARY stand-in for the lowp kernel tables (branch lowpk implements
// them; this file goes when that branch is merged): no bf16 kernels (mr 0:
// the driver widens bf16 to fp32) and one plain int8 4x4 tile, kg 4, for
// every ISA compiled in, so that ops/gemm_ex.cpp links and is tested
// against the interface of kernels/gemm_lowp/gemm_lowp.hpp.
#include <cstdint>

#include "kernels/gemm_lowp/gemm_lowp.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 4, kNR = 4, kKG = 4;

std::size_t panel_bytes(std::size_t kc) { return ((kc + kKG - 1) / kKG * kKG * kMR + 63) / 64 * 64; }

// rows x kc of op(X) into panels of `r` rows: dst[(k/kg)*r*kg + i*kg + k%kg].
void pack(bool trans, std::size_t rows, std::size_t kc, const std::int8_t* x, std::size_t ld, void* dst_v,
          bool rows_are_k) {
  auto* dst = static_cast<std::int8_t*>(dst_v);
  const std::size_t kp = (kc + kKG - 1) / kKG * kKG, panel = panel_bytes(kc);
  for (std::size_t p0 = 0; p0 < rows; p0 += kMR) {
    std::int8_t* d = dst + (p0 / kMR) * panel;
    for (std::size_t k = 0; k < kp; ++k)
      for (std::size_t i = 0; i < kMR; ++i) {
        const std::size_t r = p0 + i;
        std::int8_t v = 0;
        if (r < rows && k < kc) {
          // A: op(A)(r,k) = trans ? x[k*ld + r] : x[r*ld + k];
          // B: op(B)(k,r) = trans ? x[r*ld + k] : x[k*ld + r].
          const bool k_major = rows_are_k ? !trans : trans;
          v = k_major ? x[k * ld + r] : x[r * ld + k];
        }
        d[(k / kKG) * kMR * kKG + i * kKG + k % kKG] = v;
      }
  }
}
void pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst) {
  pack(trans, mc, kc, a, lda, dst, false);
}
void pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst) {
  pack(trans, nc, kc, b, ldb, dst, true);
}
void ukernel(std::size_t kc, const void* a_v, const void* b_v, std::int32_t* acc, std::size_t ldacc, bool load) {
  const auto* a = static_cast<const std::int8_t*>(a_v);
  const auto* b = static_cast<const std::int8_t*>(b_v);
  std::int32_t t[kMR][kNR] = {};
  const std::size_t kp = (kc + kKG - 1) / kKG * kKG;
  for (std::size_t k = 0; k < kp; ++k)
    for (std::size_t i = 0; i < kMR; ++i)
      for (std::size_t j = 0; j < kNR; ++j)
        t[i][j] += static_cast<std::int32_t>(a[(k / kKG) * kMR * kKG + i * kKG + k % kKG]) *
                   b[(k / kKG) * kNR * kKG + j * kKG + k % kKG];
  for (std::size_t i = 0; i < kMR; ++i)
    for (std::size_t j = 0; j < kNR; ++j)
      acc[i * ldacc + j] = static_cast<std::int32_t>(static_cast<std::uint32_t>(load ? acc[i * ldacc + j] : 0) +
                                                     static_cast<std::uint32_t>(t[i][j]));
}

constexpr gemm_bf16_kernels kNoBf16 = {"none", 0, 0, nullptr, nullptr, nullptr};
constexpr gemm_s8_kernels kS8 = {"gemm_s8_4x4", kMR, kNR, kKG, panel_bytes, panel_bytes, pack_a, pack_b, ukernel};

}  // namespace

const gemm_bf16_kernels gemm_bf16_scalar = kNoBf16;
const gemm_s8_kernels gemm_s8_scalar = kS8;
#ifdef QKV_HAVE_SSE2
const gemm_bf16_kernels gemm_bf16_sse2 = kNoBf16;
const gemm_s8_kernels gemm_s8_sse2 = kS8;
#endif
#ifdef QKV_HAVE_AVX2
const gemm_bf16_kernels gemm_bf16_avx2 = kNoBf16;
const gemm_s8_kernels gemm_s8_avx2 = kS8;
#endif
#ifdef QKV_HAVE_AVX512
const gemm_bf16_kernels gemm_bf16_avx512 = kNoBf16;
const gemm_s8_kernels gemm_s8_avx512 = kS8;
#endif
#ifdef QKV_HAVE_AVX512_BF16
const gemm_bf16_kernels gemm_bf16_avx512_bf16 = kNoBf16;
const gemm_s8_kernels gemm_s8_avx512_bf16 = kS8;
#endif
#ifdef QKV_HAVE_NEON
const gemm_bf16_kernels gemm_bf16_neon = kNoBf16;
const gemm_s8_kernels gemm_s8_neon = kS8;
#endif
#ifdef QKV_HAVE_NEON64
const gemm_bf16_kernels gemm_bf16_neon64 = kNoBf16;
const gemm_s8_kernels gemm_s8_neon64 = kS8;
#endif

}  // namespace qkv::kern
