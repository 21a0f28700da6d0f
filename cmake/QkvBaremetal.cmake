# SPDX-License-Identifier: MIT
# qkv_runnable(target): makes an executable runnable on the target. Hosted: a
# no-op. Bare metal (toolchains/cortex-m*.cmake): links the test startup code
# and the mps2/mps3 linker script from tests/baremetal, newlib's semihosting
# C library (rdimon: stdout and the exit status reach the host through QEMU)
# and nano stdio with float printf. For the project's own test and benchmark
# images only; firmware links libqkv.a with its own startup and script.
set(QKV_BAREMETAL_DIR ${PROJECT_SOURCE_DIR}/tests/baremetal)

function(qkv_runnable target)
  if(NOT QKV_BAREMETAL)
    return()
  endif()
  if(NOT TARGET qkv_baremetal_startup)
    add_library(qkv_baremetal_startup OBJECT ${QKV_BAREMETAL_DIR}/startup.c)
    set_target_properties(qkv_baremetal_startup PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
  endif()
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:qkv_baremetal_startup>)
  target_link_options(${target} PRIVATE
    -nostartfiles -T${QKV_BAREMETAL_DIR}/mps2.ld
    --specs=nano.specs --specs=rdimon.specs -u _printf_float
    -Wl,--gc-sections -Wl,-Map=$<TARGET_FILE:${target}>.map)
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${QKV_BAREMETAL_DIR}/mps2.ld)
endfunction()
