// SPDX-License-Identifier: MIT
// amx - whether qkv_gemm_ex may run Intel AMX tiles (TMUL: tdpbf16ps for
// bf16 x bf16, tdpbssd for int8 x int8) under the avx512_bf16 kernel set.
// AMX is not a kernel set of its own: a CPU with AMX has every avx512_bf16
// feature, and only the reduced-precision GEMM has tile kernels, so the
// choice sits beside the ISA's, like uarch's. Three conditions, all needed:
// the CPU reports AMX-TILE and the type's instructions (CPUID leaf 7, EDX
// bits 24, 22, 25), the OS enabled the tile state (XCR0 bits 17 and 18),
// and the OS lets this process use it (Linux >= 5.16 keeps the 8 KiB tile
// data off by default: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
// asks, once, for the whole process and its threads). Decided on first use
// (the first bf16 or int8 gemm_ex on avx512_bf16), never before: a program
// that runs no such GEMM never asks the OS.
#pragma once

#include <cstdint>

namespace qkv::dispatch {

struct amx_support {
  bool bf16 = false;  // AMX-TILE + AMX-BF16, usable
  bool int8 = false;  // AMX-TILE + AMX-INT8, usable
};

// Pure: what the three facts allow (tests call it with made-up CPUs).
// cpuid7_edx: CPUID leaf 7 subleaf 0 EDX; xcr0: XGETBV(0); os_grants: the
// permission request succeeded.
amx_support amx_from(std::uint32_t cpuid7_edx, std::uint64_t xcr0, bool os_grants) noexcept;

// This process's answer, on first use. Builds without the AMX kernels
// (QKV_HAVE_AMX: x86-64 hosted builds whose compiler has -mamx-*) and
// CPUs without AMX answer no without asking the OS. QKV_AMX=0 in the
// environment answers no (A/B measurements, or to keep the vdpbf16ps / VNNI
// tiles); the two paths' results differ within gemm_ex.h's bound (bf16) or
// not at all (int8: exact sums).
const amx_support& amx() noexcept;

}  // namespace qkv::dispatch
