// sdpa_forward - the attention forward drivers behind qkv_sdpa_forward():
//  - fused: FlashAttention-2 style. A tile of br queries streams over tiles
//    of kSdpaKeyTile keys with an online softmax (running max and sum, the
//    accumulator rescaled by exp(m_old - m_new)), never holding more than one
//    score tile; tiles above the causal diagonal are skipped, the diagonal
//    ones masked. Threads take (batch, head, query tile) tasks, heaviest
//    (last, for causal) first; each task writes only its own rows, so the
//    result is the same for any thread count.
//  - reference: per (batch, head) the full q_len x kv_len score matrix, a
//    stable row softmax, then weights x V: the plain path to compare with.
// Arguments are validated by the C boundary (capi/sdpa_check).
#pragma once

#include <cstddef>

#include "qkv/attention.h"

namespace qkv::ops {

// Keys per tile of the fused kernel.
#ifndef QKV_SDPA_KEY_TILE
#define QKV_SDPA_KEY_TILE 128
#endif
constexpr std::size_t kSdpaKeyTile = QKV_SDPA_KEY_TILE;

// Workspace alignment: the drivers round the caller's pointer up to this.
constexpr std::size_t kSdpaAlign = 64;

// A validated description with its defaults resolved.
struct sdpa_problem {
  const qkv_sdpa_desc* desc;
  std::size_t v_dim;
  float scale;
};

// Bytes one thread needs for `algo` (AUTO = fused), a multiple of
// kSdpaAlign; false when the size overflows.
bool sdpa_forward_bytes_per_thread(const sdpa_problem& p, qkv_sdpa_algo algo, std::size_t* bytes) noexcept;

// Runs the forward with at most `max_threads` threads, each using
// `per_thread` bytes of the kSdpaAlign-aligned `ws`. lse may be null.
void sdpa_forward_run(const sdpa_problem& p, const float* q, const float* k, const float* v, float* out, float* lse,
                      void* ws, std::size_t per_thread, int max_threads) noexcept;

}  // namespace qkv::ops
