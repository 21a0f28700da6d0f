// SPDX-License-Identifier: MIT
// dispatch - which kernel set runs. Chosen once (first use), overridable by
// QKV_ISA in the environment or qkv_set_isa(). The only mutable global state
// besides the thread count.
#pragma once

#include <atomic>
#include <cstdint>

#include "qkv/runtime.h"

namespace qkv::dispatch {

// "scalar", "sse2", ... or nullptr outside the enum.
const char* name(qkv_isa isa) noexcept;

// Inverse of name(); false for an unknown name.
bool parse(const char* name, qkv_isa* isa) noexcept;

// Has this build got kernels for `isa`? (compile-time facts, QKV_HAVE_*)
bool compiled(qkv_isa isa) noexcept;

// Can this CPU and OS run `isa`? (cpuid/XCR0 via libgcc on x86, HWCAP on arm)
bool cpu_supports(qkv_isa isa) noexcept;

// The best ISA that is both compiled and supported.
qkv_isa best() noexcept;

// ---------------------------------------------------------------------------
// What each kernel set assumes of the CPU, and the decision made from it.
// The decision is split in two: cpu_features() asks the CPU and OS (the only
// part that differs between machines), and allows()/pick() are pure functions
// of a feature set, compiled on every target, so every decision path is
// tested anywhere with made-up CPUs (tests/test_dispatch_features.cpp).

// One bit per CPU feature; x86 and ARM share the space.
using feature_set = std::uint32_t;
namespace feature {
// x86: cpuid, with the OS's XCR0 for AVX and AVX-512 state (libgcc).
constexpr feature_set kMmx = 1u << 0, kSse = 1u << 1, kSse2 = 1u << 2, kSse3 = 1u << 3, kSsse3 = 1u << 4,
                      kSse41 = 1u << 5, kSse42 = 1u << 6, kPopcnt = 1u << 7, kAvx = 1u << 8, kAvx2 = 1u << 9,
                      kFma = 1u << 10;
constexpr feature_set kAvx512f = 1u << 11, kAvx512cd = 1u << 12, kAvx512dq = 1u << 13, kAvx512bw = 1u << 14,
                      kAvx512vl = 1u << 15;
// 32-bit ARM: Linux AT_HWCAP (VFPv3, 32 double registers, VFPv4 = fused
// multiply-add and half-precision conversions, NEON).
constexpr feature_set kVfpv3 = 1u << 16, kVfpd32 = 1u << 17, kVfpv4 = 1u << 18, kNeon = 1u << 19;
// AArch64: floating point and Advanced SIMD (both mandatory in the ABI).
constexpr feature_set kFp = 1u << 20, kAsimd = 1u << 21;
// x86 AVX-512 extensions: BF16 (vdpbf16ps, vcvtne2ps2bf16), VNNI (vpdpbusd).
constexpr feature_set kAvx512bf16 = 1u << 22, kAvx512vnni = 1u << 23;
// x86 F16C (vcvtps2ph, vcvtph2ps: the fp16 conversions); every AVX2 CPU has it.
constexpr feature_set kF16c = 1u << 24;
// AArch64 extensions, Linux AT_HWCAP / AT_HWCAP2: the int8 dot product
// (ASIMDDP: SDOT/UDOT), the int8 matrix multiply (I8MM: SMMLA), BF16 (BFDOT,
// BFMMLA) and half-precision arithmetic (FPHP scalar, ASIMDHP vector).
constexpr feature_set kAsimddp = 1u << 25, kI8mm = 1u << 26, kBf16 = 1u << 27, kFphp = 1u << 28,
                      kAsimdhp = 1u << 29;
// Armv8.1-M Helium with floating point (MVE-F: Cortex-M55, M85). No OS
// reports it: a bare-metal image assumes it from its -mcpu (assumed_features).
constexpr feature_set kMvef = 1u << 30;

// The x86 sets nest, each assuming all the one before it does.
constexpr feature_set kSse2Level = kMmx | kSse | kSse2;
constexpr feature_set kAvx2Level = kSse2Level | kSse3 | kSsse3 | kSse41 | kSse42 | kPopcnt | kAvx | kAvx2 | kFma | kF16c;
constexpr feature_set kAvx512Level = kAvx2Level | kAvx512f | kAvx512cd | kAvx512dq | kAvx512bw | kAvx512vl;
constexpr feature_set kAvx512Bf16Level = kAvx512Level | kAvx512bf16 | kAvx512vnni;
// The AArch64 sets nest likewise.
constexpr feature_set kNeon64Level = kFp | kAsimd;
constexpr feature_set kNeon64DotLevel = kNeon64Level | kAsimddp;
constexpr feature_set kNeon64Bf16Level = kNeon64DotLevel | kBf16 | kI8mm;
}  // namespace feature

// THE table: every feature the code of each kernel set may use, i.e. all that
// its per-file flags (cmake/QkvIsa.cmake) let the compiler assume, baseline
// included. Dispatch runs a set only on a CPU that reports all of them. A new
// set declares its row here; tests/isa_features_check.cpp fails the build if
// its flags enable a feature the row lacks. (-mavx's XSAVE and SSE4.2's CRC32
// are left out: the compiler emits them only through their intrinsics, which
// qkv does not use.)
inline constexpr feature_set kRequiredFeatures[QKV_ISA_COUNT] = {
    /* scalar: the target's baseline, nothing more */ 0,
    /* sse2: -msse2 -mfpmath=sse on i686, the baseline on x86-64 */ feature::kSse2Level,
    /* avx2: -mavx2 -mfma -mf16c (which imply SSE3 to SSE4.2 and POPCNT) */ feature::kAvx2Level,
    /* avx512: -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c */ feature::kAvx512Level,
    /* neon: -mfpu=neon-vfpv4 over the armv7-a+fp (VFPv3-D16) baseline; the
       fused multiply-adds need VFPv4, which Cortex-A8/A9 lack */
    feature::kVfpv3 | feature::kVfpd32 | feature::kVfpv4 | feature::kNeon,
    /* neon64: the armv8-a baseline */
    feature::kNeon64Level,
    /* avx512_bf16: avx512's flags plus -mavx512bf16 -mavx512vnni */ feature::kAvx512Bf16Level,
    /* neon64_dot: -march=armv8.2-a+dotprod (Armv8.2's mandatory LSE, RDM
       and CRC come with any CPU that has the dot product; no code here uses
       them) */ feature::kNeon64DotLevel,
    /* neon64_bf16: -march=armv8.2-a+dotprod+bf16+i8mm (no +fp16: half-precision
       arithmetic is not assumed, so a CPU without it still runs the set) */
    feature::kNeon64Bf16Level,
    /* mve: the Cortex-M55 baseline itself (-mcpu=cortex-m55: MVE integer and
       floating point); the per-file flags add nothing */
    feature::kMvef,
};

// Best first: the order best() and pick() try the sets in.
inline constexpr qkv_isa kPreference[] = {QKV_ISA_AVX512_BF16, QKV_ISA_AVX512,     QKV_ISA_AVX2,
                                          QKV_ISA_SSE2,        QKV_ISA_NEON64_BF16, QKV_ISA_NEON64_DOT,
                                          QKV_ISA_NEON64,      QKV_ISA_NEON,        QKV_ISA_MVE};

// Can a CPU reporting `cpu` run kernel set `isa`? (false outside the enum)
constexpr bool allows(feature_set cpu, qkv_isa isa) noexcept {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < QKV_ISA_COUNT && (kRequiredFeatures[i] & ~cpu) == 0;
}

// A set of ISAs, one bit each (bit i = qkv_isa i).
using isa_set = unsigned;
constexpr isa_set isa_bit(qkv_isa isa) noexcept { return 1u << static_cast<unsigned>(isa); }

// The best ISA among `built` that a CPU reporting `cpu` runs; scalar if none.
constexpr qkv_isa pick(feature_set cpu, isa_set built) noexcept {
  for (qkv_isa isa : kPreference)
    if ((built & isa_bit(isa)) && allows(cpu, isa)) return isa;
  return QKV_ISA_SCALAR;
}

// The ISAs compiled into this build (compiled() as a set).
isa_set compiled_set() noexcept;

// The features this CPU and OS report (cpuid and XCR0 via libgcc on x86,
// AT_HWCAP on 32-bit ARM Linux, AT_HWCAP and AT_HWCAP2 on AArch64 Linux),
// plus those the library's baseline code is compiled to assume
// (assumed_features() there): qkv would not be running without them.
// cpu_supports(isa) == allows(cpu_features(), isa).
feature_set cpu_features() noexcept;

namespace {
// The features the including translation unit's flags let the compiler
// assume, read from its predefined macros. In an unnamed namespace because its
// value differs between translation units built with different flags.
constexpr feature_set assumed_features() noexcept {
  feature_set f = 0;
#if defined(__MMX__)
  f |= feature::kMmx;
#endif
#if defined(__SSE__)
  f |= feature::kSse;
#endif
#if defined(__SSE2__)
  f |= feature::kSse2;
#endif
#if defined(__SSE3__)
  f |= feature::kSse3;
#endif
#if defined(__SSSE3__)
  f |= feature::kSsse3;
#endif
#if defined(__SSE4_1__)
  f |= feature::kSse41;
#endif
#if defined(__SSE4_2__)
  f |= feature::kSse42;
#endif
#if defined(__POPCNT__)
  f |= feature::kPopcnt;
#endif
#if defined(__AVX__)
  f |= feature::kAvx;
#endif
#if defined(__AVX2__)
  f |= feature::kAvx2;
#endif
#if defined(__FMA__)
  f |= feature::kFma;
#endif
#if defined(__F16C__)
  f |= feature::kF16c;
#endif
#if defined(__AVX512F__)
  f |= feature::kAvx512f;
#endif
#if defined(__AVX512CD__)
  f |= feature::kAvx512cd;
#endif
#if defined(__AVX512DQ__)
  f |= feature::kAvx512dq;
#endif
#if defined(__AVX512BW__)
  f |= feature::kAvx512bw;
#endif
#if defined(__AVX512VL__)
  f |= feature::kAvx512vl;
#endif
#if defined(__AVX512BF16__)
  f |= feature::kAvx512bf16;
#endif
#if defined(__AVX512VNNI__)
  f |= feature::kAvx512vnni;
#endif
#if defined(__arm__) && defined(__ARM_NEON)
  f |= feature::kNeon | feature::kVfpd32;  // NEON has 32 D registers
#endif
#if defined(__arm__) && defined(__ARM_FEATURE_FMA)
  f |= feature::kVfpv4;
#endif
#if defined(__aarch64__) && defined(__ARM_FP)
  f |= feature::kFp;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  f |= feature::kAsimd;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
  f |= feature::kAsimddp;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_MATMUL_INT8)
  f |= feature::kI8mm;
#endif
#if defined(__aarch64__) && (defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC) || defined(__ARM_FEATURE_BF16_SCALAR_ARITHMETIC))
  f |= feature::kBf16;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)
  f |= feature::kFphp;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
  f |= feature::kAsimdhp;
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
  f |= feature::kMvef;  // bit 1: the floating-point instructions
#endif
  return f;
}
}  // namespace

// Sets the active ISA; the caller has checked compiled() && cpu_supports().
void set_active(qkv_isa isa) noexcept;

namespace detail {
constexpr int kUndecided = -1;
extern std::atomic<int> g_active;
qkv_isa decide() noexcept;  // the first call's slow path
}  // namespace detail

// The active ISA if decided, else -1; never calls out (for hot paths that
// must stay leaf functions).
inline int active_if_decided() noexcept { return detail::g_active.load(std::memory_order_acquire); }

// The active ISA; the first call decides (lock-free, idempotent, so a race
// between first callers computes the same answer twice and stores it once).
// Inline: every entry point asks, and a tiny sgemm costs ~25 ns in all.
inline qkv_isa active() noexcept {
  const int isa = active_if_decided();
  return isa == detail::kUndecided ? detail::decide() : static_cast<qkv_isa>(isa);
}

}  // namespace qkv::dispatch
