// SPDX-License-Identifier: MIT
// Helium (MVE) widening packers of qkv_gemm_ex (contract: gemm_widen.hpp):
// fp16 and bf16 operands into gemm_mve's fp32 panels (A: 3 rows, B: 8
// columns), four elements per vector: a widening halfword load into 32-bit
// lanes, VCVTB.F32.F16 (fp16, the bottom half of each lane) or a 16-bit
// shift (bf16), then a contiguous store when the panel's lines are
// contiguous in memory for each k (A transposed, B), or a scatter store of
// four k's at stride R when k is (A, B transposed). Tails by vctp: lanes
// past the operand load as zeros without touching memory.
//
// fp16 widens exactly (convert/half_mve-inl.hpp), a NaN to the default
// NaN rather than the portable packers' payload-keeping quiet NaN: gemm_mve's
// tiles run under the same default-NaN rule (every MVE floating-point
// instruction does), so any NaN operand makes the default NaN there either
// way, and C's bits are those of the portable packers
// (tests/baremetal/check_lowp.c compares them, NaNs included). bf16 widens
// by the shift, bit for bit, NaNs included.
#include "kernels/convert/half_mve-inl.hpp"
#include "kernels/gemm/gemm_widen.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW, kMR = kMveMr, kNR = kMveNv * kMveW;

// Four zero-extended halfwords of type Bf16 ? bf16 : fp16 as fp32 (a zero
// lane, from a zeroing load, is +0).
template <bool Bf16>
inline float32x4_t widen(uint32x4_t h) {
  if constexpr (Bf16)
    return vreinterpretq_f32_u32(vshlq_n_u32(h, 16));
  else
    return mve_f32_of_f16_bottom(h);
}

inline mve_pred16_t lanes(std::size_t n) { return vctp32q(static_cast<std::uint32_t>(n < W ? n : W)); }

// `lines` x kc of a matrix into panels of R lines, k-major:
// dst[panel*R*kc + k*R + l] = X(l0 + l, k), X(l, k) = p[l*ld + k]
// (k_contiguous) or p[k*ld + l]; lines past the last are zeros.
template <std::size_t R, bool Bf16>
void widen_panels(bool k_contiguous, std::size_t lines, std::size_t kc, const std::uint16_t* p, std::size_t ld,
                  float* dst) {
  constexpr std::size_t NV = (R + W - 1) / W;
  // Word offsets of four k's of one line in the panel: 0, R, 2R, 3R.
  const uint32x4_t scatter = vmulq_n_u32(vidupq_n_u32(0u, 1), static_cast<std::uint32_t>(R));
  for (std::size_t l0 = 0; l0 < lines; l0 += R, dst += R * kc) {
    const std::size_t n = lines - l0 < R ? lines - l0 : R;
    if (k_contiguous) {
      for (std::size_t l = 0; l < n; ++l) {
        const std::uint16_t* src = p + (l0 + l) * ld;
        float* d = dst + l;
        std::size_t k = 0;
        for (; k + W <= kc; k += W)
          vstrwq_scatter_shifted_offset_f32(d + k * R, scatter, widen<Bf16>(vldrhq_u32(src + k)));
        if (k < kc) {
          const mve_pred16_t m = lanes(kc - k);
          vstrwq_scatter_shifted_offset_p_f32(d + k * R, scatter, widen<Bf16>(vldrhq_z_u32(src + k, m)), m);
        }
      }
      for (std::size_t l = n; l < R; ++l)
        for (std::size_t k = 0; k < kc; ++k) dst[k * R + l] = 0.f;
    } else if (n == R && R % W == 0) {  // whole vectors: no predicates
      for (std::size_t k = 0; k < kc; ++k) {
        const std::uint16_t* src = p + k * ld + l0;
        for (std::size_t v = 0; v < NV; ++v) vstrwq_f32(dst + k * R + v * W, widen<Bf16>(vldrhq_u32(src + v * W)));
      }
    } else {  // lines past n load as zeros, lanes past R are not stored
      mve_pred16_t ld_m[NV], st_m[NV];
      for (std::size_t v = 0; v < NV; ++v) {
        ld_m[v] = lanes(n > v * W ? n - v * W : 0);
        st_m[v] = lanes(R - v * W);
      }
      for (std::size_t k = 0; k < kc; ++k) {
        const std::uint16_t* src = p + k * ld + l0;
        for (std::size_t v = 0; v < NV; ++v)
          vstrwq_p_f32(dst + k * R + v * W, widen<Bf16>(vldrhq_z_u32(src + v * W, ld_m[v])), st_m[v]);
      }
    }
  }
}

template <std::size_t R>
void widen_panels_of(qkv_dtype t, bool k_contiguous, std::size_t lines, std::size_t kc, const std::uint16_t* p,
                     std::size_t ld, float* dst) {
  if (t == QKV_DTYPE_BF16)
    widen_panels<R, true>(k_contiguous, lines, kc, p, ld, dst);
  else
    widen_panels<R, false>(k_contiguous, lines, kc, p, ld, dst);
}

void widen_pack_a_mve(qkv_dtype t, bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a,
                      std::size_t lda, float* dst) {
  widen_panels_of<kMR>(t, !trans, mc, kc, a, lda, dst);
}

void widen_pack_b_mve(qkv_dtype t, bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b,
                      std::size_t ldb, float* dst) {
  widen_panels_of<kNR>(t, trans, nc, kc, b, ldb, dst);
}

}  // namespace

const gemm_widen_kernels gemm_widen_mve = {kMR, kNR, widen_pack_a_mve, widen_pack_b_mve};

}  // namespace qkv::kern
