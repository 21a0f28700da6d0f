# SPDX-License-Identifier: MIT
# 32-bit x86 Linux. The baseline is i686 with x87 math; the sse2/avx2/avx512
# kernel files get their own flags (-msse2 -mfpmath=sse ...) and are chosen
# at run time.
#
# How the tests run (unless -DCMAKE_CROSSCOMPILING_EMULATOR=... says):
# - natively, through the target's own loader, where the kernel runs 32-bit
#   code (a 64-bit kernel with IA32 emulation);
# - else under qemu-i386. Its CPU model comes from QEMU_CPU at test time
#   (unset: qemu32, no SSE2; e.g. QEMU_CPU=Haswell picks avx2).
#   The sysroot's libraries are put first with LD_LIBRARY_PATH: without it
#   the sysroot's ld.so reads the host's /etc/ld.so.cache, which on a host
#   with Debian's libc6-i386 (pulled in by libclang-rt-14-dev, for example)
#   points at /lib32/libc.so.6 from another glibc build. That mismatched pair
#   runs single-threaded programs but loops forever in the first
#   pthread_create (the two disagree on ld.so's private stack-cache list).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER i686-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER i686-linux-gnu-g++)
set(QKV_SYSROOT /usr/i686-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  execute_process(COMMAND ${QKV_SYSROOT}/lib/ld-linux.so.2 --version
                  RESULT_VARIABLE _qkv_i686_native OUTPUT_QUIET ERROR_QUIET)
  if(_qkv_i686_native EQUAL 0)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${QKV_SYSROOT}/lib/ld-linux.so.2 --library-path ${QKV_SYSROOT}/lib)
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR qemu-i386 -E LD_LIBRARY_PATH=${QKV_SYSROOT}/lib -L ${QKV_SYSROOT})
  endif()
endif()
