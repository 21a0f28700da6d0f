// dispatch - which kernel set runs. Chosen once (first use), overridable by
// QKV_ISA in the environment or qkv_set_isa(). The only mutable global state
// besides the thread count.
#pragma once

#include "qkv/runtime.h"

namespace qkv::dispatch {

// "scalar", "sse2", ... or nullptr outside the enum.
const char* name(qkv_isa isa) noexcept;

// Inverse of name(); false for an unknown name.
bool parse(const char* name, qkv_isa* isa) noexcept;

// Has this build got kernels for `isa`? (compile-time facts, QKV_HAVE_*)
bool compiled(qkv_isa isa) noexcept;

// Can this CPU and OS run `isa`? (cpuid/XCR0 via libgcc on x86, HWCAP on arm)
bool cpu_supports(qkv_isa isa) noexcept;

// The best ISA that is both compiled and supported.
qkv_isa best() noexcept;

// The active ISA; the first call decides (lock-free, idempotent, so a race
// between first callers computes the same answer twice and stores it once).
qkv_isa active() noexcept;

// Sets the active ISA; the caller has checked compiled() && cpu_supports().
void set_active(qkv_isa isa) noexcept;

}  // namespace qkv::dispatch
