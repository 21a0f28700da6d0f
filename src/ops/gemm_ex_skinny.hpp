// SPDX-License-Identifier: MIT
// gemm_ex_skinny - qkv_gemm_ex's path for a few rows against narrow
// weights (decode: one or a few tokens through a projection): M <= 8,
// A in F32, BF16 or F16, B in BF16, F16 or I8 (either transposition; int8
// with its per-column scales), C in F32 or BF16.
//
// Why M <= 8: the blocked path widens and packs the whole of op(B) into an
// fp32 B block on every call (~K*N element passes, and the block written
// out and read back through L2/L3), which pays when each packed element
// meets many rows of A. With M at most the register tile's rows (mr is 14
// for AVX-512, 6 for AVX2/SSE2, 8 for NEON64, 4 for NEON and scalar) every
// packed element is read once by one micro-kernel call, so packing buys no
// reuse: for M*K*N multiply-adds it adds the widening plus 8 bytes of
// traffic per element, which is as much work as the product itself. The
// cut is a constant (not an ISA's mr), so the workspace query and the call
// choose the same path from the types and the shape alone.
//
// The path reads B once, widened exactly to fp32 (int8 with scale 1; B's
// scales are applied to the sums), and combines it with A, widened once per
// call:
//  - B not transposed ([K][N]): read in place by vec's rows_times_lowp,
//    all M rows against nb columns, each row of B widened in registers once
//    for all M rows, each sum one multiply-add per k in k order, into a
//    per-task accumulator;
//  - B transposed ([N][K]): each column of op(B) read in place, kc
//    elements at a time (6144 / M, at least 512), and dotted with all M rows of A at once (vec's
//    dot_rows_lowp: the column widened in registers as loaded, once per
//    group of rows), the chunks' sums added in order.
// Then C = (alpha * sb(j)) * sum + beta * C (gemm_ex.cpp's epilogue). C is
// split into fixed blocks of nb columns, each computed by one task in a
// fixed order: bitwise identical for any thread count and executor.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "ops/gemm_ex.hpp"

namespace qkv::ops {

constexpr std::size_t kSkinnyMaxM = 8;

// Hosted builds only. Bare metal keeps the blocked path: a Cortex-M has no
// cache for the packed block to fall out of, so the path would save it
// nothing, and its 64 KiB .text budget has no room for a second driver.
#ifdef QKV_HOSTED
constexpr bool kSkinnyPath = true;
#else
constexpr bool kSkinnyPath = false;
#endif

// Whether gemm_ex runs p (M, N, K >= 1, alpha != 0) on the skinny path:
// from the types and M alone.
bool gemm_ex_is_skinny(const gemm_ex_args& p) noexcept;

// Its workspace (64 bytes of slack included) and what it runs.
bool gemm_ex_skinny_workspace_bytes(const gemm_ex_args& p, int threads, std::size_t* bytes) noexcept;
gemm_ex_info describe_gemm_ex_skinny(qkv_isa isa, const gemm_ex_args& p) noexcept;

// The product, ws holding at least gemm_ex_skinny_workspace_bytes(p, 1).
void gemm_ex_skinny(const exec& x, const gemm_ex_args& p, void* ws, std::size_t ws_bytes);

// gemm_ex.cpp's epilogue for all M rows of C and columns [j, j + n):
// C = (alpha * sb(j)) * acc + beta * C, acc with leading dimension ld.
void gemm_ex_store_rows(const gemm_ex_args& p, const float* acc, std::size_t ld, std::size_t j, std::size_t n);

}  // namespace qkv::ops
