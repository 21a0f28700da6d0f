# SPDX-License-Identifier: MIT
# Runs a seeded program in three separate processes - twice with 1 thread,
# once with 3 - and fails unless the output files are byte-identical.
#   cmake -DEXE=prog -DDIR=workdir -DKIND=seeded|train_copy -P same_seed.cmake
# seeded:      EXE OUT THREADS SEED         (tests/process/seeded_run.c)
# train_copy:  EXE OUT 0 0 with OMP_NUM_THREADS=THREADS: 50 AdamW steps of the
#              copy-task decoder (examples/train_copy.c), then the saved model.
file(MAKE_DIRECTORY ${DIR})
foreach(run a:1 b:1 c:3)
  string(REPLACE ":" ";" _r ${run})
  list(GET _r 0 _name)
  list(GET _r 1 _threads)
  if(KIND STREQUAL "train_copy")
    set(_cmd ${CMAKE_COMMAND} -E env OMP_NUM_THREADS=${_threads} ${EXE} ${DIR}/${_name}.bin 0 0)
  else()
    set(_cmd ${EXE} ${DIR}/${_name}.bin ${_threads} 20240611)
  endif()
  execute_process(COMMAND ${_cmd} RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "run ${_name} (${_threads} threads) failed: ${rc}")
  endif()
endforeach()
file(SIZE ${DIR}/a.bin _size)
foreach(other b c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${DIR}/a.bin ${DIR}/${other}.bin RESULT_VARIABLE diff)
  if(NOT diff EQUAL 0)
    message(FATAL_ERROR "same seed, different bytes: a.bin vs ${other}.bin")
  endif()
endforeach()
message(STATUS "same seed (${KIND}): 3 processes (1, 1, 3 threads), ${_size} bytes each, byte-identical")
