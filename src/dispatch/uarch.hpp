// SPDX-License-Identifier: MIT
// uarch - the choices that depend on the CPU's microarchitecture, where no
// rule on features and cache sizes can make them. Split like the ISA choice:
// identify() asks the CPU (x86 CPUID leaves 0 and 1), choose() is a pure
// function of what it answered, so every decision path is tested anywhere
// with made-up CPUs (tests/test_uarch.cpp). Decided once, on first use.
//
// The decisions and the measurements behind them (bench/README.md, "Per
// microarchitecture"):
//  - AVX-512 GEMM full tile: the 14x32 tile compiled from intrinsics or the
//    same operations in inline assembly (both broadcast A into a register
//    shared by a row's two FMAs; same bits). Intel Xeon (family 6 model 167
//    as a KVM guest reports it, AMX and AVX512-FP16): the assembly 1-4 %
//    faster in whole GEMMs, 0.99 of the FMA probe for the tile alone against
//    0.98. AMD Zen 4 (family 25 model 17): the assembly 0-2 % faster in
//    whole GEMMs (bench/README.md, session 33). AMD Zen 5: the intrinsics
//    tile ran at the FMA peak (216 GFLOP/s alone in L1); the assembly is not
//    measured there, so Zen 5 and other AMD keep what was. Any other vendor:
//    the intrinsics (the portable default). (The assembly
//    took A as embedded-broadcast FMA operands until it lost to both: 30
//    load uops per k step instead of 16, 0.92 of the probe on that Intel,
//    189 against 216 GFLOP/s on Zen 5.)
//  - The GEMM's B block in L3 or in L2 (ops/gemm_blocking). AMD Zen 5 (L3
//    per CCD, 32 MiB): a B block of a quarter of L3, streamed by every A
//    micro-panel, was 4-7 % faster at 2048^3 and the FFN's 1024x3072x768
//    than one in 3/4 of L2 (one more pass packing op(A) per column block).
//    Intel Xeon (the one above; its L3 is the mesh's, shared by the socket):
//    the L2-sized block is 5-15 % faster there, the B block at L2's size or
//    more 9 % slower (2048^3). AMD: L3; everyone else: L2.
//  - The GEMM's kc (ops/gemm_blocking): the A micro-panel in 2/3 of L1 less
//    a way, or all of it (gemm_a_fills_l1). AMD Zen 4 runs a 512-bit FMA as
//    two 256-bit halves, so the 14x32 tile's k step takes twice Zen 5's
//    cycles and B's lines arrive from L2 in their shadow: kc 512 on its
//    32 KiB L1 (was 336) ran 2-4 % faster at 1 thread, 3-11 % at 2, from
//    256^3 to 2048^3 and the layer's shapes. Zen 5 and Intel (48 KiB L1) are
//    measured at 2/3 (536; session 32); everyone else keeps that. The bf16
//    and int8 gemm_ex blocks follow it (ops/gemm_ex.cpp; bf16 1.00-1.03x).
//  - A non-transposed B read in place by the AVX-512 GEMM when it is
//    cache-resident and meets few A micro-panels (ops/gemm.cpp: M at most
//    gemm_b_inplace_panels micro-panels, its kc-deep slab within 3/4 of L2,
//    all of it within the B block's area). Off (0) on every CPU: on AMD
//    Zen 5 the GEMM alone ran 3-12 % faster at M 128-448 with B hot in
//    cache (1.10-1.34x on two threads), but the layer's training step, whose
//    weights come from L3, ran 2-3 % slower on one thread (1.01x on two);
//    on Intel it is not measured. QKV_GEMM_B_INPLACE turns it on for
//    measurements (bench/README.md, session 28).
//  - bf16 x bf16 GEMM (qkv_gemm_ex): the vdpbf16ps tile, or both operands
//    widened to fp32 for the fp32 tile (exact, same products). AMD Zen 5:
//    vdpbf16ps at twice the fp32 FMA rate (400-420 vs 213 GFLOP/s for the
//    tiles alone), so the dot products. Intel Xeon (Emerald Rapids, family 6
//    model 207): vdpbf16ps at half the fp32 rate (86 vs 174 GFLOP/s, its
//    dependent-chain probe included), bf16 GEMM 0.56x fp32: widened there
//    (with AMX, its tiles: dispatch/amx.hpp, chosen before this). Others: the dot
//    products, the instruction's purpose.
#pragma once

#include <cstdint>

namespace qkv::dispatch {

enum class cpu_vendor { other, intel, amd };

// What CPUID says the CPU is. family/model are the displayed values
// (base + extended family when the base is 0xF; extended model << 4 | model
// for family 6 and 0xF and above), as Intel's and AMD's manuals define them.
struct cpu_identity {
  cpu_vendor vendor = cpu_vendor::other;
  unsigned family = 0, model = 0;
};

// decode_cpuid, identify and choose exist for the tests, so they are
// defined in hosted builds only (uarch() below has its own copies; bare
// metal carries no code nothing calls).
// Decodes CPUID leaf 0 (vendor string in EBX, EDX, ECX) and leaf 1 (EAX).
cpu_identity decode_cpuid(std::uint32_t ebx0, std::uint32_t edx0, std::uint32_t ecx0, std::uint32_t eax1) noexcept;

// This CPU (x86: CPUID; elsewhere: other, 0, 0).
cpu_identity identify() noexcept;

enum class gemm_tile { intrinsics, assembly };

struct uarch_choice {
  const char* name;       // "intel", "zen4", "zen5", "amd", "other": for reports
  gemm_tile avx512_tile;  // the AVX-512 GEMM's full tile
  bool bf16_dot;          // bf16 GEMMs use vdpbf16ps (else widen to fp32)
  bool gemm_b_in_l3;      // the GEMM's B block may take a quarter of L3 (else 3/4 of L2)
  bool gemm_a_fills_l1;   // the GEMM's A micro-panel may take all of L1 less a way (else 2/3)
  unsigned gemm_b_inplace_panels;  // AVX-512 GEMM: cache-resident B read in place when M <= this
                                   // many micro-panels (0: off)
};

// The choice for a CPU (pure: tests call it with made-up identities).
uarch_choice choose(cpu_identity id) noexcept;

// The choice for this CPU, made on first use. Hosted builds read
// QKV_AVX512_TILE=intrinsics|assembly, QKV_BF16_DOT=0|1 and
// QKV_GEMM_B_INPLACE=<panels> (decimal, at most 65536) there, for A/B
// measurements on any CPU (an unknown value is ignored; QKV_BLOCKING
// overrides the blocks). Both tiles give the same results; the bf16 choice
// changes them within gemm_ex.h's bound.
const uarch_choice& uarch() noexcept;

}  // namespace qkv::dispatch
