# SPDX-License-Identifier: MIT
# x86-64 at the baseline ISA (-march=x86-64: SSE2, no AVX), for distributable
# binaries; the avx2/avx512 kernel files still get their own flags and are
# chosen at run time. Not a cross build (CMAKE_SYSTEM_NAME is left alone, so
# host packages are found), but ctest runs every test under
# qemu-x86_64 -cpu ${QKV_QEMU_CPU}, to prove the fallback on older CPUs:
#   Nehalem (SSE4.2, picks sse2), SandyBridge (AVX, picks sse2),
#   Haswell (AVX2+FMA, picks avx2). QEMU 7.2 emulates no AVX-512.
#   cmake -S . -B build/nehalem -DCMAKE_TOOLCHAIN_FILE=toolchains/x86_64-qemu.cmake -DQKV_QEMU_CPU=Nehalem
# QKV_QEMU_CPU=env runs plain qemu-x86_64, whose CPU model then comes from the
# QEMU_CPU environment variable at test time (one build, several CPUs; unset:
# qemu64, SSE2 only). An empty QKV_QEMU_CPU runs the tests natively.
set(CMAKE_C_FLAGS_INIT "-march=x86-64 -mtune=generic")
set(CMAKE_CXX_FLAGS_INIT "-march=x86-64 -mtune=generic")
if(NOT DEFINED QKV_QEMU_CPU)
  set(QKV_QEMU_CPU Nehalem)
endif()
if(NOT CMAKE_CROSSCOMPILING_EMULATOR AND QKV_QEMU_CPU STREQUAL "env")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-x86_64)
elseif(NOT CMAKE_CROSSCOMPILING_EMULATOR AND QKV_QEMU_CPU)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-x86_64 -cpu ${QKV_QEMU_CPU})
endif()
