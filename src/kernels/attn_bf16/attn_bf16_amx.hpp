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
// The backward of such a forward runs the fused backward's bf16 mode with
// attn_bf16_amx_set(): the avx512_bf16 set whose gemm_pairs runs on the same
// tiles, summing each element's pairs in the same steps, so the scores it
// recomputes are the forward's bits (a one-hot weight stays exactly 1).
//
// Numerics: tdpbf16ps adds each pair's two products to the fp32 sum in k
// order, inputs and results below 2^-126 flushed to zero, round to nearest
// even: the vdpbf16ps set's bound (attn_bf16.hpp). P is the set's bf16 P.
// No allocation, no threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/attn_bf16/attn_bf16.hpp"

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
};

#ifdef QKV_HAVE_AMX
extern const attn_amx_kernels attn_bf16_amx;

// The avx512_bf16 attn_bf16 set (attn_bf16.hpp) with gemm_pairs on AMX tiles
// (the same contract; each sum over pairs in steps of 16 from zero, the
// forward's scores' order, so the fused backward's bf16 mode recomputes an
// AMX forward's scores bit for bit). Its gemm_pairs runs only between
// amx_tiles_begin() and amx_tiles_end(); nullptr where the avx512_bf16 set
// is not built.
const attn_bf16_kernels* attn_bf16_amx_set() noexcept;
#endif

}  // namespace qkv::kern
