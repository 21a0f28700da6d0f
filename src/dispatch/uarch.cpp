// SPDX-License-Identifier: MIT
#include "dispatch/uarch.hpp"

#include <cstdlib>
#include <cstring>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#define QKV_UARCH_CPUID 1
#endif

namespace qkv::dispatch {

namespace {

// CPUID leaf 0 spells the vendor in EBX, EDX, ECX, four characters each.
constexpr std::uint32_t word(const char* s) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

}  // namespace

// x86 (identify_cpu below) and the tests (hosted builds); bare metal never calls it
#if defined(QKV_UARCH_CPUID) || defined(QKV_HOSTED)
cpu_identity decode_cpuid(std::uint32_t ebx0, std::uint32_t edx0, std::uint32_t ecx0, std::uint32_t eax1) noexcept {
  cpu_identity id;
  if (ebx0 == word("Genu") && edx0 == word("ineI") && ecx0 == word("ntel"))
    id.vendor = cpu_vendor::intel;
  else if ((ebx0 == word("Auth") && edx0 == word("enti") && ecx0 == word("cAMD")) ||
           (ebx0 == word("Hygo") && edx0 == word("nGen") && ecx0 == word("uine")))  // Hygon: AMD's Zen
    id.vendor = cpu_vendor::amd;
  const unsigned base_family = (eax1 >> 8) & 0xF, ext_family = (eax1 >> 20) & 0xFF;
  const unsigned base_model = (eax1 >> 4) & 0xF, ext_model = (eax1 >> 16) & 0xF;
  id.family = base_family == 0xF ? base_family + ext_family : base_family;
  id.model = base_family == 0x6 || base_family == 0xF ? ext_model << 4 | base_model : base_model;
  return id;
}
#endif

namespace {

// The bodies of identify() and choose(): uarch() calls these, so that bare
// metal, where nothing else calls the two, carries no out-of-line copies.
cpu_identity identify_cpu() noexcept {
#ifdef QKV_UARCH_CPUID
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return {};
  const unsigned ebx0 = b, edx0 = d, ecx0 = c;
  if (a < 1 || !__get_cpuid(1, &a, &b, &c, &d)) return decode_cpuid(ebx0, edx0, ecx0, 0);
  return decode_cpuid(ebx0, edx0, ecx0, a);
#else
  return {};
#endif
}

uarch_choice choose_for(cpu_identity id) noexcept {
  switch (id.vendor) {
    case cpu_vendor::intel:
      return {"intel", gemm_tile::assembly, false, false, false, 0};
    case cpu_vendor::amd:
      if (id.family == 0x1A) return {"zen5", gemm_tile::intrinsics, true, true, false, 0};
      // Family 0x19 is Zen 3 and Zen 4 (models 10-1F, 60-7F, A0-AF); only
      // Zen 4 runs AVX-512.
      if (id.family == 0x19 && ((id.model >= 0x10 && id.model <= 0x1F) || (id.model >= 0x60 && id.model <= 0x7F) ||
                                (id.model >= 0xA0 && id.model <= 0xAF)))
        return {"zen4", gemm_tile::assembly, true, true, true, 0};
      return {"amd", gemm_tile::intrinsics, true, true, false, 0};
    case cpu_vendor::other:
      break;
  }
  return {"other", gemm_tile::intrinsics, true, false, false, 0};
}

}  // namespace

#ifdef QKV_HOSTED  // the tests'
cpu_identity identify() noexcept { return identify_cpu(); }
uarch_choice choose(cpu_identity id) noexcept { return choose_for(id); }
#endif

const uarch_choice& uarch() noexcept {
  static const uarch_choice chosen = [] {
    uarch_choice u = choose_for(identify_cpu());
#ifdef QKV_HOSTED
    if (const char* tile = std::getenv("QKV_AVX512_TILE")) {
      if (std::strcmp(tile, "intrinsics") == 0) u.avx512_tile = gemm_tile::intrinsics;
      if (std::strcmp(tile, "assembly") == 0) u.avx512_tile = gemm_tile::assembly;
    }
    if (const char* dot = std::getenv("QKV_BF16_DOT")) {
      if (std::strcmp(dot, "0") == 0) u.bf16_dot = false;
      if (std::strcmp(dot, "1") == 0) u.bf16_dot = true;
    }
    if (const char* panels = std::getenv("QKV_GEMM_B_INPLACE")) {
      unsigned v = 0;
      const char* p = panels;
      for (; *p >= '0' && *p <= '9' && v <= 65536; ++p) v = v * 10 + static_cast<unsigned>(*p - '0');
      if (p != panels && *p == '\0' && v <= 65536) u.gemm_b_inplace_panels = v;
    }
#endif
    return u;
  }();
  return chosen;
}

}  // namespace qkv::dispatch
