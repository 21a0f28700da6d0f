// SPDX-License-Identifier: MIT
// Helium (MVE) kernels of the attention backward (attn_bwd.hpp): the GEMM
// on the register tile (kernels/tile) as 3 rows x 2 vectors on float32x4_t,
// the forward's own recomputation rules (fused multiply-adds in order of p,
// as attn_mve.cpp's scores), and the softmax gradient with the forward's
// vector exp (exp_nonpos_mve), columns past valid[r] zeroed by a vctp
// predicate. The transposes and scaled row copies move or scale single
// elements: the scalar set's, slot by slot.
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/softmax/exp_mve-inl.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kNr = kMveNv * kMveW;  // 8 columns per tile
static_assert(kAttnBwdPad % kNr == 0, "n is whole tiles");

template <std::size_t MR>
inline void gemm_tile(std::size_t k, const float* a, std::size_t ar, std::size_t ac, const float* b, std::size_t ldb,
                      float* c, std::size_t ldc, int acc) {
  tile_fma<mve_f32, MR, kMveNv>(k, a, ar, ac, make_rows_b<mve_f32>(b, ldb, mve_io()),
                                c_init<mve_f32, mve_io, std::size_t>{c, ldc, acc != 0, {}},
                                c_store<mve_f32, mve_io, std::size_t>{c, ldc, {}});
}

void attn_gemm_f32_mve(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t ar, std::size_t ac,
                       const float* b, std::size_t ldb, float* c, std::size_t ldc, int acc) {
  for (std::size_t j = 0; j < n; j += kNr) {
    std::size_t r = 0;
    for (; r + kMveMr <= m; r += kMveMr)
      gemm_tile<kMveMr>(k, a + r * ar, ar, ac, b + j, ldb, c + r * ldc + j, ldc, acc);
    if (m - r == 2) gemm_tile<2>(k, a + r * ar, ar, ac, b + j, ldb, c + r * ldc + j, ldc, acc);
    if (m - r == 1) gemm_tile<1>(k, a + r * ar, ar, ac, b + j, ldb, c + r * ldc + j, ldc, acc);
  }
}

// cols % 16 == 0: every vector lies inside the row; lanes at or past
// valid[r] are computed and then replaced by 0 (VPSEL).
void attn_softmax_grad_f32_mve(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse,
                               const float* D, const float* drop, float* s, float* dp, std::size_t ld) {
  const mve_f32 zero = vdupq_n_f32(0.0f);
  for (std::size_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float* dr = dp + r * ld;
    const float* mr = drop ? drop + r * ld : nullptr;
    const std::size_t nv = valid[r];
    for (std::size_t c = 0; c < cols; c += kMveW) {
      if (c >= nv) {
        vstrwq_f32(sr + c, zero);
        vstrwq_f32(dr + c, zero);
        continue;
      }
      const mve_pred16_t keep = vctp32q(static_cast<uint32_t>(nv - c));
      const mve_f32 p = exp_nonpos_mve(vsubq_n_f32(vldrwq_f32(sr + c), lse[r]));  // as the forward's s - m
      mve_f32 g = vldrwq_f32(dr + c);
      mve_f32 pd = p;
      if (mr) {
        const mve_f32 mk = vldrwq_f32(mr + c);
        pd = vmulq_f32(p, mk);
        g = vmulq_f32(g, mk);
      }
      const mve_f32 ds = vmulq_f32(p, vsubq_n_f32(g, D[r]));
      vstrwq_f32(sr + c, vpselq_f32(pd, zero, keep));
      vstrwq_f32(dr + c, vpselq_f32(ds, zero, keep));
    }
  }
}

void attn_transpose_f32_mve(std::size_t rows, std::size_t cols, const float* src, std::size_t ld, float* dst,
                            std::size_t ld_dst) {
  attn_bwd_scalar.transpose(rows, cols, src, ld, dst, ld_dst);
}

void attn_scale_rows_f32_mve(std::size_t rows, std::size_t cols, std::size_t cols_pad, float scale, const float* src,
                             std::size_t ld, float* dst, std::size_t ld_dst) {
  attn_bwd_scalar.scale_rows(rows, cols, cols_pad, scale, src, ld, dst, ld_dst);
}

}  // namespace

const attn_bwd_kernels attn_bwd_mve = {attn_gemm_f32_mve, attn_softmax_grad_f32_mve, attn_transpose_f32_mve,
                                       attn_scale_rows_f32_mve, nullptr};

}  // namespace qkv::kern
