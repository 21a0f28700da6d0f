# SPDX-License-Identifier: MIT
# qkv's safetensors checkpoints against PyTorch (tests/torch/safetensors_roundtrip.py)
# and a Llama attention block against PyTorch autograd (tests/torch/llama_attention.py):
# installs python3-torch, then runs the native build's torch tests with torch
# required (in the other stages they are skipped where torch is missing).
stage_torch() {
  log "torch: safetensors files read and written by PyTorch, a Llama attention block vs autograd"
  ./scripts/setup-deps.sh torch
  configure_build native -DCMAKE_BUILD_TYPE=Release
  QKV_REQUIRE_TORCH=1 run_ctest native -R "torch_|example_train_copy|example_decode_copy"
}
