#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Code size of libqkv per object and per module (all files of one module
# across src/capi, src/ops and src/kernels/<module>), as a
# Markdown table, from a bare-metal build (e.g. build/cortex-m4, MinSizeRel).
# .text includes .rodata (that is how `size` counts on arm-none-eabi). The
# "max frame" column is the largest stack frame of any function in the object,
# from the .su files of -fstack-usage (toolchains/arm-none-eabi-common.cmake);
# "dynamic" marks a frame whose size is not known at compile time.
# Fails if the library's total .text is 64 KiB or more.
# Then, where the build's C checks image runs (ctest c_checks: under QEMU on
# Cortex-M), the layer's workspace sizes it prints (tests/baremetal/
# check_layer.c: the book's 6x3 layer, 2 heads d 8 T 16, GPT-2 small T 1024).
# usage: size-table.sh BUILD_DIR [--readme README.md] [--size size-program]
#   --readme F  also replace the module table between <!-- size-table -->
#               and <!-- /size-table --> in F, and the workspace table
#               between <!-- workspace-table --> and <!-- /workspace-table -->
#   --size P    the size program (default arm-none-eabi-size)
set -euo pipefail
build=$(cd "$1" && pwd)
shift
size=arm-none-eabi-size readme=""
while [ $# -gt 0 ]; do
  case $1 in
    --readme) readme=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --size) size=$2; shift 2 ;;
    *) echo "size-table: unknown argument $1" >&2; exit 2 ;;
  esac
done
objdir=$build/src/CMakeFiles/qkv.dir
[ -d "$objdir" ] || { echo "size-table: no $objdir (build the library first)" >&2; exit 1; }
limit=$((64 * 1024))
cd "$objdir"
# Largest frame per object: "<file.cpp> <bytes> <static|dynamic,...>".
frames=$(find . -name '*.su' | sed 's|^\./||' | sort | while read -r su; do
  awk -F'\t' -v f="${su%.su}" 'BEGIN {m = 0; q = "static"} {if ($2 + 0 > m) m = $2 + 0; if ($3 ~ /dynamic/) q = "dynamic"}
    END {print f, m, q}' "$su"
done)
table=$(find . -name '*.obj' -o -name '*.o' | sed 's|^\./||' | sort | xargs "$size" | awk -v limit=$limit -v frames="$frames" '
  BEGIN {
    nf = split(frames, fl, "\n")
    for (i = 1; i <= nf; ++i) { split(fl[i], a, " "); fr[a[1]] = a[2]; fq[a[1]] = a[3] }
  }
  NR == 1 { next }
  {
    text = $1; data = $2; bss = $3; file = $6
    sub(/\.(o|obj)$/, "", file)
    # Module: kernels/<m>/... -> <m>; else the file stem; the runtime
    # plumbing (dispatch, status, threads) counts as "runtime", vec as "vector".
    n2 = split(file, parts, "/")
    if (parts[1] == "kernels" && n2 >= 3) module = parts[2]
    else { module = parts[n2]; sub(/\.[a-z]+$/, "", module) }
    if (parts[1] == "dispatch" || module == "status" || module == "threads") module = "runtime"
    if (module == "vec") module = "vector"
    frame = (file in fr) ? fr[file] (fq[file] == "dynamic" ? " (dynamic)" : "") : "?"
    rows[++n] = sprintf("| `src/%s` | %d | %d | %d | %s |", file, text, data, bss, frame)
    mt[module] += text; md[module] += data; mb[module] += bss
    if (fr[file] + 0 > mf[module]) mf[module] = fr[file] + 0
    if (fr[file] + 0 > maxf) maxf = fr[file] + 0
    tt += text; td += data; tb += bss
  }
  END {
    print "| object | .text | .data | .bss | max frame |"
    print "|---|---:|---:|---:|---:|"
    for (i = 1; i <= n; ++i) print rows[i]
    print ""
    print "| module (capi + ops + kernels) | .text | .data | .bss | max frame |"
    print "|---|---:|---:|---:|---:|"
    cmd = "sort"
    for (m in mt) printf("| %s | %d | %d | %d | %d |\n", m, mt[m], md[m], mb[m], mf[m] + 0) | cmd
    close(cmd)
    printf("| **libqkv.a total** | **%d** | **%d** | **%d** | **%d** |\n", tt, td, tb, maxf + 0)
    if (tt >= limit) { printf("FAIL: .text %d B is over the 64 KiB budget\n", tt) > "/dev/stderr"; exit 1 }
  }')
echo "$table"
ws=""
if [ -f "$build/CTestTestfile.cmake" ]; then
  ws=$( (cd "$build" && ctest -V -R '^c_checks$' 2>/dev/null) | sed -n 's/^[0-9]*: *\(| .* |\)$/\1/p' | sort -u -t'|' -k3,3n)
fi
if [ -n "$ws" ]; then
  ws=$(printf '%s\n%s\n%s' "| layer (B 1, 1 thread) | forward | backward | decode (token T) |" "|---|---:|---:|---:|" "$ws")
  echo
  echo "$ws"
fi
if [ -n "$readme" ]; then
  modules=$(sed -n '/^| module/,/libqkv.a total/p' <<<"$table")
  awk -v t="$modules" '/<!-- size-table -->/ {print; print t; skip = 1; next}
    /<!-- \/size-table -->/ {skip = 0} !skip' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
  if [ -n "$ws" ]; then
    awk -v t="$ws" '/<!-- workspace-table -->/ {print; print t; skip = 1; next}
      /<!-- \/workspace-table -->/ {skip = 0} !skip' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
  fi
  echo "size-table: updated $readme"
fi
