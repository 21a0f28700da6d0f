# SPDX-License-Identifier: MIT
# Which kernel sets (ISAs) this target CPU family gets, and the flags of each
# per-ISA translation unit. Flags are set per source file, never globally, so
# the rest of the library stays at the target's baseline (e.g. -march=x86-64)
# and dispatch decides at run time. -march=native is never used: g++ 12 maps
# Zen 5 to znver3 without AVX-512.
set(QKV_ISAS "")
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _proc)
if(QKV_SIMD)
  if(_proc MATCHES "^(x86_64|amd64|x64)$")
    set(QKV_ISAS sse2 avx2 avx512 avx512_bf16)
  elseif(_proc MATCHES "^(i[3-6]86|x86)$")
    set(QKV_ISAS sse2 avx2 avx512 avx512_bf16)
  elseif(_proc MATCHES "^(aarch64|arm64)$")
    set(QKV_ISAS neon64 neon64_dot neon64_bf16)
  elseif(_proc MATCHES "^arm")
    set(QKV_ISAS neon)
  endif()
endif()
# QKV_ISA_ONLY (a ;-list) keeps only those of the target's sets: for test
# builds that check a subset (the sanitizer stage: scripts/stages/sanitize.sh).
set(QKV_ISA_ONLY "" CACHE STRING "Build only these of the target's kernel sets (a ;-list; test builds)")
if(QKV_ISA_ONLY)
  set(_kept "")
  foreach(_isa IN LISTS QKV_ISAS)
    if(_isa IN_LIST QKV_ISA_ONLY)
      list(APPEND _kept ${_isa})
    endif()
  endforeach()
  set(QKV_ISAS ${_kept})
endif()
# Helium (MVE) with floating point: a compile-time set, hand-written with
# arm_mve.h (xsimd has no MVE), built whenever the target's own flags enable
# MVE-F (-mcpu=cortex-m55, cortex-m85): the baseline already assumes it, so
# its files need no extra flags. QKV_MVE=OFF leaves the scalar set alone.
option(QKV_MVE "Build the Helium (MVE) kernel set when the target has MVE with floating point" ON)
set(QKV_XSIMD_ISAS ${QKV_ISAS})
if(QKV_MVE AND _proc MATCHES "^arm")
  include(CheckCXXSourceCompiles)
  check_cxx_source_compiles("
#if !defined(__ARM_FEATURE_MVE) || !(__ARM_FEATURE_MVE & 2)
#error no MVE-F
#endif
#include <arm_mve.h>
float32x4_t qkv_mve_probe(float32x4_t a) { return vfmaq_f32(a, a, a); }
int main() { return 0; }" QKV_TARGET_HAS_MVEF)
  if(QKV_TARGET_HAS_MVEF)
    list(APPEND QKV_ISAS mve)
  endif()
endif()
set(QKV_IS_I686 OFF)
if(_proc MATCHES "^(i[3-6]86|x86)$")
  set(QKV_IS_I686 ON)
endif()

# Per-ISA compile flags. -O2 is forced: at -O0 per-ISA objects share weak
# copies of inline functions and the linker may keep an AVX copy for the
# SSE2 path (SIGILL on older CPUs). QKV_ISA_OPT overrides it for test-only
# builds on a CPU that runs every set: the sanitizer stage builds them at -O1
# (the per-ISA kernel tables under ASan compile in ~60 % of -O2's time).
set(QKV_ISA_OPT "-O2" CACHE STRING "Optimization flag of the per-ISA kernel files (-O2; -O1 only for test builds)")
function(qkv_isa_flags isa out)
  set(f ${QKV_ISA_OPT})
  if(isa STREQUAL "sse2")
    if(QKV_IS_I686)
      list(APPEND f -msse2 -mfpmath=sse)
    endif()
  elseif(isa STREQUAL "avx2")
    list(APPEND f -mavx2 -mfma -mf16c)
  elseif(isa STREQUAL "avx512")
    # GCC 12 warns falsely (maybe-uninitialized) inside avx512fintrin.h.
    list(APPEND f -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      list(APPEND f -Wno-maybe-uninitialized)
    endif()
  elseif(isa STREQUAL "avx512_bf16")
    list(APPEND f -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c -mavx512bf16 -mavx512vnni)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      list(APPEND f -Wno-maybe-uninitialized)
    endif()
  elseif(isa STREQUAL "neon")
    list(APPEND f -mfpu=neon-vfpv4)
  elseif(isa STREQUAL "neon64_dot")
    # Armv8.2-A is implied: FEAT_DotProd and FEAT_BF16 exist from Armv8.2
    # only, so a CPU reporting them has its mandatory features (and GCC 12's
    # bf16 intrinsics refuse an armv8-a target). No +fp16: neither set
    # assumes half-precision arithmetic. (With +bf16 but no +fp16, GCC 12
    # emitted an fp16 fmov for a constant bf16 vector, which the assembler
    # refused: a build error, never a wrong instruction; the kernels build no
    # such constants.)
    list(APPEND f -march=armv8.2-a+dotprod)
  elseif(isa STREQUAL "neon64_bf16")
    list(APPEND f -march=armv8.2-a+dotprod+bf16+i8mm)
  endif()
  # mve: nothing beyond -O2 (the target's -mcpu enables it everywhere).
  set(${out} ${f} PARENT_SCOPE)
endfunction()

message(STATUS "qkv: kernel sets: scalar ${QKV_ISAS}; OpenMP ${QKV_OPENMP}; bare metal ${QKV_BAREMETAL}")

# xsimd is header-only and private to the kernel translation units. Its
# headers are reached through a link farm so that cross compilers that do not
# search /usr/include (and must not be given -I/usr/include) still find them.
if(QKV_XSIMD_ISAS)
  find_path(QKV_XSIMD_INCLUDE_DIR xsimd/xsimd.hpp
            PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH)
  if(NOT QKV_XSIMD_INCLUDE_DIR)
    message(FATAL_ERROR "xsimd not found: run ./scripts/setup-deps.sh or pass -DQKV_SIMD=OFF")
  endif()
  set(QKV_HOSTINC ${CMAKE_BINARY_DIR}/hostinc)
  file(MAKE_DIRECTORY ${QKV_HOSTINC})
  if(NOT EXISTS ${QKV_HOSTINC}/xsimd)
    file(CREATE_LINK ${QKV_XSIMD_INCLUDE_DIR}/xsimd ${QKV_HOSTINC}/xsimd SYMBOLIC)
  endif()
endif()
