// SPDX-License-Identifier: MIT
// attn_bf16_amx - Intel AMX tiles for the two products of the fused
// attention forward on bf16 tensors (ops/sdpa_forward_lowp.cpp), beside the
// avx512_bf16 set's online softmax and P packing (attn_bf16.hpp, whose qp,
// st, pp and ot layouts these share; br = 64 queries per tile). Built where
// QKV_HAVE_AMX (the *_amx.cpp rule); run only where dispatch::amx() allows,
// between amx_tiles_begin() and amx_tiles_end() (gemm_lowp_amx.hpp: the same
// configuration, eight 16 x 64-byte tiles).
//
// Both products run transposed, so their results land in the layouts the
// softmax reads and writes (keys or features in rows, the 64 queries along
// them): S^T = K Q^T with K's rows read in place as A tiles and qp as B
// tiles; O^T += V^T P^T with V^T (packed once per call by transpose_v) as A
// tiles and pp as B tiles. Each is a 32 x 32 block of four C tiles over k
// steps of 32 (features, or keys); a partial last step goes through
// zero-padded copies on the stack, so nothing past kb is read.
//
// Numerics: tdpbf16ps adds each pair's two products to the fp32 sum in k
// order, inputs and results below 2^-126 flushed to zero, round to nearest
// even: the vdpbf16ps set's bound (attn_bf16.hpp). P is the set's bf16 P.
// No allocation, no threads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::kern {

constexpr std::size_t kAmxAttnBr = 64;  // queries per tile: the avx512 attn set's br

struct attn_amx_kernels {
  // st[j][:] = scale * sum_f k[j*ldk + f] * q[f][:] for j < kb; d % 32 == 0;
  // qp [d/2][64] pairs (attn_bf16.hpp). Rows of k past kb are not read, rows
  // of st past kb not written.
  void (*scores)(std::size_t kb, std::size_t d, const std::uint32_t* qp, const std::uint16_t* k, std::size_t ldk,
                 float scale, float* st);
  // vt[f*ldvt + j] = v[j*ldv + f] for f < dv, j < kb; 0 for kb <= j <
  // round_up(kb, 32) (ldvt >= that). dv % 16 == 0.
  void (*transpose_v)(std::size_t kb, std::size_t dv, const std::uint16_t* v, std::size_t ldv, std::uint16_t* vt,
                      std::size_t ldvt);
  // ot[f][:] = alpha[:] * ot[f][:] + sum over j < kb of vt[f*ldvt + j] *
  // P[j][:], P the bf16 key pairs pp [ceil(kb/2)][64] (an odd kb's last pair
  // has a zero high half); dv % 32 == 0. vt columns past kb are not read.
  void (*accumulate)(std::size_t kb, std::size_t dv, const std::uint32_t* pp, const std::uint16_t* vt,
                     std::size_t ldvt, const float* alpha, float* ot);
  // qp[i][r] = the bf16 pair (q[r][2i], q[r][2i+1]) for r < rows <= 64, 0
  // for rows <= r < 64, i < d/2; q rows ldq elements apart, d % 32 == 0.
  void (*pack_q)(std::size_t rows, std::size_t d, const std::uint16_t* q, std::size_t ldq, std::uint32_t* qp);
  // o[r*ldo + f] = bf16(ot[f][r] * inv[r]) for r < rows <= 64, f < dv
  // (dv % 16 == 0), rounded to nearest even as util::f32_to_bf16 (NaN kept
  // quiet, subnormals kept).
  void (*store_o)(std::size_t rows, std::size_t dv, const float* ot, const float* inv, std::uint16_t* o,
                  std::size_t ldo);
  // The backward's recomputation of the scores, queries in rows:
  // s[r*lds + j] = scale * sum_f q[r][f] k[j][f] for r < rows <= 64 and
  // j < round_up(n, 16) (n <= 64; keys past n give 0), each element the
  // same tile products in the same order as scores' (so the same bits: a
  // product of two bf16 is exact, whichever operand is A). qh: bf16 rows
  // [round_up(rows, 32)][d] (d % 32 == 0), rows past `rows` zero; kc: K
  // paired along features [d/2][ldkc] dwords (ldkc >= round_up(n, 32),
  // zero columns past n).
  void (*scores_rows)(std::size_t rows, std::size_t n, std::size_t d, const std::uint16_t* qh,
                      const std::uint32_t* kc, std::size_t ldkc, float scale, float* s, std::size_t lds);
};

#ifdef QKV_HAVE_AMX
extern const attn_amx_kernels attn_bf16_amx;
#endif

}  // namespace qkv::kern
