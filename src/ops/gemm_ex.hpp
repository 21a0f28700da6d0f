// SPDX-License-Identifier: MIT
// ops/gemm_ex - mixed-precision GEMM driver behind qkv_gemm_ex (qkv/gemm_ex.h
// states the semantics). Arguments are trusted: the C boundary has checked
// types, shapes, strides and extents.
//
// Three compute kinds, chosen from the types and the ISA alone:
//  - s8:   both operands int8: kern::gemm_s8 tiles, exact int32 sums;
//  - bf16: both bf16 and the ISA has bf16 dot products (gemm_bf16.mr != 0);
//  - f32:  everything else: operands widened to fp32 while packed
//          (ops/gemm_ex_pack.hpp), then the fp32 tiles of kernels/gemm.
// BLIS loops as ops/gemm.cpp (jc over nc, pc over kc, ic over mc; B block
// packed by the team together, A blocks by each member), K split into
// near-equal blocks of at most the kind's kc. Where the sum lives across K
// blocks (accumulator modes, gemm_ex.cpp) and its epilogue
// C = alpha*sa(i)*sb(j)*acc + beta*C depend on the types, beta and the
// shape only, and every C tile is computed by one member per K block in the
// same operations: results are bitwise identical for any thread count and
// executor.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// The stack tile every edge tile, or a sum of K in one block, goes through
// (elements): mr*nr of every kernel table fits (tests/test_gemm_ex.cpp
// checks them). Bare-metal stacks are small, and their scalar tiles too.
// (Bare metal runs the scalar tables only.)
constexpr std::size_t kGemmExTileMaxHosted = 2048, kGemmExTileMaxBare = 256;
#ifdef QKV_HOSTED
constexpr std::size_t kGemmExTileMax = kGemmExTileMaxHosted;
#else
constexpr std::size_t kGemmExTileMax = kGemmExTileMaxBare;
#endif

struct gemm_ex_args {
  bool ta, tb;
  std::size_t M, N, K;
  qkv_dtype at, bt, ct;
  const void* A;
  std::size_t lda;
  const void* B;
  std::size_t ldb;
  void* C;
  std::size_t ldc;
  float alpha, beta;
  const float *sa, *sb;  // int8 scales (nullptr: 1)
  // Hosted builds, fp32 C and beta 1 only (ops callers; not in the C API):
  // C's rows start as this row of N floats: the same bits as writing it
  // into every row first (ops/rows.hpp broadcast_rows), but each C tile is
  // set just before its first use, in cache, instead of in a pass over C.
  // nullptr: none (bare metal: always nullptr; its callers broadcast).
  const float* bias;
};

// What a call runs (for the report line; defined in hosted builds, the
// only ones that report): kind "f32", "bf16", "s8" or
// "none" (nothing to multiply), the micro-kernel's name and the blocks.
struct gemm_ex_info {
  const char* kind;
  const char* kernel;
  std::size_t mc, kc, nc;
};
gemm_ex_info describe_gemm_ex(qkv_isa isa, const gemm_ex_args& p) noexcept;

// Workspace bytes gemm_ex needs on `isa` for `threads` (>= 1) threads, 64
// bytes of alignment slack included; 0 when nothing is multiplied (an
// empty C, K == 0 or alpha == 0). False when the size overflows.
bool gemm_ex_workspace_bytes(qkv_isa isa, const gemm_ex_args& p, int threads, std::size_t* bytes) noexcept;

// The product. ws holds at least gemm_ex_workspace_bytes(x.isa, p, 1)
// bytes (any alignment); more runs more threads, up to x.threads.
void gemm_ex(const exec& x, const gemm_ex_args& p, void* ws, std::size_t ws_bytes);

}  // namespace qkv::ops
