// SPDX-License-Identifier: MIT
// gemm_blocking - GEMM's cache blocks (mc, kc, nc) for each ISA's register
// tile, derived from the machine's caches by an analytical model (BLIS's
// "analytical modeling is enough", Low et al. 2016) instead of constants
// tuned on one CPU. qkv's macro-kernel keeps one packed A micro-panel
// (mr x kc) in L1 while the B micro-panels (kc x nr) of the packed B block
// (kc x nc) stream past it from L2 or L3:
//   kc: the A micro-panel takes 2/3 of L1 less one way (C's lines, the
//       stack), the B lines streaming past it the rest:
//       kc = 2/3 (L1 - L1/W1) / (mr * 4), within the kernel set's kc_max;
//       536 on a 48 KiB 12-way L1. On CPUs whose FMAs leave L1 time to
//       spare (dispatch/uarch: gemm_a_fills_l1, Zen 4's 512-bit FMAs run
//       as two 256-bit halves) the A micro-panel takes all of L1 less one
//       way, the B lines arriving from L2 in the FMAs' shadow:
//       kc = (L1 - L1/W1) / (mr * 4); 512 on a 32 KiB 8-way L1. (BLIS's rule, an A and a B
//       micro-panel resident together, (L1 - L1/W1) / ((mr + nr) * 4) = 240
//       there, is what gemm_ex's bf16 and int8 blocks scale from:
//       gemm_blocks::lowp_*);
//   nc: the B block fills 3/4 of L2, or, on CPUs whose L3 streams it fast
//       enough (dispatch/uarch: gemm_b_in_l3, AMD's CCD L3), a quarter of
//       L3 where that is more (every A micro-panel reads all of it, 4 bytes
//       per 2*mr FLOPs; each further column block costs one more pass
//       packing op(A), from memory when A is large);
//   mc: the A block being packed fills 1/8 of L2 (it is consumed from
//       there micro-panel by micro-panel).
// The driver (ops/gemm.cpp) splits K and N into near-equal blocks of at
// most kc and nc and widens mc and nc for a shallower K, keeping the
// blocks' area.
// Each is rounded to whole tiles and kept within kGemmBlockLimits. The
// environment variable QKV_BLOCKING="mc,kc,nc" overrides the model (hosted
// builds; rounded and clamped the same way). Bare-metal builds keep the
// table's blocks: a Cortex-M has no data cache worth modelling.
//
// The blocks fix where K is split (every kc), which is part of each
// element's rounding: they are chosen once per process and ISA, so results
// never depend on the thread count or the call.
#pragma once

#include <cstddef>

#include "dispatch/caches.hpp"
#include "kernels/gemm/gemm.hpp"
#include "qkv/gemm.h"

namespace qkv::ops {

struct gemm_blocks {
  std::size_t mc, kc, nc;
  qkv_blocking_source source;
#ifdef QKV_HOSTED  // bare metal has no caches to decide it from (and no code to spare)
  // A non-transposed B is read in place, not packed, when it is likely in
  // cache and meets few A micro-panels (ops/gemm.cpp): M <= inplace_b_rows,
  // a kc-deep slab of B within inplace_b_slab bytes and all of B within
  // inplace_b_whole bytes. 0 rows: off (dispatch/uarch decides per CPU).
  std::size_t inplace_b_rows = 0, inplace_b_slab = 0, inplace_b_whole = 0;
  // What gemm_ex's bf16 and int8 blocks are scaled from (ops/gemm_ex.cpp):
  // the model's blocks for an A and a B fp32 micro-panel in L1 together,
  // which those kinds' rules were measured against; where the blocks are not
  // the model's (QKV_BLOCKING, unknown caches), mc, kc and nc themselves.
  std::size_t lowp_mc = 0, lowp_kc = 0, lowp_nc = 0;
#endif
};

// Limits of the derived (and overridden) blocks, whatever the caches say;
// kc also stays within the kernel set's kc_max.
struct gemm_block_limits {
  std::size_t kc_min, kc_max, nc_max, mc_max;
};
constexpr gemm_block_limits kGemmBlockLimits = {64, kern::kGemmKcDeep, 4096, 1024};

// Whether a packed B block of `bytes` is small enough that each member of
// a team packs its own copy (ops/gemm.cpp, run_own_b): at most four fp32 A
// blocks, ~1/2 of L2 by the model (the A block is 1/8 of it).
inline bool own_b_fits(const gemm_blocks& g, std::size_t bytes) noexcept {
  return bytes <= 4 * g.mc * g.kc * sizeof(float);
}

// The width of each of N's column blocks for blocks of at most `lim`
// (a multiple of `step`, N >= 1): near-equal blocks, each costs a pass
// packing op(A) (1024 columns at lim 800 run as 2 x 512, not 800 + 224).
// Hosted builds only: bare metal has no cache to block for (and a
// Cortex-M4 no code to spare), so there min(lim, N rounded to step).
inline std::size_t column_block(std::size_t N, std::size_t lim, std::size_t step) noexcept {
#ifdef QKV_HOSTED
  const std::size_t blocks = N / lim + (N % lim != 0);
  const std::size_t w = N / blocks + (N % blocks != 0);
  return (w + step - 1) / step * step;
#else
  const std::size_t n = (N + step - 1) / step * step;
  return n < lim ? n : lim;
#endif
}

// What dispatch/uarch decides for the model, per microarchitecture.
struct gemm_model_choice {
  bool b_in_l3;     // the B block may take a quarter of L3 where that is more than
                    // 3/4 of L2 (gemm_b_in_l3: whether the L3 streams it fast enough)
  bool a_fills_l1;  // the A micro-panel may take all of L1 less one way, not 2/3
                    // (gemm_a_fills_l1: whether the FMAs leave L1 time to spare)
};

// Defined in hosted builds only (bare metal runs the table's blocks).
// The model alone (pure, for tests).
gemm_blocks model_gemm_blocks(const kern::gemm_kernels& t, const dispatch::cache_info& c,
                              gemm_model_choice u) noexcept;

// "mc,kc,nc" applied to t (rounded to tiles, clamped); false when malformed.
bool parse_gemm_blocks(const char* text, const kern::gemm_kernels& t, gemm_blocks* out) noexcept;

// The blocks `isa` uses in this process (decided on first use, then fixed).
const gemm_blocks& gemm_blocks_for(qkv_isa isa) noexcept;

// The same with the tile and the caches it came from (qkv_get_gemm_blocking).
qkv_gemm_blocking describe_gemm_blocking(qkv_isa isa) noexcept;

}  // namespace qkv::ops
