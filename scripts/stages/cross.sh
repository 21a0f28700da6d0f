# SPDX-License-Identifier: MIT
# Cross stage: every target in toolchains/ is built here and its tests run
# under emulation (binfmt_misc is not relied on: each toolchain file sets
# CMAKE_CROSSCOMPILING_EMULATOR, so ctest prefixes the emulator itself).
# Linux targets run the whole suite (Catch2 + C checks + portable bench) with
# QKV_TEST_SCALE=small and QKV_EXPECT_ISA, which makes every Catch2 run fail
# unless dispatch picked that ISA; bare-metal targets run the C check images
# under qemu-system-arm and check the library's undefined symbols.
#
# Each target is one part: every part runs even when an earlier one failed,
# each prints its duration, and the stage fails at the end naming every
# failed part. Every emulated test runs under QKV_EMULATED_TEST_TIMEOUT
# (cmake/QkvTestTimeouts.cmake, 120 s): a hang fails fast, by name.

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

# cross_ctest NAME EXPECTED_ISA [VAR=value...] [-- ctest args...]: ctest
# under emulation, with the given environment (EXPECTED_ISA "" enforces none).
cross_ctest() {
  local name=$1 isa=$2
  shift 2
  local env=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do env+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  log "cross: $name: ctest (expect ISA ${isa:-any}${env[*]:+, ${env[*]}}${*:+, $*})"
  (
    export QKV_TEST_SCALE=small
    if [ -n "$isa" ]; then export QKV_EXPECT_ISA=$isa; fi
    for kv in "${env[@]}"; do export "${kv?}"; done
    # The training examples (fp32 and bf16) run for minutes under emulation;
    # the native stage runs them (and the decode test that needs the model).
    # license_spdx reads the source tree: the same on every target.
    # QKV_CROSS_EXCLUDE (in the environment list) excludes more tests.
    run_ctest "$name" -E "^(example_(train|decode)_copy(_bf16)?|license_spdx)\$${QKV_CROSS_EXCLUDE:+|$QKV_CROSS_EXCLUDE}" "$@"
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

# cross_part NAME FUNCTION [ARGS...]: runs one part with errexit in a
# subshell, records its result and duration; never stops the stage.
cross_results=()
cross_failed=()
cross_part() {
  local name=$1 t0=$SECONDS rc
  shift
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
  local dt=$((SECONDS - t0))
  if [ "$rc" = 0 ]; then
    cross_results+=("$(printf '%-22s passed  %5d s' "$name" "$dt")")
  else
    cross_results+=("$(printf '%-22s FAILED  %5d s  (exit %s)' "$name" "$dt" "$rc")")
    cross_failed+=("$name")
  fi
  log "cross: $name: $([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)") in $dt s"
}

# aarch64: the whole suite on qemu-aarch64's default CPU (max: the dot
# product, BF16 and I8MM, so dispatch picks neon64_bf16), its loops over
# ISAs restricted to scalar and neon64 (QKV_TEST_ISAS): neon64_dot and
# neon64_bf16 alias neon64's tables but for gemm_lowp, and running every
# test on them too took the suite from 70 to 190 s. Their own kernels run
# next, on max: the dispatch, gemm_ex, gemm_lowp and every-routine
# determinism tests (which run each routine through each set's tables) on
# every set. Then lean runs on CPU models without the
# extensions, where dispatch must fall back: neoverse-n1 (the dot product,
# no BF16/I8MM: neon64_dot) and cortex-a53 (Armv8.0: neon64), the dispatch,
# gemm_ex and gemm_lowp tests only (emulated time is the CI's bottleneck).
# No CPU model lacks what neon64 assumes: FP and Advanced SIMD are the
# armv8-a baseline itself.
part_aarch64() {
  local sys=/usr/aarch64-linux-gnu cpu_isa bad=()
  cross_build aarch64 aarch64-linux-gnu -DCMAKE_BUILD_TYPE=Release
  "$root/scripts/check-isa-objects.sh" "$root/build/aarch64" aarch64-linux-gnu-objdump
  cross_ctest aarch64 neon64_bf16 QKV_TEST_ISAS=scalar,neon64
  QKV_QEMU_DISPATCH_TESTS="[isa],[gemm_ex],[lowp],[determinism]" \
    qemu_dispatch aarch64 max neon64_bf16 qemu-aarch64 -L "$sys" || bad+=(max)
  for cpu_isa in neoverse-n1:neon64_dot cortex-a53:neon64; do
    QKV_QEMU_DISPATCH_TESTS="[isa],[gemm_ex],[lowp]" \
      qemu_dispatch aarch64 "${cpu_isa%%:*}" "${cpu_isa#*:}" qemu-aarch64 -L "$sys" || bad+=("${cpu_isa%%:*}")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "cross: aarch64: FAILED on: ${bad[*]}"
    return 1
  fi
}

# qemu_dispatch NAME CPU ISA QEMU [QEMU ARGS...]: NAME's binaries under
# QEMU -cpu CPU must pick ISA: the dispatch tests, the every-routine
# determinism test (each runnable ISA, 1-3 threads) and the C checks, each
# under the emulated-test time limit. Runs both programs before failing.
# QKV_QEMU_DISPATCH_TESTS replaces the Catch2 test filter.
qemu_dispatch() {
  local name=$1 cpu=$2 isa=$3
  shift 3
  local dir=$root/build/$name limit rc=0
  limit=$(sed -n 's/^QKV_EMULATED_TEST_TIMEOUT:STRING=//p' "$dir/CMakeCache.txt")
  # Twice the per-test limit: one process runs two whole-registry test cases
  # (determinism, executor), each of which ctest would cap at the limit.
  local qemu=(timeout "$((2 * ${limit:-120}))" "$@" -cpu "$cpu")
  log "cross: $name: $1 -cpu $cpu must pick $isa"
  QKV_TEST_SCALE=small QKV_EXPECT_ISA=$isa "${qemu[@]}" "$dir/tests/qkv_tests" \
    "${QKV_QEMU_DISPATCH_TESTS:-[isa],[determinism]}" \
    >"$dir/qemu-$cpu-tests.log" 2>&1 || rc=1
  grep -v "TCG doesn't support" "$dir/qemu-$cpu-tests.log" | tail -n 4 || true
  QKV_TEST_SCALE=small "${qemu[@]}" "$dir/tests/baremetal/qkv_c_checks" >"$dir/qemu-$cpu.log" 2>&1 || rc=1
  grep -E "active ISA|passed|FAIL" "$dir/qemu-$cpu.log" || true
  grep -q "active ISA $isa," "$dir/qemu-$cpu.log" || rc=1
  [ "$rc" = 0 ] || echo "cross: $name: FAILED on -cpu $cpu (logs: $dir/qemu-$cpu-tests.log, $dir/qemu-$cpu.log)"
  return "$rc"
}

# armhf: the neon set is built with -mfpu=neon-vfpv4: it needs NEON and VFPv4
# (fused multiply-add). The whole suite runs on qemu-arm's default CPU (max:
# neon) and on the Cortex-A9 (NEON without VFPv4: scalar; its first sgemm
# died of SIGILL when dispatch read HWCAP_NEON alone); the dispatch subset
# then checks every ARMv7 model: the A7 and A15 have both (neon), the A8 and
# A9 NEON alone and the R5F (armv7-r) neither (scalar).
part_armhf() {
  local sys=/usr/arm-linux-gnueabihf cpu_isa bad=()
  cross_build armhf arm-linux-gnueabihf -DCMAKE_BUILD_TYPE=Release
  cross_ctest armhf neon
  cross_ctest armhf scalar QEMU_CPU=cortex-a9
  for cpu_isa in cortex-a7:neon cortex-a15:neon cortex-a8:scalar cortex-a9:scalar cortex-r5f:scalar; do
    qemu_dispatch armhf "${cpu_isa%%:*}" "${cpu_isa#*:}" qemu-arm -L "$sys" || bad+=("${cpu_isa%%:*}")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "cross: armhf: dispatch FAILED on: ${bad[*]}"
    return 1
  fi
}

# i686: where this kernel runs 32-bit code, the suite runs natively through
# the target's loader, once per ISA the CPU has, forced with QKV_ISA; else
# the whole suite runs under qemu-i386 -cpu Haswell (avx2), threads and all.
# Either way qemu-i386 then proves the dispatch on CPUs without AVX2
# (Nehalem: sse2) or SSE2 (pentium3 runs x87 code: scalar).
# QKV_I686_RUNNER (a ;-list) replaces the runner, e.g. to try the native
# branch's logic on a host without IA32 emulation.
part_i686() {
  local sys=/usr/i686-linux-gnu runner native=0
  if [ -n "${QKV_I686_RUNNER:-}" ]; then
    IFS=';' read -r -a runner <<<"$QKV_I686_RUNNER"
    native=1
  elif "$sys/lib/ld-linux.so.2" --version >/dev/null 2>&1; then
    runner=("$sys/lib/ld-linux.so.2" --library-path "$sys/lib")
    native=1
  else
    runner=(qemu-i386 -E "LD_LIBRARY_PATH=$sys/lib" -L "$sys")
  fi
  cross_build i686 i686-linux-gnu -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CROSSCOMPILING_EMULATOR=$(IFS=';'; echo "${runner[*]}")"
  "$root/scripts/check-isa-objects.sh" "$root/build/i686"
  if [ "$native" = 1 ]; then
    # The Catch2 tests loop over every runnable ISA by themselves: they run
    # once, under the best set; the programs that use the dispatched set
    # (C checks, examples, process tests) run once per set.
    echo "cross: i686: this kernel runs 32-bit code: native runs, one per ISA"
    local isa out first=1
    for isa in avx512 avx2 sse2 scalar; do
      # QKV_ISA names a choice; dispatch keeps the best ISA when it cannot run.
      out=$(QKV_ISA=$isa "${runner[@]}" "$root/build/i686/tests/baremetal/qkv_c_checks" 2>&1 || true)
      if ! grep -q "active ISA $isa," <<<"$out"; then
        echo "cross: i686: $isa not runnable on this CPU"
      elif [ "$first" = 1 ]; then
        cross_ctest i686 "$isa" QKV_ISA="$isa"
        first=0
      else
        cross_ctest i686 "$isa" QKV_ISA="$isa" "QKV_CROSS_EXCLUDE=^(catch:|catch_all\$|env_)"
      fi
    done
  else
    # Under emulation (the CI's case, ~250 s of the stage's longest part):
    # the ISA loops cover scalar and avx2 (sse2 runs next, on Nehalem: the
    # dispatch and every-routine determinism tests), and the caller's-
    # executor test and the every-routine 1/2/3-thread test, which check the
    # threading contract and nothing 32-bit (56 s and 70 s here), run in the
    # native, sanitize and aarch64/armhf suites, the latter also on Nehalem
    # below (sse2, 32-bit).
    echo "cross: i686: this kernel cannot run 32-bit code: the suite runs under qemu-i386"
    cross_ctest i686 avx2 QEMU_CPU=Haswell QKV_TEST_ISAS=scalar,avx2 \
      "QKV_CROSS_EXCLUDE=^catch:every routine is bitwise (the same on a caller's executor|identical at 1, 2 and 3 threads)"
  fi
  if command -v qemu-i386 >/dev/null; then
    # Every routine on the CPU model, under the set it must pick. pentium3
    # (no SSE) runs the dispatch tests and the C checks only: the C checks
    # still run every area's code through the dispatched scalar set on a CPU
    # where a stray SSE instruction would trap (an SSE copy of a shared
    # inline function is check-isa-objects.sh's check 1), while the
    # every-routine determinism run (65 s under x87 emulation) repeated the
    # Haswell run's, on the same scalar code.
    QKV_TEST_ISAS=sse2 qemu_dispatch i686 Nehalem sse2 qemu-i386 -E "LD_LIBRARY_PATH=$sys/lib" -L "$sys"
    QKV_QEMU_DISPATCH_TESTS="[isa]" \
      qemu_dispatch i686 pentium3 scalar qemu-i386 -E "LD_LIBRARY_PATH=$sys/lib" -L "$sys"
  fi
}

# x86-64 baseline objects in Debug: -O0 is where per-ISA objects would share
# duplicated inline functions (an AVX copy reaching the SSE2 path). The
# check reads the objects; running the suite on older CPUs is the native
# stage's job (its baseline binary under qemu -cpu Nehalem and Haswell).
part_x86_64_debug() {
  log "cross: x86_64 baseline Debug: per-ISA object check"
  cmake -S "$root" -B "$root/build/x86_64-debug" -DQKV_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/x86_64-qemu.cmake" -DQKV_BUILD_TESTS=OFF \
    -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF >"$root/build/x86_64-debug.configure.log" 2>&1 ||
    { cat "$root/build/x86_64-debug.configure.log"; return 1; }
  cmake --build "$root/build/x86_64-debug" -j "$jobs" --target qkv
  "$root/scripts/check-isa-objects.sh" "$root/build/x86_64-debug"
}

# Cortex-M: M4 at -Os (the size the README reports), M7 and M55 at -O3. The
# M55 image has the Helium set (mve, picked by default; the C checks loop
# over it and scalar, which GCC auto-vectorizes with MVE). The M7 bench probes the DWT cycle counter.
part_cortex_m4() {
  cross_build cortex-m4 cortex-m4 -DCMAKE_BUILD_TYPE=MinSizeRel
  cross_ctest cortex-m4 scalar
  (cd "$root/build/cortex-m4" && ctest -V -R baremetal_undefined_symbols | grep -E '^[0-9]+:   |ok:' | sed 's/^[0-9]*: //')
  "$root/scripts/size-table.sh" "$root/build/cortex-m4"
}
part_cortex_m7() {
  cross_build cortex-m7 cortex-m7 -DCMAKE_BUILD_TYPE=Release -DQKV_BENCH_CPU_HZ=25000000
  cross_ctest cortex-m7 scalar
}
part_cortex_m55() {
  cross_build cortex-m55 cortex-m55 -DCMAKE_BUILD_TYPE=Release
  cross_ctest cortex-m55 mve
}

stage_cross() {
  "$root/scripts/setup-deps.sh" cross
  cross_results=()
  cross_failed=()
  local parts=${QKV_CROSS_PARTS:-"aarch64 armhf i686 x86_64_debug cortex_m4 cortex_m7 cortex_m55"} p
  for p in $parts; do
    cross_part "$p" "part_$p"
  done
  log "cross: summary"
  printf '  %s\n' "${cross_results[@]}"
  if [ ${#cross_failed[@]} -gt 0 ]; then
    echo "cross: FAILED parts: ${cross_failed[*]}"
    return 1
  fi
}
