#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CI check on the per-ISA objects of an x86 build of libqkv (x86_64 or i686),
# against the hazard in shared/cross-notes.md P5: two objects that define the
# same weak (inline, COMDAT) function leave the linker free to keep either
# copy, so an AVX copy can end up serving the SSE2 or scalar path (SIGILL on
# an older CPU). Checks:
#   1. no weak code symbol is defined both in a per-ISA object (*_sse2, *_avx2,
#      *_avx512, *_avx512_bf16, *_amx, *_neon, *_neon64, *_neon64_dot, *_neon64_bf16) and in any other
#      object of the library;
#   2. baseline objects (everything not per-ISA) and *_sse2 objects contain no
#      VEX/EVEX instruction (no v* mnemonic, no ymm/zmm/mask register);
#   3. *_avx2 objects contain no EVEX (zmm, k masks, xmm/ymm16-31).
# On an aarch64 build (objdump aarch64-linux-gnu-objdump) 2. and 3. become:
# baseline and *_neon64 objects hold no dot-product, BF16 or int8 matrix
# instruction, *_neon64_dot objects no BF16 or int8 matrix one.
# usage: check-isa-objects.sh BUILD_DIR [objdump]   (objdump/readelf matching the target)
set -euo pipefail
build=$1
objdump=${2:-objdump}
readelf=${objdump%objdump}readelf
objdir=$build/src/CMakeFiles/qkv.dir
[ -d "$objdir" ] || { echo "check-isa-objects: no $objdir (build the library first)" >&2; exit 1; }
mapfile -t objs < <(find "$objdir" -name '*.o' -o -name '*.obj' | sort)
[ ${#objs[@]} -gt 0 ] || { echo "check-isa-objects: no objects under $objdir" >&2; exit 1; }

isa_of() {
  case "$1" in
    *_sse2.cpp.o*) echo sse2 ;; *_avx2.cpp.o*) echo avx2 ;; *_avx512.cpp.o*) echo avx512 ;; *_avx512_bf16.cpp.o*) echo avx512_bf16 ;; *_amx.cpp.o*) echo amx ;;
    *_neon.cpp.o*) echo neon ;; *_neon64.cpp.o*) echo neon64 ;; *_neon64_dot.cpp.o*) echo neon64_dot ;;
    *_neon64_bf16.cpp.o*) echo neon64_bf16 ;; *) echo baseline ;;
  esac
}
weak_funcs() { "$readelf" -sW "$1" | awk '$4 == "FUNC" && $5 == "WEAK" && $7 != "UND" {print $8}' | sort -u; }

fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for o in "${objs[@]}"; do
  weak_funcs "$o" | sed "s|^|$(isa_of "$o") ${o#"$objdir"/} |" >>"$tmp/weak"
done
# 1. A symbol defined weak in several objects, at least one of them per-ISA.
if [ -s "$tmp/weak" ]; then
  shared=$(awk '{n[$3]++; if ($1 != "baseline") isa[$3] = 1} END {for (s in n) if (n[s] > 1 && isa[s]) print s}' "$tmp/weak" | sort)
  for s in $shared; do
    echo "FAIL: weak function $s is defined in several objects:"
    awk -v s="$s" '$3 == s {print "    " $2}' "$tmp/weak"
    fail=1
  done
fi

# 2./3. Instruction sets, from the disassembly.
vex='^[[:space:]]+[0-9a-f]+:[[:space:]]+(\{[a-z0-9]+\}[[:space:]]*)?v[a-z0-9]+[[:space:]]|%[yz]mm|%k[0-7]'
evex='%zmm|%k[0-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])|\{1to'
a64_bf16_mm='[[:space:]](bfdot|bfmmla|bfmlal[bt]|bfcvtn2?|bfcvt|smmla|ummla|usmmla|usdot|sudot)[[:space:]]'
a64_dot='[[:space:]](sdot|udot)[[:space:]]|'$a64_bf16_mm
aarch64=0
case $objdump in *aarch64*) aarch64=1 ;; esac
counted=0
for o in "${objs[@]}"; do
  isa=$(isa_of "$o")
  case $aarch64:$isa in
    0:baseline|0:sse2) pattern=$vex what="VEX/EVEX" ;;
    0:avx2) pattern=$evex what="EVEX" ;;
    1:baseline|1:neon64) pattern=$a64_dot what="dot-product/BF16/I8MM" ;;
    1:neon64_dot) pattern=$a64_bf16_mm what="BF16/I8MM" ;;
    *) continue ;;
  esac
  counted=$((counted + 1))
  n=$("$objdump" -d --no-show-raw-insn "$o" | grep -cE "$pattern" || true)
  if [ "$n" -gt 0 ]; then
    echo "FAIL: ${o#"$objdir"/} ($isa) has $n $what instruction(s), e.g.:"
    "$objdump" -d --no-show-raw-insn "$o" | grep -E "$pattern" | head -3 | sed 's/^/    /'
    fail=1
  fi
done
[ $fail -eq 0 ] || exit 1
echo "ok: ${#objs[@]} objects, no weak function shared with a per-ISA object;" \
  "$counted baseline/lower-ISA objects free of instructions above their ISA"
