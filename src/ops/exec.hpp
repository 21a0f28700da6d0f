// SPDX-License-Identifier: MIT
// exec - what one call runs under: the kernel set (ISA), the most threads
// its parallel regions may use and who starts them. The C boundary reads the
// settings once per call (current_exec) and passes them down; ops never read
// the global settings themselves. So a call that races qkv_set_isa(),
// qkv_set_num_threads() or qkv_set_executor() on another thread runs on the
// old or the new value throughout, never on a mix (qkv/runtime.h).
#pragma once

#include "qkv/runtime.h"

namespace qkv::ops {

struct exec {
  qkv_isa isa;        // a compiled, CPU-supported kernel set
  int threads;        // >= 1
  qkv_executor pool;  // parallel_for == nullptr: OpenMP (or one thread)
};

// An exec with no executor. (Field by field: `plain_exec(isa, threads)` would
// zero the executor with a memset call, which bare-metal builds must not
// need.)
inline exec plain_exec(qkv_isa isa, int threads) noexcept {
  exec x;
  x.isa = isa;
  x.threads = threads;
  x.pool.parallel_for = nullptr;
  x.pool.ctx = nullptr;
  x.pool.workers = 0;
  return x;
}

// The settings now, each read once.
exec current_exec() noexcept;

}  // namespace qkv::ops
