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

"$python" -c 'import torch' 2>/dev/null ||
  { echo "compare_torch_gpt: $python cannot import torch: ./scripts/setup-deps.sh torch" >&2; exit 1; }

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$build" --parallel "${JOBS:-$(nproc)}" --target qkv >/dev/null  # a no-op when up to date
# The driver (bench/CMakeLists.txt builds the same program in bench builds);
# here against the shared library, without configuring the benchmarks.
driver="$build/bench/gpt_step"
mkdir -p "$build/bench"
if [ ! -x "$driver" ] || [ "$root/bench/gpt_step.c" -nt "$driver" ] || [ "$root/examples/gpt.h" -nt "$driver" ] ||
   [ "$build/src/libqkv.so" -nt "$driver" ]; then
  "${CC:-cc}" -std=c99 -O2 -Wall -Wextra -pedantic -I "$root/include" -I "$build/include" -I "$root/examples" \
    "$root/bench/gpt_step.c" -o "$driver" -L "$build/src" -Wl,-rpath,"$build/src" -lqkv -lm
fi

jemalloc="$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / && !n++ {print $NF}')"
[ -n "$jemalloc" ] || jemalloc="$(dpkg -L libjemalloc2 2>/dev/null | grep -m1 '/libjemalloc\.so\.2$' || true)"
if [ -n "$jemalloc" ] && [ -f "$jemalloc" ]; then
  export LD_PRELOAD="$jemalloc${LD_PRELOAD:+:$LD_PRELOAD}"
else
  echo "compare_torch_gpt: WARNING: libjemalloc.so.2 not found (./scripts/setup-deps.sh torch): torch runs on" \
    "glibc malloc, and its times include page faults" >&2
fi
# See bench/compare_torch.sh: jemalloc 5.3's defaults still hand freed blocks
# back as fresh pages; never purging makes torch's buffer reuse real.
export MALLOC_CONF="${MALLOC_CONF:-dirty_decay_ms:-1,muzzy_decay_ms:-1}"
export OMP_WAIT_POLICY=PASSIVE
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}"
unset OPENBLAS_L2_SIZE OPENBLAS_CORETYPE
core="${QKV_BENCH_OPENBLAS_CORETYPE:-}"
if [ -z "$core" ] && [ -r /proc/cpuinfo ] &&
   [ "$(grep -m1 '^flags' /proc/cpuinfo | grep -ow 'avx512f\|avx512cd\|avx512bw\|avx512dq\|avx512vl' | sort -u | wc -l)" = 5 ]; then
  core=SkylakeX
fi
[ -z "$core" ] || export OPENBLAS_CORETYPE="$core"

exec "$python" "$root/bench/compare_torch_gpt.py" --driver "$driver" "$@"
