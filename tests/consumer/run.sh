#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the build into a temporary prefix, then proves both ways a user
# links qkv: find_package(qkv) -> qkv::qkv, and pkg-config qkv.
# usage: run.sh BUILD_DIR CONSUMER_SRC_DIR CMAKE C_COMPILER
#        run.sh --prefix PREFIX CONSUMER_SRC_DIR CMAKE C_COMPILER
# The second form uses a tree installed already (the package stage: the .debs
# unpacked, PREFIX=root/usr; a shared libqkv there needs LD_LIBRARY_PATH).
set -euo pipefail
prefix=""
if [ "$1" = --prefix ]; then
  prefix=$2; shift 2
else
  build=$1; shift
fi
src=$1 cmake=$2 cc=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$prefix" ]; then
  prefix=$work/prefix
  "$cmake" --install "$build" --prefix "$prefix" >/dev/null
fi

echo "== find_package(qkv) consumer"
"$cmake" -S "$src/cmake" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" >/dev/null
"$cmake" --build "$work/cm" >/dev/null
"$work/cm/consumer"

echo "== pkg-config consumer"
pc_dir=$(dirname "$(find "$prefix" -name qkv.pc | head -n1)")
export PKG_CONFIG_PATH="$pc_dir"
# --static pulls Libs.private (C++ runtime, OpenMP, libm) for a static archive.
"$cc" -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags qkv) "$src/pkgconfig/main.c" \
  -o "$work/pc_consumer" $(pkg-config --libs --static qkv)
"$work/pc_consumer"
