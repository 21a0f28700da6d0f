# SPDX-License-Identifier: MIT
# 32-bit ARM Linux, hard float (Debian armhf, Raspberry Pi OS 32-bit). The
# baseline is armv7-a with VFP and *no* NEON (GCC >= 8 needs "+fp", else
# "-mfloat-abi=hard: selected architecture lacks an FPU"); the neon kernels
# are compiled per file with -mfpu=neon-vfpv4 and chosen at run time when
# HWCAP reports NEON, VFPv4 and 32 D registers (src/dispatch). Check the
# scalar fallback on a CPU without them (cortex-a8/a9: NEON but no VFPv4;
# cortex-r5f: no NEON) with
#   -DCMAKE_CROSSCOMPILING_EMULATOR="qemu-arm;-cpu;cortex-a9;-L;/usr/arm-linux-gnueabihf"
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7-a)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a+fp -mfloat-abi=hard")
# -Wno-psabi: GCC notes that std::pair passing changed in GCC 7.1; everything
# here is built by one compiler, so the note is noise.
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a+fp -mfloat-abi=hard -Wno-psabi")
set(QKV_SYSROOT /usr/arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L ${QKV_SYSROOT})
endif()
