# SPDX-License-Identifier: MIT
# The train_gpt checks of examples/CMakeLists.txt, run with cmake -P:
#   -DMODE=threads  5 steps of a tiny model with 1 and with 2 threads: the two
#                   checkpoints must be byte-identical.
#   -DMODE=refuses  a checkpoint loads back into its own configuration and is
#                   refused, with a message, by another one (d 48 instead of 32).
# -DEXE=train_gpt -DDATA=a text file or directory -DDIR=a scratch directory.
cmake_minimum_required(VERSION 3.16)
set(_tiny --data ${DATA} --layers 1 --d 32 --heads 2 --ctx 32 --batch 4 --eval-batches 1 --print-every 1 --seed 5)
file(MAKE_DIRECTORY ${DIR})

function(run_gpt expect_rc out_var)
  execute_process(COMMAND ${EXE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc STREQUAL "${expect_rc}")
    message(FATAL_ERROR "train_gpt ${ARGN}: exit ${rc}, expected ${expect_rc}")
  endif()
  set(${out_var} "${out}${err}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "threads")
  run_gpt(0 out ${_tiny} --steps 5 --samples 0 --threads 1 --save ${DIR}/t1.ckpt)
  run_gpt(0 out ${_tiny} --steps 5 --samples 0 --threads 2 --save ${DIR}/t2.ckpt)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${DIR}/t1.ckpt ${DIR}/t2.ckpt RESULT_VARIABLE diff)
  if(diff)
    message(FATAL_ERROR "the 1-thread and 2-thread checkpoints differ")
  endif()
  message("1 and 2 threads: byte-identical checkpoints")
elseif(MODE STREQUAL "refuses")
  # Train, save, resume (with samples: the KV cache, then recompute once the
  # 32-token context is full), then the refusal.
  run_gpt(0 out ${_tiny} --steps 3 --samples 0 --save ${DIR}/r.ckpt)
  run_gpt(0 out ${_tiny} --steps 5 --samples 1 --sample-len 40 --resume ${DIR}/r.ckpt)
  if(NOT out MATCHES "resumed from .* at step 3")
    message(FATAL_ERROR "the checkpoint did not resume at step 3")
  endif()
  run_gpt(1 out --data ${DATA} --layers 1 --d 48 --heads 2 --ctx 32 --steps 1 --resume ${DIR}/r.ckpt)
  if(NOT out MATCHES "holds another model: d_model is 32 in the file, 48 here")
    message(FATAL_ERROR "no clear refusal of a mismatched checkpoint")
  endif()
  message("a mismatched checkpoint is refused")
else()
  message(FATAL_ERROR "MODE must be threads or refuses")
endif()
