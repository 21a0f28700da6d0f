// SPDX-License-Identifier: MIT
// The int8 layer (qkv/layer_int8.h): bit-exact against the integer oracle
// (tests/ref/ref_int8.c) on every ISA and thread count, the oracle's rules
// against exact arithmetic, the calibrated layer against the fp32 one, and
// the C boundary's statuses.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "qkv/qkv.h"
#include "ref/ref_int8.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

// A 64-byte aligned byte buffer.
struct aligned_bytes {
  explicit aligned_bytes(std::size_t n) : store(n + 64) {
    const auto a = reinterpret_cast<std::uintptr_t>(store.data());
    p = store.data() + (64 - a % 64) % 64;
  }
  std::vector<unsigned char> store;
  unsigned char* p;
};

qkv_mha_desc make_desc(std::size_t d_in, std::size_t d_out, std::size_t heads, std::size_t kv_heads, int causal,
                       std::size_t window, int out_proj) {
  qkv_mha_desc d;
  std::memset(&d, 0, sizeof d);
  d.d_in = d_in, d.d_out = d_out, d.num_heads = heads, d.num_kv_heads = kv_heads;
  d.causal = causal, d.window = window, d.out_proj = out_proj, d.qkv_bias = 1;
  return d;
}

qkv_qmul mul(float real) {
  qkv_qmul m;
  REQUIRE(qkv_quantize_multiplier(real, &m) == QKV_OK);
  return m;
}

// A random int8 layer buffer for d: codes, biases and multipliers spread so
// that saturation, shifts of both signs and one-hot and flat softmax rows
// all occur. `score` scales the softmax's multiplier.
void random_layer(const qkv_mha_desc& d, unsigned char* buf, std::uint64_t seed, float score) {
  qkv_mha_int8_layout l;
  REQUIRE(qkv_mha_int8_param_layout(&d, &l) == QKV_OK);
  std::memset(buf, 0, l.bytes);
  qkv_test::rng r(seed);
  auto* h = reinterpret_cast<qkv_mha_int8_header*>(buf);
  const std::size_t dh = d.d_out / d.num_heads, d_kv = d.num_kv_heads ? d.num_kv_heads * dh : d.d_out;
  h->magic = QKV_MHA_INT8_MAGIC, h->version = QKV_MHA_INT8_VERSION;
  h->d_in = static_cast<std::uint32_t>(d.d_in), h->d_out = static_cast<std::uint32_t>(d.d_out);
  h->num_heads = static_cast<std::uint32_t>(d.num_heads), h->d_kv = static_cast<std::uint32_t>(d_kv);
  h->flags = (d.causal ? 1u : 0u) | (d.out_proj ? 2u : 0u), h->window = static_cast<std::uint32_t>(d.window);
  h->x = {0.05f, static_cast<std::int32_t>(r.next() % 256) - 128};
  h->y = {0.04f, d.out_proj ? static_cast<std::int32_t>(r.next() % 256) - 128 : 0};
  h->s_q = h->s_k = h->s_v = h->s_a = 0.02f;
  h->score = mul(score * r.uniform(0.5f, 2.0f) / static_cast<float>(dh));
  h->attn = mul(r.uniform(0.3f, 3.0f) / 32768.0f);
  const std::size_t ins[4] = {d.d_in, d.d_in, d.d_in, d.d_out}, outs[4] = {d.d_out, d_kv, d_kv, d.d_out};
  for (int i = 0; i < (d.out_proj ? 4 : 3); ++i) {
    auto* w = reinterpret_cast<std::int8_t*>(buf + l.w[i]);
    auto* b = reinterpret_cast<std::int32_t*>(buf + l.b[i]);
    auto* m = reinterpret_cast<qkv_qmul*>(buf + l.m[i]);
    for (std::size_t k = 0; k < ins[i] * outs[i]; ++k) w[k] = static_cast<std::int8_t>(r.next() % 255) - 127;
    for (std::size_t c = 0; c < outs[i]; ++c) {
      b[c] = static_cast<std::int32_t>(r.next() % 20001) - 10000;
      if (c % 7 == 3) b[c] = c % 2 ? INT32_MAX - 5 : INT32_MIN + 5;  // the sum saturates
      // Mostly 2^-14 .. 2^-6 / sqrt(in); now and then above 1 (shift > 0).
      const float real = (c % 11 == 5 ? 3.0f : r.uniform(0.001f, 0.1f)) / std::sqrt(static_cast<float>(ins[i]));
      m[c] = mul(real);
    }
  }
}

std::vector<std::int8_t> random_codes(std::size_t n, std::uint64_t seed) {
  qkv_test::rng r(seed);
  std::vector<std::int8_t> v(n);
  for (auto& c : v) c = static_cast<std::int8_t>(static_cast<int>(r.next() % 256) - 128);
  return v;
}

std::vector<std::int8_t> library_forward(const qkv_mha_desc& d, const unsigned char* buf, std::size_t bytes,
                                         std::size_t B, std::size_t T, const std::vector<std::int8_t>& x) {
  std::size_t ws = 0;
  int threads = 1;
  qkv_get_num_threads(&threads);
  REQUIRE(qkv_mha_int8_forward_workspace_size(&d, B, T, threads, &ws) == QKV_OK);
  std::vector<unsigned char> w(ws + 1);
  std::vector<std::int8_t> y(B * T * d.d_out, 77);
  REQUIRE(qkv_mha_int8_forward(&d, buf, bytes, B, T, x.data(), y.data(), w.data() + 1, ws) == QKV_OK);
  return y;
}

}  // namespace

TEST_CASE("int8 layer: forward equals the integer oracle bit for bit, any ISA and thread count", "[int8]") {
  struct shape {
    std::size_t B, T, d_in, d_out, H, Hkv;
    int causal;
    std::size_t window;
    int out_proj;
    float score;
  };
  const shape shapes[] = {
      {1, 1, 1, 1, 1, 0, 1, 0, 0, 1.0f},     {1, 6, 3, 2, 1, 0, 1, 0, 1, 4.0f},      // the book's 6 x 3
      {2, 6, 3, 2, 2, 0, 1, 0, 1, 40.0f},    {2, 7, 5, 6, 3, 1, 0, 0, 1, 0.5f},      // MQA, not causal
      {1, 17, 16, 16, 4, 2, 1, 5, 1, 8.0f},  {3, 13, 33, 12, 2, 0, 0, 4, 0, 300.f},  // windows; one-hot rows
      {1, 40, 19, 24, 3, 3, 1, 0, 1, 0.05f}, {1, 9, 64, 64, 1, 0, 1, 0, 1, 2.0f},    // flat rows; one wide head
  };
  std::uint64_t seed = 1;
  for (const shape& s : shapes) {
    const qkv_mha_desc d = make_desc(s.d_in, s.d_out, s.H, s.Hkv, s.causal, s.window, s.out_proj);
    INFO("B " << s.B << " T " << s.T << " d_in " << s.d_in << " d_out " << s.d_out << " H " << s.H << "/" << s.Hkv
              << " causal " << s.causal << " window " << s.window << " out_proj " << s.out_proj);
    qkv_mha_int8_layout l;
    REQUIRE(qkv_mha_int8_param_layout(&d, &l) == QKV_OK);
    aligned_bytes buf(l.bytes);
    random_layer(d, buf.p, ++seed, s.score);
    const auto x = random_codes(s.B * s.T * s.d_in, ++seed);
    std::vector<std::int8_t> want(s.B * s.T * s.d_out);
    std::vector<std::int32_t> scratch(qkv_ref_mha_int8_scratch(&d, s.B, s.T));
    qkv_ref_mha_int8_forward(&d, buf.p, s.B, s.T, x.data(), want.data(), scratch.data());
    qkv_test::for_each_isa([&](qkv_isa) {
      for (int threads : {1, 2, 3}) {
        qkv_test::threads_scope ts(threads);
        INFO("threads " << threads);
        CHECK(library_forward(d, buf.p, l.bytes, s.B, s.T, x) == want);
      }
    });
  }
}

TEST_CASE("int8 layer: the fixed-point rules against exact arithmetic", "[int8]") {
  qkv_test::rng r(7);
  for (int i = 0; i < 2000; ++i) {
    // Multipliers: M * 2^(s-31) equals the fp32 input exactly.
    const float real = std::ldexp(r.uniform(0.5f, 1.0f), static_cast<int>(r.next() % 60) - 31);
    const qkv_qmul m = mul(real);
    CHECK(m.multiplier >= (1 << 30));
    CHECK(std::ldexp(static_cast<double>(m.multiplier), m.shift - 31) == static_cast<double>(real));
    // requant: acc * real rounded to nearest (ties either way: TFLite's two
    // roundings), saturated, whenever acc * 2^shift stays in int32.
    const std::int32_t acc = static_cast<std::int32_t>(r.next() % 2000001) - 1000000;
    const double exact = static_cast<double>(acc) * real;
    const int right = m.shift < 0 ? -m.shift : 0;
    if (std::ldexp(std::fabs(static_cast<double>(acc)), m.shift > 0 ? m.shift : 0) < 2147483647.0 &&
        std::fabs(exact) < 2147483647.0)
      CHECK(std::fabs(qkv_ref_requant(acc, m) - exact) <= (right ? 0.5 + std::ldexp(0.5, -right) : 0.5) + 1e-9);
  }
  qkv_qmul m;
  CHECK(qkv_quantize_multiplier(0.0f, &m) == QKV_OK);
  CHECK((m.multiplier == 0 && m.shift == 0));
  CHECK(qkv_quantize_multiplier(1e-11f, &m) == QKV_OK);
  CHECK(m.multiplier == 0);
  CHECK(qkv_quantize_multiplier(1073741824.0f, &m) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_quantize_multiplier(-1.0f, &m) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_quantize_multiplier(std::nanf(""), &m) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_quantize_multiplier(1.0f, nullptr) == QKV_ERR_NULL_POINTER);
  // The input saturates before the multiply (4 = 0.5 * 2^3: sat(acc * 8) * 0.5).
  CHECK(qkv_ref_requant(INT32_MAX, mul(4.0f)) == (1 << 30));
  CHECK(qkv_ref_requant(INT32_MIN, mul(4.0f)) == -(1 << 30));
  // Ties: the high multiply rounds them up (TFLite's nudge), the shift away from zero.
  CHECK(qkv_ref_requant(3, mul(0.5f)) == 2);    // 1.5
  CHECK(qkv_ref_requant(-3, mul(0.5f)) == -1);  // -1.5
  CHECK(qkv_ref_requant(6, mul(0.25f)) == 2);    // 3 exactly, then 3 / 2 = 1.5
  CHECK(qkv_ref_requant(-6, mul(0.25f)) == -2);  // -1.5

}

TEST_CASE("int8 softmax: within its stated bound of the exact softmax; one-hot rows exact", "[int8]") {
  // Bound (docs/layer_int8.md): e' rounds the scaled difference to ln2/256
  // (exp off by <= 2^(1/512) - 1 = 0.00136 relative), EXP2 is off by <= 2^-16
  // relative, the shift drops < 1 of 2^15, the division rounds by 1/2:
  // |P/2^15 - softmax| <= 0.003 softmax + (n + 3) 2^-15.
  qkv_test::rng r(11);
  std::vector<std::int32_t> s(300);
  std::vector<std::uint32_t> e(300);
  std::vector<std::int16_t> p(300);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = 1 + static_cast<std::size_t>(r.next() % 300);
    const float real = std::ldexp(r.uniform(0.5f, 1.0f), static_cast<int>(r.next() % 16) - 12);
    const qkv_qmul m = mul(real);
    for (std::size_t u = 0; u < n; ++u) s[u] = static_cast<std::int32_t>(r.next() % 200001) - 100000;
    qkv_ref_int8_softmax(s.data(), n, m, e.data(), p.data());
    std::int32_t mx = s[0];
    for (std::size_t u = 0; u < n; ++u) mx = std::max(mx, s[u]);
    double sum = 0;
    // The real multiplier's exp: units of ln2/256 -> exp(-d * real * ln2 / 256).
    for (std::size_t u = 0; u < n; ++u) sum += std::exp2(-(double)(mx - s[u]) * real / 256.0);
    for (std::size_t u = 0; u < n; ++u) {
      const double sm = std::exp2(-(double)(mx - s[u]) * real / 256.0) / sum;
      CHECK(std::fabs(p[u] / 32768.0 - sm) <= 0.003 * sm + static_cast<double>(n + 3) / 32768.0);
    }
  }
  // One-hot: every other score far below.
  for (std::size_t u = 0; u < 5; ++u) s[u] = u == 2 ? 1000000 : -1000000;
  qkv_ref_int8_softmax(s.data(), 5, mul(1.0f), e.data(), p.data());
  CHECK((p[2] == 32767 && p[0] == 0 && p[1] == 0 && p[3] == 0 && p[4] == 0));
  // The table: 2^15 at 0, halving at 256.
  CHECK(qkv_ref_exp2_q15(0) == 32768u);
  CHECK(qkv_ref_exp2_q15(255) == 16428u);
}

namespace {

// Calibrates d on x (fp32), runs the int8 layer on x quantized with the
// buffer's x parameters and returns the largest |y_int8 - y_fp32| in units
// of the output's scale.
double calibrated_error(const qkv_mha_desc& d, std::size_t B, std::size_t T, const std::vector<float>& params,
                        const std::vector<float>& x) {
  qkv_mha_int8_layout l;
  REQUIRE(qkv_mha_int8_param_layout(&d, &l) == QKV_OK);
  aligned_bytes buf(l.bytes);
  std::size_t ws = 0;
  REQUIRE(qkv_mha_int8_calibrate_workspace_size(&d, B, T, 1, &ws) == QKV_OK);
  std::vector<unsigned char> w(ws);
  REQUIRE(qkv_mha_int8_calibrate(&d, params.data(), B, T, x.data(), buf.p, l.bytes, w.data(), ws) == QKV_OK);
  const auto* h = reinterpret_cast<const qkv_mha_int8_header*>(buf.p);
  std::vector<std::int8_t> xq(x.size());
  REQUIRE(qkv_quantize_affine_s8(x.size(), x.data(), h->x, xq.data()) == QKV_OK);
  const std::vector<std::int8_t> yq = library_forward(d, buf.p, l.bytes, B, T, xq);
  std::vector<float> y8(yq.size()), y32(yq.size());
  REQUIRE(qkv_dequantize_affine_s8(yq.size(), yq.data(), h->y, y8.data()) == QKV_OK);
  REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, 1, &ws) == QKV_OK);
  w.assign(ws, 0);
  REQUIRE(qkv_mha_forward(&d, params.data(), B, T, x.data(), y32.data(), 0, nullptr, 0, w.data(), ws) == QKV_OK);
  double err = 0;
  for (std::size_t i = 0; i < y8.size(); ++i) err = std::max(err, std::fabs((double)y8[i] - y32[i]) / h->y.scale);
  return err;
}

}  // namespace

TEST_CASE("int8 layer: calibrated from fp32, it tracks the fp32 layer within its stated error", "[int8]") {
  // The book's inputs ("Your journey starts with one step"), two copies as the book's batch.
  const float book[18] = {0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                          0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f};
  std::vector<float> x(book, book + 18);
  x.insert(x.end(), book, book + 18);
  for (int out_proj : {1, 0}) {
    qkv_mha_desc d = make_desc(3, 2, 2, 0, 1, 0, out_proj);
    d.qkv_bias = 0;
    std::size_t count = 0;
    REQUIRE(qkv_mha_param_count(&d, &count) == QKV_OK);
    std::vector<float> params(count);
    REQUIRE(qkv_mha_init(&d, params.data(), 123) == QKV_OK);
    const double err = calibrated_error(d, 2, 6, params, x);
    INFO("book 6x3, out_proj " << out_proj << ": max error " << err << " units of the output scale");
    CHECK(err <= 2.0);
  }
  // GPT-2-small's attention shape: d 768, 12 heads, causal, biases.
  const std::size_t T = qkv_test::small_tests() ? 8 : 64;
  qkv_mha_desc g = make_desc(768, 768, 12, 0, 1, 0, 1);
  std::size_t count = 0;
  REQUIRE(qkv_mha_param_count(&g, &count) == QKV_OK);
  std::vector<float> params(count);
  REQUIRE(qkv_mha_init(&g, params.data(), 7) == QKV_OK);
  const double err = calibrated_error(g, 1, T, params, qkv_test::random_vector(T * 768, 5, -2.0f, 2.0f));
  INFO("GPT-2-small layer, T " << T << ": max error " << err << " units of the output scale");
  CHECK(err <= 4.0);
}

TEST_CASE("int8 layer: statuses, and nothing written on error", "[int8]") {
  const qkv_mha_desc d = make_desc(5, 4, 2, 0, 1, 0, 1);
  qkv_mha_int8_layout l;
  REQUIRE(qkv_mha_int8_param_layout(&d, &l) == QKV_OK);
  aligned_bytes buf(l.bytes);
  random_layer(d, buf.p, 3, 1.0f);
  const auto x = random_codes(2 * 3 * 5, 4);
  std::vector<std::int8_t> y(2 * 3 * 4, 99);
  std::size_t ws = 0;
  REQUIRE(qkv_mha_int8_forward_workspace_size(&d, 2, 3, 1, &ws) == QKV_OK);
  std::vector<unsigned char> w(ws);
  auto fwd = [&](const qkv_mha_desc& dd, const void* q, std::size_t qb, std::size_t B, std::size_t T, void* wsp,
                 std::size_t wb) { return qkv_mha_int8_forward(&dd, q, qb, B, T, x.data(), y.data(), wsp, wb); };
  CHECK(fwd(d, nullptr, l.bytes, 2, 3, w.data(), ws) == QKV_ERR_NULL_POINTER);
  CHECK(fwd(d, buf.p, l.bytes, 0, 3, w.data(), ws) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(d, buf.p, l.bytes, 2, 65537, w.data(), ws) == QKV_ERR_BAD_SHAPE);
  CHECK(fwd(d, buf.p + 2, l.bytes, 2, 3, w.data(), ws) == QKV_ERR_BAD_ARGUMENT);
  CHECK(fwd(d, buf.p, l.bytes - 1, 2, 3, w.data(), ws) == QKV_ERR_BAD_FORMAT);
  CHECK(fwd(d, buf.p, l.bytes, 2, 3, nullptr, ws) == QKV_ERR_NULL_POINTER);
  CHECK(fwd(d, buf.p, l.bytes, 2, 3, w.data(), ws - 65) == QKV_ERR_WORKSPACE_TOO_SMALL);
  qkv_mha_desc other = d;
  other.causal = 0;  // the buffer was made for a causal layer
  CHECK(fwd(other, buf.p, l.bytes, 2, 3, w.data(), ws) == QKV_ERR_BAD_FORMAT);
  other = d, other.rope = 1;
  CHECK(fwd(other, buf.p, l.bytes, 2, 3, w.data(), ws) == QKV_ERR_UNSUPPORTED);
  other = d, other.softcap = 30.0f;
  CHECK(fwd(other, buf.p, l.bytes, 2, 3, w.data(), ws) == QKV_ERR_UNSUPPORTED);
  other = d, other.d_in = 65537;
  CHECK(qkv_mha_int8_param_layout(&other, &l) == QKV_ERR_BAD_SHAPE);
  auto* h = reinterpret_cast<qkv_mha_int8_header*>(buf.p);
  const auto corrupt = [&](auto&& edit) {
    aligned_bytes copy(l.bytes);
    std::memcpy(copy.p, buf.p, l.bytes);
    edit(reinterpret_cast<qkv_mha_int8_header*>(copy.p), copy.p);
    return fwd(d, copy.p, l.bytes, 2, 3, w.data(), ws);
  };
  CHECK(corrupt([](qkv_mha_int8_header* c, unsigned char*) { c->magic ^= 1; }) == QKV_ERR_BAD_FORMAT);
  CHECK(corrupt([](qkv_mha_int8_header* c, unsigned char*) { c->version = 2; }) == QKV_ERR_BAD_FORMAT);
  CHECK(corrupt([](qkv_mha_int8_header* c, unsigned char*) { c->y.zero_point = 128; }) == QKV_ERR_BAD_FORMAT);
  CHECK(corrupt([](qkv_mha_int8_header* c, unsigned char*) { c->score.shift = 31; }) == QKV_ERR_BAD_FORMAT);
  CHECK(corrupt([&](qkv_mha_int8_header*, unsigned char* p) {
          reinterpret_cast<qkv_qmul*>(p + l.m[3])[1].multiplier = 5;  // below 2^30, not 0
        }) == QKV_ERR_BAD_FORMAT);
  for (auto v : y) CHECK(v == 99);
  (void)h;

  // Calibration: statuses, and the buffer untouched on error.
  std::size_t count = 0;
  REQUIRE(qkv_mha_param_count(&d, &count) == QKV_OK);
  std::vector<float> params(count, 0.1f), xf(2 * 3 * 5, 0.5f);
  REQUIRE(qkv_mha_int8_calibrate_workspace_size(&d, 2, 3, 1, &ws) == QKV_OK);
  w.assign(ws, 0);
  aligned_bytes out(l.bytes);
  std::memset(out.p, 0xAB, l.bytes);
  auto cal = [&](const float* p, const float* xx, unsigned char* o, std::size_t ob) {
    return qkv_mha_int8_calibrate(&d, p, 2, 3, xx, o, ob, w.data(), ws);
  };
  CHECK(cal(nullptr, xf.data(), out.p, l.bytes) == QKV_ERR_NULL_POINTER);
  CHECK(cal(params.data(), xf.data(), out.p + 4, l.bytes) == QKV_ERR_BAD_ARGUMENT);
  CHECK(cal(params.data(), xf.data(), out.p, l.bytes - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  xf[7] = std::nanf("");
  CHECK(cal(params.data(), xf.data(), out.p, l.bytes) == QKV_ERR_NOT_FINITE);
  xf[7] = 0.5f, params[3] = INFINITY;
  CHECK(cal(params.data(), xf.data(), out.p, l.bytes) == QKV_ERR_NOT_FINITE);
  for (std::size_t i = 0; i < l.bytes; ++i) REQUIRE(out.p[i] == 0xAB);
  params[3] = 0.1f;
  CHECK(cal(params.data(), xf.data(), out.p, l.bytes) == QKV_OK);
  CHECK(reinterpret_cast<qkv_mha_int8_header*>(out.p)->magic == QKV_MHA_INT8_MAGIC);

  // Affine quantization.
  const float xs[5] = {-1.0f, 0.0f, 0.125f, 0.375f, 1000.0f};
  std::int8_t q[5];
  CHECK(qkv_quantize_affine_s8(5, xs, {0.25f, 3}, q) == QKV_OK);
  CHECK((q[0] == -1 && q[1] == 3 && q[2] == 3 && q[3] == 5 && q[4] == 127));  // 0.5 and 1.5 to even
  CHECK(qkv_quantize_affine_s8(5, xs, {0.0f, 3}, q) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_quantize_affine_s8(5, xs, {0.25f, 128}, q) == QKV_ERR_BAD_ARGUMENT);
  float back[5];
  CHECK(qkv_dequantize_affine_s8(5, q, {0.25f, 3}, back) == QKV_OK);
  CHECK((back[0] == -1.0f && back[3] == 0.5f && back[4] == 31.0f));
}
