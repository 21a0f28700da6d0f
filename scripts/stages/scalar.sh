# SPDX-License-Identifier: MIT
# The scalar-only, single-threaded library (what Cortex-M gets), on the host.
stage_scalar() {
  log "scalar: QKV_SIMD=OFF QKV_OPENMP=OFF"
  configure_build scalar -DCMAKE_BUILD_TYPE=Release -DQKV_SIMD=OFF -DQKV_OPENMP=OFF -DQKV_BUILD_BENCH=OFF
  run_ctest scalar
}
