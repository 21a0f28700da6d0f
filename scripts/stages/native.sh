# SPDX-License-Identifier: MIT
# Native build: every ISA this CPU runs, the C99 header tests, the consumer
# tests, and the qemu CPU-model runs of the same binary (sse2, avx2 paths).
stage_native() {
  log "native: Release, OpenMP, all kernel sets"
  configure_build native -DCMAKE_BUILD_TYPE=Release
  run_ctest native
}
