// SPDX-License-Identifier: MIT
// CPU feature probes. Deliberately not xsimd's available_architectures():
// xsimd 8.1 reads SSE2 from the wrong CPUID bit and never checks XCR0, while
// libgcc's __builtin_cpu_supports does both right. Which features each kernel
// set needs is kRequiredFeatures (dispatch.hpp); this file only asks the CPU.
#include "dispatch/dispatch.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#endif

#if defined(__arm__) && defined(__linux__)
#include <sys/auxv.h>
// <asm/hwcap.h> values (arch/arm/include/uapi/asm/hwcap.h), in case the libc
// headers lack them.
#ifndef HWCAP_NEON
#define HWCAP_NEON (1 << 12)
#endif
#ifndef HWCAP_VFPv3
#define HWCAP_VFPv3 (1 << 13)
#endif
#ifndef HWCAP_VFPv4
#define HWCAP_VFPv4 (1 << 16)
#endif
#ifndef HWCAP_VFPD32
#define HWCAP_VFPD32 (1 << 19)
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
// <asm/hwcap.h> values (arch/arm64/include/uapi/asm/hwcap.h), in case the
// libc headers lack them.
#ifndef AT_HWCAP2
#define AT_HWCAP2 26
#endif
#ifndef HWCAP_FPHP
#define HWCAP_FPHP (1 << 9)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
#endif

namespace qkv::dispatch {

bool compiled(qkv_isa isa) noexcept {
  switch (isa) {
    case QKV_ISA_SCALAR: return true;
#ifdef QKV_HAVE_SSE2
    case QKV_ISA_SSE2: return true;
#endif
#ifdef QKV_HAVE_AVX2
    case QKV_ISA_AVX2: return true;
#endif
#ifdef QKV_HAVE_AVX512
    case QKV_ISA_AVX512: return true;
#endif
#ifdef QKV_HAVE_AVX512_BF16
    case QKV_ISA_AVX512_BF16: return true;
#endif
#ifdef QKV_HAVE_NEON
    case QKV_ISA_NEON: return true;
#endif
#ifdef QKV_HAVE_NEON64
    case QKV_ISA_NEON64: return true;
#endif
#ifdef QKV_HAVE_NEON64_DOT
    case QKV_ISA_NEON64_DOT: return true;
#endif
#ifdef QKV_HAVE_NEON64_BF16
    case QKV_ISA_NEON64_BF16: return true;
#endif
#ifdef QKV_HAVE_MVE
    case QKV_ISA_MVE: return true;
#endif
    default: return false;
  }
}

isa_set compiled_set() noexcept {
  isa_set s = 0;
  for (int i = 0; i < QKV_ISA_COUNT; ++i)
    if (compiled(static_cast<qkv_isa>(i))) s |= isa_bit(static_cast<qkv_isa>(i));
  return s;
}

feature_set cpu_features() noexcept {
  feature_set f = assumed_features();  // of this file: the library's baseline
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  // libgcc reports AVX, FMA and AVX-512 only where XCR0 shows the OS saves
  // their registers.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("mmx")) f |= feature::kMmx;
  if (__builtin_cpu_supports("sse")) f |= feature::kSse;
  if (__builtin_cpu_supports("sse2")) f |= feature::kSse2;
  if (__builtin_cpu_supports("sse3")) f |= feature::kSse3;
  if (__builtin_cpu_supports("ssse3")) f |= feature::kSsse3;
  if (__builtin_cpu_supports("sse4.1")) f |= feature::kSse41;
  if (__builtin_cpu_supports("sse4.2")) f |= feature::kSse42;
  if (__builtin_cpu_supports("popcnt")) f |= feature::kPopcnt;
  if (__builtin_cpu_supports("avx")) f |= feature::kAvx;
  if (__builtin_cpu_supports("avx2")) f |= feature::kAvx2;
  if (__builtin_cpu_supports("fma")) f |= feature::kFma;
  if (__builtin_cpu_supports("avx512f")) f |= feature::kAvx512f;
  if (__builtin_cpu_supports("avx512cd")) f |= feature::kAvx512cd;
  if (__builtin_cpu_supports("avx512dq")) f |= feature::kAvx512dq;
  if (__builtin_cpu_supports("avx512bw")) f |= feature::kAvx512bw;
  if (__builtin_cpu_supports("avx512vl")) f |= feature::kAvx512vl;
  if (__builtin_cpu_supports("avx512bf16")) f |= feature::kAvx512bf16;
  if (__builtin_cpu_supports("avx512vnni")) f |= feature::kAvx512vnni;
  // F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has
  // no "f16c". Its instructions use the AVX state, so only with AVX (whose
  // probe above checked that the OS saves it).
  unsigned a1, b1, c1, d1;
  if ((f & feature::kAvx) && __get_cpuid(1, &a1, &b1, &c1, &d1) && (c1 & (1u << 29))) f |= feature::kF16c;
#endif
#if defined(__arm__) && defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  if (hwcap & HWCAP_VFPv3) f |= feature::kVfpv3;
  if (hwcap & HWCAP_VFPD32) f |= feature::kVfpd32;
  if (hwcap & HWCAP_VFPv4) f |= feature::kVfpv4;
  if (hwcap & HWCAP_NEON) f |= feature::kNeon;
#endif
  // AArch64: FP and Advanced SIMD are part of the baseline (assumed above);
  // the kernel (which enables their use at EL0) reports the extensions.
#if defined(__aarch64__) && defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  if (hwcap & HWCAP_ASIMDDP) f |= feature::kAsimddp;
  if (hwcap & HWCAP_FPHP) f |= feature::kFphp;
  if (hwcap & HWCAP_ASIMDHP) f |= feature::kAsimdhp;
  if (hwcap2 & HWCAP2_I8MM) f |= feature::kI8mm;
  if (hwcap2 & HWCAP2_BF16) f |= feature::kBf16;
#endif
  return f;
}

bool cpu_supports(qkv_isa isa) noexcept { return allows(cpu_features(), isa); }

qkv_isa best() noexcept { return pick(cpu_features(), compiled_set()); }

}  // namespace qkv::dispatch
