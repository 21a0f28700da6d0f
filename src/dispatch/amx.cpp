// SPDX-License-Identifier: MIT
#include "dispatch/amx.hpp"

#include <cstdlib>
#include <cstring>

#if defined(QKV_HAVE_AMX) && defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define QKV_AMX_PROBE 1
#endif

// Hosted builds only: bare metal has no AMX and no code for it.
#ifdef QKV_HOSTED
namespace qkv::dispatch {

namespace {
constexpr std::uint32_t kEdxAmxBf16 = 1u << 22, kEdxAmxTile = 1u << 24, kEdxAmxInt8 = 1u << 25;
constexpr std::uint64_t kXcr0TileCfg = 1u << 17, kXcr0TileData = 1u << 18;
}  // namespace

amx_support amx_from(std::uint32_t cpuid7_edx, std::uint64_t xcr0, bool os_grants) noexcept {
  amx_support s;
  const bool tiles = (cpuid7_edx & kEdxAmxTile) && (xcr0 & kXcr0TileCfg) && (xcr0 & kXcr0TileData) && os_grants;
  s.bf16 = tiles && (cpuid7_edx & kEdxAmxBf16);
  s.int8 = tiles && (cpuid7_edx & kEdxAmxInt8);
  return s;
}

namespace {

amx_support probe() noexcept {
#ifdef QKV_AMX_PROBE
  if (const char* v = std::getenv("QKV_AMX"))
    if (std::strcmp(v, "0") == 0) return {};
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & kEdxAmxTile)) return {};
  // XGETBV needs OSXSAVE (CPUID leaf 1 ECX bit 27).
  unsigned a1, b1, c1, d1;
  if (!__get_cpuid(1, &a1, &b1, &c1, &d1) || !(c1 & (1u << 27))) return {};
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const std::uint64_t xcr0 = (static_cast<std::uint64_t>(hi) << 32) | lo;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  const bool granted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return amx_from(d, xcr0, granted);
#else
  return {};
#endif
}

}  // namespace

const amx_support& amx() noexcept {
  static const amx_support chosen = probe();
  return chosen;
}

}  // namespace qkv::dispatch
#endif  // QKV_HOSTED
