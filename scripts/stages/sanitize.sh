# SPDX-License-Identifier: MIT
# The full test suite under AddressSanitizer + UndefinedBehaviorSanitizer,
# OpenMP on, any finding fatal (-fno-sanitize-recover=all).
stage_sanitize() {
  log "sanitize: ASan + UBSan, OpenMP on"
  # GCC 12 sees _mm512_undefined_* in xsimd's AVX-512 exp as uninitialized under ASan: a warning, not an error.
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-error=uninitialized -Wno-error=maybe-uninitialized"
  configure_build sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_BUILD_BENCH=OFF \
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
