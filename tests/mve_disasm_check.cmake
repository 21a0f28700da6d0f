# SPDX-License-Identifier: MIT
# Checks that the Helium (mve) kernel objects of a Cortex-M55 build issue
# MVE instructions in their loops: vector FMAs in the fp32 GEMM and the fused
# attention, VMLADAVA in the int8 GEMM (objdump prints its alias VMLAVA),
# and tail predication (VCTP and predicated loads) in the GEMM edges, softmax
# and optimizer. A fallback to scalar or auto-vectorized code would pass
# every numeric test and lose the speed (README "Instruction counts on
# Cortex-M").
# Usage: cmake -DOBJDUMP=<objdump> -DOBJECTS=<obj1|obj2|...> -P mve_disasm_check.cmake
string(REPLACE "|" ";" _objects "${OBJECTS}")
# object name, regex, minimum count
set(_wants
    "gemm_mve|vfma\\.f32[ \t]+q[0-7], q[0-7], r|6"
    "gemm_mve|vctp\\.32|1"
    "gemm_mve|vldrwt\\.u32|1"
    "gemm_lowp_mve|vmla(da)?va\\.s8|8"
    "attn_mve|vfma\\.f32|6"
    "softmax_mve|vctp\\.32|1"
    "softmax_mve|vfma\\.f32|1"
    "optim_mve|vctp\\.32|1")
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
  execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn -m armv8.1-m.main ${_obj} OUTPUT_VARIABLE _asm
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
  message(FATAL_ERROR "MVE instructions missing: ${_failed}")
endif()
