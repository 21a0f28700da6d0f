#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the checked-in seed corpora tests/fuzz/corpus/<family>/: runs
# each fuzz target for SECONDS (default 20) from its current corpus, then
# keeps a coverage-minimal subset (libFuzzer -merge=1).
# usage: tests/fuzz/regen_corpus.sh [BUILD_DIR] [SECONDS]   (after the fuzz stage
#        has built BUILD_DIR, default build/fuzz)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/fuzz}
secs=${2:-20}
for exe in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  family=$(basename "$exe"); family=${family#fuzz_}
  corpus=tests/fuzz/corpus/$family
  scratch=$(mktemp -d)
  mkdir -p "$corpus"
  cp "$corpus"/* "$scratch"/ 2>/dev/null || true
  "$exe" -max_total_time="$secs" -max_len=512 -timeout=10 "$scratch" >/dev/null 2>&1
  rm -f "$corpus"/*
  "$exe" -merge=1 "$corpus" "$scratch" >/dev/null 2>&1
  rm -rf "$scratch"
  echo "$family: $(ls "$corpus" | wc -l) seeds, $(cat "$corpus"/* | wc -c) bytes"
done
