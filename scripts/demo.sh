#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's main-job command: installs dependencies, builds, then runs the
# whole pipeline from text to trained attention:
#   1. the book's chapter 3 walkthrough, checked against the book (PASS/FAIL),
#   2. training a tiny decoder from scratch on a copy task (>= 95 % held out),
#      in fp32, then again in bf16 mixed precision (the same target),
#   3. generation with the trained model through the KV cache,
#   4. PyTorch loading the model's safetensors file and decoding with it
#      (when Debian's python3-torch is installed),
#   5. a byte-level GPT trained on English text (Debian's fortunes) in about a
#      minute: validation loss against the unigram baseline, then samples
#      generated through the KV cache.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-deps.sh core
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF >/dev/null
cmake --build build/demo -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
ex=build/demo/examples
start=$SECONDS

echo "=== qkv on this machine"
"$ex/demo"

echo
echo "=== 1. Book walkthrough: \"Your journey starts with one step\" (chapter 3)"
t=$SECONDS
"$ex/book_walkthrough"
echo "(step 1 took $((SECONDS - t)) s)"

echo
echo "=== 2. Training a decoder from scratch: embeddings + causal multi-head attention + head, AdamW"
t=$SECONDS
"$ex/train_copy" build/demo/copy_model.safetensors 60 0.95
echo "(step 2 took $((SECONDS - t)) s)"

echo
echo "=== 2b. The same training in bf16 mixed precision (bf16 GEMMs, fp32 master weights and AdamW)"
t=$SECONDS
"$ex/train_copy" build/demo/copy_model_bf16.safetensors 60 0.95 bf16
echo "(step 2b took $((SECONDS - t)) s)"

echo
echo "=== 3. Decoding held-out sentences token by token through the KV cache"
t=$SECONDS
"$ex/decode_copy" build/demo/copy_model.safetensors 5
echo "(step 3 took $((SECONDS - t)) s)"

echo
echo "=== 4. PyTorch loads the saved safetensors file and runs the model"
t=$SECONDS
py=/usr/bin/python3
if "$py" -c 'import torch' 2>/dev/null; then
  "$py" tests/torch/safetensors_roundtrip.py model --model build/demo/copy_model.safetensors \
    --decode "$ex/decode_copy" --dir build/demo/torch
else
  echo "(skipped: $py cannot import torch; ./scripts/setup-deps.sh torch installs it)"
fi
echo "(step 4 took $((SECONDS - t)) s)"

echo
echo "=== 5. A GPT on real text: byte-level, 2 pre-LN blocks, trained for 60 s on Debian's fortunes (examples/train_gpt.c)"
t=$SECONDS
# d 128 with 2 blocks beat 3 and 4 blocks, d 160 x 2, d 96 x 3 and d 64 x 4 at
# equal training time here, and lr 6e-3 beat 1.5e-3 .. 1e-2: in a minute, more
# steps matter more than size. Idle
# OpenMP threads sleep (PASSIVE): on a shared machine spinning ones cost 10x.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$ex/train_gpt" --layers 2 --d 128 --heads 4 --ctx 128 --batch 16 \
  --lr 6e-3 --time 60 --print-every 100 --save build/demo/gpt.ckpt
echo "(step 5 took $((SECONDS - t)) s)"
echo
echo "demo finished in $((SECONDS - start)) s"
