// SPDX-License-Identifier: MIT
// gemm_lowp_amx - Intel AMX tile kernels for qkv_gemm_ex's bf16 and int8
// kinds (gemm_lowp.hpp's tables, contract and accumulator rules), built where
// QKV_HAVE_AMX (x86-64 hosted builds whose compiler has -mamx-*) and run
// under the avx512_bf16 set when dispatch::amx() allows it.
//
// One 32 x 32 register tile: C in the four 16 x 16 fp32 / int32 tiles
// tmm0-3, two A tiles (rows 0-15, 16-31) in tmm4-5, two B tiles (columns
// 0-15, 16-31) in tmm6-7; one k step is 32 bf16 (64 int8) deep: four tile
// products on two A and two B loads.
// Packed layouts (k zero-padded to whole steps, rows / columns to 32):
//   A panel: step s, row r at byte s*2048 + r*64: the row's 64 bytes of k
//     (32 bf16 or 64 int8), as an A tile reads them.
//   B panel: gemm_lowp_zmm_pack-inl.hpp's 32-column panels (a bf16 pair or
//     an int8 quad per dword, 128 bytes per group), without corrections:
//     a B tile is 16 groups of one half at stride 128.
// The tiles' configuration is per thread state: amx_tiles_begin() loads it
// (~150 cycles), and every micro-kernel call between it and amx_tiles_end()
// (TILERELEASE: the OS then need not save the 8 KiB of tile data) runs on
// it. The driver brackets each run of tiles with the two.
#pragma once

#include <cstddef>

#include "kernels/gemm_lowp/gemm_lowp.hpp"

namespace qkv::kern {

constexpr std::size_t kAmxBf16K = 32, kAmxS8K = 64;  // k per tile step

#ifdef QKV_HAVE_AMX
extern const gemm_bf16_kernels gemm_bf16_amx;  // "gemm_bf16_amx_32x32"; panels k padded to kAmxBf16K
extern const gemm_s8_kernels gemm_s8_amx;      // "gemm_s8_amx_32x32"; signed codes, no corrections
void amx_tiles_begin() noexcept;
void amx_tiles_end() noexcept;
#endif

}  // namespace qkv::kern
