#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# No hidden per-thread memory: the static library's own objects define no
# thread-local symbol and reference no __tls_get_addr (OpenMP's runtime,
# a separate shared object, is not part of it).
# usage: check-no-tls.sh LIBQKV.a [readelf]
set -euo pipefail
lib=$1
readelf=${2:-readelf}
[ -f "$lib" ] || { echo "check-no-tls: no $lib" >&2; exit 1; }
# readelf -s columns: Num Value Size Type Bind Vis Ndx Name
tls=$("$readelf" -sW "$lib" | awk '$4 == "TLS" || $8 ~ /^__tls_get_addr/ || $8 ~ /^___tls_get_addr/ {print "  " $4 " " $7 " " $8}' | sort -u)
if [ -n "$tls" ]; then
  echo "check-no-tls: FAIL: thread-local storage in $lib:"
  echo "$tls"
  exit 1
fi
echo "check-no-tls: ok: no TLS symbol and no __tls_get_addr in $(basename "$lib")"
