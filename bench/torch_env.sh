# SPDX-License-Identifier: MIT
# Sourced by bench/compare_torch.sh and bench/compare_torch_gpt.sh: what both
# PyTorch comparisons need around the Python script. Expects $root, $build,
# $python and $name (the script's name for messages).

# torch_env_check: the Python that has torch (Debian's python3-torch).
torch_env_check() {
  "$python" -c 'import torch' 2>/dev/null ||
    { echo "$name: $python cannot import torch: ./scripts/setup-deps.sh torch" >&2; exit 1; }
}

# torch_env_build [TARGET...]: the shared libqkv in $build (configured on first
# use; a no-op when up to date). JOBS sets the parallelism (default: all cores).
torch_env_build() {
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF >/dev/null
  fi
  cmake --build "$build" --parallel "${JOBS:-$(nproc)}" ${1:+--target "$@"} >/dev/null
}

# torch_env_runtime: the process environment both sides are timed in.
torch_env_runtime() {
  # torch on jemalloc: its fresh T x T buffers otherwise spend much of their
  # time in first-touch page faults.
  local jemalloc
  jemalloc="$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 / && !n++ {print $NF}')"
  [ -n "$jemalloc" ] || jemalloc="$(dpkg -L libjemalloc2 2>/dev/null | grep -m1 '/libjemalloc\.so\.2$' || true)"
  if [ -n "$jemalloc" ] && [ -f "$jemalloc" ]; then
    export LD_PRELOAD="$jemalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  else
    echo "$name: WARNING: libjemalloc.so.2 not found (./scripts/setup-deps.sh torch): torch runs on" \
      "glibc malloc, and its times include page faults" >&2
  fi
  # With jemalloc 5.3's defaults (Debian 12) a freed 12 MiB block still comes back
  # as fresh pages: torch's T x T scores fault in on every call (3073 faults per
  # call, as with glibc). Never purging dirty pages makes the reuse real (0).
  # Both sides' large buffers on transparent huge pages: jemalloc's for torch,
  # glibc's (GLIBC_TUNABLES) for the qkv driver processes.
  export MALLOC_CONF="${MALLOC_CONF:-dirty_decay_ms:-1,muzzy_decay_ms:-1,thp:always}"
  export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}"
  # Neither side's idle threads spin on the core the other needs.
  export OMP_WAIT_POLICY=PASSIVE
  # torch on Debian calls OpenBLAS, whose own threads spin ~0.1 s after each call
  # by default and would take the core from the next (qkv) call: 2^16 cycles, as
  # qkv_bench. OpenBLAS reads its core and L2 size from the environment, which on
  # some machines forces the AVX2 kernels (OPENBLAS_CORETYPE=Haswell); as in
  # qkv_bench, QKV_BENCH_OPENBLAS_CORETYPE chooses the core, else SkylakeX (its
  # AVX-512 kernels: 0.3.21 does not know every AVX-512 CPU and may fall back to
  # SSE3) where the CPU has what they use, else OpenBLAS's own choice.
  export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-16}"
  unset OPENBLAS_L2_SIZE OPENBLAS_CORETYPE
  local core="${QKV_BENCH_OPENBLAS_CORETYPE:-}"
  if [ -z "$core" ] && [ -r /proc/cpuinfo ] &&
     [ "$(grep -m1 '^flags' /proc/cpuinfo | grep -ow 'avx512f\|avx512cd\|avx512bw\|avx512dq\|avx512vl' | sort -u | wc -l)" = 5 ]; then
    core=SkylakeX
  fi
  [ -z "$core" ] || export OPENBLAS_CORETYPE="$core"
}
