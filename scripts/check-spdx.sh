#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every source file of qkv names its license in an SPDX line: the first line,
# or the second after a #! line. usage: check-spdx.sh [--fix]
# (--fix adds the line where it is missing, in the file's comment style.)
set -euo pipefail
cd "$(dirname "$0")/.."
fix=${1:-}
tag="SPDX-License-Identifier: MIT"
missing=0
while IFS= read -r f; do
  case "$f" in
    *.c|*.h) line="/* $tag */" ;;
    *.cpp|*.hpp|*.cc) line="// $tag" ;;
    *.ld) line="/* $tag */" ;;
    *.sh|*.py|*.cmake|*CMakeLists.txt|*.in|*.gp|.ci/run) line="# $tag" ;;
    *) continue ;;
  esac
  first=$(head -n 1 "$f")
  if [[ $first == '#!'* ]]; then head2=$(sed -n 2p "$f"); else head2=$first; fi
  if [[ $head2 != *"$tag"* ]]; then
    if [ "$fix" = --fix ]; then
      if [[ $first == '#!'* ]]; then sed -i "1a $line" "$f"; else sed -i "1i $line" "$f"; fi
    else
      echo "no SPDX line: $f"
      missing=$((missing + 1))
    fi
  fi
done < <(git ls-files src include tests bench examples scripts cmake toolchains CMakeLists.txt .ci | grep -v '/corpus/')
if [ "$missing" -ne 0 ]; then
  echo "check-spdx: $missing file(s) without '$tag' (scripts/check-spdx.sh --fix adds it)" >&2
  exit 1
fi
echo "check-spdx: every source file names its license"
