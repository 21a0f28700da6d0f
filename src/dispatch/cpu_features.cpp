// CPU feature probes. Deliberately not xsimd's available_architectures():
// xsimd 8.1 reads SSE2 from the wrong CPUID bit and never checks XCR0, while
// libgcc's __builtin_cpu_supports does both right.
#include "dispatch/dispatch.hpp"

#if defined(__arm__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_NEON
#define HWCAP_NEON (1 << 12)
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
#ifdef QKV_HAVE_NEON
    case QKV_ISA_NEON: return true;
#endif
#ifdef QKV_HAVE_NEON64
    case QKV_ISA_NEON64: return true;
#endif
    default: return false;
  }
}

bool cpu_supports(qkv_isa isa) noexcept {
  switch (isa) {
    case QKV_ISA_SCALAR: return true;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    case QKV_ISA_SSE2: return __builtin_cpu_supports("sse2");
    case QKV_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case QKV_ISA_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case QKV_ISA_NEON64: return true;  // Advanced SIMD is mandatory in AArch64
#endif
#if defined(__arm__) && defined(__linux__)
    case QKV_ISA_NEON: return (getauxval(AT_HWCAP) & HWCAP_NEON) != 0;
#endif
    default: return false;
  }
}

qkv_isa best() noexcept {
  static constexpr qkv_isa preference[] = {QKV_ISA_AVX512, QKV_ISA_AVX2, QKV_ISA_SSE2,
                                           QKV_ISA_NEON64, QKV_ISA_NEON};
  for (qkv_isa isa : preference)
    if (compiled(isa) && cpu_supports(isa)) return isa;
  return QKV_ISA_SCALAR;
}

}  // namespace qkv::dispatch
