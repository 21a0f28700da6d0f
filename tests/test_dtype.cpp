// SPDX-License-Identifier: MIT
// qkv/dtype.h: conversions between fp32, bf16 and fp16, and int8
// quantization, on every runnable ISA. Conversions are compared bit for bit
// with the scalar reference (util/half.hpp) and with an independent
// double-precision rounding written here (ref_narrow); quantization with
// codes computed here from the header's rules.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"
#include "util/half.hpp"

namespace {

using u16 = std::uint16_t;
using u32 = std::uint32_t;
using qkv::util::f32_bits;
using qkv::util::f32_from_bits;

static_assert(sizeof(qkv_block_q8_0) == 34, "q8_0 blocks have ggml's 34-byte layout");
static_assert(offsetof(qkv_block_q8_0, d) == 0 && offsetof(qkv_block_q8_0, qs) == 2, "ggml's field order");

// A binary format with p significand bits (implicit bit included), smallest
// normal exponent emin, largest emax.
struct format {
  int p, emin, emax;
};
constexpr format kBf16{8, -126, 127}, kF16{11, -14, 15};

// x rounded to `f` by IEEE 754 (nearest, ties to even; overflow to Inf;
// gradual underflow), from the value alone: double arithmetic is exact here
// (x has 24 bits, the scalings are powers of two). NaN: sign, exponent all
// ones, quiet bit, and the top payload bits of x.
u16 ref_narrow(float x, format f) {
  const int mbits = f.p - 1, ebits = f.emax == 127 ? 8 : 5, bias = f.emax;
  const u32 ux = f32_bits(x);
  const u16 sign = static_cast<u16>((ux >> 16) & 0x8000u);
  const u16 inf = static_cast<u16>(((1u << ebits) - 1u) << mbits);
  if (std::isnan(x)) return static_cast<u16>(sign | inf | (1u << (mbits - 1)) | ((ux & 0x7fffffu) >> (23 - mbits)));
  if (std::isinf(x)) return static_cast<u16>(sign | inf);
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return sign;
  int k;
  std::frexp(a, &k);                                // a = m * 2^k, m in [0.5, 1)
  const int e = std::max(k - 1, f.emin);            // exponent of a's binade, clamped to the subnormal range
  const double quantum = std::ldexp(1.0, e - mbits);  // spacing of the format there
  const double r = std::nearbyint(a / quantum) * quantum;
  const double max_finite = std::ldexp(2.0 - std::ldexp(1.0, -mbits), f.emax);
  if (r > max_finite) return static_cast<u16>(sign | inf);
  if (r < std::ldexp(1.0, f.emin))  // subnormal (or zero): units of 2^(emin - mbits)
    return static_cast<u16>(sign | static_cast<u32>(r / std::ldexp(1.0, f.emin - mbits)));
  std::frexp(r, &k);
  const u32 mant = static_cast<u32>(r / std::ldexp(1.0, k - 1 - mbits)) - (1u << mbits);
  return static_cast<u16>(sign | (static_cast<u32>(k - 1 + bias) << mbits) | mant);
}

// The value of an fp16 pattern, computed from its fields (NaN aside).
double f16_value(u16 h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double v = e == 0 ? std::ldexp(m, -24) : e == 31 ? HUGE_VAL : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -v : v;
}

bool is_nan16(u16 h, format f) {
  const u16 inf = f.p == 8 ? 0x7f80 : 0x7c00;
  return (h & 0x7fff) > inf;
}

std::vector<u16> all_16bit_patterns() {
  std::vector<u16> v(65536);
  for (u32 i = 0; i < 65536; ++i) v[i] = static_cast<u16>(i);
  return v;
}

// Edge values for narrowing: ties and their neighbours for both formats,
// subnormal boundaries, the overflow thresholds, fp32 extremes, NaN payloads
// and signed zeros; each with its neighbouring bit patterns and both signs.
std::vector<float> edge_values() {
  const u32 bases[] = {
      0x00000000u, 0x00000001u, 0x007fffffu, 0x00800000u,  // fp32 zero, subnormals, smallest normal
      0x3f808000u, 0x3f818000u, 0x3f800001u, 0x3f807fffu,  // bf16 ties (even / odd lsb) and neighbours
      0x3f801000u, 0x3f803000u, 0x3f800fffu,              // fp16 ties at 1
      0x33000000u, 0x33000001u, 0x33800000u, 0x33c00000u,  // 2^-25 (half the smallest fp16), 2^-24, 1.5 * 2^-24
      0x387fc000u, 0x387fe000u, 0x38800000u,              // near the smallest normal fp16 2^-14
      0x477fe000u, 0x477fefffu, 0x477ff000u, 0x477fffffu,  // 65504, just below 65520, 65520, beyond
      0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu,              // bf16 overflow boundary, fp32 max finite
      0x7f800000u, 0x7f800001u, 0x7f802000u, 0x7fa00000u, 0x7fc00000u, 0x7fffffffu,  // Inf, NaN payloads
      0x00400000u, 0x00008000u, 0x00018000u,              // fp32 subnormal bf16 ties
      0x3eaaaaabu, 0x40490fdbu, 0x42f6e979u,              // 1/3, pi, 123.456
  };
  std::vector<float> v;
  for (u32 b : bases)
    for (int d = -2; d <= 2; ++d)
      for (u32 sign : {0u, 0x80000000u}) v.push_back(f32_from_bits(((b + static_cast<u32>(d)) & 0x7fffffffu) | sign));
  return v;
}

std::vector<float> narrowing_inputs() {
  std::vector<float> v = edge_values();
  qkv_test::rng r(7);
  const std::size_t n = qkv_test::small_tests() ? (1u << 14) : (1u << 20);
  for (std::size_t i = 0; i < n; ++i) {
    u32 u = static_cast<u32>(r.next());
    if (i % 4 == 1) u = (u & 0x8fffffffu) | 0x30000000u;  // magnitudes near fp16's range
    if (i % 4 == 2) u &= 0xffff8000u | (u >> 17 & 1u);     // many exact bf16 ties
    v.push_back(f32_from_bits(u));
  }
  return v;
}

std::vector<u16> convert16(const std::vector<float>& x, qkv_dtype to) {
  std::vector<u16> y(x.size());
  REQUIRE(qkv_convert(x.size(), QKV_DTYPE_F32, x.data(), to, y.data()) == QKV_OK);
  return y;
}

std::vector<u32> widen(const std::vector<u16>& h, qkv_dtype from) {
  std::vector<float> y(h.size());
  REQUIRE(qkv_convert(h.size(), from, h.data(), QKV_DTYPE_F32, y.data()) == QKV_OK);
  std::vector<u32> bits(h.size());  // copied as bytes: an x87 load would quiet a signaling NaN
  if (!h.empty()) std::memcpy(bits.data(), y.data(), h.size() * sizeof(float));
  return bits;
}

}  // namespace

TEST_CASE("bf16: all 65536 patterns widen exactly and narrow back on every ISA", "[dtype][convert]") {
  const std::vector<u16> h = all_16bit_patterns();
  qkv_test::for_each_isa([&](qkv_isa) {
    const std::vector<u32> w = widen(h, QKV_DTYPE_BF16);
    std::size_t bad = 0;
    for (u32 i = 0; i < 65536; ++i) bad += w[i] != (i << 16);  // the bit pattern, NaNs included
    CHECK(bad == 0);
    std::vector<float> f(65536);
    for (u32 i = 0; i < 65536; ++i) f[i] = f32_from_bits(w[i]);
    const std::vector<u16> back = convert16(f, QKV_DTYPE_BF16);
    bad = 0;
    for (u32 i = 0; i < 65536; ++i)  // exact, except that a NaN comes back quiet
      bad += back[i] != (is_nan16(h[i], kBf16) ? (h[i] | 0x40u) : h[i]);
    CHECK(bad == 0);
  });
}

TEST_CASE("fp16: all 65536 patterns widen exactly and narrow back on every ISA", "[dtype][convert]") {
  const std::vector<u16> h = all_16bit_patterns();
  qkv_test::for_each_isa([&](qkv_isa) {
    const std::vector<u32> w = widen(h, QKV_DTYPE_F16);
    std::size_t bad_ref = 0, bad_value = 0, bad_back = 0;
    std::vector<float> f(65536);
    for (u32 i = 0; i < 65536; ++i) {
      f[i] = f32_from_bits(w[i]);
      bad_ref += w[i] != f32_bits(qkv::util::f16_to_f32(h[i]));
      if (is_nan16(h[i], kF16))  // quiet, sign and payload kept at the top of the fraction
        bad_value += w[i] != ((static_cast<u32>(h[i] & 0x8000u) << 16) | 0x7fc00000u | ((h[i] & 0x3ffu) << 13));
      else
        bad_value += static_cast<double>(f[i]) != f16_value(h[i]) || std::signbit(f[i]) != ((h[i] & 0x8000) != 0);
    }
    CHECK(bad_ref == 0);
    CHECK(bad_value == 0);
    const std::vector<u16> back = convert16(f, QKV_DTYPE_F16);
    for (u32 i = 0; i < 65536; ++i) bad_back += back[i] != (is_nan16(h[i], kF16) ? (h[i] | 0x200u) : h[i]);
    CHECK(bad_back == 0);
  });
}

TEST_CASE("bf16 <-> fp16 round once, for all 65536 patterns on every ISA", "[dtype][convert]") {
  const std::vector<u16> h = all_16bit_patterns();
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<u16> to_f16(65536), to_bf16(65536);
    REQUIRE(qkv_convert(65536, QKV_DTYPE_BF16, h.data(), QKV_DTYPE_F16, to_f16.data()) == QKV_OK);
    REQUIRE(qkv_convert(65536, QKV_DTYPE_F16, h.data(), QKV_DTYPE_BF16, to_bf16.data()) == QKV_OK);
    std::size_t bad = 0;
    for (u32 i = 0; i < 65536; ++i) {
      bad += to_f16[i] != ref_narrow(qkv::util::bf16_to_f32(h[i]), kF16);
      bad += to_bf16[i] != ref_narrow(qkv::util::f16_to_f32(h[i]), kBf16);
    }
    CHECK(bad == 0);
  });
}

TEST_CASE("the test's double reference agrees with util/half.hpp on the edge set", "[dtype][convert]") {
  for (float x : edge_values()) {
    INFO("x bits = " << std::hex << f32_bits(x));
    CHECK(ref_narrow(x, kBf16) == qkv::util::f32_to_bf16(x));
    CHECK(ref_narrow(x, kF16) == qkv::util::f32_to_f16(x));
  }
  // A few results written out: ties to even, the fp16 overflow threshold,
  // the smallest subnormals, NaN quieting.
  CHECK(ref_narrow(f32_from_bits(0x3f808000u), kBf16) == 0x3f80);
  CHECK(ref_narrow(f32_from_bits(0x3f818000u), kBf16) == 0x3f82);
  CHECK(ref_narrow(65519.99f, kF16) == 0x7bff);
  CHECK(ref_narrow(65520.0f, kF16) == 0x7c00);
  CHECK(ref_narrow(std::ldexp(1.0f, -25), kF16) == 0x0000);
  CHECK(ref_narrow(std::nextafter(std::ldexp(1.0f, -25), 1.0f), kF16) == 0x0001);
  CHECK(ref_narrow(f32_from_bits(0x7f7fffffu), kBf16) == 0x7f80);
  CHECK(ref_narrow(f32_from_bits(0xff800001u), kBf16) == 0xffc0);
  CHECK(ref_narrow(f32_from_bits(0x7f802000u), kF16) == 0x7e01);
}

TEST_CASE("fp32 -> bf16 and fp16 match both references on random and edge values, every ISA", "[dtype][convert]") {
  const std::vector<float> x = narrowing_inputs();
  std::vector<u16> want_bf16(x.size()), want_f16(x.size());
  std::size_t ref_disagree = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    want_bf16[i] = qkv::util::f32_to_bf16(x[i]);
    want_f16[i] = qkv::util::f32_to_f16(x[i]);
    ref_disagree += want_bf16[i] != ref_narrow(x[i], kBf16);
    ref_disagree += want_f16[i] != ref_narrow(x[i], kF16);
  }
  CHECK(ref_disagree == 0);
  qkv_test::for_each_isa([&](qkv_isa) {
    CHECK(convert16(x, QKV_DTYPE_BF16) == want_bf16);
    CHECK(convert16(x, QKV_DTYPE_F16) == want_f16);
  });
}

TEST_CASE("conversions of every length and alignment touch exactly n elements", "[dtype][convert]") {
  const std::size_t lengths[] = {0, 1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 127, 128, 129,
                                 255, 256, 257, 263, 1000, 1031};
  const qkv_dtype types[] = {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_F16};
  const std::size_t nmax = 1031, pad = 8;
  // Source: random fp32 values of all three types' bits, at offsets 0..3.
  std::vector<float> xf = qkv_test::random_vector(nmax + pad, 11, -70000.f, 70000.f);
  xf[5] = std::numeric_limits<float>::quiet_NaN();
  xf[40] = 1e-7f;  // fp16 subnormal
  std::vector<u16> xb(nmax + pad), xh(nmax + pad);
  for (std::size_t i = 0; i < nmax + pad; ++i) {
    xb[i] = qkv::util::f32_to_bf16(xf[i]);
    xh[i] = qkv::util::f32_to_f16(xf[i] * 1e-4f);
  }
  auto src_of = [&](qkv_dtype t, std::size_t off) -> const void* {
    return t == QKV_DTYPE_F32 ? static_cast<const void*>(xf.data() + off)
                              : t == QKV_DTYPE_BF16 ? static_cast<const void*>(xb.data() + off) : xh.data() + off;
  };
  // The expected element j of converting src (type s, offset off) to type d.
  auto expect = [&](qkv_dtype s, std::size_t off, qkv_dtype d, std::size_t j) -> u32 {
    const float v = s == QKV_DTYPE_F32 ? xf[off + j]
                    : s == QKV_DTYPE_BF16 ? qkv::util::bf16_to_f32(xb[off + j]) : qkv::util::f16_to_f32(xh[off + j]);
    if (s == d) return s == QKV_DTYPE_F32 ? f32_bits(v) : s == QKV_DTYPE_BF16 ? xb[off + j] : xh[off + j];
    if (d == QKV_DTYPE_F32) return f32_bits(v);
    return d == QKV_DTYPE_BF16 ? qkv::util::f32_to_bf16(v) : qkv::util::f32_to_f16(v);
  };
  qkv_test::for_each_isa([&](qkv_isa) {
    std::size_t bad = 0, canary_bad = 0;
    for (qkv_dtype s : types)
      for (qkv_dtype d : types)
        for (std::size_t n : lengths)
          for (std::size_t off = 0; off < 4; ++off) {
            const std::size_t dsize = d == QKV_DTYPE_F32 ? 4 : 2;
            std::vector<unsigned char> out((nmax + pad) * 4, 0xa5);
            unsigned char* dst = out.data() + off * dsize;  // element-aligned, not vector-aligned
            REQUIRE(qkv_convert(n, s, src_of(s, off), d, dst) == QKV_OK);
            for (std::size_t j = 0; j < n; ++j) {
              u32 got = 0;
              if (dsize == 4) {
                std::memcpy(&got, dst + 4 * j, 4);
              } else {
                u16 g;
                std::memcpy(&g, dst + 2 * j, 2);
                got = g;
              }
              bad += got != expect(s, off, d, j);
            }
            for (const unsigned char* p = dst + n * dsize; p < out.data() + out.size(); ++p) canary_bad += *p != 0xa5;
            for (const unsigned char* p = out.data(); p < dst; ++p) canary_bad += *p != 0xa5;
          }
    CHECK(bad == 0);
    CHECK(canary_bad == 0);
  });
}

TEST_CASE("qkv_convert checks types, then pointers, and writes nothing on error", "[dtype][convert][args]") {
  float x[2] = {1.f, 2.f};
  u16 y[2] = {7, 7};
  CHECK(qkv_convert(2, QKV_DTYPE_I8, x, QKV_DTYPE_BF16, y) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_convert(2, QKV_DTYPE_F32, x, QKV_DTYPE_F64, y) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_convert(2, QKV_DTYPE_COUNT, x, QKV_DTYPE_BF16, y) == QKV_ERR_BAD_DTYPE);  // (any int: c_api/headers.c)
  CHECK(qkv_convert(2, QKV_DTYPE_F32, x, QKV_DTYPE_COUNT, y) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_convert(0, QKV_DTYPE_U8, nullptr, QKV_DTYPE_F32, nullptr) == QKV_ERR_BAD_DTYPE);  // types first
  CHECK(qkv_convert(2, QKV_DTYPE_BOOL, nullptr, QKV_DTYPE_F32, y) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_convert(2, QKV_DTYPE_F32, nullptr, QKV_DTYPE_BF16, y) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_convert(2, QKV_DTYPE_F32, x, QKV_DTYPE_BF16, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK((y[0] == 7 && y[1] == 7));
  CHECK(qkv_convert(0, QKV_DTYPE_F32, nullptr, QKV_DTYPE_F16, nullptr) == QKV_OK);
  CHECK(qkv_convert(2, QKV_DTYPE_F32, x, QKV_DTYPE_BF16, y) == QKV_OK);
  CHECK((y[0] == 0x3f80 && y[1] == 0x4000));
}

// ---------------------------------------------------------------------------
// Quantization.

namespace {

// v rounded to float: a no-op except on i686's x87, whose excess precision
// would otherwise keep a quotient unrounded (the library rounds it).
float as_float(float v) {
  volatile float r = v;
  return r;
}

// The header's code of x at scale s > 0: RNE(x / s) by an fp32 division,
// saturated to +-127 (computed here with nearbyint, not as the library does).
int ref_code(float x, float s) {
  const float v = as_float(x / s);
  const double r = std::nearbyint(static_cast<double>(v));
  return static_cast<int>(std::max(-127.0, std::min(127.0, r)));
}

// A matrix whose rows span many magnitudes, with a zero row, a row with a
// single nonzero, ties (x / s exactly k + 0.5) and fp32 subnormals.
std::vector<float> quant_matrix(std::size_t rows, std::size_t cols, std::size_t ld, std::uint64_t seed) {
  std::vector<float> x(rows * ld, 12345.f);  // padding keeps the canary
  qkv_test::rng r(seed);
  for (std::size_t i = 0; i < rows; ++i) {
    const float mag = std::ldexp(1.0f, static_cast<int>(i % 40) * 6 - 130);  // 2^-130 .. 2^104
    for (std::size_t j = 0; j < cols; ++j) x[i * ld + j] = r.uniform(-1.f, 1.f) * mag;
    if (i % 7 == 3)
      for (std::size_t j = 0; j < cols; ++j) x[i * ld + j] = 0.0f;
    if (i % 7 == 5 && cols > 2) {  // max 127: s = 1, exact ties
      for (std::size_t j = 0; j < cols; ++j) x[i * ld + j] = static_cast<float>(static_cast<int>(j % 255) - 127) / 2;
      x[i * ld] = 127.0f;
    }
  }
  return x;
}

}  // namespace

TEST_CASE("per-row int8 quantization follows the header's rules on every ISA", "[dtype][quant]") {
  const std::size_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {7, 16, 16}, {9, 17, 20}, {14, 31, 33},
                                   {21, 64, 64}, {5, 65, 80}, {40, 127, 130}, {3, 1000, 1003}};
  std::vector<std::vector<std::int8_t>> scalar_codes;
  bool first = true;
  qkv_test::for_each_isa([&](qkv_isa) {
    std::size_t si = 0;
    for (const auto& sh : shapes) {
      const std::size_t rows = sh[0], cols = sh[1], ld = sh[2], ldq = cols + 3;
      INFO("rows " << rows << " cols " << cols << " ld " << ld);
      const std::vector<float> x = quant_matrix(rows, cols, ld, 100 + cols);
      std::vector<std::int8_t> q(rows * ldq, 99);
      std::vector<float> scales(rows + 1, -1.f);
      REQUIRE(qkv_quantize_rows_s8(rows, cols, x.data(), ld, q.data(), ldq, scales.data()) == QKV_OK);
      std::size_t bad_scale = 0, bad_code = 0, bad_bound = 0, bad_pad = 0;
      for (std::size_t i = 0; i < rows; ++i) {
        float amax = 0;
        for (std::size_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(x[i * ld + j]));
        const float s = as_float(amax / 127.0f);
        bad_scale += f32_bits(scales[i]) != f32_bits(s);
        for (std::size_t j = 0; j < cols; ++j) {
          const int c = q[i * ldq + j];
          const float xv = x[i * ld + j];
          bad_code += c != (s == 0.0f ? 0 : ref_code(xv, s)) || c < -127 || c > 127;
          // |x - q s| <= s/2 where the code did not saturate (in double: exact).
          if (s != 0.0f && c > -127 && c < 127)
            bad_bound += std::fabs(static_cast<double>(xv) - c * static_cast<double>(s)) > 0.5 * s;
        }
        for (std::size_t j = cols; j < ldq; ++j) bad_pad += q[i * ldq + j] != 99;
      }
      CHECK(scales[rows] == -1.f);
      CHECK(bad_scale == 0);
      CHECK(bad_code == 0);
      CHECK(bad_bound == 0);
      CHECK(bad_pad == 0);
      // Dequantize: one multiplication each, into a padded output.
      std::vector<float> y(rows * ld, 7.f);
      REQUIRE(qkv_dequantize_rows_s8(rows, cols, q.data(), ldq, scales.data(), y.data(), ld) == QKV_OK);
      std::size_t bad_y = 0;
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < ld; ++j)
          bad_y += f32_bits(y[i * ld + j]) !=
                   f32_bits(as_float(j < cols ? static_cast<float>(q[i * ldq + j]) * scales[i] : 7.f));
      CHECK(bad_y == 0);
      // Every ISA gives the scalar set's codes (checked above against the
      // rule, and here for identity with the first ISA, scalar).
      if (first)
        scalar_codes.push_back(q);
      else
        CHECK(q == scalar_codes[si]);
      ++si;
    }
    first = false;
  });
}

TEST_CASE("per-row quantization: NaN or Inf anywhere is NOT_FINITE with nothing written", "[dtype][quant][args]") {
  const std::size_t rows = 6, cols = 37, ld = 40;
  qkv_test::for_each_isa([&](qkv_isa) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity(), f32_from_bits(0xff800001u)}) {
      for (std::size_t pos : {std::size_t{0}, std::size_t{17}, (rows - 1) * ld + cols - 1}) {
        std::vector<float> x = quant_matrix(rows, cols, ld, 5);
        x[pos] = bad;
        std::vector<std::int8_t> q(rows * cols, 99);
        std::vector<float> s(rows, -1.f);
        CHECK(qkv_quantize_rows_s8(rows, cols, x.data(), ld, q.data(), cols, s.data()) == QKV_ERR_NOT_FINITE);
        CHECK(std::all_of(q.begin(), q.end(), [](std::int8_t c) { return c == 99; }));
        CHECK(std::all_of(s.begin(), s.end(), [](float v) { return v == -1.f; }));
      }
    }
    // A NaN in the padding is not read.
    std::vector<float> x = quant_matrix(rows, cols, ld, 5);
    x[cols] = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::int8_t> q(rows * cols);
    std::vector<float> s(rows);
    CHECK(qkv_quantize_rows_s8(rows, cols, x.data(), ld, q.data(), cols, s.data()) == QKV_OK);
  });
}

TEST_CASE("per-row (de)quantization: argument checks in order, nothing written", "[dtype][quant][args]") {
  float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::int8_t q[12];
  std::fill(q, q + 12, std::int8_t{99});
  float s[3] = {-1.f, -1.f, -1.f};
  const std::size_t big = std::numeric_limits<std::size_t>::max() / 2;
  // NULL_POINTER, before strides.
  CHECK(qkv_quantize_rows_s8(3, 4, nullptr, 4, q, 4, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_quantize_rows_s8(3, 4, x, 4, nullptr, 4, s) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_quantize_rows_s8(3, 4, x, 4, q, 4, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_quantize_rows_s8(3, 4, nullptr, 1, q, 4, s) == QKV_ERR_NULL_POINTER);
  // BAD_STRIDE, before size overflow.
  CHECK(qkv_quantize_rows_s8(3, 4, x, 3, q, 4, s) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_quantize_rows_s8(3, 4, x, 4, q, 3, s) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_quantize_rows_s8(big, 4, x, 3, q, 4, s) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_quantize_rows_s8(0, 4, x, 3, q, 4, s) == QKV_ERR_BAD_STRIDE);
  // SIZE_OVERFLOW.
  CHECK(qkv_quantize_rows_s8(3, 4, x, big, q, 4, s) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_quantize_rows_s8(big, 4, x, 4, q, 4, s) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(std::all_of(q, q + 12, [](std::int8_t c) { return c == 99; }));
  CHECK(std::all_of(s, s + 3, [](float v) { return v == -1.f; }));
  // Empty: nothing read or written, NULL allowed.
  CHECK(qkv_quantize_rows_s8(0, 4, nullptr, 4, nullptr, 4, nullptr) == QKV_OK);
  CHECK(qkv_quantize_rows_s8(3, 0, nullptr, 0, nullptr, 0, nullptr) == QKV_OK);
  // Dequantize: the same checks.
  float y[12];
  std::fill(y, y + 12, 5.f);
  CHECK(qkv_dequantize_rows_s8(3, 4, nullptr, 4, s, y, 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, 4, nullptr, y, 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, 4, s, nullptr, 4) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, 3, s, y, 4) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, 4, s, y, 2) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, big, s, y, 4) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_dequantize_rows_s8(3, 4, q, 4, s, y, big) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(std::all_of(y, y + 12, [](float v) { return v == 5.f; }));
  CHECK(qkv_dequantize_rows_s8(0, 0, nullptr, 0, nullptr, nullptr, 0) == QKV_OK);
}

TEST_CASE("q8_0 quantization follows the header's rules on every ISA", "[dtype][quant][q8_0]") {
  const std::size_t nb = 67;
  std::vector<float> x(nb * QKV_Q8_0_BLOCK);
  qkv_test::rng r(21);
  for (std::size_t b = 0; b < nb; ++b) {
    const float mag = std::ldexp(1.0f, static_cast<int>(b % 33) * 4 - 40);  // 2^-40 .. 2^88 (some overflow below)
    for (std::size_t j = 0; j < QKV_Q8_0_BLOCK; ++j) x[b * 32 + j] = r.uniform(-1.f, 1.f) * std::min(mag, 1e6f);
  }
  for (std::size_t j = 0; j < 32; ++j) x[3 * 32 + j] = 0.0f;                        // an all-zero block
  for (std::size_t j = 0; j < 32; ++j) x[5 * 32 + j] = (j == 7) ? -8319008.f : 1.f;  // the largest scale
  for (std::size_t j = 0; j < 32; ++j) x[6 * 32 + j] = (j == 0) ? 1e-30f : 0.f;      // scale below fp16: d = 0
  std::vector<qkv_block_q8_0> first;
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<qkv_block_q8_0> y(nb + 1);
    std::memset(y.data(), 0x5a, y.size() * sizeof y[0]);
    REQUIRE(qkv_quantize_q8_0(x.size(), x.data(), y.data()) == QKV_OK);
    std::size_t bad_d = 0, bad_code = 0, bad_bound = 0;
    for (std::size_t b = 0; b < nb; ++b) {
      float amax = 0;
      for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const u16 d = ref_narrow(as_float(amax / 127.0f), kF16);
      bad_d += y[b].d != d;
      const double dv = f16_value(d);
      for (std::size_t j = 0; j < 32; ++j) {
        const int c = y[b].qs[j];
        bad_code += c != (dv == 0 ? 0 : ref_code(x[b * 32 + j], static_cast<float>(dv)));
        if (dv != 0 && c > -127 && c < 127) bad_bound += std::fabs(x[b * 32 + j] - c * dv) > 0.5 * dv;
      }
    }
    CHECK(bad_d == 0);
    CHECK(bad_code == 0);
    CHECK(bad_bound == 0);
    CHECK(y[5].d == 0x7bff);  // 65504
    CHECK(y[5].qs[7] == -127);
    CHECK(y[6].d == 0);
    CHECK(y[3].d == 0);
    const unsigned char* tail = reinterpret_cast<const unsigned char*>(&y[nb]);
    CHECK(std::all_of(tail, tail + sizeof y[nb], [](unsigned char c) { return c == 0x5a; }));
    // Dequantization is exact: code times the fp16 scale.
    std::vector<float> back(x.size() + 1, 3.f);
    REQUIRE(qkv_dequantize_q8_0(x.size(), y.data(), back.data()) == QKV_OK);
    std::size_t bad_back = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      bad_back += static_cast<double>(back[i]) != y[i / 32].qs[i % 32] * f16_value(y[i / 32].d);
    CHECK(bad_back == 0);
    CHECK(back[x.size()] == 3.f);
    if (first.empty())
      first = y;
    else
      CHECK(std::memcmp(first.data(), y.data(), y.size() * sizeof y[0]) == 0);
  });
}

TEST_CASE("q8_0: statuses in order, nothing written on error", "[dtype][quant][q8_0][args]") {
  std::vector<float> x(64, 1.f);
  std::vector<qkv_block_q8_0> y(2);
  std::memset(y.data(), 0x5a, sizeof(qkv_block_q8_0) * 2);
  auto untouched = [&] {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(y.data());
    return std::all_of(p, p + 2 * sizeof(qkv_block_q8_0), [](unsigned char c) { return c == 0x5a; });
  };
  CHECK(qkv_quantize_q8_0(64, nullptr, y.data()) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_quantize_q8_0(64, x.data(), nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_quantize_q8_0(31, nullptr, y.data()) == QKV_ERR_NULL_POINTER);  // pointers first
  CHECK(qkv_quantize_q8_0(31, x.data(), y.data()) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_quantize_q8_0(33, x.data(), y.data()) == QKV_ERR_BAD_SHAPE);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity(),
                      8319009.0f, -3.0e38f}) {
      x[63] = bad;  // the second block: the first is not written either
      CHECK(qkv_quantize_q8_0(64, x.data(), y.data()) == QKV_ERR_NOT_FINITE);
      CHECK(untouched());
    }
    x[63] = 8319008.0f;  // max|x| / 127 = 65504 exactly: fits
    CHECK(qkv_quantize_q8_0(64, x.data(), y.data()) == QKV_OK);
    CHECK(y[1].d == 0x7bff);
    std::memset(y.data(), 0x5a, sizeof(qkv_block_q8_0) * 2);
    x[63] = 1.f;
  });
  CHECK(qkv_quantize_q8_0(0, nullptr, nullptr) == QKV_OK);
  std::vector<float> out(64, 2.f);
  CHECK(qkv_dequantize_q8_0(64, nullptr, out.data()) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_dequantize_q8_0(64, y.data(), nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_dequantize_q8_0(40, y.data(), out.data()) == QKV_ERR_BAD_SHAPE);
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 2.f; }));
  CHECK(qkv_dequantize_q8_0(0, nullptr, nullptr) == QKV_OK);
}
