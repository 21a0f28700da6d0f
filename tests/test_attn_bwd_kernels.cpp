// SPDX-License-Identifier: MIT
// The packing kernels of kernels/attn_bwd/attn_bwd.hpp, checked on each ISA's
// table directly against plain loops: `transpose` (K_jᵀ, V_jᵀ with zero
// padding), `scale_rows` (Qs = fl(scale Q), dQ = fl(scale acc)) and the
// forward's `transpose_scaled` (Q^T and O in one pass). All must
// give exactly the bits of the loops (a transpose moves bits; a scaled copy
// is one multiply per element), write every element of their destination
// and nothing outside it, and ignore what lies between a source row's end
// and its leading dimension. Shapes: 1, primes, around the vector widths
// (4, 8, 16) and the backward's tiles (32, 64), leading dimensions padded
// or strided like a [B,T,H,d] tensor.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/attn_bwd/attn_bwd.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

using qkv::kern::attn_bwd_kernels;

constexpr std::size_t kFront = 3;  // canaries before a destination

float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A canary no kernel writes: a quiet NaN with its own payload.
const float kCanary = bits_float(0x7fc0beefu);

// Random values in [-2, 2) with special ones mixed in: signed zeros,
// subnormals, infinities, huge values and quiet NaNs with payloads (no
// signalling NaNs: an x87 copy on i686 would quiet them in the reference).
std::vector<float> source(std::size_t n, std::uint64_t seed) {
  std::vector<float> v = qkv_test::random_vector(n, seed, -2.f, 2.f);
  const float special[] = {0.f,
                           -0.f,
                           bits_float(0x00000001u),  // smallest subnormal
                           bits_float(0x807fffffu),  // largest negative subnormal
                           std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(),
                           3.0e38f,
                           -1.5e-38f,
                           bits_float(0x7fc12345u),
                           bits_float(0xffd00001u)};
  qkv_test::rng r(seed + 1);
  for (std::size_t i = 0; i < n; i += 7) v[i] = special[r.next() % (sizeof special / sizeof special[0])];
  return v;
}

std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

const std::size_t kSizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 63, 64, 65};
const std::size_t kRows[] = {1, 2, 3, 8, 9, 17, 64, 65};

// Elements of got that differ from want (NaN for NaN passes: the payload is
// the multiply's business, the contract promises IEEE arithmetic; a canary
// never does), and the first of them (want.size() if none).
std::size_t mismatches(const std::vector<float>& got, const std::vector<float>& want, std::size_t* first) {
  std::size_t bad = 0;
  *first = want.size();
  for (std::size_t i = 0; i < want.size(); ++i) {
    const bool ok = same_bits(got[i], want[i]) ||
                    (std::isnan(got[i]) && std::isnan(want[i]) && !same_bits(want[i], kCanary) &&
                     !same_bits(got[i], kCanary));
    if (!ok && bad++ == 0) *first = i;
  }
  return bad;
}

void check_transpose(const attn_bwd_kernels& t, std::size_t rows, std::size_t cols, std::size_t ld,
                     std::size_t ld_dst) {
  INFO("rows " << rows << " cols " << cols << " ld " << ld << " ld_dst " << ld_dst);
  const std::vector<float> src = source(rows * ld, rows * 1000 + cols * 10 + ld);
  // The destination [cols][ld_dst], with canaries before it and a row after.
  const std::size_t n = kFront + (cols + 1) * ld_dst;
  std::vector<float> want(n, kCanary), got(n, kCanary);
  for (std::size_t f = 0; f < cols; ++f)
    for (std::size_t c = 0; c < ld_dst; ++c) want[kFront + f * ld_dst + c] = c < rows ? src[c * ld + f] : 0.f;
  t.transpose(rows, cols, src.data(), ld, got.data() + kFront, ld_dst);
  std::size_t bad = 0, first = n;
  for (std::size_t i = 0; i < n; ++i)
    if (!same_bits(got[i], want[i])) {
      ++bad;
      if (first == n) first = i;
    }
  INFO("first differing element " << first << " (" << bad << " differ)");
  REQUIRE(bad == 0);
}

void check_scale_rows(const attn_bwd_kernels& t, std::size_t rows, std::size_t cols, std::size_t cols_pad,
                      std::size_t ld, std::size_t ld_dst, float scale) {
  INFO("rows " << rows << " cols " << cols << " cols_pad " << cols_pad << " ld " << ld << " ld_dst " << ld_dst
               << " scale " << scale);
  const std::vector<float> src = source(rows * ld, rows * 1000 + cols * 10 + ld);
  const std::size_t n = kFront + (rows + 1) * ld_dst;
  std::vector<float> want(n, kCanary), got(n, kCanary);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t f = 0; f < cols_pad; ++f)
      want[kFront + r * ld_dst + f] = f < cols ? scale * src[r * ld + f] : 0.f;
  t.scale_rows(rows, cols, cols_pad, scale, src.data(), ld, got.data() + kFront, ld_dst);
  std::size_t first;
  std::size_t bad = mismatches(got, want, &first);
  INFO("first differing element " << first << " (" << bad << " differ)");
  REQUIRE(bad == 0);

  if (cols_pad == cols && ld_dst == ld) {  // in place, as dQ is finished
    std::vector<float> inplace = src;
    t.scale_rows(rows, cols, cols, scale, inplace.data(), ld, inplace.data(), ld);
    bad = 0;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t f = 0; f < ld; ++f) {
        const float w = f < cols ? want[kFront + r * ld_dst + f] : src[r * ld + f];
        const float g = inplace[r * ld + f];
        if (!same_bits(g, w) && !(std::isnan(g) && std::isnan(w))) ++bad;
      }
    INFO("in place: " << bad << " differ");
    REQUIRE(bad == 0);
  }
}

// transpose_scaled: dst [cols][ld_dst] with dst_cols written per row (the
// rest canaries: the forward writes O's rows in place), each element one
// multiply by its row's factor (col_scale) or the one scale.
void check_transpose_scaled(const attn_bwd_kernels& t, std::size_t rows, std::size_t cols, std::size_t ld,
                            std::size_t ld_dst, std::size_t dst_cols, bool per_col) {
  INFO("rows " << rows << " cols " << cols << " ld " << ld << " ld_dst " << ld_dst << " dst_cols " << dst_cols
               << (per_col ? " per-column scales" : " one scale"));
  const std::vector<float> src = source(rows * ld, rows * 1000 + cols * 10 + ld);
  std::vector<float> col_scale = qkv_test::random_vector(cols, rows + cols, 0.25f, 4.f);
  const float scale = 0.57735026f;
  const std::size_t n = kFront + (cols + 1) * ld_dst;
  std::vector<float> want(n, kCanary), got(n, kCanary);
  for (std::size_t f = 0; f < cols; ++f)
    for (std::size_t c = 0; c < dst_cols; ++c)
      want[kFront + f * ld_dst + c] = c < rows ? src[c * ld + f] * (per_col ? col_scale[f] : scale) : 0.f;
  t.transpose_scaled(rows, cols, src.data(), ld, got.data() + kFront, ld_dst, dst_cols, scale,
                     per_col ? col_scale.data() : nullptr);
  std::size_t first;
  const std::size_t bad = mismatches(got, want, &first);
  INFO("first differing element " << first << " (" << bad << " differ)");
  REQUIRE(bad == 0);
}

}  // namespace

TEST_CASE("attention transpose_scaled is transpose then one multiply, writing nothing past dst_cols, every ISA",
          "[sdpa][kernels]") {
  const bool small = qkv_test::small_tests();
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const attn_bwd_kernels& t = qkv::kern::attn_bwd_for(isa);
    REQUIRE(t.transpose_scaled != nullptr);  // every hosted table has it
    for (std::size_t rows : kSizes)
      for (std::size_t cols : kSizes)
        // ld: tight, odd, a [B,T,H,d] token stride; dst_cols: exact (O's
        // rows), one more, the forward's query tile; ld_dst: tight, odd, a
        // token stride.
        for (std::size_t ld : {cols, cols + 3, std::size_t(768)})
          for (std::size_t dst_cols : {rows, rows + 1, round_up(rows, 64)})
            for (std::size_t ld_dst : {dst_cols, dst_cols + 5, std::size_t(768)}) {
              if (small && (ld == cols + 3 || ld_dst == dst_cols + 5)) continue;
              check_transpose_scaled(t, rows, cols, ld, ld_dst, dst_cols, false);
              check_transpose_scaled(t, rows, cols, ld, ld_dst, dst_cols, true);
            }
  }
}

TEST_CASE("attention backward transpose moves every bit and zeroes the padding on every ISA",
          "[sdpa][backward][kernels]") {
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const attn_bwd_kernels& t = qkv::kern::attn_bwd_for(isa);
    for (std::size_t rows : kSizes)
      for (std::size_t cols : kSizes)
        // ld: tight, odd, the backward's padded rows; ld_dst: tight (no
        // padding, and a last partial vector block that does not fit), odd,
        // the backward's padded key count.
        for (std::size_t ld : {cols, cols + 3, round_up(cols, qkv::kern::kAttnBwdPad)})
          for (std::size_t ld_dst : {rows, rows + 5, round_up(rows, qkv::kern::kAttnBwdPad)})
            check_transpose(t, rows, cols, ld, ld_dst);
  }
}

TEST_CASE("attention backward scale_rows is one multiply per element and zeroes the padding on every ISA",
          "[sdpa][backward][kernels]") {
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const attn_bwd_kernels& t = qkv::kern::attn_bwd_for(isa);
    // Emulated runs (small tests) keep every size, one odd ld and two scales.
    const bool small = qkv_test::small_tests();
    for (std::size_t rows : kRows)
      for (std::size_t cols : kSizes)
        for (std::size_t cols_pad : {cols, cols + 1, round_up(cols, qkv::kern::kAttnBwdPad)})
          // ld: tight, odd, a [B,T,H,d] token stride (12 heads of 64).
          for (std::size_t ld : {cols, cols + 5, std::size_t(768)})
            for (std::size_t ld_dst : {cols_pad, cols_pad + 3})
              for (float scale : {0.125f, 0.57735026f, 1.f, -2.5f}) {
                if (small && (ld == cols || ld_dst == cols_pad || scale == 0.125f || scale == 1.f)) continue;
                check_scale_rows(t, rows, cols, cols_pad, ld, ld_dst, scale);
              }
  }
}
