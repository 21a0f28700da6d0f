// SPDX-License-Identifier: MIT
// uarch - the choices that depend on the CPU's microarchitecture, where no
// rule on features and cache sizes can make them. Split like the ISA choice:
// identify() asks the CPU (x86 CPUID leaves 0 and 1), choose() is a pure
// function of what it answered, so every decision path is tested anywhere
// with made-up CPUs (tests/test_uarch.cpp). Decided once, on first use.
//
// The decisions and the measurements behind them (bench/README.md, "Per
// microarchitecture"):
//  - AVX-512 GEMM tile, A operand: an embedded broadcast from memory
//    (vfmadd231ps m32{1to16}, the assembly 14x32 tile) or a broadcast into a
//    register shared by the tile's two FMAs (the intrinsics tile). The two
//    give the same bits. Intel Xeon (Sapphire Rapids class): the memory form
//    ran equal when the core was quiet and 3-8 % faster when the sibling
//    hyperthread was busy (fewer instructions, fewer issue slots). AMD Zen 5:
//    the memory form is 7 % slower from 256^3 to 2048^3 (30 load uops per k
//    step instead of 16; 189 vs 216 GFLOP/s for the tile alone in L1).
//    Zen 4 (512-bit FMAs as two 256-bit halves, one per cycle) is not
//    measured; it takes its family's register form, whose load rate is the
//    lower. Any other vendor: the register form (the portable default).
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

enum class fma_operand { register_broadcast, memory_broadcast };

struct uarch_choice {
  const char* name;            // "intel", "zen4", "zen5", "amd", "other": for reports
  fma_operand avx512_a_operand;  // how the AVX-512 GEMM tile takes A
  bool bf16_dot;                 // bf16 GEMMs use vdpbf16ps (else widen to fp32)
};

// The choice for a CPU (pure: tests call it with made-up identities).
uarch_choice choose(cpu_identity id) noexcept;

// The choice for this CPU, made on first use. Hosted builds read
// QKV_AVX512_A_OPERAND=register|memory and QKV_BF16_DOT=0|1 there, for A/B
// measurements on any CPU (an unknown value is ignored). Both A forms give
// the same results; the bf16 choice changes them within gemm_ex.h's bound.
const uarch_choice& uarch() noexcept;

}  // namespace qkv::dispatch
