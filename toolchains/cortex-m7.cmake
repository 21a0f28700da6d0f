# SPDX-License-Identifier: MIT
# Cortex-M7 (Armv7E-M, double-precision FPU), e.g. STM32F7/H7, i.MX RT.
# Tests run on qemu-system-arm -M mps2-an500.
set(QKV_CPU_FLAGS "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16")
set(QKV_QEMU_MACHINE mps2-an500)
include(${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi-common.cmake)
