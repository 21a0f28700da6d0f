# SPDX-License-Identifier: MIT
# libFuzzer over the C boundary: the library built by clang with
# -fsanitize=fuzzer-no-link,address,undefined, one target per public entry
# point family (tests/fuzz/fuzz_*.cpp), each run from its seed corpus for a
# bounded time. Any crash, leak, sanitizer report, timeout or violated
# property fails the stage; findings are saved under build/fuzz/findings/.
#   QKV_FUZZ_BUDGET  total seconds of fuzzing (default 120), shared equally
#                    by the targets, run $jobs at a time.
# The CI budget (120 s, was 180: 16 s a target on 2 cores) is a regression
# run, not a campaign: each target first replays its checked-in corpus
# (corpus/<family>/, also a ctest of the fuzz build), then mutates from it;
# at the rates of a quiet 2-core run, 16 s is still 10^5-10^6 inputs for the
# cheap targets and 2,000-5,000 for gemm_ex, layer, sdpa and sdpa_ex (the
# stage's table prints exec/s; a loaded machine gets fewer). Longer campaigns:
# QKV_STAGES=fuzz QKV_FUZZ_BUDGET=3600 ./scripts/test.sh.
# Line tables only (-gline-tables-only): reports keep file:line per frame,
# the build skips full debug info. -O1 (libFuzzer's usual level), the per-ISA
# kernel files too (QKV_ISA_OPT): the build is most of the stage's time.
stage_fuzz() {
  log "fuzz: libFuzzer + ASan + UBSan, clang"
  ./scripts/setup-deps.sh fuzz
  local flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -gline-tables-only"
  mkdir -p "$root/build"
  # Only the fuzz targets are built here (the test suite runs in other stages).
  CC=clang CXX=clang++ cmake -S "$root" -B "$root/build/fuzz" -DQKV_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DQKV_ISA_OPT=-O1 -DQKV_FUZZ=ON -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >"$root/build/fuzz.configure.log" 2>&1 ||
    { cat "$root/build/fuzz.configure.log"; return 1; }
  cmake --build "$root/build/fuzz" -j "$jobs" --target qkv_fuzz_targets

  local dir="$root/build/fuzz" targets=() t
  for t in "$dir"/tests/fuzz/fuzz_*; do
    [ -x "$t" ] && [ -f "$t" ] && targets+=("$(basename "$t")")
  done
  [ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets built"; return 1; }
  local budget=${QKV_FUZZ_BUDGET:-120}
  local per=$((budget * jobs / ${#targets[@]}))
  [ "$per" -ge 5 ] || per=5
  rm -rf "$dir/findings" "$dir/work" && mkdir -p "$dir/findings" "$dir/work"
  echo "fuzz: ${#targets[@]} targets x ${per} s, $jobs at a time"

  # Each target runs on a scratch copy of its corpus (new inputs land there,
  # not in the source tree). libFuzzer exits non-zero on any finding.
  local running=0 name
  for name in "${targets[@]}"; do
    local family=${name#fuzz_} work="$dir/work/${name#fuzz_}"
    mkdir -p "$work"
    [ -d "$root/tests/fuzz/corpus/$family" ] && cp "$root/tests/fuzz/corpus/$family"/* "$work/" 2>/dev/null || true
    ( rc=0
      # Passive OpenMP waits: up to 3 threads per call on a shared 2-core machine.
      OMP_WAIT_POLICY=passive ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$dir/tests/fuzz/$name" -max_total_time="$per" -timeout=20 -rss_limit_mb=2048 -max_len=512 \
          -print_final_stats=1 -artifact_prefix="$dir/findings/$name-" "$work" >"$dir/$name.log" 2>&1 || rc=$?
      echo "$rc" >"$dir/$name.rc" ) &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  done
  wait

  local failed=0 rc execs
  printf '%-22s %12s %8s  %s\n' target executions exec/s result
  for name in "${targets[@]}"; do
    rc=$(cat "$dir/$name.rc")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log" | tail -n 1)
    local rate
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/$name.log" | tail -n 1)
    if [ "$rc" = 0 ]; then
      printf '%-22s %12s %8s  ok\n' "$name" "${execs:-?}" "${rate:-?}"
    else
      printf '%-22s %12s %8s  FINDING (exit %s)\n' "$name" "${execs:-?}" "${rate:-?}" "$rc"
      failed=1
    fi
    grep -h '^qkv-fuzz: .*calls' "$dir/$name.log" | tail -n 1 || true
  done
  if [ "$failed" != 0 ]; then
    for name in "${targets[@]}"; do
      [ "$(cat "$dir/$name.rc")" = 0 ] || { echo "--- $name"; tail -n 60 "$dir/$name.log"; }
    done
    ls -l "$dir/findings"
  fi
  return $failed
}
