// SPDX-License-Identifier: MIT
// Rotary position embedding (qkv/rope.h): forward and backward against the
// double reference (tests/ref/ref_rope.h) for both layouts, partial rotary
// dims, theta values, offsets and position arrays (shared and per
// sequence), [B,T,H,d] and [B,H,T,d] with padded rows, in place and out of
// place; the backward as the transpose of the forward; 1/2/3 threads
// bitwise; the checks, with canaries.
//
// Tolerance. With u = 2^-24 and (x1, x2) an element's pair, the library's
// c and s are the double cos/sin rounded to float (error <= u each) and
// y1 = x1 c - x2 s costs two product roundings and one of the difference:
// |y - y_exact| <= 2u (|x1| + |x2|) + u |y| <= 3u (|x1| + |x2|), plus
// second-order terms. The tests allow 4u (|x1| + |x2|), the header's
// promise, at every position (the angle is double in both). Passed-through
// features are copied: exact.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ref/ref_rope.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"

namespace {

constexpr float kCanary = 4242.f;
constexpr double kU = 1.0 / 16777216.0;  // 2^-24

struct shape_t {
  std::size_t batch, heads, tokens, head_dim, rotary_dim;
  bool bthd;        // [B,T,H,d] rows (the projection's output), else [B,H,T,d]
  std::size_t pad;  // floats after each row
};

// Every element of x or y lives at b * batch + h * head + t * token + f.
qkv_rope_desc make_desc(const shape_t& s) {
  qkv_rope_desc d;
  std::memset(&d, 0, sizeof d);
  d.batch = s.batch;
  d.heads = s.heads;
  d.tokens = s.tokens;
  d.head_dim = s.head_dim;
  d.rotary_dim = s.rotary_dim;
  const std::size_t row = s.head_dim + s.pad;
  if (s.bthd) {
    d.x.head = row;
    d.x.token = s.heads * row;
    d.x.batch = s.tokens * s.heads * row;
  } else {
    d.x.token = row;
    d.x.head = s.tokens * row;
    d.x.batch = s.heads * s.tokens * row;
  }
  d.layout = QKV_ROPE_HALF;
  return d;
}

std::size_t elems(const qkv_rope_desc& d) { return d.batch * (d.x.batch ? d.x.batch : 1) + 1; }

std::size_t offset(const qkv_rope_desc& d, std::size_t b, std::size_t h, std::size_t t) {
  return b * d.x.batch + h * d.x.head + t * d.x.token;
}

// Input with canaries in the padding (and one past the end).
std::vector<float> input(const qkv_rope_desc& d, std::uint64_t seed) {
  std::vector<float> x(elems(d), kCanary);
  qkv_test::rng r(seed);
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h)
      for (std::size_t t = 0; t < d.tokens; ++t)
        for (std::size_t f = 0; f < d.head_dim; ++f) x[offset(d, b, h, t) + f] = r.uniform(-2.f, 2.f);
  return x;
}

// The output (layout d.x, element at offset o read as y_at(o)) within
// tol (|x1| + |x2|) of the reference on x; pad_ok(o) for every offset o < n
// outside the tensor (its padding untouched).
template <class Y, class P>
bool matches_ref(const qkv_rope_desc& d, const float* x, bool inverse, double tol, std::size_t n, Y y_at, P pad_ok) {
  const std::size_t count = d.batch * d.heads * d.tokens * d.head_dim;
  std::vector<double> want(count), mag(count);
  qkv_ref_rope(&d, x, inverse, want.data(), mag.data());
  std::vector<bool> inside(n, false);
  std::size_t i = 0;
  for (std::size_t b = 0; b < d.batch; ++b)
    for (std::size_t h = 0; h < d.heads; ++h)
      for (std::size_t t = 0; t < d.tokens; ++t)
        for (std::size_t f = 0; f < d.head_dim; ++f, ++i) {
          const std::size_t o = offset(d, b, h, t) + f;
          inside[o] = true;
          const double got = y_at(o);
          if (!(std::fabs(got - want[i]) <= tol * mag[i])) {
            UNSCOPED_INFO("b " << b << " h " << h << " t " << t << " f " << f << ": " << got << " vs " << want[i]);
            return false;
          }
        }
  for (std::size_t o = 0; o < n; ++o)
    if (!inside[o] && !pad_ok(o)) {
      UNSCOPED_INFO("padding element " << o << " written");
      return false;
    }
  return true;
}

// fp32: within 4u (|x1| + |x2|), the header's promise.
bool matches_ref(const qkv_rope_desc& d, const std::vector<float>& x, const std::vector<float>& y, bool inverse) {
  return matches_ref(
      d, x.data(), inverse, 4 * kU, y.size(), [&](std::size_t o) { return double(y[o]); },
      [&](std::size_t o) { return y[o] == kCanary; });
}

const shape_t kShapes[] = {
    {1, 1, 1, 2, 0, true, 0},     // the smallest: one pair
    {2, 3, 5, 8, 0, true, 0},     // odd token count
    {2, 4, 7, 16, 8, true, 3},    // partial rotation, padded
    {1, 2, 9, 64, 0, false, 5},   // [B,H,T,d], padded
    {3, 2, 3, 128, 96, false, 0}, // partial, [B,H,T,d]
    {2, 3, 4, 200, 200, true, 1}, // two stack chunks of pairs (100 pairs)
    {1, 2, 3, 10, 2, true, 0},    // one rotated pair of five
};

struct posmode_t {
  const char* name;
  std::size_t offset;
  int array;  // 0: offset, 1: one shared row, 2: a row per sequence
};
const posmode_t kPositions[] = {{"t", 0, 0}, {"offset 1000 + t", 1000, 0}, {"shared array", 0, 1},
                                {"per-sequence array", 0, 2}};

// Positions with a per-sequence row stride of tokens + 2 (padding between rows).
std::vector<std::size_t> position_rows(const qkv_rope_desc& d, int mode) {
  std::vector<std::size_t> p((d.batch) * (d.tokens + 2), 0);
  qkv_test::rng r(77 + d.tokens);
  for (auto& v : p) v = static_cast<std::size_t>(r.next() % (mode == 1 ? 9000 : 131072));
  return p;
}

}  // namespace

TEST_CASE("rope forward and backward match the double reference", "[rope]") {
  const float thetas[] = {0.f, 500000.f, 10.f};
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& s : kShapes)
      for (int layout = 0; layout < 2; ++layout)
        for (const auto& pm : kPositions)
          for (float theta : thetas) {
            INFO("B " << s.batch << " H " << s.heads << " T " << s.tokens << " d " << s.head_dim << " r "
                      << s.rotary_dim << (s.bthd ? " [B,T,H,d]" : " [B,H,T,d]") << " pad " << s.pad << " layout "
                      << layout << " " << pm.name << " theta " << theta);
            qkv_rope_desc d = make_desc(s);
            d.layout = static_cast<qkv_rope_layout>(layout);
            d.theta = theta;
            d.pos_offset = pm.offset;
            const auto rows = position_rows(d, pm.array);
            if (pm.array) {
              d.positions = rows.data();
              d.positions_batch_stride = pm.array == 2 ? d.tokens + 2 : 0;
            }
            const auto x = input(d, 5 + s.head_dim);
            for (int inverse = 0; inverse < 2; ++inverse) {
              auto call = inverse ? qkv_rope_backward : qkv_rope_forward;
              std::vector<float> y(x.size(), kCanary);
              REQUIRE(call(&d, x.data(), y.data()) == QKV_OK);
              CHECK(matches_ref(d, x, y, inverse));
              std::vector<float> z = x;  // in place: the same bits
              REQUIRE(call(&d, z.data(), z.data()) == QKV_OK);
              CHECK(std::memcmp(z.data(), y.data(), y.size() * sizeof(float)) == 0);
            }
          }
  });
}

TEST_CASE("rope backward is the transpose of the forward and undoes it", "[rope]") {
  for (const auto& s : kShapes)
    for (int layout = 0; layout < 2; ++layout) {
      INFO("d " << s.head_dim << " r " << s.rotary_dim << " layout " << layout);
      qkv_rope_desc d = make_desc(s);
      d.layout = static_cast<qkv_rope_layout>(layout);
      d.pos_offset = 4097;
      const auto x = input(d, 11), dy = input(d, 12);
      std::vector<float> jx(x.size(), kCanary), jtdy(x.size(), kCanary), back(x.size(), kCanary);
      REQUIRE(qkv_rope_forward(&d, x.data(), jx.data()) == QKV_OK);
      REQUIRE(qkv_rope_backward(&d, dy.data(), jtdy.data()) == QKV_OK);
      REQUIRE(qkv_rope_backward(&d, jx.data(), back.data()) == QKV_OK);
      // <J x, dy> = <x, J^T dy>, in double over the tensor's elements. Each
      // side's elements are within 4u (|x1| + |x2|)-scaled errors of exact
      // rotations, so the two sums differ by at most ~8u sum |x| |dy| (2x for
      // the pair partners).
      double lhs = 0, rhs = 0, scale = 0;
      bool undone = true;
      for (std::size_t b = 0; b < d.batch; ++b)
        for (std::size_t h = 0; h < d.heads; ++h)
          for (std::size_t t = 0; t < d.tokens; ++t)
            for (std::size_t f = 0; f < d.head_dim; ++f) {
              const std::size_t o = offset(d, b, h, t) + f;
              lhs += double(jx[o]) * dy[o];
              rhs += double(x[o]) * jtdy[o];
              scale += 2 * std::fabs(double(x[o])) * std::fabs(double(dy[o])) + std::fabs(double(jx[o]) * dy[o]);
              // Two rotations: within 2 * 4u of |x1| + |x2| <= 2 * 2 (|x| <= 2).
              undone = undone && std::fabs(double(back[o]) - x[o]) <= 8 * kU * 4;
            }
      CHECK(std::fabs(lhs - rhs) <= 8 * kU * scale);
      CHECK(undone);
    }
}

TEST_CASE("rope gives the same bits on 1, 2 and 3 threads", "[rope][threads]") {
  for (int shared = 0; shared < 2; ++shared) {
    INFO((shared ? "shared positions" : "per-sequence positions"));
    qkv_rope_desc d = make_desc({2, 8, 255, 128, 0, true, 0});
    const auto rows = position_rows(d, 2);
    d.positions = rows.data();
    d.positions_batch_stride = shared ? 0 : d.tokens + 2;
    d.layout = shared ? QKV_ROPE_INTERLEAVED : QKV_ROPE_HALF;
    const auto x = input(d, 21);
    std::vector<float> y[3];
    for (int n = 1; n <= 3; ++n) {
      qkv_test::threads_scope ts(n);
      qkv_test::team_watch watch;
      y[n - 1].assign(x.size(), kCanary);
      REQUIRE(qkv_rope_forward(&d, x.data(), y[n - 1].data()) == QKV_OK);
      std::vector<float> g = y[n - 1];
      REQUIRE(qkv_rope_backward(&d, g.data(), g.data()) == QKV_OK);
      y[n - 1].insert(y[n - 1].end(), g.begin(), g.end());
      if (n > 1) QKV_CHECK_TEAM(watch);
    }
    CHECK(y[0] == y[1]);
    CHECK(y[0] == y[2]);
  }
}

TEST_CASE("rope rejects bad arguments with the documented status and writes nothing", "[rope]") {
  const qkv_rope_desc good = make_desc({2, 2, 3, 8, 0, true, 0});
  const auto x = input(good, 3);
  std::vector<float> y(x.size(), kCanary);
  auto status = [&](const qkv_rope_desc& d) {
    const qkv_status f = qkv_rope_forward(&d, x.data(), y.data());
    const qkv_status b = qkv_rope_backward(&d, x.data(), y.data());
    CHECK(f == b);
    return f;
  };
  CHECK(qkv_rope_forward(nullptr, x.data(), y.data()) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_rope_forward(&good, nullptr, y.data()) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_rope_backward(&good, x.data(), nullptr) == QKV_ERR_NULL_POINTER);
  static const std::size_t pos[4] = {0, 1, 2, 3};
  struct bad_case {
    const char* what;
    qkv_status want;
    void (*change)(qkv_rope_desc&);
  };
  const bad_case cases[] = {
      {"tokens 0", QKV_ERR_BAD_SHAPE, [](qkv_rope_desc& d) { d.tokens = 0; }},
      {"heads 0", QKV_ERR_BAD_SHAPE, [](qkv_rope_desc& d) { d.heads = 0; }},
      {"rotary_dim odd", QKV_ERR_BAD_SHAPE, [](qkv_rope_desc& d) { d.rotary_dim = 3; }},
      {"rotary_dim > head_dim", QKV_ERR_BAD_SHAPE, [](qkv_rope_desc& d) { d.rotary_dim = 10; }},
      {"head_dim odd, rotary_dim 0", QKV_ERR_BAD_SHAPE, [](qkv_rope_desc& d) { d.head_dim = 7; }},
      {"theta < 0", QKV_ERR_BAD_ARGUMENT, [](qkv_rope_desc& d) { d.theta = -1.f; }},
      {"theta NaN", QKV_ERR_BAD_ARGUMENT, [](qkv_rope_desc& d) { d.theta = std::nanf(""); }},
      {"theta Inf", QKV_ERR_BAD_ARGUMENT, [](qkv_rope_desc& d) { d.theta = INFINITY; }},
      {"layout 2", QKV_ERR_BAD_ARGUMENT,
       [](qkv_rope_desc& d) {
         const int bad = 2;  // any int a C caller may store
         std::memcpy(&d.layout, &bad, sizeof bad);
       }},
      {"token stride < head_dim", QKV_ERR_BAD_STRIDE, [](qkv_rope_desc& d) { d.x.token = 7; }},
      {"heads on one address", QKV_ERR_BAD_STRIDE, [](qkv_rope_desc& d) { d.x.head = 0; }},
      {"tensor span", QKV_ERR_SIZE_OVERFLOW, [](qkv_rope_desc& d) { d.x.batch = SIZE_MAX / 2; }},
      {"positions span", QKV_ERR_SIZE_OVERFLOW,
       [](qkv_rope_desc& d) {
         d.positions = pos;
         d.positions_batch_stride = SIZE_MAX / 4;
       }},
      // The documented order: shape before argument before stride before overflow.
      {"odd rotary_dim and NaN theta", QKV_ERR_BAD_SHAPE,
       [](qkv_rope_desc& d) {
         d.rotary_dim = 3;
         d.theta = std::nanf("");
       }},
      {"NaN theta and short token stride", QKV_ERR_BAD_ARGUMENT,
       [](qkv_rope_desc& d) {
         d.theta = std::nanf("");
         d.x.token = 1;
       }},
      {"short token stride and huge batch stride", QKV_ERR_BAD_STRIDE,
       [](qkv_rope_desc& d) {
         d.x.token = 1;
         d.x.batch = SIZE_MAX / 2;
       }},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    qkv_rope_desc d = good;
    c.change(d);
    CHECK(status(d) == c.want);
  }
  bool untouched = true;
  for (float v : y) untouched = untouched && v == kCanary;
  CHECK(untouched);
  // Token stride below head_dim is fine for one token; theta -0 is the default.
  qkv_rope_desc d = good;
  d.tokens = 1;
  d.x.token = 0;
  d.theta = -0.f;
  CHECK(status(d) == QKV_OK);
}

TEST_CASE("rope on bf16 and fp16 is the fp32 rotation rounded once", "[rope][dtype]") {
  // Tolerance: the fp32 rotation's 4u (|x1| + |x2|) plus one rounding to
  // the type, half an ulp: u_t |y| <= u_t (|x1| + |x2|), u_t = 2^-8 (bf16),
  // 2^-11 (fp16).
  constexpr std::uint16_t kCanary16 = 0x7e5a;  // a NaN neither type produces here
  const shape_t shapes[] = {{1, 1, 1, 2, 0, true, 0}, {2, 3, 5, 16, 8, true, 3}, {2, 2, 9, 200, 200, false, 1}};
  for (qkv_dtype type : {QKV_DTYPE_BF16, QKV_DTYPE_F16}) {
    const double ut = type == QKV_DTYPE_BF16 ? 1.0 / 256 : 1.0 / 2048;
    for (const auto& s : shapes)
      for (int layout = 0; layout < 2; ++layout)
        for (int inverse = 0; inverse < 2; ++inverse) {
          INFO(qkv_dtype_name(type) << " d " << s.head_dim << " r " << s.rotary_dim << " layout " << layout
                                    << " inverse " << inverse);
          qkv_rope_desc d = make_desc(s);
          d.layout = static_cast<qkv_rope_layout>(layout);
          d.pos_offset = 20000;
          const auto xf = input(d, 31);
          std::vector<std::uint16_t> x(xf.size());
          REQUIRE(qkv_convert(xf.size(), QKV_DTYPE_F32, xf.data(), type, x.data()) == QKV_OK);
          std::vector<float> xw(x.size());  // the exact values the library sees
          REQUIRE(qkv_convert(x.size(), type, x.data(), QKV_DTYPE_F32, xw.data()) == QKV_OK);
          std::vector<std::uint16_t> y(x.size(), kCanary16), z = x;
          auto call = inverse ? qkv_rope_backward_ex : qkv_rope_forward_ex;
          REQUIRE(call(&d, type, x.data(), y.data()) == QKV_OK);
          REQUIRE(call(&d, type, z.data(), z.data()) == QKV_OK);
          std::vector<float> yw(y.size());
          REQUIRE(qkv_convert(y.size(), type, y.data(), QKV_DTYPE_F32, yw.data()) == QKV_OK);
          CHECK(matches_ref(
              d, xw.data(), inverse, 4 * kU + ut, y.size(), [&](std::size_t o) { return double(yw[o]); },
              [&](std::size_t o) { return y[o] == kCanary16; }));
          bool same = true;  // in place: the same bits wherever the tensor is
          for (std::size_t o = 0; o < y.size(); ++o) same = same && (y[o] == z[o] || y[o] == kCanary16);
          CHECK(same);
        }
  }
}

TEST_CASE("rope _ex: F32 is the plain entry point bitwise, bf16 is thread-count independent, bad types rejected",
          "[rope][dtype]") {
  qkv_rope_desc d = make_desc({2, 8, 255, 128, 64, false, 0});
  d.layout = QKV_ROPE_INTERLEAVED;
  d.pos_offset = 7;
  const auto x = input(d, 41);
  std::vector<float> a(x.size(), kCanary), b(x.size(), kCanary);
  REQUIRE(qkv_rope_forward(&d, x.data(), a.data()) == QKV_OK);
  REQUIRE(qkv_rope_forward_ex(&d, QKV_DTYPE_F32, x.data(), b.data()) == QKV_OK);
  CHECK(a == b);
  std::vector<std::uint16_t> x16(x.size()), y16[3];
  REQUIRE(qkv_convert(x.size(), QKV_DTYPE_F32, x.data(), QKV_DTYPE_BF16, x16.data()) == QKV_OK);
  for (int n = 1; n <= 3; ++n) {
    qkv_test::threads_scope ts(n);
    qkv_test::team_watch watch;
    y16[n - 1].assign(x16.size(), 0);
    REQUIRE(qkv_rope_backward_ex(&d, QKV_DTYPE_BF16, x16.data(), y16[n - 1].data()) == QKV_OK);
    if (n > 1) QKV_CHECK_TEAM(watch);
  }
  CHECK(y16[0] == y16[1]);
  CHECK(y16[0] == y16[2]);
  std::vector<std::uint16_t> y(x16.size(), 0x1234);
  for (int bad : {int(QKV_DTYPE_I8), int(QKV_DTYPE_U16), 99, -1}) {
    qkv_dtype t;
    std::memcpy(&t, &bad, sizeof bad);  // any int a C caller may pass
    CHECK(qkv_rope_forward_ex(&d, t, x16.data(), y.data()) == QKV_ERR_BAD_ARGUMENT);
    CHECK(qkv_rope_backward_ex(&d, t, x16.data(), y.data()) == QKV_ERR_BAD_ARGUMENT);
  }
  bool untouched = true;
  for (auto v : y) untouched = untouched && v == 0x1234;
  CHECK(untouched);
}
