# Cross stage: every target in toolchains/ is built here and its tests run
# under emulation (binfmt_misc is not relied on: each toolchain file sets
# CMAKE_CROSSCOMPILING_EMULATOR, so ctest prefixes the emulator itself).
# Linux targets run the whole suite (Catch2 + C checks + portable bench) with
# QKV_TEST_SCALE=small and QKV_EXPECT_ISA, which makes every Catch2 run fail
# unless dispatch picked that ISA; bare-metal targets run the C check images
# under qemu-system-arm and check the library's undefined symbols.

# cross_isa_lines NAME: shows which ISA the test programs used: the Catch2
# runner's and the C checks' "active ISA" lines, from one run of each.
cross_isa_lines() {
  local dir=$root/build/$1 idx
  idx=$(cd "$dir" && ctest -N | sed -n 's/^ *Test *#\([0-9]*\): catch:.*/\1/p' | head -1)
  if [ -n "$idx" ]; then
    (cd "$dir" && ctest -V -I "$idx,$idx") | grep -E "active ISA|FAIL: expected" | sed 's/^[0-9]*: /  /' || true
  fi
  (cd "$dir" && ctest -V -R '^c_checks$') | grep -E "active ISA" | sed 's/^[0-9]*: /  /' || true
}

# cross_ctest NAME EXPECTED_ISA [VAR=value...]: ctest under emulation, with
# the given environment (EXPECTED_ISA "" enforces none).
cross_ctest() {
  local name=$1 isa=$2
  shift 2
  log "cross: $name: ctest (expect ISA ${isa:-any}${*:+, $*})"
  (
    export QKV_TEST_SCALE=small
    if [ -n "$isa" ]; then export QKV_EXPECT_ISA=$isa; fi
    for kv in "$@"; do export "${kv?}"; done
    # The training example runs for minutes under emulation; the native
    # stage runs it (and the decode test that needs its model).
    run_ctest "$name" -E "^example_(train|decode)_copy$"
    cross_isa_lines "$name"
  )
}

cross_build() {
  local name=$1 toolchain=$2
  shift 2
  log "cross: $name: build ($toolchain $*)"
  configure_build "$name" -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/$toolchain.cmake" \
    -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON "$@"
}

stage_cross() {
  "$root/scripts/setup-deps.sh" cross

  cross_build aarch64 aarch64-linux-gnu -DCMAKE_BUILD_TYPE=Release
  cross_ctest aarch64 neon64

  # armhf: qemu-arm's default CPU has NEON; cortex-r5f (armv7-r) has none, so
  # the same binaries must fall back to scalar (QEMU_CPU picks the model).
  cross_build armhf arm-linux-gnueabihf -DCMAKE_BUILD_TYPE=Release
  cross_ctest armhf neon
  cross_ctest armhf scalar QEMU_CPU=cortex-r5f

  # i686: natively through the target's loader where the kernel runs 32-bit
  # code; else qemu-i386, single-threaded (it hangs in pthread_create).
  if /usr/i686-linux-gnu/lib/ld-linux.so.2 --version >/dev/null 2>&1; then
    cross_build i686 i686-linux-gnu -DCMAKE_BUILD_TYPE=Release
    cross_ctest i686 ""
  elif command -v qemu-i386 >/dev/null; then
    echo "cross: i686: this kernel cannot run 32-bit code; using qemu-i386 with OMP_NUM_THREADS=1"
    OMP_NUM_THREADS=1 cross_build i686 i686-linux-gnu -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=qemu-i386;-cpu;Haswell;-L;/usr/i686-linux-gnu"
    cross_ctest i686 avx2 OMP_NUM_THREADS=1
  else
    echo "cross: i686 SKIPPED: the kernel cannot run 32-bit code and qemu-i386 is missing"
  fi
  [ -d "$root/build/i686" ] && "$root/scripts/check-isa-objects.sh" "$root/build/i686"

  # x86-64 baseline objects in Debug: -O0 is where per-ISA objects would share
  # duplicated inline functions (an AVX copy reaching the SSE2 path). The
  # check reads the objects; running the suite on older CPUs is the native
  # stage's job (its baseline binary under qemu -cpu Nehalem and Haswell).
  log "cross: x86_64 baseline Debug: per-ISA object check"
  cmake -S "$root" -B "$root/build/x86_64-debug" -DQKV_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/x86_64-qemu.cmake" -DQKV_BUILD_TESTS=OFF \
    -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF >"$root/build/x86_64-debug.configure.log" 2>&1 ||
    { cat "$root/build/x86_64-debug.configure.log"; return 1; }
  cmake --build "$root/build/x86_64-debug" -j "$jobs" --target qkv
  "$root/scripts/check-isa-objects.sh" "$root/build/x86_64-debug"

  # Cortex-M: M4 at -Os (the size the README reports), M7 and M55 at -O3 (M55
  # auto-vectorized with MVE). The M7 bench probes the DWT cycle counter.
  cross_build cortex-m4 cortex-m4 -DCMAKE_BUILD_TYPE=MinSizeRel
  cross_ctest cortex-m4 scalar
  (cd "$root/build/cortex-m4" && ctest -V -R baremetal_undefined_symbols | grep -E '^[0-9]+:   |ok:' | sed 's/^[0-9]*: //')
  "$root/scripts/size-table.sh" "$root/build/cortex-m4"
  cross_build cortex-m7 cortex-m7 -DCMAKE_BUILD_TYPE=Release -DQKV_BENCH_CPU_HZ=25000000
  cross_ctest cortex-m7 scalar
  cross_build cortex-m55 cortex-m55 -DCMAKE_BUILD_TYPE=Release
  cross_ctest cortex-m55 scalar
}
