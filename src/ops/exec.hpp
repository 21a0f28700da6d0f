// exec - what one call runs under: the kernel set (ISA) and the most threads
// its parallel regions may use. The C boundary reads both settings once per
// call (current_exec) and passes them down; ops never read the global
// settings themselves. So a call that races qkv_set_isa() or
// qkv_set_num_threads() on another thread runs on the old or the new value
// throughout, never on a mix of two ISAs' kernels (qkv/runtime.h).
#pragma once

#include "qkv/runtime.h"

namespace qkv::ops {

struct exec {
  qkv_isa isa;  // a compiled, CPU-supported kernel set
  int threads;  // >= 1
};

// The settings now, each read once.
exec current_exec() noexcept;

}  // namespace qkv::ops
