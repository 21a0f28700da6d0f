#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# PyTorch and qkv side by side (bench/compare_torch.py): builds the shared
# libqkv in build/shared when needed, puts torch on jemalloc set to keep freed
# pages (torch's fresh T x T buffers otherwise spend much of their time in
# first-touch page faults), sets OMP_WAIT_POLICY=PASSIVE, and runs the script
# with Debian's /usr/bin/python3 (the one python3-torch is installed for; set
# PYTHON to use another). Arguments go to the script (--rounds, --threads,
# --cases, --help). JOBS sets the build's parallelism (default: all cores).
#
# Needs: ./scripts/setup-deps.sh core torch
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/shared"
python="${PYTHON:-/usr/bin/python3}"
name=compare_torch
# shellcheck source=bench/torch_env.sh
source "$root/bench/torch_env.sh"
torch_env_check
torch_env_build

torch_env_runtime

exec "$python" "$root/bench/compare_torch.py" --lib "$build/src/libqkv.so" "$@"
