# SPDX-License-Identifier: MIT
# Bare-metal Arm Cortex-M (arm-none-eabi GCC + newlib), included by the
# per-core files after they set:
#   QKV_CPU_FLAGS     -mcpu/-mthumb/-mfloat-abi/-mfpu for the core
#   QKV_QEMU_MACHINE  the qemu-system-arm board whose CPU is that core
# The library then builds scalar kernels only (no xsimd, no OpenMP, no heap,
# -fno-exceptions -fno-rtti -fno-threadsafe-statics; see src/CMakeLists.txt).
# Test and benchmark images link tests/baremetal/startup.c and mps2.ld (for
# the mps2/mps3 boards only: firmware brings its own startup and linker script)
# and run under qemu-system-arm with semihosting, which carries stdout and the
# exit status back to ctest.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
# try_compile cannot link an executable without startup code and a linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
# CMake also passes these on the link line, which selects the right multilib.
# -fstack-usage writes a .su file (stack frame per function) next to each
# object: scripts/size-table.sh reports them. -Wno-psabi: GCC 7.1 ABI notes.
set(CMAKE_C_FLAGS_INIT "${QKV_CPU_FLAGS} -fstack-usage")
set(CMAKE_CXX_FLAGS_INIT "${QKV_CPU_FLAGS} -fstack-usage -Wno-psabi")
set(CMAKE_ASM_FLAGS_INIT "${QKV_CPU_FLAGS}")
# Never look on the host for libraries or headers (-I/usr/include breaks newlib).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(QKV_BAREMETAL_QEMU_MACHINE ${QKV_QEMU_MACHINE})
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)   # a -D on the command line wins
  # Everything after -kernel is the image; test arguments cannot be passed.
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-system-arm -M ${QKV_QEMU_MACHINE} -nographic
      -monitor none -serial none -semihosting-config enable=on,target=native -kernel)
endif()
