#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# icount.sh - instructions per unit of work (multiply-accumulate, element,
# parameter) of the portable bench's kernels on the Cortex-M boards, counted
# by QEMU: qemu-system-arm -icount shift=0 advances the virtual clock 1 ns per
# instruction, and the bench's icount image (qkv_portable_bench_icount,
# bench/portable) reads it through SysTick, calibrated on a loop of known
# instruction count. Every ISA the image runs gets its column. Deterministic:
# the same figures on every run of the same images. A proxy for cycles on
# these in-order cores, not a cycle count: QEMU counts instructions, not
# their latencies, stalls or memory wait states (a real board's DWT cycle
# counter, through the plain qkv_portable_bench, gives cycles).
#
# usage: scripts/icount.sh [--readme README.md] [board...]
#   boards: cortex-m4 cortex-m7 cortex-m55 (the default)
#   --readme F  also replace the table between <!-- icount-table --> and
#               <!-- /icount-table --> in F
# Builds build/<board> if needed, as the cross stage does (M4 MinSizeRel,
# M7 and M55 Release), only the icount image; prints a markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${QKV_JOBS:-2}
readme=""
if [ "${1:-}" = --readme ]; then
  readme=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  shift 2
fi
boards=("$@")
[ ${#boards[@]} -gt 0 ] || boards=(cortex-m4 cortex-m7 cortex-m55)

machine_of() {
  case $1 in
    cortex-m4) echo mps2-an386 ;;
    cortex-m7) echo mps2-an500 ;;
    cortex-m55) echo mps3-an547 ;;
    *) echo "icount.sh: unknown board $1" >&2; return 1 ;;
  esac
}
build_type_of() { [ "$1" = cortex-m4 ] && echo MinSizeRel || echo Release; }

outs=()
for b in "${boards[@]}"; do
  dir=$root/build/$b
  machine=$(machine_of "$b")
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    extra=()
    [ "$b" = cortex-m7 ] && extra+=(-DQKV_BENCH_CPU_HZ=25000000)
    command -v ccache >/dev/null && extra+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$root" -B "$dir" -DQKV_WERROR=ON -DCMAKE_TOOLCHAIN_FILE="$root/toolchains/$b.cmake" \
      -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON -DCMAKE_BUILD_TYPE="$(build_type_of "$b")" "${extra[@]}" \
      >"$root/build/$b.icount-configure.log" 2>&1 || { cat "$root/build/$b.icount-configure.log"; exit 1; }
  fi
  cmake --build "$dir" -j "$jobs" --target qkv_portable_bench_icount >"$root/build/$b.icount-build.log" 2>&1 ||
    { tail -n 30 "$root/build/$b.icount-build.log"; exit 1; }
  out=$root/build/$b.icount.txt
  timeout 300 qemu-system-arm -M "$machine" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 \
    -kernel "$dir/bench/portable/qkv_portable_bench_icount" >"$out" ||
    { cat "$out"; echo "icount.sh: $b failed"; exit 1; }
  outs+=("$b=$out")
done

# Rows "kernel shape isa instr/call per-unit instr/UNIT" in fixed columns
# (harness.c: %-24s %-20s %-7s), one table row per kernel and shape, one
# column per board and ISA in order of appearance.
for o in "${outs[@]}"; do
  b=${o%%=*}
  printf '%s: %s\n' "$b" "$(sed -n 's/^icount: //p' "${o#*=}")"
done
echo
table=$(for o in "${outs[@]}"; do echo "${o%%=*} ${o#*=}"; done | awk '
  function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
  {
    board = $1; file = $2; started = 0
    sub(/^cortex-/, "", board); board = toupper(board)
    while ((getline line < file) > 0) {
      if (line ~ /^kernel /) { started = 1; continue }
      if (!started || length(line) < 54) continue
      name = trim(substr(line, 1, 24)); shape = trim(substr(line, 26, 20)); isa = trim(substr(line, 47, 7))
      n = split(substr(line, 55), f, " ")
      if (n < 3) continue
      key = name " | " shape; col = board " " isa; unit = f[3]; sub(/^instr\//, "", unit)
      if (!(key in seen)) { seen[key] = 1; keys[++nk] = key; units[key] = unit }
      if (!(col in cseen)) { cseen[col] = 1; cols[++nc] = col }
      val[key, col] = sprintf("%.2f", f[2])
    }
    close(file)
  }
  END {
    hdr = "| kernel | shape | unit |"; sep = "|---|---|---|"
    for (c = 1; c <= nc; ++c) { hdr = hdr " " cols[c] " |"; sep = sep "---:|" }
    print hdr; print sep
    for (k = 1; k <= nk; ++k) {
      row = "| " keys[k] " | " units[keys[k]] " |"
      for (c = 1; c <= nc; ++c) row = row " " ((keys[k], cols[c]) in val ? val[keys[k], cols[c]] : "") " |"
      print row
    }
  }')
echo "$table"
if [ -n "$readme" ]; then
  awk -v t="$table" '/<!-- icount-table -->/ {print; print t; skip = 1; next}
    /<!-- \/icount-table -->/ {skip = 0} !skip' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
  echo "icount.sh: updated $readme"
fi
