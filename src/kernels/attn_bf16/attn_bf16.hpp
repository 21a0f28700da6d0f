// SPDX-License-Identifier: MIT
// attn_bf16 - tile kernels of the fused attention forward on bf16 inputs
// with bf16 dot products (fp32 sums), for the ISAs that have them. The
// driver (ops/sdpa_forward_lowp.cpp) walks the same tiles as the fp32 one
// (kernels/attn/attn.hpp) and uses that set's online softmax on the fp32
// score tile; these kernels replace its two products:
//   qp [ceil(d/2)][br]   Q^T of the tile as pairs of features: dword
//                        (q[r][2i], q[r][2i+1]) in bf16, the low half first
//                        (zero-padded queries; an odd d pairs with 0)
//   st [kb][br]          fp32 scores, then P = exp(S - m) (the softmax)
//   pp [ceil(kb/2)][br]  P as pairs of keys (bf16(P[2i][r]), bf16(P[2i+1][r]))
//   vp [ceil(kb/2)][dv]  V as pairs of keys (V[2i][f], V[2i+1][f])
//   ot [dv][br]          the unnormalized output O^T, fp32
// A pair's two products are added to the fp32 sum as the instruction does
// (vdpbf16ps: inputs and results below 2^-126 may be flushed to zero). P is
// rounded to bf16 (nearest even) before it meets V, as FlashAttention's
// bf16 kernels do; the fp32 running sum l is taken before that rounding.
// No allocation, no threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/runtime.h"

namespace qkv::kern {

struct attn_bf16_kernels {
  std::size_t br;  // queries per tile: the same as the ISA's fp32 attn set
  // st[j][:] = scale * sum_f k[j*ldk + f] * q[f][:] for j < kb; k holds bf16 rows.
  void (*scores)(std::size_t kb, std::size_t d, const std::uint32_t* qp, const std::uint16_t* k, std::size_t ldk,
                 float scale, float* st);
  // The fp32 set's online softmax step over st (attn_kernels::softmax: the
  // same m, l and alpha, bit for bit), its P written as pp only.
  void (*softmax_pairs)(std::size_t kb, const float* st, float* m, float* l, float* alpha, std::uint32_t* pp);
  // pp from st[kb][br] (an odd kb pairs its last key with 0).
  void (*pack_p)(std::size_t kb, const float* st, std::uint32_t* pp);
  // vp from kb bf16 rows of V, ldv apart (an odd kb pairs its last key with 0).
  void (*pack_v)(std::size_t kb, std::size_t dv, const std::uint16_t* v, std::size_t ldv, std::uint32_t* vp);
  // ot[f][:] = alpha[:] * ot[f][:] + sum over key pairs of vp[i][f] . pp[i][:], for f < dv.
  void (*accumulate)(std::size_t kb, std::size_t dv, const std::uint32_t* pp, const std::uint32_t* vp,
                     const float* alpha, float* ot);

  // The products of the backward's bf16 mode (ops/sdpa_backward_fused.cpp)
  // and the packing of fp32 operands into bf16 pairs, rounded to nearest
  // even by the instruction (vcvtneps2bf16: every pack of a value gives the
  // same bits, so the forward and the backward see the same operands).
  //
  // dst[p * ld_dst + r] = (bf16(x[r][2p]), bf16(x[r][2p+1])) for r < rows,
  // p < ceil(cols / 2) (an odd cols pairs its last feature with 0); rows
  // [rows, rows_pad) of dst are 0. x rows ldx floats apart.
  void (*pair_cols)(std::size_t rows, std::size_t rows_pad, std::size_t cols, const float* x, std::size_t ldx,
                    std::uint32_t* dst, std::size_t ld_dst);
  // dst[r * ld_dst + f] = bf16(x[r * ldx + f]) for r < rows, f < cols, and
  // 0 for cols <= f < ld_dst: rows of pairs along x's rows (the forward's K
  // rows for scores; the backward's Q, dO and dS as gemm_pairs' A).
  void (*round_rows)(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, std::uint16_t* dst,
                     std::size_t ld_dst);
  // dst[p * ld_dst + c] = (bf16(x[2p][c]), bf16(x[2p+1][c])) for
  // p < ceil(rows / 2) (an odd rows pairs its last row with 0), c < cols;
  // columns [cols, cols_pad) are 0.
  void (*pair_rows)(std::size_t rows, std::size_t cols, std::size_t cols_pad, const float* x, std::size_t ldx,
                    std::uint32_t* dst, std::size_t ld_dst);
  // C[m x n] = acc ? C + S : alpha * S, S[r][c] = sum over p < k2, in order,
  // of the pair products a[r * ar + p * ac] . b[p * ldb + c] (vdpbf16ps,
  // from 0 or from C); n % 16 == 0, m, k2 >= 1; alpha is 1 when acc.
  void (*gemm_pairs)(std::size_t m, std::size_t n, std::size_t k2, const std::uint32_t* a, std::size_t ar,
                     std::size_t ac, const std::uint32_t* b, std::size_t ldb, float alpha, float* c, std::size_t ldc,
                     int acc);
};

// The set of `isa`, or nullptr where it has no bf16 dot products (the
// driver then widens the inputs to fp32).
const attn_bf16_kernels* attn_bf16_for(qkv_isa isa) noexcept;

}  // namespace qkv::kern
