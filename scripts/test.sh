#!/usr/bin/env bash
# The README's test command (and what CI runs): installs dependencies, builds
# with warnings as errors, runs every test. Each stage is a function; run a
# subset with QKV_STAGES="native scalar" ./scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)

log() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# configure_build NAME [cmake args...]: a fresh build tree under build/NAME.
configure_build() {
  local name=$1; shift
  cmake -S "$root" -B "$root/build/$name" -DQKV_WERROR=ON "$@" >"$root/build/$name.configure.log" 2>&1 ||
    { cat "$root/build/$name.configure.log"; return 1; }
  cmake --build "$root/build/$name" -j "$jobs"
}

run_ctest() {
  local name=$1; shift
  (cd "$root/build/$name" && ctest --output-on-failure -j "$jobs" "$@")
}

# Native build: every ISA this CPU runs, the C99 header tests, the consumer
# tests, and the qemu CPU-model runs of the same binary (sse2, avx2 paths).
stage_native() {
  log "native: Release, OpenMP, all kernel sets"
  configure_build native -DCMAKE_BUILD_TYPE=Release
  run_ctest native
}

# The scalar-only, single-threaded library (what Cortex-M gets), on the host.
stage_scalar() {
  log "scalar: QKV_SIMD=OFF QKV_OPENMP=OFF"
  configure_build scalar -DCMAKE_BUILD_TYPE=Release -DQKV_SIMD=OFF -DQKV_OPENMP=OFF -DQKV_BUILD_BENCH=OFF
  run_ctest scalar -E "qemu_"
}

mkdir -p build
log "dependencies"
./scripts/setup-deps.sh core

stages=${QKV_STAGES:-"native scalar"}
start=$SECONDS
for s in $stages; do
  "stage_$s"
done
log "all stages passed ($stages) in $((SECONDS - start)) s"
