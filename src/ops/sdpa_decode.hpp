// SPDX-License-Identifier: MIT
// sdpa_decode - the fused forward for calls with few query rows per K/V
// head (decoding: q_len 1 to a few tokens, times the query heads of a
// grouped-query group). The tile kernels hold kAttnMaxBr queries per tile,
// so a decode step would fill 1 or 4 of 64 lanes; here the lanes are keys
// instead: one task per (sequence, K/V head) streams that head's K and V
// once for all its query rows.
//
// Per key tile of br keys: the scores of every query row by the ISA's
// decode scores kernel, reading K's rows in place (transposed in registers:
// keys in the lanes, each key's dot product summed over the features in
// order with one fused multiply-add each, as the tile path's scores kernel
// does, so S, the row maximum and the log-sum-exp a backward reads are the
// tile path's bits), masked like the tile path (fused_step::mask_tile, a
// one-row tile per query row), each row's online softmax by the softmax
// kernels, then P V by the decode accumulate kernel (V's rows read once for
// all the rows, the accumulators in registers). Results do not depend on
// the thread count; BF16/F16 K and V rows are widened exactly on the way.
#pragma once

#include <cstddef>

#include "ops/sdpa_plan.hpp"
#include "qkv/dtype.h"

namespace qkv::ops {

// Whether a call takes this path: at most a quarter of a tile's lanes would
// be busy (group * q_len rows per K/V head).
bool sdpa_decode_applies(const sdpa_plan& p) noexcept;

// One thread's share in floats, a multiple of 16 (false on overflow); 0
// where the path applies on no ISA (so sizes do not depend on the ISA).
bool sdpa_decode_floats_per_thread(const sdpa_plan& p, qkv_dtype type, std::size_t* floats) noexcept;

// The floats shared by all threads (the chunks' partial results of a long
// context, see kChunk in sdpa_decode.cpp): 0 for one chunk or where the path
// applies on no ISA (false on overflow).
bool sdpa_decode_shared_floats(const sdpa_plan& p, std::size_t* floats) noexcept;

// parts: sdpa_decode_shared_floats of them; ws: max_threads shares of
// per_thread_floats each.
void sdpa_decode_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                         float* lse, float* parts, float* ws, std::size_t per_thread_floats, int max_threads);

}  // namespace qkv::ops
