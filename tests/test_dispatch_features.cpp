// SPDX-License-Identifier: MIT
// Dispatch's decision as a pure function of the CPU's features (issue 17):
// every path with made-up CPUs, on every target, then the live probe agrees
// with the public API. The features each set needs are kRequiredFeatures
// (src/dispatch/dispatch.hpp); isa_features_check.cpp checks them against
// the flags at build time.
#include <catch2/catch.hpp>

#include "dispatch/dispatch.hpp"
#include "qkv/qkv.h"

namespace {

namespace qd = qkv::dispatch;
namespace f = qkv::dispatch::feature;

constexpr qd::isa_set kX86 = qd::isa_bit(QKV_ISA_SSE2) | qd::isa_bit(QKV_ISA_AVX2) | qd::isa_bit(QKV_ISA_AVX512) |
                             qd::isa_bit(QKV_ISA_AVX512_BF16);
constexpr qd::isa_set kArmv7 = qd::isa_bit(QKV_ISA_NEON);
constexpr qd::isa_set kAarch64 =
    qd::isa_bit(QKV_ISA_NEON64) | qd::isa_bit(QKV_ISA_NEON64_DOT) | qd::isa_bit(QKV_ISA_NEON64_BF16);
constexpr qd::isa_set kEvery = (1u << QKV_ISA_COUNT) - 1;

// CPUs as their features reach dispatch.
constexpr qd::feature_set kPentium3 = f::kMmx | f::kSse;
constexpr qd::feature_set kNehalem = f::kSse2Level | f::kSse3 | f::kSsse3 | f::kSse41 | f::kSse42 | f::kPopcnt;
constexpr qd::feature_set kHaswell = f::kAvx2Level;  // AVX2, FMA and F16C
constexpr qd::feature_set kSkylakeX = f::kAvx512Level;
constexpr qd::feature_set kCascadeLake = kSkylakeX | f::kAvx512vnni;  // and Ice Lake: VNNI, no BF16
constexpr qd::feature_set kCooperLake = kCascadeLake | f::kAvx512bf16;
constexpr qd::feature_set kSapphireRapids = kCooperLake;  // AMX and FP16 are not dispatch features
constexpr qd::feature_set kZen4 = kSkylakeX | f::kAvx512bf16 | f::kAvx512vnni;  // and Zen 5
constexpr qd::feature_set kCortexA8 = f::kVfpv3 | f::kVfpd32 | f::kNeon;  // and A9: NEON, VFPv3
constexpr qd::feature_set kCortexA7 = kCortexA8 | f::kVfpv4;              // and A15
constexpr qd::feature_set kCortexR5f = f::kVfpv3;                          // VFPv3-D16, no NEON
constexpr qd::feature_set kArmv8 = f::kFp | f::kAsimd;  // Cortex-A53/A57/A72, qemu's cortex-a53
// Armv8.2 with the dot product and half precision: Cortex-A55/A76,
// Neoverse N1, Apple M1 (qemu's neoverse-n1 and cortex-a76).
constexpr qd::feature_set kNeoverseN1 = kArmv8 | f::kAsimddp | f::kFphp | f::kAsimdhp;
// Armv8.6's BF16 and I8MM as well: Neoverse V1/N2/V2, Apple M2 (qemu's max).
constexpr qd::feature_set kNeoverseV1 = kNeoverseN1 | f::kBf16 | f::kI8mm;
constexpr qd::feature_set kA64fx = kArmv8 | f::kFphp | f::kAsimdhp;  // half precision, no dot product

}  // namespace

TEST_CASE("dispatch: the feature table", "[isa][dispatch]") {
  CHECK(qd::kRequiredFeatures[QKV_ISA_SCALAR] == 0);
  for (int i = 1; i < QKV_ISA_COUNT; ++i) {
    INFO("isa " << qd::name(static_cast<qkv_isa>(i)));
    CHECK(qd::kRequiredFeatures[i] != 0);  // every SIMD set assumes something
  }
  // The x86 sets nest; the sets declare what it names.
  CHECK((qd::kRequiredFeatures[QKV_ISA_SSE2] & ~qd::kRequiredFeatures[QKV_ISA_AVX2]) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX2] & ~qd::kRequiredFeatures[QKV_ISA_AVX512]) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX2] & (f::kAvx2 | f::kFma | f::kF16c)) == (f::kAvx2 | f::kFma | f::kF16c));
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX512] & ~qd::kRequiredFeatures[QKV_ISA_AVX512_BF16]) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX512_BF16] & (f::kAvx512bf16 | f::kAvx512vnni)) ==
        (f::kAvx512bf16 | f::kAvx512vnni));
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX512] & (f::kAvx512bf16 | f::kAvx512vnni)) == 0);
  const qd::feature_set avx512 = f::kAvx512f | f::kAvx512cd | f::kAvx512dq | f::kAvx512bw | f::kAvx512vl;
  CHECK((qd::kRequiredFeatures[QKV_ISA_AVX512] & avx512) == avx512);
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON] & (f::kNeon | f::kVfpv4)) == (f::kNeon | f::kVfpv4));
  // The AArch64 sets nest; none assumes half-precision arithmetic.
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64] & ~qd::kRequiredFeatures[QKV_ISA_NEON64_DOT]) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64_DOT] & ~qd::kRequiredFeatures[QKV_ISA_NEON64_BF16]) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64_DOT] & f::kAsimddp) == f::kAsimddp);
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64_BF16] & (f::kBf16 | f::kI8mm)) == (f::kBf16 | f::kI8mm));
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64] & (f::kAsimddp | f::kBf16 | f::kI8mm)) == 0);
  CHECK((qd::kRequiredFeatures[QKV_ISA_NEON64_DOT] & (f::kBf16 | f::kI8mm)) == 0);
  for (int i = 0; i < QKV_ISA_COUNT; ++i) CHECK((qd::kRequiredFeatures[i] & (f::kFphp | f::kAsimdhp)) == 0);
  // Every set of the preference list once, scalar never (it is the fallback).
  qd::isa_set seen = 0;
  for (qkv_isa isa : qd::kPreference) {
    CHECK((seen & qd::isa_bit(isa)) == 0);
    seen |= qd::isa_bit(isa);
  }
  CHECK(seen == (kEvery & ~qd::isa_bit(QKV_ISA_SCALAR)));
}

TEST_CASE("dispatch: x86 decisions from made-up CPUs", "[isa][dispatch]") {
  CHECK(qd::pick(0, kX86) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kPentium3, kX86) == QKV_ISA_SCALAR);  // SSE without SSE2
  CHECK(qd::pick(f::kSse2Level, kX86) == QKV_ISA_SSE2);
  CHECK(qd::pick(kNehalem, kX86) == QKV_ISA_SSE2);
  CHECK(qd::pick(kHaswell, kX86) == QKV_ISA_AVX2);
  CHECK(qd::pick(kSkylakeX, kX86) == QKV_ISA_AVX512);
  // AVX-512 with BF16 and VNNI (Zen 4/5, Cooper Lake, Sapphire Rapids):
  // avx512_bf16; either one missing (Cascade/Ice Lake have VNNI but no BF16):
  // avx512.
  CHECK(qd::pick(kZen4, kX86) == QKV_ISA_AVX512_BF16);
  CHECK(qd::pick(kCooperLake, kX86) == QKV_ISA_AVX512_BF16);
  CHECK(qd::pick(kSapphireRapids, kX86) == QKV_ISA_AVX512_BF16);
  CHECK(qd::pick(kCascadeLake, kX86) == QKV_ISA_AVX512);
  CHECK(qd::pick(kSkylakeX | f::kAvx512bf16, kX86) == QKV_ISA_AVX512);  // BF16 without VNNI
  // BF16 and VNNI bits without the AVX-512 base (a VM masking some bits): not
  // even avx512, and never avx512_bf16.
  CHECK(qd::pick(kZen4 & ~f::kAvx512bw, kX86) == QKV_ISA_AVX2);
  // A build without the avx512_bf16 kernels runs avx512 on Zen 4.
  CHECK(qd::pick(kZen4, kX86 & ~qd::isa_bit(QKV_ISA_AVX512_BF16)) == QKV_ISA_AVX512);
  // AVX2 without FMA, and AVX2 without the OS saving ymm (libgcc then
  // reports neither AVX nor AVX2): SSE2.
  CHECK(qd::pick(kHaswell & ~f::kFma, kX86) == QKV_ISA_SSE2);
  CHECK(qd::pick(kHaswell & ~(f::kAvx | f::kAvx2 | f::kFma), kX86) == QKV_ISA_SSE2);
  CHECK(qd::pick(kHaswell & ~f::kPopcnt, kX86) == QKV_ISA_SSE2);
  // AVX2 without F16C (the fp16 conversions of kernels/convert): SSE2.
  CHECK(qd::pick(kHaswell & ~f::kF16c, kX86) == QKV_ISA_SSE2);
  CHECK(qd::pick(kSkylakeX & ~f::kF16c, kX86) == QKV_ISA_SSE2);
  // AVX-512F alone (Knights Landing lacks BW, DQ and VL), or any one of the
  // five missing: AVX2.
  CHECK(qd::pick(kHaswell | f::kAvx512f | f::kAvx512cd, kX86) == QKV_ISA_AVX2);
  for (qd::feature_set one : {f::kAvx512f, f::kAvx512cd, f::kAvx512dq, f::kAvx512bw, f::kAvx512vl}) {
    INFO("without feature bit " << one);
    CHECK(qd::pick(kSkylakeX & ~one, kX86) == QKV_ISA_AVX2);
  }
  // AVX-512 features without AVX2 or FMA: not even AVX2.
  CHECK(qd::pick(kSkylakeX & ~f::kFma, kX86) == QKV_ISA_SSE2);
  // Only what the build has: a build without AVX-512 kernels, or scalar only.
  CHECK(qd::pick(kSkylakeX, kX86 & ~qd::isa_bit(QKV_ISA_AVX512)) == QKV_ISA_AVX2);
  CHECK(qd::pick(kZen4, kX86 & ~(qd::isa_bit(QKV_ISA_AVX512) | qd::isa_bit(QKV_ISA_AVX512_BF16))) ==
        QKV_ISA_AVX2);
  CHECK(qd::pick(kSkylakeX, 0) == QKV_ISA_SCALAR);
  // x86 features never allow an ARM set.
  CHECK(qd::pick(kSkylakeX, kArmv7 | kAarch64) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kZen4, kArmv7 | kAarch64) == QKV_ISA_SCALAR);
}

TEST_CASE("dispatch: ARM decisions from made-up CPUs", "[isa][dispatch]") {
  // ARMv7: NEON needs VFPv4 too (the set is built with -mfpu=neon-vfpv4).
  CHECK(qd::pick(kCortexA7, kArmv7) == QKV_ISA_NEON);
  CHECK(qd::pick(kCortexA8, kArmv7) == QKV_ISA_SCALAR);  // issue 17: SIGILL before
  CHECK(qd::pick(kCortexR5f, kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(f::kNeon, kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kCortexA7 & ~f::kVfpd32, kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kCortexA7 & ~f::kVfpv3, kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kCortexA7, 0) == QKV_ISA_SCALAR);
  // AArch64: the dot product (neon64_dot), then BF16 and I8MM together
  // (neon64_bf16); either one missing: the set below.
  CHECK(qd::pick(kArmv8, kAarch64) == QKV_ISA_NEON64);
  CHECK(qd::pick(kNeoverseN1, kAarch64) == QKV_ISA_NEON64_DOT);
  CHECK(qd::pick(kArmv8 | f::kAsimddp, kAarch64) == QKV_ISA_NEON64_DOT);  // no fp16 needed
  CHECK(qd::pick(kNeoverseV1, kAarch64) == QKV_ISA_NEON64_BF16);
  CHECK(qd::pick(kNeoverseV1 & ~(f::kFphp | f::kAsimdhp), kAarch64) == QKV_ISA_NEON64_BF16);
  CHECK(qd::pick(kNeoverseN1 | f::kBf16, kAarch64) == QKV_ISA_NEON64_DOT);  // BF16 without I8MM
  CHECK(qd::pick(kNeoverseN1 | f::kI8mm, kAarch64) == QKV_ISA_NEON64_DOT);  // I8MM without BF16
  CHECK(qd::pick(kA64fx, kAarch64) == QKV_ISA_NEON64);
  // BF16 and I8MM bits without the dot product (a VM masking some): neon64.
  CHECK(qd::pick(kNeoverseV1 & ~f::kAsimddp, kAarch64) == QKV_ISA_NEON64);
  // The extensions without Advanced SIMD: scalar.
  CHECK(qd::pick(kNeoverseV1 & ~f::kAsimd, kAarch64) == QKV_ISA_SCALAR);
  // Only what the build has.
  CHECK(qd::pick(kNeoverseV1, kAarch64 & ~qd::isa_bit(QKV_ISA_NEON64_BF16)) == QKV_ISA_NEON64_DOT);
  CHECK(qd::pick(kNeoverseV1, qd::isa_bit(QKV_ISA_NEON64)) == QKV_ISA_NEON64);
  CHECK(qd::pick(kNeoverseV1, qd::isa_bit(QKV_ISA_NEON64_BF16)) == QKV_ISA_NEON64_BF16);
  CHECK(qd::pick(kNeoverseN1, qd::isa_bit(QKV_ISA_NEON64_BF16)) == QKV_ISA_SCALAR);
  // AArch64 features never allow an x86 or ARMv7 set, nor x86 ones an AArch64 set.
  CHECK(qd::pick(kNeoverseV1, kX86 | kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kZen4, kAarch64) == QKV_ISA_SCALAR);
  CHECK(qd::pick(f::kFp, kAarch64) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kArmv8, kArmv7) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kCortexA7, kAarch64) == QKV_ISA_SCALAR);
  // Helium (Cortex-M55: the MVE-F bit its image assumes): mve; the bit never
  // allows another set, nor another CPU's features mve.
  const qd::isa_set m55_build = qd::isa_bit(QKV_ISA_SCALAR) | qd::isa_bit(QKV_ISA_MVE);
  CHECK(qd::pick(f::kMvef, m55_build) == QKV_ISA_MVE);
  CHECK(qd::pick(0, m55_build) == QKV_ISA_SCALAR);  // Cortex-M4/M7
  CHECK(qd::pick(f::kMvef, qd::isa_bit(QKV_ISA_SCALAR)) == QKV_ISA_SCALAR);  // built with QKV_MVE=OFF
  CHECK(qd::pick(f::kMvef, kX86 | kArmv7 | kAarch64) == QKV_ISA_SCALAR);
  CHECK(qd::pick(kNeoverseV1 | kCortexA7 | kZen4, m55_build) == QKV_ISA_SCALAR);
  // Everything compiled, everything present: the preference order decides.
  CHECK(qd::pick(~qd::feature_set{0}, kEvery) == qd::kPreference[0]);
  CHECK(qd::pick(kArmv8 | kCortexA7, kEvery) == QKV_ISA_NEON64);
  CHECK(qd::pick(kNeoverseV1 | kCortexA7, kEvery) == QKV_ISA_NEON64_BF16);
  // Outside the enum: refused.
  CHECK_FALSE(qd::allows(~qd::feature_set{0}, QKV_ISA_COUNT));
  CHECK_FALSE(qd::allows(~qd::feature_set{0}, static_cast<qkv_isa>(QKV_ISA_COUNT + 1)));
  CHECK(qd::allows(0, QKV_ISA_SCALAR));
}

TEST_CASE("dispatch: the live probe and the public API agree with the table", "[isa][dispatch]") {
  const qd::feature_set cpu = qd::cpu_features();
  INFO("cpu features 0x" << std::hex << cpu);
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    const qkv_isa isa = static_cast<qkv_isa>(i);
    int compiled = -1, supported = -1;
    REQUIRE(qkv_isa_query(isa, &compiled, &supported) == QKV_OK);
    INFO("isa " << qkv_isa_name(isa));
    CHECK(compiled == ((qd::compiled_set() & qd::isa_bit(isa)) ? 1 : 0));
    CHECK(supported == (compiled && qd::allows(cpu, isa) ? 1 : 0));
  }
  CHECK(qd::best() == qd::pick(cpu, qd::compiled_set()));
  // What the library's own code was compiled to assume is there.
  CHECK((qd::assumed_features() & ~cpu) == 0);
}
