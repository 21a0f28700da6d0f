// SPDX-License-Identifier: MIT
// caches - the data caches of the core qkv runs on, as the GEMM blocking
// model needs them (ops/gemm_blocking). Read once, on first use, from the
// CPU itself where it says (x86 CPUID leaf 4 on Intel, 0x8000001D on AMD),
// else from Linux sysfs (ARM), else compile-time defaults (bare metal, or
// an OS that says nothing), which a firmware build may override with
// -DQKV_L1D_BYTES=... etc. No allocation: sysfs is read with open/read.
#pragma once

#include <cstddef>

namespace qkv::dispatch {

struct cache_level {
  std::size_t bytes = 0;  // 0: not known
  std::size_t ways = 0;   // associativity; 0: not known (fully associative reads as 0 too)
  std::size_t line = 0;   // line size in bytes
};

enum class cache_source { cpuid, sysfs, defaults };

struct cache_info {
  cache_level l1d, l2, l3;  // l3: the whole (shared) level; 0 bytes when there is none
  cache_source source = cache_source::defaults;
};

// The machine's caches, probed on the first call (thread-safe, then fixed).
const cache_info& caches() noexcept;

// The probes themselves, for tests: true when they found L1d and L2.
bool caches_from_cpuid(cache_info* out) noexcept;
bool caches_from_sysfs(cache_info* out) noexcept;
cache_info default_caches() noexcept;

}  // namespace qkv::dispatch
