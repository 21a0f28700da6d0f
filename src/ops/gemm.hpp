// SPDX-License-Identifier: MIT
// ops/gemm - fp32 GEMM driver: C = alpha*op(A)*op(B) + beta*C, row-major.
// Arguments are trusted (validated by the C boundary or by the calling op):
// leading dimensions cover the rows, pointers are valid for the extents, C
// does not overlap A or B.
//
// Algorithm (BLIS): jc over NC columns -> pc over KC -> pack B block (shared,
// threads pack disjoint panels; a small non-transposed B is read in place
// where the ISA allows) -> ic over MC rows -> pack A block (per thread,
// unless the ISA reads A in place) -> ir over MR -> jr over NR ->
// micro-kernel. Threads split M tiles (or N panels when M has fewer tiles
// than threads), never K, and every C element is computed by the same
// operations whatever the split: results are bitwise identical for any
// thread count. Problems with M*N*K <= 4096 use the unpacked kernel (no
// packing, no OpenMP region).
//
// Memory: nothing is allocated, and nothing is kept between calls. The packed
// blocks live in the caller's workspace (ws, ws_bytes). With ws == nullptr,
// hosted builds read op(A) in place and pack B into a 64 KiB stack array
// (kern::kGemmStackBFloats) on the calling thread; bare metal runs the
// unpacked kernel. Both give the workspace path's bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/exec.hpp"

namespace qkv::ops {

// Bytes of workspace sgemm() needs to run with up to `threads` threads
// (threads >= 1) on `isa`; 0 when nothing is packed (small
// problems; on AVX-512 also a small non-transposed B). Includes 64 bytes of
// slack, so any workspace pointer works.
std::size_t sgemm_workspace_bytes(qkv_isa isa, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K,
                                  int threads);

// ws == nullptr: the stack-block path above (hosted) or the unpacked kernel
// (bare metal). With ws, at most as many threads run as the workspace has
// room for; a workspace too small for one thread falls back to the unpacked
// kernel.
void sgemm(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
           std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc, void* ws,
           std::size_t ws_bytes);

// Everything but the tiny-call path (ops/gemm_tiny.hpp): empty and K == 0
// calls, the packed BLIS path, and with `bias` sgemm_bias's semantics (then
// alpha and beta are 1).
void sgemm_general(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                   const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                   std::size_t ldc, void* ws, std::size_t ws_bytes, const float* bias = nullptr);

// C = op(A)*op(B) + bias (a row of N floats added to every row of C), with
// the same bits as writing bias into every row and calling sgemm() with
// alpha = beta = 1, without a separate pass over C.
void sgemm_bias(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                std::size_t lda, const float* B, std::size_t ldb, const float* bias, float* C, std::size_t ldc,
                void* ws, std::size_t ws_bytes);

// Is (M, N, K) handled by the unpacked small-matrix kernel? In integers (no
// size_t -> float conversions on the tiny-call path): each factor below 2^12
// keeps the 64-bit product exact.
inline bool sgemm_is_small(std::size_t M, std::size_t N, std::size_t K) {
  if ((M | N | K) >= (std::size_t{1} << 12)) return false;
  // Up to 16^3 multiply-adds the unpacked kernel beats packing (AVX-512:
  // packing two 16x16 blocks costs about what the product does).
  return std::uint64_t{M} * N * K <= 4096;
}

}  // namespace qkv::ops
