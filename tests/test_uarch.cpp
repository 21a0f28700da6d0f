// SPDX-License-Identifier: MIT
// The per-microarchitecture choices (src/dispatch/uarch.hpp) as pure
// functions of made-up CPUID answers: every decision path, on every target;
// then the live probe agrees with what the public query reports.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>

#include "dispatch/uarch.hpp"
#include "qkv/qkv.h"

namespace {

namespace qd = qkv::dispatch;

struct vendor_regs {
  std::uint32_t ebx, edx, ecx;
};
std::uint32_t word(const char* s) {
  std::uint32_t w;
  std::memcpy(&w, s, 4);  // x86 is little-endian: CPUID's byte order
  return w;
}
vendor_regs regs(const char* v12) { return {word(v12), word(v12 + 4), word(v12 + 8)}; }

// Leaf 1 EAX from the fields (stepping 0).
std::uint32_t eax1(unsigned base_family, unsigned ext_family, unsigned base_model, unsigned ext_model) {
  return ext_family << 20 | ext_model << 16 | base_family << 8 | base_model << 4;
}

qd::cpu_identity cpu(const char* vendor, std::uint32_t eax) {
  const vendor_regs r = regs(vendor);
  return qd::decode_cpuid(r.ebx, r.edx, r.ecx, eax);
}

}  // namespace

TEST_CASE("uarch: CPUID leaf 0 and 1 decode to vendor, family, model", "[dispatch][uarch]") {
  // Sapphire Rapids: family 6, model 0x8F (extended model 8).
  qd::cpu_identity spr = cpu("GenuineIntel", eax1(6, 0, 0xF, 8));
  CHECK(spr.vendor == qd::cpu_vendor::intel);
  CHECK(spr.family == 6);
  CHECK(spr.model == 0x8F);
  // Zen 5 (EPYC 9005): family 0xF + 0xB = 0x1A, model 0x02.
  qd::cpu_identity zen5 = cpu("AuthenticAMD", eax1(0xF, 0xB, 2, 0));
  CHECK(zen5.vendor == qd::cpu_vendor::amd);
  CHECK(zen5.family == 0x1A);
  CHECK(zen5.model == 0x02);
  // Zen 4 (Genoa): family 0x19, model 0x11.
  qd::cpu_identity genoa = cpu("AuthenticAMD", eax1(0xF, 0xA, 1, 1));
  CHECK(genoa.family == 0x19);
  CHECK(genoa.model == 0x11);
  // Hygon Dhyana is a Zen core.
  CHECK(cpu("HygonGenuine", eax1(0xF, 0x9, 0, 0)).vendor == qd::cpu_vendor::amd);
  // The extended model counts only for family 6 and 0xF.
  CHECK(cpu("GenuineIntel", eax1(5, 0, 4, 3)).model == 4);
  CHECK(cpu("CentaurHauls", eax1(6, 0, 0xF, 0)).vendor == qd::cpu_vendor::other);
  CHECK(qd::decode_cpuid(0, 0, 0, 0).vendor == qd::cpu_vendor::other);
}

TEST_CASE("uarch: every decision path", "[dispatch][uarch]") {
  struct expect {
    const char* vendor;
    std::uint32_t eax;
    const char* name;
    qd::gemm_tile tile;
    bool bf16_dot;
    bool b_in_l3;
    bool a_fills_l1;
    unsigned b_inplace_panels;
  };
  using T = qd::gemm_tile;
  const expect cases[] = {
      // Intel: the assembly tile, bf16 widened, B blocks in L2 (measured on Sapphire/Emerald Rapids class Xeons).
      {"GenuineIntel", eax1(6, 0, 0xF, 8), "intel", T::assembly, false, false, false, 0},  // Sapphire Rapids
      {"GenuineIntel", eax1(6, 0, 0x7, 0xA), "intel", T::assembly, false, false, false, 0},  // model 167 (a KVM guest's)
      {"GenuineIntel", eax1(6, 0, 0x5, 5), "intel", T::assembly, false, false, false, 0},  // Skylake-SP
      // AMD: bf16 dot products, B blocks in L3 (measured on Zen 5); B read in place by the rule on M
      // nowhere (it lost inside the layer step on Zen 5); the intrinsics tile and the A panel in 2/3 of L1,
      // except on Zen 4 (half-rate 512-bit FMAs): the assembly tile and the A panel filling L1 (session 33).
      {"AuthenticAMD", eax1(0xF, 0xB, 2, 0), "zen5", T::intrinsics, true, true, false, 0},   // Turin
      {"AuthenticAMD", eax1(0xF, 0xB, 4, 4), "zen5", T::intrinsics, true, true, false, 0},   // Granite Ridge
      {"AuthenticAMD", eax1(0xF, 0xA, 1, 1), "zen4", T::assembly, true, true, true, 0},   // Genoa
      {"AuthenticAMD", eax1(0xF, 0xA, 1, 6), "zen4", T::assembly, true, true, true, 0},   // Raphael
      {"AuthenticAMD", eax1(0xF, 0xA, 0, 0xA), "zen4", T::assembly, true, true, true, 0}, // Bergamo
      {"AuthenticAMD", eax1(0xF, 0xA, 1, 0), "amd", T::intrinsics, true, true, false, 0},    // Zen 3 (Milan)
      {"AuthenticAMD", eax1(0xF, 0x8, 1, 3), "amd", T::intrinsics, true, true, false, 0},    // Zen 2
      // Anything else: the portable defaults.
      {"CentaurHauls", eax1(6, 0, 0xF, 0), "other", T::intrinsics, true, false, false, 0},
      {"\0\0\0\0\0\0\0\0\0\0\0\0", 0, "other", T::intrinsics, true, false, false, 0},
  };
  for (const expect& e : cases) {
    const qd::uarch_choice u = qd::choose(cpu(e.vendor, e.eax));
    INFO("eax1 " << std::hex << e.eax);
    CHECK(std::strcmp(u.name, e.name) == 0);
    CHECK(u.avx512_tile == e.tile);
    CHECK(u.bf16_dot == e.bf16_dot);
    CHECK(u.gemm_b_in_l3 == e.b_in_l3);
    CHECK(u.gemm_a_fills_l1 == e.a_fills_l1);
    CHECK(u.gemm_b_inplace_panels == e.b_inplace_panels);
  }
}

TEST_CASE("uarch: the live choice is what the blocking query reports", "[dispatch][uarch]") {
  const qd::uarch_choice& live = qd::uarch();
  qkv_gemm_blocking b;
  REQUIRE(qkv_get_gemm_blocking(&b) == QKV_OK);
  CHECK(std::strcmp(b.cpu_class, live.name) == 0);
  CHECK(b.kernel != nullptr);
#if defined(__x86_64__) || defined(__i386__)
  CHECK(std::strcmp(live.name, qd::choose(qd::identify()).name) == 0);
#else
  CHECK(std::strcmp(live.name, "other") == 0);
#endif
}
