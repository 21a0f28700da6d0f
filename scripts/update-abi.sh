#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rebuilds the shared library (build/dist) and rewrites the committed ABI dump
# abi/libqkv.abi from it, printing what changed against the old dump. Run it
# when an ABI change is intended, after bumping the version (README "ABI and
# versioning"); the abi stage of scripts/test.sh then passes against it.
set -euo pipefail
QKV_ABI_UPDATE=1 QKV_STAGES=abi exec "$(dirname "$0")/test.sh"
