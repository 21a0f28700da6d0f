# SPDX-License-Identifier: MIT
# 64-bit ARM Linux (Raspberry Pi 3/4/5 64-bit OS, Graviton, Ampere): the neon64
# kernel set. Tests run under qemu-aarch64 unless a -DCMAKE_CROSSCOMPILING_EMULATOR
# on the command line says otherwise.
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(QKV_SYSROOT /usr/aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)   # a -D on the command line wins
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${QKV_SYSROOT})
endif()
