// SPDX-License-Identifier: MIT
// attn_blocking - the fused attention forward's key chunk, from the L1 the
// caches report and the layout of V (the analytical-model approach of the
// GEMM blocking, ops/gemm_blocking).
//
// The accumulate step (kernels/attn) walks the feature blocks of O^T over a
// chunk of keys: each block reads the chunk's P^T rows (br floats a key,
// contiguous) and one line of each of the chunk's V rows (ldv floats apart).
// The chunk should stay in L1 across the blocks:
//  - V: rows at a stride of s lines land in sets / gcd(s, sets) distinct L1
//    sets (1 when s is a multiple of the set count), and each of those sets
//    gives V two thirds of its ways: chunk <= distinct * (2 ways / 3);
//  - P^T: chunk * br * 4 bytes <= two thirds of L1.
// E.g. 48 KiB 12-way L1, 64-byte lines (Zen 5, Sapphire Rapids), br 64:
// contiguous heads (ldv 64 floats: 16 distinct sets) give 128 keys, the
// layer's interleaved heads (ldv 768: 4 sets) give 32. Rounded down to a
// multiple of 8, within [8, kSdpaKeyTile]; 32 when the L1 is unknown.
// Measured, Zen 5: 128 is 2.5 % faster than 32 on contiguous heads
// (bench/README.md, session 7). The chunk never changes the results.
#pragma once

#include <cstddef>

#include "dispatch/caches.hpp"

namespace qkv::ops {

// Keys per accumulate chunk for V rows ldv floats apart and br-query tiles.
std::size_t attn_key_chunk(const dispatch::cache_level& l1d, std::size_t ldv, std::size_t br) noexcept;

// The same for this machine's L1 (dispatch::caches()).
std::size_t attn_key_chunk(std::size_t ldv, std::size_t br) noexcept;

// Keys per score tile of the fused forward over kv_len keys: kSdpaKeyTile
// (ops/sdpa_forward.hpp), or kv_len rounded up to 8 where that is smaller
// (at least 8). Where it is smaller one tile holds every key either way, so
// the tiles' operations, and the bits, are those of kSdpaKeyTile; only the
// tile's buffers (the workspace) shrink with the problem.
std::size_t attn_key_tile(std::size_t kv_len) noexcept;

// The widest query tile (br) of the attn kernel sets built into this library
// (kern::kAttnMaxBr at most; 16, the scalar set's, on Cortex-M): workspace
// sizes use it, so a query holds for whichever ISA runs the call later.
std::size_t attn_br_bound() noexcept;

}  // namespace qkv::ops
