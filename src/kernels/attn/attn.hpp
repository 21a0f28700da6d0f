// SPDX-License-Identifier: MIT
// attn - the tile kernels of the fused (FlashAttention-2 style) attention
// forward. The driver (ops/sdpa_forward_lowp.cpp: sdpa_fused_forward, for
// fp32 as for bf16/fp16) walks a tile of `br` queries over tiles of keys;
// these kernels do the arithmetic of one step.
//
// Layouts are query-minor ("transposed"): each row holds `br` queries, so
// the softmax across keys and the rescale of the accumulator are plain
// lane-wise vector operations (no horizontal reductions), and K and V are
// read in place (one broadcast per element) with no packing:
//   qt [d][br]    scale * Q^T of the tile (zero-padded queries)
//   st [kb][br]   S^T = K_tile Q_tile^T, then P^T = exp(S^T - m) in place
//   ot [dv][br]   the unnormalized output O^T
//   m, l, alpha [br]   running max, running sum, last rescale factor
// Rows of these buffers are `br` floats; the buffers need no alignment.
// No allocation, no threads.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// The largest `br` of any kernel set: workspace sizes use it, so a query does
// not depend on the ISA chosen later.
constexpr std::size_t kAttnMaxBr = 64;

struct attn_kernels {
  std::size_t br;  // queries per tile, a multiple of the vector width, <= kAttnMaxBr
  // st[j][:] = sum_f k[j*ldk + f] * qt[f][:], for j < kb.
  void (*scores)(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st);
  // Online softmax step over st[kb][br] (-INFINITY = masked): new max
  // m' = max(m, max_j st), alpha = exp(m - m'), st = exp(st - m'),
  // l = alpha*l + sum_j st. A lane with m' = -INFINITY uses 0 for m' in the
  // exponents (so it gets alpha = 0, st = 0 and never NaN).
  void (*softmax)(std::size_t kb, float* st, float* m, float* l, float* alpha);
  // ot[f][:] = alpha[:] * ot[f][:] + sum_j v[j*ldv + f] * pt[j][:], for f < dv,
  // the keys taken key_chunk (>= 1) at a time so that a chunk's V rows stay in
  // L1 across the feature blocks (ops/attn_blocking.hpp sizes it). Each
  // element's multiply-adds run in key order whatever the chunk: the bits
  // never depend on it.
  void (*accumulate)(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                     const float* alpha, float* ot, std::size_t key_chunk);
  // Logit soft-capping of n scores in place (ops/sdpa_fused_step: the shared
  // score step, and the backward): x = s[i] * fl(1 / cap),
  //   s[i] <- cap * tanh(x),   dtanh[i] <- 1 - tanh^2(x) when dtanh is not null.
  // cap finite and > 0; tanh from this ISA's exp (softcap_math.hpp: within 3
  // ulp, its derivative within 4). An element's bits do not depend on n or
  // on where it sits (a vector tail runs the same code on a padded copy).
  void (*softcap)(std::size_t n, float cap, float* s, float* dtanh);

  // The decode path (ops/sdpa_decode.cpp: a few query rows per K/V head, the
  // keys in the lanes). Row-major, K and V read in place (rows ldk / ldv
  // apart), no alignment needed:
  //   s[r*lds + j] = sum_f q[r*d + f] * k[j*ldk + f]     r < rows, j < kb,
  // each summed over f in order from 0 with one multiply-add per feature (the
  // scores kernel's operations: in the SIMD sets the same bits as `scores`
  // gives S^T; the scalar set's a*b + c is the compiler's to contract);
  //   o[r*dv + f] = alpha[r] * o[r*dv + f] + sum_j p[r*ldp + j] * v[j*ldv + f]
  // for r < rows, f < dv, one multiply-add per key in key order (as
  // `accumulate`). rows, kb, d, dv >= 1. Null in bare-metal scalar tables
  // (no decode path there).
  void (*decode_scores)(std::size_t rows, std::size_t kb, std::size_t d, const float* q, const float* k,
                        std::size_t ldk, float* s, std::size_t lds);
  void (*decode_accumulate)(std::size_t rows, std::size_t kb, std::size_t dv, const float* p, std::size_t ldp,
                            const float* v, std::size_t ldv, const float* alpha, float* o);

  // `scores` and `accumulate` where the tile's query vector u (`lanes`
  // queries each) takes only the keys [0, ends[u]) of the kb (ends
  // nondecreasing, at most kb; alpha may be null: no rescale). The scores
  // of other (query, key) pairs are left as they were (st's lanes there
  // hold anything: the caller masks them to -INFINITY), and their weights
  // must be 0, so each element gets the operations the whole-tile kernels
  // give it and the same bits. For the causal diagonal of the fused forward
  // (ops/sdpa_forward_lowp.cpp). lanes 0 and both null in the scalar and
  // Helium sets (whole tiles there).
  std::size_t lanes;
  void (*scores_stairs)(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st,
                        const std::size_t* ends);
  void (*accumulate_stairs)(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                            const float* alpha, float* ot, std::size_t key_chunk, const std::size_t* ends);
};

QKV_DECLARE_KERNEL_TABLES_MVE(attn_kernels, attn)

}  // namespace qkv::kern
