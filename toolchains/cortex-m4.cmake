# SPDX-License-Identifier: MIT
# Cortex-M4F (Armv7E-M, single-precision FPU), e.g. STM32F4, nRF52.
# Tests run on qemu-system-arm -M mps2-an386.
#   cmake -S . -B build/m4 -DCMAKE_TOOLCHAIN_FILE=toolchains/cortex-m4.cmake -DCMAKE_BUILD_TYPE=MinSizeRel
set(QKV_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(QKV_QEMU_MACHINE mps2-an386)
include(${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi-common.cmake)
