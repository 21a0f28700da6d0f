// SPDX-License-Identifier: MIT
// The micro-kernel contract of kernels/gemm/gemm.hpp, checked on each ISA's
// table directly (the driver tests reach the kernels only through shapes):
// the full-tile ukernel (hand-written assembly on AVX-512) and
// ukernel_strided on the whole tile and on every corner, with packed or
// in-place operands (A row-major or transposed), all give the same bits, write nothing outside their
// tile, never read C when beta == 0, and match the double reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/gemm/gemm.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_gemm.hpp"

namespace {

using qkv::kern::gemm_kernels;

constexpr float kCanary = -7.25f;

// A C block with a frame of canaries: the tile starts at row 1, column 3,
// and ldc leaves 5 columns of canaries after it.
struct c_block {
  std::size_t ldc, rows;
  std::vector<float> v;
  c_block(std::size_t mr, std::size_t nr) : ldc(nr + 8), rows(mr + 2), v(rows * ldc, kCanary) {}
  float* tile() { return v.data() + ldc + 3; }
  float& at(std::size_t i, std::size_t j) { return v[(i + 1) * ldc + 3 + j]; }
};

// 64-byte aligned float storage for packed panels.
struct aligned_floats {
  std::vector<float> raw;
  float* p;
  explicit aligned_floats(std::size_t n) : raw(n + 16) {
    const auto u = reinterpret_cast<std::uintptr_t>(raw.data());
    p = raw.data() + ((64 - u % 64) % 64) / sizeof(float);
  }
};

void check_kernels(const gemm_kernels& t, std::size_t kc, float alpha, float beta) {
  const std::size_t mr = t.mr, nr = t.nr, lda = kc + 3, ldb = nr + 5;
  const std::vector<float> A = qkv_test::random_vector(mr * lda, 100 + kc);  // row-major mr x kc
  const std::vector<float> B = qkv_test::random_vector(kc * ldb, 200 + kc);  // row-major kc x nr
  const std::vector<float> C0 = qkv_test::random_vector(mr * nr, 300 + kc);
  const std::size_t ldat = mr + 2;  // A^T: kc x mr, op(A)(i,k) = At[k*ldat + i]
  std::vector<float> At(kc * ldat, kCanary);
  for (std::size_t i = 0; i < mr; ++i)
    for (std::size_t k = 0; k < kc; ++k) At[k * ldat + i] = A[i * lda + k];
  aligned_floats ap(mr * kc), bp(kc * nr);
  t.pack_a(false, mr, kc, A.data(), lda, ap.p);
  t.pack_b(false, kc, nr, B.data(), ldb, bp.p);

  // beta == 0 must not read C: start from NaN there.
  const float start_nan = std::numeric_limits<float>::quiet_NaN();
  auto fresh = [&] {
    c_block c(mr, nr);
    for (std::size_t i = 0; i < mr; ++i)
      for (std::size_t j = 0; j < nr; ++j) c.at(i, j) = beta == 0.f ? start_nan : C0[i * nr + j];
    return c;
  };

  c_block full = fresh();
  t.ukernel(kc, alpha, ap.p, bp.p, beta, full.tile(), full.ldc);

  // Against the double-precision oracle and its error bound (support/ref_gemm.hpp).
  const qkv_test::gemm_ref_result ref =
      qkv_test::ref_sgemm(false, false, mr, nr, kc, alpha, A.data(), lda, B.data(), ldb, beta, C0.data(), nr);
  for (std::size_t i = 0; i < mr; ++i)
    for (std::size_t j = 0; j < nr; ++j) {
      INFO("i " << i << " j " << j);
      REQUIRE(std::fabs(double(full.at(i, j)) - ref.value[i * nr + j]) <= ref.bound[i * nr + j]);
    }
  // Nothing outside the tile: every canary is still in place.
  for (std::size_t r = 0; r < full.rows; ++r)
    for (std::size_t col = 0; col < full.ldc; ++col) {
      const bool inside = r >= 1 && r <= mr && col >= 3 && col < 3 + nr;
      if (!inside) REQUIRE(full.v[r * full.ldc + col] == kCanary);
    }

  // Every other way of computing the tile, and every corner of it, gives
  // the same bits as the full tile and writes only its corner.
  c_block init = fresh();
  const std::size_t ms[] = {1, mr / 2, mr - 1, mr}, ns[] = {1, nr / 2 + 1, nr - 1, nr};
  for (std::size_t m : ms)
    for (std::size_t n : ns) {
      if (m == 0 || n == 0 || m > mr || n > nr) continue;
      for (int way = 0; way < 5; ++way) {
        c_block c = fresh();
        switch (way) {
          case 0: t.ukernel_strided(m, n, kc, alpha, At.data(), 1, ldat, B.data(), ldb, beta, c.tile(), c.ldc); break;
          case 1: t.ukernel_strided(m, n, kc, alpha, ap.p, 1, mr, bp.p, 0, beta, c.tile(), c.ldc); break;
          case 2: t.ukernel_strided(m, n, kc, alpha, A.data(), lda, 1, bp.p, 0, beta, c.tile(), c.ldc); break;
          case 3: t.ukernel_strided(m, n, kc, alpha, ap.p, 1, mr, B.data(), ldb, beta, c.tile(), c.ldc); break;
          default: t.ukernel_strided(m, n, kc, alpha, A.data(), lda, 1, B.data(), ldb, beta, c.tile(), c.ldc);
        }
        INFO("m " << m << " n " << n << " way " << way);
        for (std::size_t r = 0; r < c.rows; ++r)
          for (std::size_t col = 0; col < c.ldc; ++col) {
            const bool corner = r >= 1 && r <= m && col >= 3 && col < 3 + n;
            const bool in_tile = r >= 1 && r <= mr && col >= 3 && col < 3 + nr;
            const float got = c.v[r * c.ldc + col];
            const float want = corner ? full.v[r * c.ldc + col] : in_tile ? init.v[r * c.ldc + col] : kCanary;
            INFO("row " << r << " col " << col);
            if (std::isnan(want))
              REQUIRE(std::isnan(got));
            else
              REQUIRE(std::memcmp(&got, &want, sizeof got) == 0);
          }
      }
    }
}

}  // namespace

namespace {
// Every table of the ISAs this machine runs: one per ISA, and AVX-512's
// second form of the full tile (inline assembly) where built.
std::vector<const gemm_kernels*> runnable_tables() {
  std::vector<const gemm_kernels*> out;
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    out.push_back(&qkv::kern::gemm_for(isa));
#ifdef QKV_HAVE_GEMM_AVX512_ASM
    if (isa == QKV_ISA_AVX512) out.push_back(&qkv::kern::gemm_avx512_asm);
#endif
  }
  return out;
}
}  // namespace

TEST_CASE("gemm micro-kernels: full tile, edges and strided forms agree bitwise on every ISA", "[gemm]") {
  for (const gemm_kernels* tp : runnable_tables()) {
    const gemm_kernels& t = *tp;
    INFO("kernel " << t.name);
    // k around the assembly's unroll of 4 and the table's KC block.
    for (std::size_t kc : {std::size_t(1), std::size_t(2), std::size_t(3), std::size_t(4), std::size_t(5),
                           std::size_t(7), std::size_t(8), std::size_t(9), std::size_t(17), std::size_t(64),
                           t.kc - 1, t.kc}) {
      for (const auto& ab : {std::make_pair(1.f, 0.f), std::make_pair(1.f, 1.f), std::make_pair(-0.5f, 0.3f),
                             std::make_pair(0.7f, 0.f)}) {
        INFO("kc " << kc << " alpha " << ab.first << " beta " << ab.second);
        check_kernels(t, kc, ab.first, ab.second);
      }
    }
  }
}

TEST_CASE("gemm block_inplace equals the micro-kernel tiling bitwise", "[gemm]") {
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    const gemm_kernels& t = qkv::kern::gemm_for(isa);
    if (!t.block_inplace) continue;
    INFO("isa " << qkv_isa_name(isa));
    for (std::size_t kc : {std::size_t(1), std::size_t(3), std::size_t(64), t.kc})
      for (std::size_t mc : {std::size_t(1), std::size_t(5), std::size_t(6), std::size_t(7), std::size_t(13),
                             std::size_t(29), std::size_t(64)})
        for (std::size_t nc : {std::size_t(1), std::size_t(15), std::size_t(17), std::size_t(33), std::size_t(64),
                               std::size_t(65), std::size_t(100)})
          for (bool a_cols : {false, true})
            for (const auto& ab : {std::make_pair(1.f, 0.f), std::make_pair(-0.5f, 0.3f)}) {
              INFO("kc " << kc << " mc " << mc << " nc " << nc << " a_cols " << a_cols << " beta " << ab.second);
              // op(A) mc x kc: row-major with lda, or stored transposed (a_cols).
              const std::size_t lda = (a_cols ? mc : kc) + 3, ldb = nc + 5, ldc = nc + 7;
              const std::vector<float> A = qkv_test::random_vector((a_cols ? kc : mc) * lda, 7 + kc);
              const std::vector<float> B = qkv_test::random_vector(kc * ldb, 8 + nc);
              const std::size_t a_rs = a_cols ? 1 : lda, a_cs = a_cols ? lda : 1;
              std::vector<float> want = qkv_test::random_vector((mc + 2) * ldc, 9), got = want;
              float* cw = want.data() + ldc;  // a canary row above and below, columns past nc
              float* cg = got.data() + ldc;
              for (std::size_t i = 0; i < mc; i += t.mr)
                for (std::size_t j = 0; j < nc; j += t.nr) {
                  const std::size_t m = std::min(t.mr, mc - i), n = std::min(t.nr, nc - j);
                  t.ukernel_strided(m, n, kc, ab.first, A.data() + i * a_rs, a_rs, a_cs, B.data() + j, ldb, ab.second,
                                    cw + i * ldc + j, ldc);
                }
              t.block_inplace(mc, nc, kc, ab.first, A.data(), a_rs, a_cs, B.data(), ldb, ab.second, cg, ldc);
              REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
            }
  }
}

#ifdef QKV_HAVE_GEMM_AVX512_ASM
TEST_CASE("gemm AVX-512: the intrinsics and the assembly full tile give the same bits", "[gemm][uarch]") {
  const std::vector<qkv_isa> isas = qkv_test::runnable_isas();
  if (std::find(isas.begin(), isas.end(), QKV_ISA_AVX512) == isas.end()) return;
  const gemm_kernels& intr = qkv::kern::gemm_for(QKV_ISA_AVX512);
  const gemm_kernels& hand = qkv::kern::gemm_avx512_asm;
  REQUIRE(intr.mr == hand.mr);
  REQUIRE(intr.nr == hand.nr);
  for (std::size_t kc : {std::size_t(1), std::size_t(3), std::size_t(4), std::size_t(13), std::size_t(240),
                         intr.kc_max}) {
    aligned_floats ap(intr.mr * kc), bp(kc * intr.nr);
    const std::vector<float> a = qkv_test::random_vector(intr.mr * kc, 11 + kc);
    const std::vector<float> b = qkv_test::random_vector(kc * intr.nr, 12 + kc);
    std::copy(a.begin(), a.end(), ap.p);
    std::copy(b.begin(), b.end(), bp.p);
    for (float alpha : {0.75f, 1.f}) {
      for (float beta : {0.f, 0.5f}) {
        INFO("kc " << kc << " alpha " << alpha << " beta " << beta);
        std::vector<float> c_intr = qkv_test::random_vector(intr.mr * intr.nr, 13), c_hand = c_intr;
        intr.ukernel(kc, alpha, ap.p, bp.p, beta, c_intr.data(), intr.nr);
        hand.ukernel(kc, alpha, ap.p, bp.p, beta, c_hand.data(), intr.nr);
        REQUIRE(std::memcmp(c_intr.data(), c_hand.data(), c_intr.size() * sizeof(float)) == 0);
        // B read in place (row stride nr + 5) through the strided entry point.
        const std::size_t ldb = intr.nr + 5;
        std::vector<float> bin(kc * ldb, kCanary);
        for (std::size_t k = 0; k < kc; ++k)
          std::copy(b.begin() + k * intr.nr, b.begin() + (k + 1) * intr.nr, &bin[k * ldb]);
        intr.ukernel_strided(intr.mr, intr.nr, kc, alpha, ap.p, 1, intr.mr, bin.data(), ldb, beta, c_intr.data(),
                             intr.nr);
        hand.ukernel_strided(hand.mr, hand.nr, kc, alpha, ap.p, 1, hand.mr, bin.data(), ldb, beta, c_hand.data(),
                             hand.nr);
        REQUIRE(std::memcmp(c_intr.data(), c_hand.data(), c_intr.size() * sizeof(float)) == 0);
      }
    }
  }
}
#endif
