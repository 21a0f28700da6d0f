#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds, runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh core
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF >/dev/null
cmake --build build/demo -j "$(nproc 2>/dev/null || echo 2)" --target demo >/dev/null
./build/demo/examples/demo
