# SPDX-License-Identifier: MIT
# Checks that the hand-written kernel objects issue the instructions their
# speed depends on (objdump of the library's objects). A fallback to other
# code would pass every numeric test and lose the speed. Sets (SET):
# - avx512_fma: the AVX-512 gemm object issues real zmm FMAs (xsimd 8.1's
#   fma on avx512f is a multiply and an add: half the kernel's speed); the
#   14x32 full tile alone has 28 in its inner loop.
# - mve: the Helium objects of a Cortex-M55 build issue MVE instructions in
#   their loops: vector FMAs in the fp32 GEMM and the fused attention,
#   VMLADAVA in the int8 GEMM (objdump prints its alias VMLAVA), and tail
#   predication (VCTP and predicated loads) in the GEMM edges, softmax and
#   optimizer (README "Instruction counts on Cortex-M").
# Usage: cmake -DSET=<set> -DOBJDUMP=<objdump> -DOBJECTS=<obj1|obj2|...> -P disasm_check.cmake
string(REPLACE "|" ";" _objects "${OBJECTS}")
# object name, regex, minimum count
if(SET STREQUAL "avx512_fma")
  set(_objdump_args)
  set(_wants "gemm_avx512|vfmadd[0-9]+ps[^\n]*zmm|28")
elseif(SET STREQUAL "mve")
  set(_objdump_args -m armv8.1-m.main)
  set(_wants
      "gemm_mve|vfma\\.f32[ \t]+q[0-7], q[0-7], r|6"
      "gemm_mve|vctp\\.32|1"
      "gemm_mve|vldrwt\\.u32|1"
      "gemm_lowp_mve|vmla(da)?va\\.s8|8"
      "attn_mve|vfma\\.f32|6"
      "softmax_mve|vctp\\.32|1"
      "softmax_mve|vfma\\.f32|1"
      "optim_mve|vctp\\.32|1")
else()
  message(FATAL_ERROR "disasm_check: unknown SET '${SET}'")
endif()
set(_failed "")
foreach(w IN LISTS _wants)
  string(REPLACE "|" ";" _w "${w}")
  list(GET _w 0 _name)
  list(GET _w 1 _re)
  list(GET _w 2 _min)
  set(_obj "")
  foreach(o IN LISTS _objects)
    if(o MATCHES "/${_name}\\.cpp\\.o(bj)?$")
      set(_obj "${o}")
    endif()
  endforeach()
  if(NOT _obj)
    list(APPEND _failed "no ${_name} object")
    continue()
  endif()
  execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn ${_objdump_args} ${_obj} OUTPUT_VARIABLE _asm
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    list(APPEND _failed "${OBJDUMP} failed on ${_obj}")
    continue()
  endif()
  string(REGEX MATCHALL "${_re}" _hits "${_asm}")
  list(LENGTH _hits _n)
  message(STATUS "${_name}: ${_n} x ${_re} (at least ${_min})")
  if(_n LESS _min)
    list(APPEND _failed "${_name}: ${_n} x ${_re}, want at least ${_min}")
  endif()
endforeach()
if(_failed)
  message(FATAL_ERROR "instructions missing (${SET}): ${_failed}")
endif()
