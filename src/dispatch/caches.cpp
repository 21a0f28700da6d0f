// SPDX-License-Identifier: MIT
#include "dispatch/caches.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#define QKV_CACHES_CPUID 1
#endif
#if defined(__linux__) && defined(QKV_HOSTED)
#include <fcntl.h>
#include <unistd.h>
#define QKV_CACHES_SYSFS 1
#endif

// Defaults where nothing can be read: a common small core (32 KiB 8-way L1d,
// 512 KiB 8-way L2, no L3).
#ifndef QKV_L1D_BYTES
#define QKV_L1D_BYTES 32768
#endif
#ifndef QKV_L1D_WAYS
#define QKV_L1D_WAYS 8
#endif
#ifndef QKV_L2_BYTES
#define QKV_L2_BYTES 524288
#endif
#ifndef QKV_L2_WAYS
#define QKV_L2_WAYS 8
#endif
#ifndef QKV_L3_BYTES
#define QKV_L3_BYTES 0
#endif

namespace qkv::dispatch {

cache_info default_caches() noexcept {
  cache_info c;
  c.l1d = {QKV_L1D_BYTES, QKV_L1D_WAYS, 64};
  c.l2 = {QKV_L2_BYTES, QKV_L2_WAYS, 64};
  c.l3 = {QKV_L3_BYTES, QKV_L3_BYTES ? 16u : 0u, 64};
  c.source = cache_source::defaults;
  return c;
}

namespace {

[[maybe_unused]] void set_level(cache_info* c, std::size_t level, const cache_level& l) {
  if (level == 1) c->l1d = l;
  if (level == 2) c->l2 = l;
  if (level == 3) c->l3 = l;
}

// Takes what a probe found if it has L1d and L2. (Unused where no probe is
// compiled in: bare metal.)
[[maybe_unused]] bool publish(cache_info found, cache_source source, cache_info* out) {
  if (found.l1d.bytes == 0 || found.l2.bytes == 0) return false;
  found.source = source;
  *out = found;
  return true;
}

// A data or unified level from a cache-parameters subleaf (the same layout
// in Intel's leaf 4 and AMD's 0x8000001D): false past the last cache.
[[maybe_unused]] bool take_level(unsigned eax, unsigned ebx, unsigned ecx, cache_info* out) {
  const unsigned type = eax & 0x1f;  // 1 data, 2 instruction, 3 unified
  if (type == 0) return false;
  if (type == 2) return true;
  const unsigned level = (eax >> 5) & 0x7;
  cache_level l;
  l.ways = ((ebx >> 22) & 0x3ff) + 1;
  const std::size_t partitions = ((ebx >> 12) & 0x3ff) + 1;
  l.line = (ebx & 0xfff) + 1;
  const std::size_t sets = static_cast<std::size_t>(ecx) + 1;
  l.bytes = l.ways * partitions * l.line * sets;
  if (eax & (1u << 9)) l.ways = 0;  // fully associative
  set_level(out, level, l);
  return true;
}

// Associativity field of the legacy extended leaves (AMD 0x80000005/6, also
// Intel's 0x80000006): a code, not a count. 0xF: fully associative (0).
[[maybe_unused]] std::size_t legacy_ways(unsigned code) {
  static constexpr unsigned char kWays[16] = {0, 1, 2, 3, 4, 6, 8, 0, 16, 0, 32, 48, 64, 96, 128, 0};
  return kWays[code & 0xf];
}

#ifdef QKV_CACHES_CPUID
// Where the cache-parameter leaf is hidden (virtual machines often mask
// AMD's TOPOEXT): L2 and L3 from 0x80000006, L1d from AMD's 0x80000005.
void legacy_levels(bool amd, cache_info* out) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000006) return;
  if (amd && __get_cpuid(0x80000005, &a, &b, &c, &d))  // ECX: KiB | ways | lines per tag | line
    out->l1d = {static_cast<std::size_t>(c >> 24) * 1024, (c >> 16) & 0xff, c & 0xff};
  if (__get_cpuid(0x80000006, &a, &b, &c, &d)) {
    out->l2 = {static_cast<std::size_t>(c >> 16) * 1024, legacy_ways(c >> 12), c & 0xff};
    if (amd && (d >> 18) != 0)  // EDX: L3 in 512 KiB units (AMD only)
      out->l3 = {static_cast<std::size_t>(d >> 18) * 512 * 1024, legacy_ways(d >> 12), d & 0xff};
  }
}
#endif

}  // namespace

bool caches_from_cpuid(cache_info* out) noexcept {
#ifdef QKV_CACHES_CPUID
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  const unsigned max_leaf = a;
  const bool amd = b == 0x68747541 || b == 0x6f677948;  // "Auth"enticAMD, "Hygo"nGenuine
  // The cache-parameter leaf: Intel's 4; AMD's 0x8000001D, which exists with
  // the TOPOEXT feature (0x80000001 ECX bit 22). 0: neither.
  unsigned leaf = max_leaf >= 4 ? 4 : 0;
  if (amd) leaf = __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 22)) ? 0x8000001d : 0;
  cache_info found;
  if (leaf != 0)
    for (unsigned sub = 0; sub < 16; ++sub) {
      __cpuid_count(leaf, sub, a, b, c, d);
      if (!take_level(a, b, c, &found)) break;
    }
  if (found.l1d.bytes == 0 || found.l2.bytes == 0) {
    const cache_level l1d = found.l1d;
    legacy_levels(amd, &found);
    if (found.l1d.bytes == 0) found.l1d = l1d;
  }
  return publish(found, cache_source::cpuid, out);
#else
  (void)out;
  return false;
#endif
}

#ifdef QKV_CACHES_SYSFS
namespace {

// The small decimal number at the start of a sysfs file ("48K", "12"), with
// its K/M suffix applied; 0 when unreadable.
std::size_t read_number(const char* path, bool* data_or_unified = nullptr) {
  char buf[32];
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) return 0;
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  if (data_or_unified) {  // a "type" file: Data, Unified or Instruction
    *data_or_unified = buf[0] == 'D' || buf[0] == 'U';
    return 1;
  }
  std::size_t v = 0;
  const char* p = buf;
  for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::size_t>(*p - '0');
  if (*p == 'K') v *= 1024;
  if (*p == 'M') v *= 1024 * 1024;
  return v;
}

}  // namespace
#endif

bool caches_from_sysfs(cache_info* out) noexcept {
#ifdef QKV_CACHES_SYSFS
  cache_info found;
  char path[80] = "/sys/devices/system/cpu/cpu0/cache/index0/";
  const std::size_t dir = sizeof "/sys/devices/system/cpu/cpu0/cache/index0/" - 1;
  auto file = [&](const char* name) {
    std::size_t i = 0;
    for (; name[i] && dir + i + 1 < sizeof path; ++i) path[dir + i] = name[i];
    path[dir + i] = '\0';
    return path;
  };
  for (char idx = '0'; idx <= '9'; ++idx) {
    path[dir - 2] = idx;
    bool data = false;
    if (read_number(file("type"), &data) == 0) break;
    if (!data) continue;
    cache_level l;
    l.bytes = read_number(file("size"));
    l.ways = read_number(file("ways_of_associativity"));
    l.line = read_number(file("coherency_line_size"));
    set_level(&found, read_number(file("level")), l);
  }
  return publish(found, cache_source::sysfs, out);
#else
  (void)out;
  return false;
#endif
}

const cache_info& caches() noexcept {
  static const cache_info probed = [] {
    cache_info c = default_caches();
    if (!caches_from_cpuid(&c)) caches_from_sysfs(&c);
    return c;
  }();
  return probed;
}

}  // namespace qkv::dispatch
