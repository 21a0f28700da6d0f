#!/usr/bin/env bash
# Installs the build into a temporary prefix, then proves both ways a user
# links qkv: find_package(qkv) -> qkv::qkv, and pkg-config qkv.
# usage: run.sh BUILD_DIR CONSUMER_SRC_DIR CMAKE C_COMPILER
set -euo pipefail
build=$1 src=$2 cmake=$3 cc=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$cmake" --install "$build" --prefix "$work/prefix" >/dev/null

echo "== find_package(qkv) consumer"
"$cmake" -S "$src/cmake" -B "$work/cm" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" >/dev/null
"$cmake" --build "$work/cm" >/dev/null
"$work/cm/consumer"

echo "== pkg-config consumer"
pc_dir=$(dirname "$(find "$work/prefix" -name qkv.pc | head -n1)")
export PKG_CONFIG_PATH="$pc_dir"
# Static archive: --static pulls Libs.private (C++ runtime, OpenMP, libm).
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags qkv) "$src/pkgconfig/main.c" \
  -o "$work/pc_consumer" $(pkg-config --libs --static qkv)
"$work/pc_consumer"
