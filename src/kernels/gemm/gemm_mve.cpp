// SPDX-License-Identifier: MIT
// Helium (MVE) fp32 GEMM: the register tile (kernels/tile) on float32x4_t,
// 3 rows x 2 vectors (gemm_f32_3x8: 6 accumulators + 1 B vector of the 8 Q
// registers, A broadcast from core registers), every C element one fused
// multiply-add per k in order, then alpha*acc (+ beta*C fused). Edges and
// operands read in place go through the same tile with fewer rows and
// vctp-predicated columns, so no stack panels and the same bits as the full
// tile; the unpacked kernel (small problems, and bare metal without a
// workspace) is that tile too, with a transposed B gathered in place.
#include <cstdint>

#include "kernels/gemm/gemm_portable-inl.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = kMveMr, kNV = kMveNv, kNR = kNV * kMveW;

// gemm_f32_3x8: packed A panel (stride 3 per k), packed B panel (8 per k).
void gemm_f32_3x8_mve(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                      std::size_t ldc) {
  tile_fma<mve_f32, kMR, kNV>(kc, a, fixed<1>(), fixed<kMR>(), make_rows_b<mve_f32>(b, fixed<kNR>(), mve_io()),
                              zero_init<mve_f32>(), mve_axpby<mve_io>{c, ldc, alpha, beta, {}});
}

// An m x n corner (m <= 3, n <= 8) with A at run-time strides and B's rows
// from load_b; whole rows of 8 unpredicated, a narrower one predicated.
template <std::size_t M, class LoadB>
void corner_rows(std::size_t n, std::size_t kc, float alpha, const float* a, std::size_t a_rs, std::size_t a_cs,
                 const LoadB& load_b, float beta, float* c, std::size_t ldc) {
  if (n == kNR)
    tile_fma<mve_f32, M, kNV>(kc, a, a_rs, a_cs, load_b, zero_init<mve_f32>(),
                              mve_axpby<mve_io>{c, ldc, alpha, beta, {}});
  else
    tile_fma<mve_f32, M, kNV>(kc, a, a_rs, a_cs, load_b, zero_init<mve_f32>(),
                              mve_axpby<mve_masked_io<kNV>>{c, ldc, alpha, beta, mve_masked_io<kNV>(n)});
}

template <class LoadB>
void corner(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a, std::size_t a_rs,
            std::size_t a_cs, const LoadB& load_b, float beta, float* c, std::size_t ldc) {
  switch (m) {
    case 3: corner_rows<3>(n, kc, alpha, a, a_rs, a_cs, load_b, beta, c, ldc); break;
    case 2: corner_rows<2>(n, kc, alpha, a, a_rs, a_cs, load_b, beta, c, ldc); break;
    default: corner_rows<1>(n, kc, alpha, a, a_rs, a_cs, load_b, beta, c, ldc); break;
  }
}

// The gemm.hpp contract of ukernel_strided: B a packed panel (b_rs == 0,
// zero-padded: whole vectors) or op(B) rows in place (lanes past n masked).
void gemm_f32_3x8_strided_mve(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a,
                              std::size_t a_rs, std::size_t a_cs, const float* b, std::size_t b_rs, float beta,
                              float* c, std::size_t ldc) {
  if (b_rs == 0)
    corner(m, n, kc, alpha, a, a_rs, a_cs, make_rows_b<mve_f32>(b, fixed<kNR>(), mve_io()), beta, c, ldc);
  else if (n == kNR)
    corner(m, n, kc, alpha, a, a_rs, a_cs, make_rows_b<mve_f32>(b, b_rs, mve_io()), beta, c, ldc);
  else
    corner(m, n, kc, alpha, a, a_rs, a_cs, make_rows_b<mve_f32>(b, b_rs, mve_masked_io<kNV>(n)), beta, c, ldc);
}

// A whole 3 x 8 tile with op(A) rows and B's rows read in place (A not
// transposed, B not transposed): tile_fma's operations (acc = fma(a, b, acc)
// in k order from zero, then mve_axpby), so the same bits as every other
// path, with its k loop written out: GCC recomputes the second and third
// rows' A addresses every k (16 instructions a k); here 13 (three A loads,
// two register-offset, two B vectors from one pointer, 6 VFMA, LE).
void direct_rows_3x8(std::size_t kc, float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                     float beta, float* c, std::size_t ldc) {
  mve_f32 c00 = vdupq_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  if (kc) {
    const std::size_t lda4 = lda * sizeof(float), lda8 = 2 * lda4, ldb4 = ldb * sizeof(float);
    std::uint32_t a0, a1, a2;
    mve_f32 b0, b1;
    __asm__ volatile(
        "dls lr, %[k]\n\t"
        "1:\n\t"
        "ldr %[a1], [%[pa], %[lda4]]\n\t"
        "ldr %[a2], [%[pa], %[lda8]]\n\t"
        "ldr %[a0], [%[pa]], #4\n\t"
        "vldrw.u32 %q[b0], [%[pb]]\n\t"
        "vldrw.u32 %q[b1], [%[pb], #16]\n\t"
        "add %[pb], %[pb], %[ldb4]\n\t"
        "vfma.f32 %q[c00], %q[b0], %[a0]\n\t"
        "vfma.f32 %q[c01], %q[b1], %[a0]\n\t"
        "vfma.f32 %q[c10], %q[b0], %[a1]\n\t"
        "vfma.f32 %q[c11], %q[b1], %[a1]\n\t"
        "vfma.f32 %q[c20], %q[b0], %[a2]\n\t"
        "vfma.f32 %q[c21], %q[b1], %[a2]\n\t"
        "le lr, 1b"
        : [c00] "+w"(c00), [c01] "+w"(c01), [c10] "+w"(c10), [c11] "+w"(c11), [c20] "+w"(c20), [c21] "+w"(c21),
          [b0] "=&w"(b0), [b1] "=&w"(b1), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [pa] "+r"(a), [pb] "+r"(b)
        : [k] "r"(kc), [lda4] "r"(lda4), [lda8] "r"(lda8), [ldb4] "r"(ldb4)
        : "lr", "memory");
  }
  const mve_axpby<mve_io> finish{c, ldc, alpha, beta, {}};
  finish(0, 0, c00), finish(0, 1, c01), finish(1, 0, c10), finish(1, 1, c11), finish(2, 0, c20), finish(2, 1, c21);
}

// Unpacked C = alpha*op(A)*op(B) + beta*C: 3 x 8 tiles over op(A) and op(B)
// in place (B's rows, or B^T's columns gathered), edges predicated.
// A gathered B^T takes a register for its offsets: 2 x 8 tiles there (4
// accumulators), the same operations per element as 3 x 8.
void direct_mve(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  const std::size_t mr = tb ? 2 : kMR;
  for (std::size_t j = 0; j < N; j += kNR) {
    const std::size_t n = N - j < kNR ? N - j : kNR;
    for (std::size_t i = 0; i < M; i += mr) {
      const std::size_t m = M - i < mr ? M - i : mr;
      const float* ai = A + i * a_rs;
      float* cij = C + i * ldc + j;
      if (tb && n == kNR)
        corner(m, n, K, alpha, ai, a_rs, a_cs, mve_gather_b<kNV, false>(B + j * ldb, ldb, n), beta, cij, ldc);
      else if (tb)
        corner(m, n, K, alpha, ai, a_rs, a_cs, mve_gather_b<kNV, true>(B + j * ldb, ldb, n), beta, cij, ldc);
      else if (!ta && m == kMR && n == kNR)
        direct_rows_3x8(K, alpha, ai, lda, B + j, ldb, beta, cij, ldc);
      else
        gemm_f32_3x8_strided_mve(m, n, K, alpha, ai, a_rs, a_cs, B + j, ldb, beta, cij, ldc);
    }
  }
}

// Cache blocks as the scalar set's (a bare-metal caller sizes its workspace
// from them; mc a multiple of 3): no larger than that set's.
constexpr std::size_t kMC = 30, kKC = 128, kNC = 128;
#ifdef QKV_HOSTED
constexpr std::size_t kKcMax = kGemmKcLimit;
#else
constexpr std::size_t kKcMax = kKC;
#endif
static_assert(kMC % kMR == 0 && kNC % kNR == 0, "blocks must hold whole tiles");
static_assert(kKcMax * kNR <= kGemmStackBFloats, "a B panel exceeds the stack B block");

}  // namespace

const gemm_kernels gemm_mve = {
    "gemm_f32_3x8", kMR, kNR, kMC, kKC, kNC, kKcMax, 4 * kNR, 0, gemm_f32_3x8_mve, gemm_f32_3x8_strided_mve,
    pack_a_ref<kMR>, pack_b_ref<kNR>, direct_mve, nullptr};

}  // namespace qkv::kern
