# SPDX-License-Identifier: MIT
# Warning flags for every qkv target (library, tests, examples, bench).
set(QKV_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
if(QKV_WERROR)
  list(APPEND QKV_WARNING_FLAGS -Werror)
endif()

function(qkv_warnings target)
  target_compile_options(${target} PRIVATE ${QKV_WARNING_FLAGS})
endfunction()
