// SPDX-License-Identifier: MIT
// The reduced-precision tables of neon64_bf16 (AArch64 Advanced SIMD + the
// dot product + BF16 + I8MM, Armv8.6-A's set), compiled with its flags only
// (the *_neon64_bf16.cpp rule in src/CMakeLists.txt); every other module
// maps neon64_bf16 to its neon64 table.
//   gemm_bf16_8x12: BFDOT by element on the tile of gemm_lowp_neon64-inl.hpp
//   (a bf16 pair per lane, kg 2; 24 fp32 accumulators). Without FEAT_EBF16
//   or with FPCR.EBF 0 (Linux starts processes with FPCR 0), BFDOT computes
//   each pair's products, sums them, then adds the sum to the accumulator,
//   both additions rounded to odd, with bf16 inputs and fp32 results below
//   2^-126 flushed to zero and the default NaN (Arm ARM, BFDotAdd). bf16
//   products are exact in fp32, so per pair of k an element takes at most two
//   roundings of relative error 2^-23 (round to odd: < 1 ulp), the first
//   pair's accumulation into a zero tile none: at most ceil(K/2) + 1
//   roundings over K, within gemm_ex.h's K * 2^-23 (test_gemm_lowp_kernels
//   states the count). With FPCR.EBF 1 the pair is fused and rounded to
//   nearest: one rounding per pair, inside the same bound.
//   gemm_s8_8x8_mmla: SMMLA, a 2x8 by 8x2 int8 block per instruction into a
//   2x2 int32 block: k grouped by 8 (kg 8; the portable packers' layout,
//   so a 16-byte load of A holds rows 2r and 2r+1, of B columns 2q and
//   2q+1); 16 accumulators of 2x2 = the 8x8 tile. Signed x signed, exact
//   modulo 2^32.
#include "kernels/gemm_lowp/gemm_lowp_neon64-inl.hpp"

#if !defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC) || !defined(__ARM_FEATURE_MATMUL_INT8)
#error "gemm_lowp_neon64_bf16.cpp needs +bf16 and +i8mm"
#endif

namespace qkv::kern {
namespace {

// ---- bf16 x bf16 -> fp32 (BFDOT) ------------------------------------------

constexpr std::size_t kBfMR = 8, kBfNR = 12;

struct bfdot_step {
  using vec = float32x4_t;
  using value = float;
  static vec zero() { return vdupq_n_f32(0.f); }
  static vec load(const value* p) { return vld1q_f32(p); }
  static void store(value* p, vec v) { vst1q_f32(p, v); }
  template <int L>
  static vec step(vec c, uint8x16_t b, uint8x16_t a) {
    return vbfdotq_laneq_f32(c, vreinterpretq_bf16_u8(b), vreinterpretq_bf16_u8(a), L);
  }
};

// Panels of R rows (A) or columns (B), a pair of k per 32-bit lane: R *
// round_up(kc, 2) codes each, as the driver sizes them.
template <std::size_t R>
void bf16_pack(std::size_t n, std::size_t kc, const std::uint16_t* src, std::size_t rs, std::size_t ks,
               std::uint16_t* dst) {
  lowp_pack_panels<std::uint16_t, R, 2>(n, kc, src, rs, ks, dst, R * lowp_round_up(kc, 2));
}

void bf16_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a, std::size_t lda,
                 std::uint16_t* dst) {
  bf16_pack<kBfMR>(mc, kc, a, trans ? 1 : lda, trans ? lda : 1, dst);
}

void bf16_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst) {
  bf16_pack<kBfNR>(nc, kc, b, trans ? ldb : 1, trans ? 1 : ldb, dst);
}

void bf16_ukernel(std::size_t kc, const std::uint16_t* a, const std::uint16_t* b, float* acc, std::size_t ldacc,
                  bool load) {
  dot_tile<bfdot_step, kBfMR, kBfNR>((kc + 1) / 2, reinterpret_cast<const unsigned char*>(a),
                                     reinterpret_cast<const unsigned char*>(b), acc, ldacc, load);
}

// ---- int8 x int8 -> int32 (SMMLA) -----------------------------------------

constexpr std::size_t kMmMR = 8, kMmNR = 8, kMmKg = 8;

// c[r][q] holds rows 2r, 2r+1 x columns 2q, 2q+1 as (2r,2q) (2r,2q+1)
// (2r+1,2q) (2r+1,2q+1): SMMLA's 2x2 result, row-major.
void s8_mmla_ukernel(std::size_t kc, const void* a_, const void* b_, std::int32_t* acc, std::size_t ldacc,
                     bool load) {
  constexpr std::size_t RP = kMmMR / 2, CP = kMmNR / 2;
  const auto* a = static_cast<const std::int8_t*>(a_);
  const auto* b = static_cast<const std::int8_t*>(b_);
  int32x4_t c[RP][CP];
  neon_unroll(
      [&](auto r) {
        neon_unroll(
            [&](auto q) {
              c[r][q] = load ? vcombine_s32(vld1_s32(acc + 2 * r * ldacc + 2 * q),
                                            vld1_s32(acc + (2 * r + 1) * ldacc + 2 * q))
                             : vdupq_n_s32(0);
            },
            std::make_index_sequence<CP>{});
      },
      std::make_index_sequence<RP>{});
  const std::size_t groups = (kc + kMmKg - 1) / kMmKg;
  for (std::size_t g = 0; g < groups; ++g, a += kMmMR * kMmKg, b += kMmNR * kMmKg) {
    int8x16_t bv[CP];
    neon_unroll([&](auto q) { bv[q] = vld1q_s8(b + 16 * q); }, std::make_index_sequence<CP>{});
    neon_unroll(
        [&](auto r) {
          const int8x16_t av = vld1q_s8(a + 16 * r);
          neon_unroll([&](auto q) { c[r][q] = vmmlaq_s32(c[r][q], av, bv[q]); }, std::make_index_sequence<CP>{});
        },
        std::make_index_sequence<RP>{});
  }
  neon_unroll(
      [&](auto r) {
        neon_unroll(
            [&](auto q) {
              vst1_s32(acc + 2 * r * ldacc + 2 * q, vget_low_s32(c[r][q]));
              vst1_s32(acc + (2 * r + 1) * ldacc + 2 * q, vget_high_s32(c[r][q]));
            },
            std::make_index_sequence<CP>{});
      },
      std::make_index_sequence<RP>{});
}

}  // namespace

const gemm_bf16_kernels gemm_bf16_neon64_bf16 = {"gemm_bf16_8x12", kBfMR, kBfNR, bf16_pack_a, bf16_pack_b,
                                                 bf16_ukernel};
const gemm_s8_kernels gemm_s8_neon64_bf16 = {"gemm_s8_8x8_mmla",
                                             kMmMR,
                                             kMmNR,
                                             kMmKg,
                                             s8_plain_panel_bytes<kMmMR, kMmKg>,
                                             s8_plain_panel_bytes<kMmNR, kMmKg>,
                                             s8_plain_pack_a<kMmMR, kMmKg>,
                                             s8_plain_pack_b<kMmNR, kMmKg>,
                                             s8_mmla_ukernel};

}  // namespace qkv::kern
