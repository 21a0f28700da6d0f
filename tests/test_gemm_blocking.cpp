// SPDX-License-Identifier: MIT
// GEMM blocking from the caches (ops/gemm_blocking.hpp, dispatch/caches.hpp):
// the analytical model on the caches of known CPUs, its rounding and limits,
// the QKV_BLOCKING override's parser, and qkv_get_gemm_blocking's report
// against the workspace query it bounds. A ctest entry reruns the [blocking]
// tests with QKV_BLOCKING set (the choice is made once per process).
#include <catch2/catch.hpp>

#include <cstdlib>

#include "qkv/qkv.h"
#include "support/isa.hpp"

#if __has_include("ops/gemm_blocking.hpp")
#include "dispatch/caches.hpp"
#include "ops/gemm_blocking.hpp"

namespace {

using qkv::dispatch::cache_info;
using qkv::ops::gemm_blocks;
using qkv::ops::kGemmBlockLimits;

cache_info caches(std::size_t l1, std::size_t w1, std::size_t l2, std::size_t w2) {
  cache_info c;
  c.l1d = {l1, w1, 64};
  c.l2 = {l2, w2, 64};
  c.source = qkv::dispatch::cache_source::cpuid;
  return c;
}

// A table with the given tile and nothing else (the model reads mr, nr, kc_max).
qkv::kern::gemm_kernels tile(std::size_t mr, std::size_t nr) {
  qkv::kern::gemm_kernels t{};
  t.mr = mr;
  t.nr = nr;
  t.kc_max = qkv::kern::kGemmKcLimit;
  return t;
}

// dispatch/uarch's choices for the model: B block in L3 or L2, the A panel in 2/3 of L1.
constexpr qkv::ops::gemm_model_choice kL3{true, false}, kL2{false, false};

void require_well_formed(const gemm_blocks& b, const qkv::kern::gemm_kernels& t) {
  REQUIRE(b.mc % t.mr == 0);
  REQUIRE(b.nc % t.nr == 0);
  REQUIRE(b.kc % 8 == 0);
  REQUIRE(b.mc >= t.mr);
  REQUIRE(b.nc >= t.nr);
  REQUIRE(b.kc >= kGemmBlockLimits.kc_min);
  REQUIRE(b.kc <= t.kc_max);
  REQUIRE(b.mc <= kGemmBlockLimits.mc_max);
  REQUIRE(b.nc <= kGemmBlockLimits.nc_max);
}

}  // namespace

TEST_CASE("gemm blocking: the model on known caches", "[gemm][blocking]") {
  const auto avx512 = tile(14, 32), avx2 = tile(6, 16);
  SECTION("48 KiB 12-way L1d, 1 MiB L2 (Zen 5) and 2 MiB L2 (Sapphire Rapids)") {
    // kc: an A micro-panel in 2/3 of (48 KiB - 4 KiB): 30037 / (14 * 4) = 536 -> 512 (the limit).
    const gemm_blocks zen5 = qkv::ops::model_gemm_blocks(avx512, caches(48 << 10, 12, 1 << 20, 16), kL3);
    REQUIRE(zen5.kc == 512);
    REQUIRE(zen5.nc == 384);  // the B block in 3/4 of L2: 786432 / 2048 = 384 -> 12 panels
    REQUIRE(zen5.mc == 56);   // the A block in 1/8: 64 -> 4 tiles of 14
    REQUIRE(zen5.source == QKV_BLOCKING_CACHES);
    // gemm_ex's bf16 / int8 base: both fp32 micro-panels in the 44 KiB,
    // (48 KiB - 4 KiB) / ((14 + 32) * 4) = 244.9 -> 240 (steps of 8), and the same areas.
    REQUIRE((zen5.lowp_kc == 240 && zen5.lowp_nc == 800 && zen5.lowp_mc == 126));  // 819 -> 25 panels, 136 -> 9 tiles
    const gemm_blocks spr = qkv::ops::model_gemm_blocks(avx512, caches(48 << 10, 12, 2 << 20, 16), kL2);
    REQUIRE(spr.kc == 512);
    REQUIRE(spr.nc == 768);  // twice the L2: 1572864 / 2048 = 768 -> 24 panels
    REQUIRE(spr.mc == 126);  // 128 -> 9 tiles
    REQUIRE((spr.lowp_kc == 240 && spr.lowp_nc == 1632 && spr.lowp_mc == 266));
    require_well_formed(zen5, avx512);
    require_well_formed(spr, avx512);
  }
  SECTION("an L3 that streams B (b_in_l3): the B block in a quarter of it where that is more than 3/4 of L2") {
    cache_info zen5 = caches(48 << 10, 12, 1 << 20, 16);
    zen5.l3 = {32u << 20, 16, 64};  // 8 MiB / 960 bytes per column = 8738 -> the limit
    const gemm_blocks b = qkv::ops::model_gemm_blocks(avx512, zen5, kL3);
    REQUIRE((b.kc == 512 && b.mc == 56 && b.nc == kGemmBlockLimits.nc_max));  // 8 MiB / 2048 = 4096
    REQUIRE((b.lowp_kc == 240 && b.lowp_mc == 126 && b.lowp_nc == kGemmBlockLimits.nc_max));
    cache_info arm = caches(32 << 10, 4, 512 << 10, 8);
    arm.l3 = {2u << 20, 16, 64};  // 512 KiB (not 3/4 of L2: 384 KiB)
    const gemm_blocks a = qkv::ops::model_gemm_blocks(avx2, arm, kL3);
    REQUIRE(a.nc == (512u << 10) / (a.kc * 4) / 16 * 16);
    arm.l3.bytes = 1u << 20;  // a quarter is less than 3/4 of L2: L2 decides
    REQUIRE(qkv::ops::model_gemm_blocks(avx2, arm, kL3).nc == (384u << 10) / (a.kc * 4) / 16 * 16);
    require_well_formed(b, avx512);
    require_well_formed(a, avx2);
  }
  SECTION("an L3 that does not (Intel's mesh): 3/4 of L2 whatever the L3") {
    cache_info xeon = caches(48 << 10, 12, 2 << 20, 16);
    xeon.l3 = {480u << 20, 15, 64};  // what a KVM guest on a Xeon host reports
    const gemm_blocks b = qkv::ops::model_gemm_blocks(avx512, xeon, kL2);
    REQUIRE((b.kc == 512 && b.mc == 126 && b.nc == 768));  // 1572864 / 2048 = 768 -> 24 panels
    require_well_formed(b, avx512);
  }
  SECTION("32 KiB 8-way L1d (Haswell, 6x16)") {
    // kc: 2/3 of 28 KiB / (6 * 4) = 796 -> 512 (the limit); both panels: 28 KiB / ((6 + 16) * 4) = 325.8 -> 320.
    const gemm_blocks hsw = qkv::ops::model_gemm_blocks(avx2, caches(32 << 10, 8, 256 << 10, 8), kL2);
    REQUIRE(hsw.kc == 512);
    REQUIRE(hsw.lowp_kc == 320);
    require_well_formed(hsw, avx2);
  }
  SECTION("32 KiB 8-way L1d whose FMAs leave it time (Zen 4, a_fills_l1): the A panel fills L1 less a way") {
    cache_info zen4 = caches(32 << 10, 8, 1 << 20, 8);
    zen4.l3 = {32u << 20, 16, 64};
    // 2/3 of 28 KiB / (14 * 4) = 341 -> 336; all of it: 28672 / 56 = 512.
    REQUIRE(qkv::ops::model_gemm_blocks(avx512, zen4, kL3).kc == 336);
    const gemm_blocks b = qkv::ops::model_gemm_blocks(avx512, zen4, {true, true});
    REQUIRE((b.kc == 512 && b.mc == 56 && b.nc == kGemmBlockLimits.nc_max));  // 128 KiB / 2048 = 64 -> 4 tiles
    REQUIRE((b.lowp_kc == 152 && b.lowp_mc == 210));  // unchanged: 28672 / 184 = 155.8 -> 152; 215 -> 15 tiles
    require_well_formed(b, avx512);
  }
  SECTION("tiny, huge and unknown-associativity caches stay within the limits") {
    for (const auto& t : {avx512, avx2, tile(4, 4), tile(8, 8)}) {
      require_well_formed(qkv::ops::model_gemm_blocks(t, caches(4 << 10, 2, 16 << 10, 4), kL3), t);
      require_well_formed(qkv::ops::model_gemm_blocks(t, caches(1 << 20, 64, 256 << 20, 32), kL3), t);
      require_well_formed(qkv::ops::model_gemm_blocks(t, caches(32 << 10, 0, 1 << 20, 0), kL2), t);
      require_well_formed(qkv::ops::model_gemm_blocks(t, caches(4 << 10, 2, 16 << 10, 4), {true, true}), t);
      require_well_formed(qkv::ops::model_gemm_blocks(t, caches(1 << 20, 64, 256 << 20, 32), {false, true}), t);
    }
  }
}

TEST_CASE("gemm blocking: QKV_BLOCKING's parser rounds to tiles and clamps", "[gemm][blocking]") {
  const auto t = tile(14, 32);
  gemm_blocks b{};
  REQUIRE(qkv::ops::parse_gemm_blocks("168,256,1024", t, &b));
  REQUIRE((b.mc == 168 && b.kc == 256 && b.nc == 1024 && b.source == QKV_BLOCKING_ENVIRONMENT));
  REQUIRE(qkv::ops::parse_gemm_blocks("100,300,700", t, &b));
  REQUIRE((b.mc == 98 && b.kc == 296 && b.nc == 672));
  REQUIRE(qkv::ops::parse_gemm_blocks("1,1,1", t, &b));
  REQUIRE((b.mc == 14 && b.kc == kGemmBlockLimits.kc_min && b.nc == 32));
  REQUIRE(qkv::ops::parse_gemm_blocks("100000,100000,100000", t, &b));
  require_well_formed(b, t);
  for (const char* bad : {"", "168", "168,256", "168,256,", "168,256,1024,1", "a,b,c", "168;256;1024", "-1,2,3",
                          "168,256,1024 ", "99999999999999999999,1,1"})
    REQUIRE_FALSE(qkv::ops::parse_gemm_blocks(bad, t, &b));
}
#endif  // ops/gemm_blocking.hpp

TEST_CASE("qkv_get_gemm_blocking reports the blocks every ISA runs with", "[gemm][blocking]") {
  REQUIRE(qkv_get_gemm_blocking(nullptr) == QKV_ERR_NULL_POINTER);
  const char* env = std::getenv("QKV_BLOCKING");
  qkv_test::for_each_isa([&](qkv_isa) {
    qkv_gemm_blocking b;
    REQUIRE(qkv_get_gemm_blocking(&b) == QKV_OK);
    REQUIRE(b.mc % b.mr == 0);
    REQUIRE(b.nc % b.nr == 0);
    REQUIRE((b.kc >= 64 && b.kc <= 768 && b.mc <= 1024 && b.nc <= 4096));
    if (env) {
      REQUIRE(b.source == QKV_BLOCKING_ENVIRONMENT);
    } else if (b.source == QKV_BLOCKING_CACHES) {
      REQUIRE(b.l1d_bytes > 0);
      REQUIRE(b.l2_bytes > 0);
    }
    // The documented bound on the workspace query, one and two threads.
    const std::size_t bound1 = (b.mc + b.nc) * b.kc * sizeof(float) + 64;
    for (int threads : {1, 2}) {
      std::size_t bytes = 0;
      REQUIRE(qkv_sgemm_workspace_size(QKV_TRANS, QKV_NO_TRANS, 3000, 3000, 3000, threads, &bytes) == QKV_OK);
      REQUIRE(bytes > 0);
      REQUIRE(bytes <= bound1 + static_cast<std::size_t>(threads - 1) * b.mc * b.kc * sizeof(float));
    }
    // N just over one column block runs as two near-equal blocks, not nc + nr:
    // the B block of the query is half as wide (K = kc: one K block).
    const std::size_t N = b.nc + b.nr, half = (N / 2 + b.nr - 1) / b.nr * b.nr;
    std::size_t bytes = 0;
    REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, 3000, N, b.kc, 1, &bytes) == QKV_OK);
    REQUIRE(bytes <= (b.mc + half) * b.kc * sizeof(float) + 128);
  });
}
