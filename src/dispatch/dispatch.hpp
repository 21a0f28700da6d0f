// dispatch - which kernel set runs. Chosen once (first use), overridable by
// QKV_ISA in the environment or qkv_set_isa(). The only mutable global state
// besides the thread count.
#pragma once

#include <atomic>

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

// Sets the active ISA; the caller has checked compiled() && cpu_supports().
void set_active(qkv_isa isa) noexcept;

namespace detail {
constexpr int kUndecided = -1;
extern std::atomic<int> g_active;
qkv_isa decide() noexcept;  // the first call's slow path
}  // namespace detail

// The active ISA if decided, else -1; never calls out (for hot paths that
// must stay leaf functions).
inline int active_if_decided() noexcept { return detail::g_active.load(std::memory_order_acquire); }

// The active ISA; the first call decides (lock-free, idempotent, so a race
// between first callers computes the same answer twice and stores it once).
// Inline: every entry point asks, and a tiny sgemm costs ~25 ns in all.
inline qkv_isa active() noexcept {
  const int isa = active_if_decided();
  return isa == detail::kUndecided ? detail::decide() : static_cast<qkv_isa>(isa);
}

}  // namespace qkv::dispatch
