# SPDX-License-Identifier: MIT
# Time limits for tests that run under an emulator.
#
# A cross build's tests run through CMAKE_CROSSCOMPILING_EMULATOR (qemu-user
# or qemu-system-arm): there a hang or a pathological slowdown must fail fast,
# with ctest's "Timeout" line naming the test, instead of using up CI's time.
# QKV_EMULATED_TEST_TIMEOUT (seconds, default 120) caps every test of such a
# build: qkv_cap_emulated_test_timeouts() applies it to a directory's tests,
# and QKV_CATCH_TEST_TIMEOUT is the limit the discovered Catch2 tests get.
# Native builds keep each test's own limit (QKV_CATCH_TEST_TIMEOUT 600).
# A native build's own emulated tests (its binary under qemu-x86_64 CPU
# models) take the same limit.
set(QKV_EMULATED_TEST_TIMEOUT 120 CACHE STRING "Seconds any one emulated test may run")
if(CMAKE_CROSSCOMPILING_EMULATOR)
  set(QKV_CATCH_TEST_TIMEOUT ${QKV_EMULATED_TEST_TIMEOUT})
else()
  set(QKV_CATCH_TEST_TIMEOUT 600)
endif()

# qkv_cap_emulated_test_timeouts(): every test defined so far in the calling
# directory runs under at most QKV_EMULATED_TEST_TIMEOUT seconds (a shorter
# limit of its own stays). Each CMakeLists.txt that adds tests calls it last
# (CMake 3.25 sets test properties only from the defining directory). No-op
# for native builds.
function(qkv_cap_emulated_test_timeouts)
  if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} TIMEOUT limit)
    if(NOT limit OR limit GREATER QKV_EMULATED_TEST_TIMEOUT)
      set_tests_properties(${t} PROPERTIES TIMEOUT ${QKV_EMULATED_TEST_TIMEOUT})
    endif()
  endforeach()
endfunction()
