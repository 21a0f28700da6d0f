# SPDX-License-Identifier: MIT
# Cortex-M55 (Armv8.1-M with Helium/MVE and FP). xsimd has no MVE support; at
# -O3 GCC auto-vectorizes the scalar kernels with MVE.
# Tests run on qemu-system-arm -M mps3-an547.
set(QKV_CPU_FLAGS "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard")
set(QKV_QEMU_MACHINE mps3-an547)
include(${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi-common.cmake)
