// SPDX-License-Identifier: MIT
// sdpa_forward - the attention forward drivers behind qkv_sdpa_forward():
//  - fused: FlashAttention-2 style. A tile of br queries streams over tiles
//    of kSdpaKeyTile keys with an online softmax (running max and sum, the
//    accumulator rescaled by exp(m_old - m_new)), never holding more than one
//    score tile; tiles above the causal diagonal are skipped, the diagonal
//    ones masked. Threads take (batch, head, query tile) tasks, heaviest
//    (last, for causal) first; each task writes only its own rows, so the
//    result is the same for any thread count.
//  - reference: per (batch, head) the full q_len x kv_len score matrix by
//    GEMM, a stable row softmax, then weights x V by GEMM: the plain
//    (unfused) path to compare with. It uses one score matrix whatever the
//    thread count (the GEMMs and the row softmax are threaded inside).
// Both read only the plan (ops/sdpa_plan.hpp), resolved from a description
// the C boundary validated (capi/sdpa_check).
#pragma once

#include <cstddef>

#include "ops/sdpa_plan.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// Keys per tile of the fused kernel: the score tile is kSdpaKeyTile x br
// floats (32 KiB at br = 64). 64 to 192 run alike at d = 64; 128 halves the
// per-tile softmax bookkeeping of 64.
constexpr std::size_t kSdpaKeyTile = 128;

// Workspace alignment: the drivers round the caller's pointer up to this.
constexpr std::size_t kSdpaAlign = 64;

// The forward's pair (the backward's is in ops/sdpa_backward.hpp). Both
// run p.algo, choosing the driver.

// Workspace for up to `threads` threads of tensors of `type` (F32, BF16 or
// F16; strides in elements; lse fp32), with the slack that lets any caller
// pointer be rounded up to kSdpaAlign; false on overflow.
bool sdpa_forward_workspace_bytes(const sdpa_plan& p, qkv_dtype type, int threads, std::size_t* bytes) noexcept;

// Runs in a caller workspace of any alignment, with as many threads as it
// feeds (the result does not depend on it). lse may be null. False, nothing
// written, when it does not hold even one thread's share. The drivers
// (sdpa_forward_lowp.cpp): fused, every type below; reference, F32 below and
// the others widened to it.
bool sdpa_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                  float* lse, void* ws, std::size_t bytes) noexcept;

// The pair on fp32 tensors.
inline bool sdpa_forward_workspace_bytes(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept {
  return sdpa_forward_workspace_bytes(p, QKV_DTYPE_F32, threads, bytes);
}
inline bool sdpa_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out, float* lse,
                         void* ws, std::size_t bytes) noexcept {
  return sdpa_forward(p, QKV_DTYPE_F32, q, k, v, out, lse, ws, bytes);
}

// The fp32 reference (sdpa_forward.cpp): its one score matrix s, whatever
// the thread count, in bytes rounded up to kSdpaAlign (false on overflow),
// and the run (s aligned to kSdpaAlign).
bool sdpa_reference_forward_bytes(const sdpa_plan& p, std::size_t* bytes) noexcept;
void sdpa_reference_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                            float* lse, float* s) noexcept;

// Whether plan p may set bf16_dot (sdpa_forward_lowp.cpp): the fused
// algorithm on its tile path (not decode's), an ISA with the attn_bf16 set
// and a microarchitecture that runs bf16 dot products faster than fp32 FMAs
// (dispatch::uarch). The fused forward and backward then both multiply in
// bf16, so the backward recomputes the forward's scores bit for bit.
bool sdpa_bf16_dot_usable(const sdpa_plan& p) noexcept;

// Whether the fused forward of plan p on `type` tensors runs its products on
// AMX tiles (sdpa_forward_lowp.cpp: bf16, the tile path, avx512_bf16 where
// dispatch::amx() allows, head_dim and v_dim multiples of 32). The backward
// of such a forward runs its bf16 mode on the same tiles (amx_scores).
bool sdpa_amx_forward(const sdpa_plan& p, qkv_dtype type) noexcept;

// The shapes and type the AMX forward takes (bf16, head_dim and v_dim
// multiples of 32), whatever the CPU: where the workspaces make room for it.
// Defined in builds with the AMX tiles (QKV_HAVE_AMX) only.
bool sdpa_amx_shapes(const sdpa_plan& p, qkv_dtype type) noexcept;

// The fused driver of every type, one task per query tile (sdpa_forward_lowp.cpp):
// ws holds max_threads shares of per_thread_floats, vpairs the bf16 dot
// path's packed V of every head (any pointer where that path does not run).
// F32 reads its tiles in place and needs only the fp32 share (Qt, St, Ot,
// m, l, alpha); BF16 and F16 also widened K and V tiles and P pairs.
void sdpa_fused_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                        float* lse, float* vpairs, float* ws, std::size_t per_thread_floats, int max_threads);

}  // namespace qkv::ops
