# SPDX-License-Identifier: MIT
# Checks that the AVX-512 gemm object issues real zmm FMA instructions:
# xsimd 8.1's fma on avx512f is a multiply and an add, so a regression to it
# would halve the kernel's speed without failing any numeric test.
# Usage: cmake -DOBJDUMP=<objdump> -DOBJECTS=<obj1|obj2|...> -P gemm_fma_check.cmake
string(REPLACE "|" ";" _objects "${OBJECTS}")
set(_obj "")
foreach(o IN LISTS _objects)
  if(o MATCHES "gemm_avx512\\.cpp\\.o(bj)?$")
    set(_obj "${o}")
  endif()
endforeach()
if(NOT _obj)
  message(FATAL_ERROR "no gemm_avx512 object among the library's objects")
endif()
execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn ${_obj} OUTPUT_VARIABLE _asm RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${_obj}")
endif()
string(REGEX MATCHALL "vfmadd[0-9]+ps[^\n]*zmm" _fmas "${_asm}")
list(LENGTH _fmas _n)
# The 14x32 full tile alone has 28 in its inner loop.
if(_n LESS 28)
  message(FATAL_ERROR "only ${_n} zmm vfmadd*ps instructions in ${_obj}")
endif()
message(STATUS "${_n} zmm vfmadd*ps instructions in ${_obj}")
