// SPDX-License-Identifier: MIT
// The one-time ISA choice and its override.
#include <atomic>
#include <cstdlib>

#include "dispatch/dispatch.hpp"

namespace qkv::dispatch {
namespace detail {
std::atomic<int> g_active{kUndecided};
}  // namespace detail

namespace {

qkv_isa from_environment() noexcept {
  qkv_isa chosen = best();
#ifdef QKV_HOSTED
  // An unusable QKV_ISA must not make the library unusable: keep the best.
  if (const char* name = std::getenv("QKV_ISA")) {
    qkv_isa wanted;
    if (parse(name, &wanted) && compiled(wanted) && cpu_supports(wanted))
      chosen = wanted;
  }
#endif
  return chosen;
}

}  // namespace

qkv_isa detail::decide() noexcept {
  int expected = kUndecided;
  g_active.compare_exchange_strong(expected, static_cast<int>(from_environment()), std::memory_order_acq_rel);
  return static_cast<qkv_isa>(g_active.load(std::memory_order_acquire));
}

void set_active(qkv_isa isa) noexcept { detail::g_active.store(static_cast<int>(isa), std::memory_order_release); }

}  // namespace qkv::dispatch
