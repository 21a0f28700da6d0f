// SPDX-License-Identifier: MIT
// vec's dot_rows_lowp and rows_times_lowp (kernels/vec/vec.hpp: the skinny
// gemm_ex's bf16 / fp16 / int8 B read in place, transposed and as stored).
// dot_rows_lowp, on each ISA's table
// directly: the bits of dot_rows on the exactly widened v (the contract),
// within the fp32 accumulation bound of a double reference (a check of
// the test itself), and nothing written past the m results. Shapes: every
// m the skinny path passes (1..8), n 1, primes, and around the vector
// widths (4, 8, 16) and their 4-vector steps (16, 32, 64), x rows padded.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/vec/vec.hpp"
#include "qkv/dtype.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// n values of type vt (raw storage) and their exact fp32 values.
struct typed_v {
  std::vector<unsigned char> raw;
  std::vector<float> wide;
};

typed_v make_v(qkv_dtype vt, std::size_t n, std::uint64_t seed) {
  typed_v v;
  const std::vector<float> f = qkv_test::random_vector(n, seed, -3.f, 3.f);
  v.wide.resize(n);
  if (vt == QKV_DTYPE_I8) {
    v.raw.resize(n);
    qkv_test::rng r(seed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = static_cast<std::int8_t>(static_cast<int>(r.next() % 256) - 128);  // -128..127
      std::memcpy(&v.raw[i], &c, 1);
      v.wide[i] = static_cast<float>(c);
    }
    return v;
  }
  v.raw.resize(2 * n);
  REQUIRE(qkv_convert(n, QKV_DTYPE_F32, f.data(), vt, v.raw.data()) == QKV_OK);
  REQUIRE(qkv_convert(n, vt, v.raw.data(), QKV_DTYPE_F32, v.wide.data()) == QKV_OK);
  return v;
}

}  // namespace

TEST_CASE("dot_rows_lowp gives dot_rows' bits on the widened vector, on every ISA", "[vec][gemm_ex]") {
  const std::size_t ns[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97, 128, 131, 512, 1031};
  std::uint64_t seed = 900;
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const qkv::kern::vec_kernels& t = qkv::kern::vec_for(isa);
    for (qkv_dtype vt : {QKV_DTYPE_BF16, QKV_DTYPE_F16, QKV_DTYPE_I8})
      for (std::size_t n : ns)
        for (std::size_t m = 1; m <= 8; ++m) {
          INFO(qkv_dtype_name(vt) << " m " << m << " n " << n);
          const std::size_t ldx = n + 3;
          const std::vector<float> x = qkv_test::random_vector(m * ldx, seed++, -2.f, 2.f);
          const typed_v v = make_v(vt, n, seed++);
          std::vector<float> want(m + 1, -7.f), got(m + 1, -7.f);
          t.dot_rows(m, n, x.data(), ldx, v.wide.data(), want.data());
          t.dot_rows_lowp(vt, m, n, x.data(), ldx, v.raw.data(), got.data());
          for (std::size_t r = 0; r < m; ++r) {
            INFO("row " << r << ": " << got[r] << " vs " << want[r]);
            CHECK(same_bits(got[r], want[r]));
            // fp32 accumulation of n products: |error| <= n 2^-24 sum |x||v|
            // (to first order), against the double sum.
            double ref = 0, mag = 0;
            for (std::size_t c = 0; c < n; ++c) {
              ref += double(x[r * ldx + c]) * double(v.wide[c]);
              mag += std::fabs(double(x[r * ldx + c]) * double(v.wide[c]));
            }
            CHECK(std::fabs(double(got[r]) - ref) <= double(n) * 0x1p-24 * mag + 1e-30);
          }
          CHECK(got[m] == -7.f);  // nothing past the m results
        }
  }
}

// rows_times_lowp: y (m x n) = x (m x k) times v (k x n, rows ldv apart)
// widened. Each element within the fp32 accumulation bound (k products
// summed one at a time: |error| <= k 2^-24 sum_j |x||v| to first order)
// of the double sum; each element's bits independent of m, n and its place
// (the last row alone, and its last column alone, give the same bits);
// nothing written in y's padding or past its last row. Shapes: every m (1..8), k 1 and primes, n around each ISA's
// vector width and its register blocks (up to 8 vectors of 16), padded
// rows of x, v and y.
TEST_CASE("rows_times_lowp sums each element within the fp32 bound, alone or in any block, on every ISA",
          "[vec][gemm_ex]") {
  // Under emulation (small_tests) the vector edges of every ISA and one
  // whole block of each row count (128 columns), with fewer depths.
  const std::vector<std::size_t> ns = qkv_test::small_tests()
                                          ? std::vector<std::size_t>{1, 7, 9, 16, 17, 33, 129}
                                          : std::vector<std::size_t>{1,  3,  4,  7,  8,  9,  15,  16,  17,  31,
                                                                     32, 33, 47, 64, 65, 97, 127, 128, 129, 200};
  const std::vector<std::size_t> ks =
      qkv_test::small_tests() ? std::vector<std::size_t>{1, 13, 131} : std::vector<std::size_t>{1, 2, 13, 64, 131};
  std::uint64_t seed = 4200;
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const qkv::kern::vec_kernels& t = qkv::kern::vec_for(isa);
    for (qkv_dtype vt : {QKV_DTYPE_BF16, QKV_DTYPE_F16, QKV_DTYPE_I8})
      for (std::size_t k : ks)
        for (std::size_t n : ns)
          for (std::size_t m = 1; m <= 8; ++m) {
            INFO(qkv_dtype_name(vt) << " m " << m << " k " << k << " n " << n);
            const std::size_t ldx = k + 3, ldv = n + 5, ldy = n + 2;
            const std::vector<float> x = qkv_test::random_vector(m * ldx, seed++, -2.f, 2.f);
            const typed_v v = make_v(vt, k * ldv, seed++);
            std::vector<float> y((m + 1) * ldy, -7.f);
            t.rows_times_lowp(vt, m, k, n, x.data(), ldx, v.raw.data(), ldv, y.data(), ldy);
            std::size_t bad = 0;
            for (std::size_t r = 0; r <= m; ++r)
              for (std::size_t c = 0; c < ldy; ++c) {
                const float got = y[r * ldy + c];
                if (r == m || c >= n) {  // padding and the row past the last
                  if (got != -7.f && bad++ < 5) FAIL_CHECK("y(" << r << "," << c << ") written");
                  continue;
                }
                double ref = 0, mag = 0;
                for (std::size_t j = 0; j < k; ++j) {
                  ref += double(x[r * ldx + j]) * double(v.wide[j * ldv + c]);
                  mag += std::fabs(double(x[r * ldx + j]) * double(v.wide[j * ldv + c]));
                }
                if (!(std::fabs(double(got) - ref) <= double(k) * 0x1p-24 * mag + 1e-30) && bad++ < 5)
                  FAIL_CHECK("y(" << r << "," << c << ") = " << got << " vs " << ref);
              }
            CHECK(bad == 0);
            // Row m-1 alone, and its last column alone: the same bits.
            std::vector<float> one(n, -7.f), last(1, -7.f);
            t.rows_times_lowp(vt, 1, k, n, x.data() + (m - 1) * ldx, ldx, v.raw.data(), ldv, one.data(), n);
            t.rows_times_lowp(vt, 1, k, 1, x.data() + (m - 1) * ldx, ldx,
                              v.raw.data() + (n - 1) * (vt == QKV_DTYPE_I8 ? 1 : 2), ldv, last.data(), 1);
            for (std::size_t c = 0; c < n; ++c)
              if (!same_bits(one[c], y[(m - 1) * ldy + c]) && bad++ < 5)
                FAIL_CHECK("row " << m - 1 << " alone, column " << c << ": " << one[c] << " vs "
                                  << y[(m - 1) * ldy + c]);
            CHECK(bad == 0);
            CHECK(same_bits(last[0], y[(m - 1) * ldy + n - 1]));
          }
  }
}
