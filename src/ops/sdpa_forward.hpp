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
// Arguments are validated by the C boundary (capi/sdpa_check).
#pragma once

#include <cstddef>

#include "ops/exec.hpp"
#include "qkv/attention.h"

namespace qkv::ops {

// Keys per tile of the fused kernel: the score tile is kSdpaKeyTile x br
// floats (32 KiB at br = 64). 64 to 192 run alike at d = 64; 128 halves the
// per-tile softmax bookkeeping of 64.
constexpr std::size_t kSdpaKeyTile = 128;

// Workspace alignment: the drivers round the caller's pointer up to this.
constexpr std::size_t kSdpaAlign = 64;

// A validated description with its defaults resolved, and the settings the
// call runs under (read once at the C boundary).
struct sdpa_problem {
  const qkv_sdpa_desc* desc;
  std::size_t v_dim;
  float scale;
  exec x;
};

// The one place a description's defaults are resolved: v_dim 0 is head_dim,
// scale 0 is 1/sqrt(head_dim). The C boundary (after validation), the layer
// and the self-attention op all go through it.
sdpa_problem resolve_sdpa(const qkv_sdpa_desc& d, const exec& x) noexcept;

// Bytes one thread needs for `algo` (AUTO = fused), a multiple of
// kSdpaAlign; false when the size overflows.
bool sdpa_forward_bytes_per_thread(const sdpa_problem& p, qkv_sdpa_algo algo, std::size_t* bytes) noexcept;

// Runs the forward with at most `max_threads` threads, each using
// `per_thread` bytes of the kSdpaAlign-aligned `ws`. lse may be null.
void sdpa_forward_run(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                      void* ws, std::size_t per_thread, int max_threads) noexcept;

// Workspace for up to `threads` threads of p.desc->algo, with the slack that
// lets any caller pointer be rounded up to kSdpaAlign; false on overflow.
bool sdpa_forward_workspace_bytes(const sdpa_problem& p, int threads, std::size_t* bytes) noexcept;

// Runs in a caller workspace of any alignment, with as many threads as it
// feeds (the result does not depend on it). False, nothing written, when it
// does not hold even one thread's share.
bool sdpa_forward(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                  void* ws, std::size_t bytes) noexcept;

}  // namespace qkv::ops
