#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command (and what CI runs): installs dependencies, builds
# with warnings as errors, runs every test. Each stage is a function
# `stage_<name>` in scripts/stages/<name>.sh; QKV_STAGES="native scalar"
# ./scripts/test.sh runs a subset, in the order given.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)
# ctest runs test programs side by side, each with an OpenMP team: with more
# threads than cores, libgomp's default spin-waiting burns the cores the other
# threads need (10x slowdowns seen). Passive waiting changes speed, never results.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

log() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# configure_build NAME [cmake args...]: configure and build under build/NAME.
configure_build() {
  local name=$1; shift
  mkdir -p "$root/build"
  cmake -S "$root" -B "$root/build/$name" -DQKV_WERROR=ON "$@" >"$root/build/$name.configure.log" 2>&1 ||
    { cat "$root/build/$name.configure.log"; return 1; }
  cmake --build "$root/build/$name" -j "$jobs"
}

# run_ctest NAME [ctest args...]
run_ctest() {
  local name=$1; shift
  (cd "$root/build/$name" && ctest --output-on-failure -j "$jobs" "$@")
}

for f in scripts/stages/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done

# Default order: cheapest feedback first.
stages=${QKV_STAGES:-"native docs abi package torch scalar sanitize valgrind fuzz cross"}

log "dependencies"
./scripts/setup-deps.sh core

start=$SECONDS
for s in $stages; do
  stage_start=$SECONDS
  "stage_$s"
  log "stage $s passed in $((SECONDS - stage_start)) s"
done
log "all stages passed ($stages) in $((SECONDS - start)) s"
