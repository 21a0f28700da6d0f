// SPDX-License-Identifier: MIT
// The kv walk (kernels/kv/kv.hpp: decode attention's pieces over a cache of
// any qkv_kv_format), on each ISA's table directly:
//  - the bits of a walk over n keys equal those of n walks over one key
//    (a one-key walk always goes key by key, so whatever grouping a long
//    walk uses, e.g. AVX-512's 16 q8_0 keys at a time, has its bits),
//    whatever the L1 size the kernel is told;
//  - scores and weighted sums within the fp32 bound of a double reference
//    over the stored (exactly widened) values: |error| <= (d + 2) u sum|terms|
//    for a score of d products (u = 2^-24; q8_0 adds one rounding for the
//    block scale), (n + 2) u sum|terms| for a weighted sum of n keys.
// Shapes: d 32 (q8_0's block), 64, 96, 128, 160, 256 (AVX-512's q8_0 walk
// takes up to 4 blocks of a head at once); n 1, 15, 16, 17, 33, 100;
// heads 1, 3, 12 with groups 1 and 3 (GQA) and a skew; rows padded.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kv/kv.hpp"
#include "qkv/dtype.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

constexpr double kU = 1.0 / 16777216.0;

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

std::size_t part_bytes(qkv_kv_format f, std::size_t d) {
  return f == QKV_KV_Q8_0 ? d / 32 * sizeof(qkv_block_q8_0) : f == QKV_KV_F32 ? d * 4 : d * 2;
}

// n rows of kvh K/V heads of d values each, `stride` bytes apart, stored in
// format f, and their exact fp32 values [n][kvh * d].
struct cache {
  std::vector<unsigned char> rows;
  std::vector<float> wide;
};

cache make_cache(qkv_kv_format f, std::size_t n, std::size_t kvh, std::size_t d, std::size_t stride,
                 std::uint64_t seed) {
  cache c;
  c.rows.assign(n * stride + 64, 0xA5);
  c.wide.resize(n * kvh * d);
  const std::size_t w = kvh * d;
  for (std::size_t j = 0; j < n; ++j) {
    std::vector<float> x = qkv_test::random_vector(w, seed + j, -2.f, 2.f);
    if (j % 7 == 3) x[0] = 40.f;  // a block whose scale is set by one large value
    unsigned char* dst = c.rows.data() + j * stride;
    if (f == QKV_KV_F32)
      std::memcpy(dst, x.data(), w * 4);
    else if (f == QKV_KV_Q8_0)
      REQUIRE(qkv_quantize_q8_0(w, x.data(), reinterpret_cast<qkv_block_q8_0*>(dst)) == QKV_OK);
    else
      REQUIRE(qkv_convert(w, QKV_DTYPE_F32, x.data(), f == QKV_KV_BF16 ? QKV_DTYPE_BF16 : QKV_DTYPE_F16, dst) ==
              QKV_OK);
    if (f == QKV_KV_Q8_0)
      REQUIRE(qkv_dequantize_q8_0(w, reinterpret_cast<const qkv_block_q8_0*>(dst), c.wide.data() + j * w) ==
              QKV_OK);
    else if (f == QKV_KV_F32)
      std::memcpy(c.wide.data() + j * w, x.data(), w * 4);
    else
      REQUIRE(qkv_convert(w, f == QKV_KV_BF16 ? QKV_DTYPE_BF16 : QKV_DTYPE_F16, dst, QKV_DTYPE_F32,
                          c.wide.data() + j * w) == QKV_OK);
  }
  return c;
}

}  // namespace

TEST_CASE("kv walks give the key-by-key bits and match a double reference, on every ISA", "[kv][decode]") {
  const qkv_kv_format formats[] = {QKV_KV_F32, QKV_KV_BF16, QKV_KV_F16, QKV_KV_Q8_0};
  // Emulated (small tests), a third of the shapes: d 32, 96, 160, n 1, 16,
  // 17, 100 (either side of AVX-512's q8_0 group of 16), L1 sizes that
  // never and always allow grouping; the native suite runs them all.
  const bool small = qkv_test::small_tests();
  const std::vector<std::size_t> ds = small ? std::vector<std::size_t>{32, 96, 160}
                                            : std::vector<std::size_t>{32, 64, 96, 128, 160, 256};
  const std::vector<std::size_t> ns = small ? std::vector<std::size_t>{1, 16, 17, 100}
                                            : std::vector<std::size_t>{1, 15, 16, 17, 33, 100};
  const std::vector<std::size_t> l1ds = small ? std::vector<std::size_t>{0, std::size_t(1) << 20}
                                              : std::vector<std::size_t>{0, std::size_t(48) << 10, std::size_t(1) << 20};
  struct heads_case {
    std::size_t nh, group, skew;
  };
  const heads_case hcs[] = {{1, 1, 0}, {3, 1, 0}, {12, 1, 0}, {12, 3, 0}, {5, 3, 2}};
  std::uint64_t seed = 4100;
  // Each case's cache and double reference are made once and checked on
  // every ISA and L1 size (under emulation they were most of the time).
  for (qkv_kv_format f : formats)
    for (std::size_t d : ds)
      for (const heads_case& hc : hcs)
        for (std::size_t n : ns) {
          INFO("format " << f << " d " << d << " heads " << hc.nh << " group " << hc.group << " skew " << hc.skew
                         << " keys " << n);
          const std::size_t kvh = (hc.nh - 1 + hc.skew) / hc.group + 1, part = part_bytes(f, d);
          const std::size_t stride = kvh * part + 36;  // padded rows, elements kept aligned
          const cache c = make_cache(f, n, kvh, d, stride, seed += 97);
          const std::size_t lds = n + 3;
          const std::vector<float> q = qkv_test::random_vector(hc.nh * d, seed + 1, -1.f, 1.f);
          const std::vector<float> p = qkv_test::random_vector(hc.nh * lds, seed + 2, 0.f, 1.f);
          const std::vector<float> o0 = qkv_test::random_vector(hc.nh * d, seed + 3, -1.f, 1.f);
          const float scale = 0.125f;
          // The reference: each score and output element with its bound.
          std::vector<double> s_ref(hc.nh * n), s_tol(hc.nh * n), o_ref(hc.nh * d), o_tol(hc.nh * d);
          for (std::size_t u = 0; u < hc.nh; ++u) {
            const std::size_t kh = (u + hc.skew) / hc.group;
            for (std::size_t j = 0; j < n; ++j) {
              const float* k = c.wide.data() + (j * kvh + kh) * d;
              double ref = 0, mag = 0;
              for (std::size_t i = 0; i < d; ++i) {
                ref += double(q[u * d + i]) * k[i];
                mag += std::fabs(double(q[u * d + i]) * k[i]);
              }
              s_ref[u * n + j] = scale * ref;
              s_tol[u * n + j] = static_cast<double>(d + 3) * kU * scale * mag;
            }
            for (std::size_t i = 0; i < d; ++i) {
              double ref = o0[u * d + i], mag = std::fabs(o0[u * d + i]);
              for (std::size_t j = 0; j < n; ++j) {
                const double term = double(p[u * lds + j]) * c.wide[(j * kvh + kh) * d + i];
                ref += term;
                mag += std::fabs(term);
              }
              o_ref[u * d + i] = ref;
              o_tol[u * d + i] = static_cast<double>(n + 3) * kU * mag;
            }
          }
          for (qkv_isa isa : qkv_test::runnable_isas()) {
            INFO("isa " << qkv_isa_name(isa));
            const qkv::kern::kv_kernels& t = qkv::kern::kv_for(isa);
            for (std::size_t l1d : l1ds) {
              INFO("l1d " << l1d);
              const qkv::kern::kv_heads hs{hc.nh, hc.group, hc.skew, part, l1d};
              std::vector<float> s(hc.nh * lds, -7.f), s1(hc.nh * lds, -7.f), o = o0, o1 = o0;
              t.walk(f, hs, n, d, q.data(), lds, c.rows.data(), stride, scale, s.data(), nullptr);
              t.walk(f, hs, n, d, p.data(), lds, c.rows.data(), stride, 0.f, nullptr, o.data());
              for (std::size_t j = 0; j < n; ++j) {
                t.walk(f, hs, 1, d, q.data(), lds, c.rows.data() + j * stride, stride, scale, s1.data() + j, nullptr);
                t.walk(f, hs, 1, d, p.data() + j, lds, c.rows.data() + j * stride, stride, 0.f, nullptr, o1.data());
              }
              CHECK(same_bits(s.data(), s1.data(), s.size()));  // padding between head rows untouched too
              CHECK(same_bits(o.data(), o1.data(), o.size()));
              std::size_t bad = 0;
              for (std::size_t u = 0; u < hc.nh; ++u) {
                for (std::size_t j = 0; j < n; ++j)
                  bad += std::fabs(s[u * lds + j] - s_ref[u * n + j]) > s_tol[u * n + j];
                for (std::size_t i = 0; i < d; ++i) bad += std::fabs(o[u * d + i] - o_ref[u * d + i]) > o_tol[u * d + i];
              }
              CHECK(bad == 0);
            }
          }
        }
}
