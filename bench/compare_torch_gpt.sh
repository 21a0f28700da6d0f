#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A GPT training step in PyTorch and in qkv (bench/compare_torch_gpt.py),
# alternated round by round: builds the shared libqkv in build/shared when
# needed (as bench/compare_torch.sh) and the C driver bench/gpt_step.c against
# it, puts torch on jemalloc set to keep freed pages, sets
# OMP_WAIT_POLICY=PASSIVE (neither side's idle threads spin on the core the
# other needs) and OpenBLAS's AVX-512 core, and runs the script with Debian's
# /usr/bin/python3 (PYTHON for another). Arguments go to the script (--model,
# --batch, --threads, --rounds, --steps-per-round, --help). JOBS sets the
# build's parallelism (default: all cores); CC the C compiler of the driver.
#
# Needs: ./scripts/setup-deps.sh core torch
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/shared"
python="${PYTHON:-/usr/bin/python3}"
name=compare_torch_gpt
# shellcheck source=bench/torch_env.sh
source "$root/bench/torch_env.sh"
torch_env_check
torch_env_build qkv
# The driver (bench/CMakeLists.txt builds the same program in bench builds);
# here against the shared library, without configuring the benchmarks.
driver="$build/bench/gpt_step"
mkdir -p "$build/bench"
if [ ! -x "$driver" ] || [ "$root/bench/gpt_step.c" -nt "$driver" ] || [ "$root/examples/gpt.h" -nt "$driver" ] ||
   [ "$build/src/libqkv.so" -nt "$driver" ]; then
  "${CC:-cc}" -std=c99 -O2 -Wall -Wextra -pedantic -I "$root/include" -I "$build/include" -I "$root/examples" \
    "$root/bench/gpt_step.c" -o "$driver" -L "$build/src" -Wl,-rpath,"$build/src" -lqkv -lm
fi

torch_env_runtime

exec "$python" "$root/bench/compare_torch_gpt.py" --driver "$driver" "$@"
