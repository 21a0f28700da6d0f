# SPDX-License-Identifier: MIT
# The full test suite under AddressSanitizer + UndefinedBehaviorSanitizer,
# OpenMP on, any finding fatal (-fno-sanitize-recover=all).
#
# Build time is most of this stage (the one-TU-per-ISA kernel tables under
# ASan + UBSan take minutes each); what keeps it down without losing checks:
# - -g1 (line tables) in place of -g: sanitizer reports name file:line for
#   every frame all the same; only a debugger's view of variables is lost.
#   It spares GCC's variable tracking, ~30 % of each object's compile time.
# - -O1 in place of -O2, for the per-ISA kernel files too (QKV_ISA_OPT): the
#   kernel tables (one TU per ISA instantiating every module) take ~60 % of
#   -O2's compile time under ASan, the tests run a little slower. What the
#   sanitizers check does not depend on it (ASan's usual level is -O1).
# - the kernel sets scalar, avx512 and avx512_bf16 only (QKV_ISA_ONLY): the
#   same templates as sse2 and avx2 at their widest vectors, the scalar
#   set's tails beside them (on a CPU without AVX-512, scalar alone). The
#   sse2 and avx2 instances run under ASan + UBSan in the fuzz stage (every
#   input picks one of the runnable sets) and avx2 under valgrind (the
#   examples); under ASan here they were about a third of the library's
#   build.
# - the Catch2 runner (tests/main.cpp) is compiled without sanitizers
#   (tests/CMakeLists.txt): it is Catch2's own code, the most expensive
#   object to instrument, and checks no qkv memory. The library, the test
#   files, the references and the examples stay fully instrumented.
stage_sanitize() {
  log "sanitize: ASan + UBSan, OpenMP on"
  # GCC 12 sees _mm512_undefined_* in xsimd's AVX-512 exp as uninitialized under ASan: a warning, not an error.
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-error=uninitialized -Wno-error=maybe-uninitialized"
  configure_build sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DQKV_ISA_OPT=-O1 \
    "-DQKV_ISA_ONLY=avx512;avx512_bf16" \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
  # qemu runs and the install test are covered by the native stage. The
  # small test scale (as under emulation) keeps every path and ISA but the
  # largest shapes, whose numerics the native stage checks and whose memory
  # accesses the fuzzers (random shapes, ASan) reach.
  QKV_TEST_SCALE=small \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest sanitize -E "^(qemu_|install_consumers)"
}
