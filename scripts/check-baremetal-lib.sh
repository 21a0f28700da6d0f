#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks that a bare-metal libqkv.a links into firmware with libm alone: every
# symbol the archive leaves undefined must be defined by the target's libm.a.
# Anything else fails: malloc/free, operator new/delete, __cxa_*, stdio,
# abort, memcpy/memset (the library copies with loops and is built with
# -fno-tree-loop-distribute-patterns) and libgcc helpers such as __aeabi_d*
# (soft-float double on a single-precision FPU: see src/ops/wide.hpp).
# usage: check-baremetal-lib.sh CC LIBQKV.a [target cflags...]
set -euo pipefail
cc=$1 lib=$2
shift 2
nm=${cc%gcc}nm
libm=$("$cc" "$@" -print-file-name=libm.a)
[ -f "$libm" ] || { echo "no libm.a for these flags: $libm" >&2; exit 1; }

defined_in() { "$nm" --defined-only -g "$1" 2>/dev/null | awk 'NF >= 3 {print $3}' | sort -u; }
self=$(defined_in "$lib")
undef=$("$nm" -u "$lib" | awk 'NF >= 2 {print $2}' | sort -u | comm -23 - <(echo "$self"))
m=$(defined_in "$libm")

bad=0
for s in $undef; do
  if grep -qx -- "$s" <<<"$m"; then
    echo "  $s: libm"
  else
    echo "  $s: NOT ALLOWED"
    bad=1
  fi
done
if [ $bad -ne 0 ]; then
  echo "FAIL: $lib needs more than libm (see NOT ALLOWED above)"
  exit 1
fi
echo "ok: $(basename "$lib") needs only libm; $(wc -w <<<"$undef") undefined symbol(s)"
