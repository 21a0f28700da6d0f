// SPDX-License-Identifier: MIT
// gemm - the per-ISA pieces of fp32 GEMM (BLIS split): a register-blocked
// MR x NR micro-kernel, the two packing routines that feed it, and an
// unpacked kernel for small problems. Blocking, threading and buffers are
// written once in ops/gemm.cpp. Other kernels (fused attention) may call the
// micro-kernel and packers directly on their own packed panels.
//
// Packed layouts (zero-padded, so the micro-kernel never branches on edges):
//   A panel: MR rows x kc, k-major:  ap[k*MR + i] = op(A)(i, k)
//   B panel: kc x NR,      k-major:  bp[k*NR + j] = op(B)(k, j)
// A packed block of mc rows is ceil(mc/MR) A panels one after another;
// a packed block of nc columns is ceil(nc/NR) B panels one after another.
//
// Rounding contract, which makes results independent of the tiling and thus
// of the thread count: every C element is acc = sum over k (in order, one
// fused or unfused multiply-add per k, starting from 0), then
// C = alpha*acc + beta*C (beta == 0: C = alpha*acc, C never read), in the
// same operations whichever tile, edge or thread computes it.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct gemm_kernels {
  const char* name;        // "gemm_f32_<MR>x<NR>", reported with the ISA
  std::size_t mr, nr;      // register tile
  std::size_t mc, kc, nc;  // default cache blocks (ops/gemm_blocking derives the ones used): mc % mr == 0, nc % nr == 0
  std::size_t kc_max;      // the largest kc the kernels below take: kGemmKcLimit (stack panels) or kGemmKcDeep
  std::size_t pack_a_min_n;  // the driver packs A only when N exceeds this
  std::size_t inplace_b_max;  // and reads a non-transposed B in place when kc*N <= this (floats)

  // C[0:mr, 0:nr] = alpha * (A panel . B panel) + beta * C, kc >= 1.
  // a: packed A panel (mr*kc floats), b: packed B panel (kc*nr floats),
  // c: row-major with leading dimension ldc. beta == 0 never reads C.
  void (*ukernel)(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                  std::size_t ldc);
  // The same on the top-left m x n corner of the tile (1 <= m <= mr,
  // 1 <= n <= nr), bit-for-bit the values ukernel would give there, nothing
  // outside the corner read or written: the edges of a packed block, and
  // operands read in place. op(A)(i,k) = a[i*a_rs + k*a_cs] (a_rs == 1 or
  // a_cs == 1; a packed A panel is a_rs = 1, a_cs = mr); B is a packed panel
  // (b_rs == 0) or op(B) read in place, op(B)(k,j) = b[k*b_rs + j];
  // kc <= kc_max.
  // Where each A element meets few B panels (small N) packing A costs more
  // than it saves, and a small B is cheaper read in place than packed.
  void (*ukernel_strided)(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a,
                          std::size_t a_rs, std::size_t a_cs, const float* b, std::size_t b_rs, float beta, float* c,
                          std::size_t ldc);
  // Packs op(A)[0:mc, 0:kc] into ceil(mc/mr) A panels at dst (64-byte
  // aligned). op(A)(i,k) = a[i*lda + k], or a[k*lda + i] when trans.
  void (*pack_a)(bool trans, std::size_t mc, std::size_t kc, const float* a, std::size_t lda, float* dst);
  // Packs op(B)[0:kc, 0:nc] into ceil(nc/nr) B panels at dst (64-byte
  // aligned). op(B)(k,j) = b[k*ldb + j], or b[j*ldb + k] when trans.
  void (*pack_b)(bool trans, std::size_t kc, std::size_t nc, const float* b, std::size_t ldb, float* dst);
  // Unpacked C = alpha*op(A)*op(B) + beta*C for any M, N >= 1, K >= 1: the
  // small-matrix path (no packing, no threads) and the bare-metal fallback.
  // Deterministic for a given ISA and shape; its rounding may differ from the
  // packed path's (the choice between them depends on the shape only).
  void (*direct)(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                 std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc);
  // Optional (nullptr: the driver tiles with ukernel_strided): the whole
  // mc x nc block, any sizes, with op(A) and op(B) both read in place as in
  // ukernel_strided (b_rs != 0), kc <= kc_max; the same operations
  // per C element as ukernel, in the ISA's own tiling: tiles of up to
  // kBlockInplaceRows rows, each against a slice of B's columns.
  void (*block_inplace)(std::size_t mc, std::size_t nc, std::size_t kc, float alpha, const float* a,
                        std::size_t a_rs, std::size_t a_cs, const float* b, std::size_t b_rs, float beta, float* c,
                        std::size_t ldc);
};

constexpr std::size_t kBlockInplaceRows = 6;  // every ISA's block_inplace row tile

// The B block of sgemm without a workspace (ops/gemm.cpp) is a stack array
// of kGemmStackBFloats floats (64 KiB): it holds at least one B panel kc
// deep for kc <= kGemmKcLimit (checked where each table with stack panels
// is defined); a deeper non-transposed B is read in place there.
constexpr std::size_t kGemmStackBFloats = 16384;

// The largest kc of a hosted kernel set whose strided path copies operands
// into stack panels (strided_via_pack): 512 * nr floats fit the stack B
// block for nr <= 32.
constexpr std::size_t kGemmKcLimit = 512;

// The largest kc of a kernel set whose strided path reads both operands in
// place (AVX-512): a K of up to this stays one block (one pass over C)
// where B is not transposed. The workspace-less path reads such a B in
// place when one of its panels would not fit the stack block (ops/gemm.cpp).
constexpr std::size_t kGemmKcDeep = 768;

QKV_DECLARE_KERNEL_TABLES_MVE(gemm_kernels, gemm)

// AVX-512 on x86-64 has a second table whose full tile is inline assembly
// (same bits as gemm_avx512; which runs is dispatch/uarch's choice, looked
// up by ops/gemm_table.hpp).
#if defined(QKV_HAVE_AVX512) && defined(__x86_64__)
#define QKV_HAVE_GEMM_AVX512_ASM 1
extern const gemm_kernels gemm_avx512_asm;
#endif

}  // namespace qkv::kern
