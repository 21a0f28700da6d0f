// SPDX-License-Identifier: MIT
// The attention layer in reduced precision: bf16 mixed-precision training
// (compute_type BF16) against the fp32 layer, thread-count determinism, and
// inference from packed bf16 / int8 weights (qkv_mha_pack_weights,
// qkv_mha_forward_packed, qkv_mha_decode_packed), bad arguments.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "qkv/qkv.h"
#include "support/frob.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"

namespace {

constexpr double kU = 1.0 / 256;  // bf16 unit roundoff, 2^-8

qkv_mha_desc make(std::size_t din, std::size_t dout, std::size_t heads, int causal, int bias, int proj,
                  qkv_dtype ct = QKV_DTYPE_F32) {
  qkv_mha_desc d{};
  d.d_in = din;
  d.d_out = dout;
  d.num_heads = heads;
  d.causal = causal;
  d.qkv_bias = bias;
  d.out_proj = proj;
  d.dropout_seed = 1234;
  d.compute_type = ct;
  return d;
}

qkv_mha_desc with_type(qkv_mha_desc d, qkv_dtype ct) {
  d.compute_type = ct;
  return d;
}

// One layer call's buffers, sized by the library's queries.
struct layer_run {
  qkv_mha_desc d;
  qkv_mha_layout lay{};
  std::size_t B, T;
  std::vector<float> params, x, y, cache, fws, bws, grads, dx;

  layer_run(const qkv_mha_desc& desc, std::size_t b, std::size_t t, const std::vector<float>& prm,
            const std::vector<float>& xin, int threads = 3)
      : d(desc), B(b), T(t), params(prm), x(xin) {
    REQUIRE(qkv_mha_param_layout(&d, &lay) == QKV_OK);
    REQUIRE(params.size() == lay.count);
    std::size_t cb = 0, fb = 0, bb = 0;
    REQUIRE(qkv_mha_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, threads, &fb) == QKV_OK);
    REQUIRE(qkv_mha_backward_workspace_size(&d, B, T, threads, &bb) == QKV_OK);
    cache.resize(cb / 4 + 16);
    fws.resize(fb / 4 + 1);
    bws.resize(bb / 4 + 1);
    y.assign(B * T * d.d_out, 0.f);
    grads.assign(lay.count, 0.f);
    dx.assign(B * T * d.d_in, 0.f);
  }
  qkv_status forward(bool training) {
    return qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), training ? 1 : 0, cache.data(),
                           cache.size() * 4, fws.data(), fws.size() * 4);
  }
  qkv_status backward(const std::vector<float>& dy) {
    return qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * 4, dy.data(), dx.data(),
                            grads.data(), bws.data(), bws.size() * 4);
  }
};

std::vector<float> init_params(const qkv_mha_desc& d, std::uint64_t seed) {
  std::size_t n = 0;
  REQUIRE(qkv_mha_param_count(&d, &n) == QKV_OK);
  std::vector<float> p(n);
  REQUIRE(qkv_mha_init(&d, p.data(), seed) == QKV_OK);
  return p;
}

std::vector<float> round_bf16(const std::vector<float>& v) {
  std::vector<std::uint16_t> h(v.size());
  std::vector<float> r(v.size());
  REQUIRE(qkv_convert(v.size(), QKV_DTYPE_F32, v.data(), QKV_DTYPE_BF16, h.data()) == QKV_OK);
  REQUIRE(qkv_convert(v.size(), QKV_DTYPE_BF16, h.data(), QKV_DTYPE_F32, r.data()) == QKV_OK);
  return r;
}

// The params with every weight (not the biases) replaced by `f` of it.
template <class F>
std::vector<float> map_weights(const qkv_mha_desc& d, const qkv_mha_layout& l, std::vector<float> p, F&& f) {
  const std::size_t w[4] = {l.w_q, l.w_k, l.w_v, l.w_o};
  for (int i = 0; i < (d.out_proj ? 4 : 3); ++i) {
    const std::size_t rows = i == 3 ? d.d_out : d.d_in;
    f(rows, d.d_out, p.data() + w[i]);
  }
  return p;
}

// A 64-byte aligned byte buffer.
struct aligned_bytes {
  std::vector<unsigned char> raw;
  unsigned char* p = nullptr;
  std::size_t n = 0;
  explicit aligned_bytes(std::size_t bytes) : raw(bytes + 64), n(bytes) {
    const auto a = reinterpret_cast<std::uintptr_t>(raw.data());
    p = raw.data() + (64 - a % 64) % 64;
  }
};

using qkv_test::frob;

// Per-element magnitude of the layer's output, the sum_k |a||b| of its last
// product, in double: V = X W_v + b_v; each attention output row is a convex
// combination of V rows (no dropout), so |A(t, j)| <= max_t' |V(t', j)| over
// its sequence; with out_proj, M(t, j) = sum_k maxV(k) |W_o(k, j)| + |b_o(j)|.
std::vector<double> output_magnitude(const qkv_mha_desc& d, const qkv_mha_layout& l, std::size_t B, std::size_t T,
                                     const std::vector<float>& p, const std::vector<float>& x) {
  std::vector<double> M(B * T * d.d_out);
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<double> vmax(d.d_out, 0.0);
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t j = 0; j < d.d_out; ++j) {
        double v = d.qkv_bias ? p[l.b_v + j] : 0.0;
        for (std::size_t k = 0; k < d.d_in; ++k) v += double(x[(b * T + t) * d.d_in + k]) * p[l.w_v + k * d.d_out + j];
        vmax[j] = std::max(vmax[j], std::fabs(v));
      }
    for (std::size_t j = 0; j < d.d_out; ++j) {
      double m = vmax[j];
      if (d.out_proj) {
        m = std::fabs(p[l.b_o + j]);
        for (std::size_t k = 0; k < d.d_out; ++k) m += vmax[k] * std::fabs(p[l.w_o + k * d.d_out + j]);
      }
      for (std::size_t t = 0; t < T; ++t) M[(b * T + t) * d.d_out + j] = m;
    }
  }
  return M;
}

struct bf16_case {
  const char* name;
  qkv_mha_desc d;
  std::size_t B, T;
};
const bf16_case kCases[] = {
    {"book: SelfAttention_v2, d_in 3, d_out 2, 6 tokens", make(3, 2, 1, 0, 0, 0), 1, 6},
    {"book: CausalAttention, batch 2", make(3, 2, 1, 1, 0, 0), 2, 6},
    {"multi-head, causal, qkv bias, out_proj", make(6, 8, 2, 1, 1, 1), 2, 7},
    {"GPT-2 sized: d 768, 12 heads, T 64", make(768, 768, 12, 1, 1, 1), 1, 64},
};

}  // namespace

// Tolerances. Every projection of the bf16 layer multiplies operands rounded
// once to bf16 (relative error u = 2^-8 each) with fp32 accumulation, so its
// error is at most (2u + u^2 + K 2^-23) sum_k |a||b| <= 2.02 u sum_k |a||b|
// for K <= 768. The output Y carries three such levels: Q, K, V (their
// errors move the scores by <= 2u of sum |q||k| and, through the softmax
// (sum_j |dp_j| <= e^(2 max|ds|) - 1), the attention output by ~4u of the
// V magnitude), the rounding of A and W_o, and W_o's product: <= ~8u of the
// magnitude M of output_magnitude() to first order. We require 8u M per
// element; the measured worst ratio |dy| / (u M) on these cases is 0.35
// (every ISA).
// Gradients pass through two to four chained products (dY W_o^T, the
// attention backward on Q, K, V with the forward's errors, X^T dP and
// dP W^T), each adding <= ~2u of its magnitude; for these random inputs the
// magnitudes are within ~sqrt(K) of the values, so we bound each gradient
// tensor normwise: ||G_bf16 - G_f32|| <= 16u ||G_f32|| (measured worst:
// 1.44u, W_v of the GPT-2-sized case). The projections' biases are column
// sums of fp32 dP: they carry only the upstream error, the same bound holds
// (b_k aside, see below); db_o = colsum(dY) is exact: equal bits.
TEST_CASE("bf16 compute: forward and gradients within the bf16 bounds of the fp32 layer, every ISA",
          "[layer][bf16]") {
  for (const auto& c : kCases) {
    if (c.d.d_in >= 768 && qkv_test::small_tests()) continue;  // emulated: the small cases only
    INFO(c.name);
    const qkv_mha_desc d32 = c.d, d16 = with_type(c.d, QKV_DTYPE_BF16);
    const std::vector<float> prm = init_params(d32, 11);
    const std::vector<float> x = qkv_test::random_vector(c.B * c.T * d32.d_in, 12);
    const std::vector<float> dy = qkv_test::random_vector(c.B * c.T * d32.d_out, 13);
    qkv_mha_layout l{};
    REQUIRE(qkv_mha_param_layout(&d32, &l) == QKV_OK);
    const std::vector<double> M = output_magnitude(d32, l, c.B, c.T, prm, x);
    qkv_test::for_each_isa([&](qkv_isa) {
      layer_run f32(d32, c.B, c.T, prm, x), b16(d16, c.B, c.T, prm, x);
      REQUIRE(f32.forward(true) == QKV_OK);
      REQUIRE(b16.forward(true) == QKV_OK);
      double worst = 0;
      for (std::size_t i = 0; i < M.size(); ++i) worst = std::max(worst, std::fabs(b16.y[i] - f32.y[i]) / (kU * M[i]));
      INFO("forward: worst |dy| / (u M) = " << worst);
      CHECK(worst <= 8.0);
      // Inference gives the same bits as training without dropout.
      const std::vector<float> y_train = b16.y;
      REQUIRE(b16.forward(false) == QKV_OK);
      CHECK(b16.y == y_train);

      REQUIRE(f32.backward(dy) == QKV_OK);
      REQUIRE(b16.backward(dy) == QKV_OK);
      struct tensor {
        const char* name;
        std::size_t off, n;
      };
      std::vector<tensor> ts = {{"W_q", l.w_q, d32.d_in * d32.d_out},
                                {"W_k", l.w_k, d32.d_in * d32.d_out},
                                {"W_v", l.w_v, d32.d_in * d32.d_out}};
      if (d32.qkv_bias) {
        ts.insert(ts.end(), {{"b_q", l.b_q, d32.d_out}, {"b_v", l.b_v, d32.d_out}});
        // dL/db_k is 0 exactly (a bias on every key adds q.b_k to a whole
        // score row, which softmax ignores): both layers give rounding
        // noise, which must stay far below the other gradients' scale.
        const double bq = frob(f32.grads.data() + l.b_q, nullptr, d32.d_out);
        CHECK(frob(b16.grads.data() + l.b_k, nullptr, d32.d_out) <= 16 * kU * bq);
        CHECK(frob(f32.grads.data() + l.b_k, nullptr, d32.d_out) <= 16 * kU * bq);
      }
      if (d32.out_proj) ts.push_back({"W_o", l.w_o, d32.d_out * d32.d_out});
      for (const auto& t : ts) {
        const double ref = frob(f32.grads.data() + t.off, nullptr, t.n);
        const double err = frob(b16.grads.data() + t.off, f32.grads.data() + t.off, t.n);
        INFO(t.name << ": ||dG|| / (u ||G||) = " << err / (kU * ref));
        CHECK(err <= 16 * kU * ref);
      }
      if (d32.out_proj)
        CHECK(std::equal(b16.grads.begin() + l.b_o, b16.grads.begin() + l.b_o + d32.d_out, f32.grads.begin() + l.b_o));
      const double dref = frob(f32.dx.data(), nullptr, f32.dx.size());
      const double derr = frob(b16.dx.data(), f32.dx.data(), f32.dx.size());
      INFO("dX: ||dG|| / (u ||G||) = " << derr / (kU * dref));
      CHECK(derr <= 16 * kU * dref);
    });
  }
}

TEST_CASE("bf16 compute without out_proj is the fp32 layer on bf16-rounded X and weights", "[layer][bf16]") {
  // Without W_o the only roundings are of X and W_q, W_k, W_v, the GEMM
  // inputs: the fp32 layer fed the same rounded values then differs only in
  // the fp32 summation order of the projections (K <= 16: a few ulp), so
  // 1e-5 of the output scale, the fp32 layer test's bound, holds.
  qkv_test::for_each_isa([](qkv_isa) {
    for (int bias : {0, 1}) {
      const qkv_mha_desc d32 = make(9, 12, 3, 1, bias, 0), d16 = with_type(d32, QKV_DTYPE_BF16);
      qkv_mha_layout l{};
      REQUIRE(qkv_mha_param_layout(&d32, &l) == QKV_OK);
      const std::vector<float> prm = init_params(d32, 5), x = qkv_test::random_vector(2 * 11 * 9, 6);
      const std::vector<float> prm_r = map_weights(d32, l, prm, [](std::size_t r, std::size_t c, float* w) {
        const std::vector<float> v(w, w + r * c), rv = round_bf16(v);
        std::copy(rv.begin(), rv.end(), w);
      });
      layer_run a(d16, 2, 11, prm, x), b(d32, 2, 11, prm_r, round_bf16(x));
      REQUIRE(a.forward(false) == QKV_OK);
      REQUIRE(b.forward(false) == QKV_OK);
      double scale = 1;
      for (float v : b.y) scale = std::max(scale, double(std::fabs(v)));
      for (std::size_t i = 0; i < a.y.size(); ++i) REQUIRE(std::fabs(a.y[i] - b.y[i]) <= 1e-5 * scale);
    }
  });
}

TEST_CASE("bf16 compute: forward and backward bitwise identical on 1, 2 and 3 threads", "[layer][bf16][threads]") {
  // Large enough that the GEMMs split across threads (emulated: smaller).
  const std::size_t w = qkv_test::small_tests() ? 128 : 256, B = 2, T = qkv_test::small_tests() ? 32 : 48;
  const qkv_mha_desc d = make(w, w, 4, 1, 1, 1, QKV_DTYPE_BF16);
  const std::vector<float> prm = init_params(d, 3), x = qkv_test::random_vector(B * T * w, 4);
  const std::vector<float> dy = qkv_test::random_vector(B * T * w, 5);
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> y1, g1, dx1;
    for (int threads : {1, 2, 3}) {
      INFO("threads " << threads);
      qkv_test::threads_scope ts(threads);
      layer_run r(d, B, T, prm, x);
      qkv_test::team_watch watch;
      REQUIRE(r.forward(true) == QKV_OK);
      REQUIRE(r.backward(dy) == QKV_OK);
      if (threads > 1) QKV_CHECK_TEAM(watch);
      if (threads == 1) {
        y1 = r.y, g1 = r.grads, dx1 = r.dx;
      } else {
        CHECK(r.y == y1);
        CHECK(r.grads == g1);
        CHECK(r.dx == dx1);
      }
    }
  });
}

namespace {

struct packed_weights {
  aligned_bytes buf;
  packed_weights(const qkv_mha_desc& d, const std::vector<float>& prm, qkv_dtype t) : buf(size_of(d, t)) {
    REQUIRE(qkv_mha_pack_weights(&d, prm.data(), t, buf.p, buf.n) == QKV_OK);
  }
  static std::size_t size_of(const qkv_mha_desc& d, qkv_dtype t) {
    std::size_t n = 0;
    REQUIRE(qkv_mha_pack_weights_size(&d, t, &n) == QKV_OK);
    return n;
  }
};

std::vector<float> forward_packed(const qkv_mha_desc& d, const packed_weights& pw, qkv_dtype t, std::size_t B,
                                  std::size_t T, const std::vector<float>& x) {
  std::size_t wb = 0;
  REQUIRE(qkv_mha_forward_packed_workspace_size(&d, t, B, T, 3, &wb) == QKV_OK);
  std::vector<float> ws(wb / 4 + 1), y(B * T * d.d_out, 0.f);
  REQUIRE(qkv_mha_forward_packed(&d, pw.buf.p, pw.buf.n, B, T, x.data(), y.data(), ws.data(), wb) == QKV_OK);
  return y;
}

// Offsets of the documented packed layout (qkv/layer.h), recomputed here.
std::size_t up64(std::size_t n) { return (n + 63) / 64 * 64; }

}  // namespace

TEST_CASE("packed weights: the documented layout, int8 codes within s/2 of every weight", "[layer][packed]") {
  const qkv_mha_desc d = make(10, 12, 3, 1, 1, 1);
  qkv_mha_layout l{};
  REQUIRE(qkv_mha_param_layout(&d, &l) == QKV_OK);
  const std::vector<float> prm = init_params(d, 21);
  for (qkv_dtype t : {QKV_DTYPE_BF16, QKV_DTYPE_I8}) {
    INFO(qkv_dtype_name(t));
    const packed_weights pw(d, prm, t);
    std::uint32_t h32[4];
    std::uint64_t h64[3];
    std::memcpy(h32, pw.buf.p, 16);
    std::memcpy(h64, pw.buf.p + 16, 24);
    CHECK(h32[0] == QKV_MHA_PACKED_MAGIC);
    CHECK(h32[1] == QKV_MHA_PACKED_VERSION);
    CHECK(h32[2] == std::uint32_t(t));
    CHECK(h32[3] == 3u);
    CHECK(h64[0] == 10);
    CHECK(h64[1] == 12);
    CHECK(h64[2] == pw.buf.n);
    std::size_t off = 64;
    const std::size_t w_off[4] = {l.w_q, l.w_k, l.w_v, l.w_o};
    for (int i = 0; i < 4; ++i) {
      const std::size_t in = i == 3 ? 12 : 10, out = 12;
      const float* w = prm.data() + w_off[i];
      if (t == QKV_DTYPE_BF16) {
        std::vector<std::uint16_t> want(in * out);
        REQUIRE(qkv_convert(in * out, QKV_DTYPE_F32, w, QKV_DTYPE_BF16, want.data()) == QKV_OK);
        CHECK(std::memcmp(pw.buf.p + off, want.data(), in * out * 2) == 0);
        off = up64(off + in * out * 2);
      } else {
        const auto* q = reinterpret_cast<const std::int8_t*>(pw.buf.p + off);
        const std::size_t s_off = up64(off + in * out);
        const auto* s = reinterpret_cast<const float*>(pw.buf.p + s_off);
        // Bits of qkv_quantize_rows_s8 on W^T.
        std::vector<float> wt(out * in), sw(out);
        std::vector<std::int8_t> qw(out * in);
        for (std::size_t r = 0; r < in; ++r)
          for (std::size_t c = 0; c < out; ++c) wt[c * in + r] = w[r * out + c];
        REQUIRE(qkv_quantize_rows_s8(out, in, wt.data(), in, qw.data(), in, sw.data()) == QKV_OK);
        CHECK(std::memcmp(q, qw.data(), out * in) == 0);
        CHECK(std::memcmp(s, sw.data(), out * 4) == 0);
        for (std::size_t c = 0; c < out; ++c)
          for (std::size_t r = 0; r < in; ++r)
            REQUIRE(std::fabs(double(q[c * in + r]) * s[c] - w[r * out + c]) <= 0.5 * s[c] * (1 + 1e-6));
        off = up64(s_off + out * 4);
      }
    }
    const std::size_t b_off[4] = {l.b_q, l.b_k, l.b_v, l.b_o};
    for (int i = 0; i < 4; ++i) {
      CHECK(std::memcmp(pw.buf.p + off, prm.data() + b_off[i], 12 * 4) == 0);
      off = up64(off + 12 * 4);
    }
    CHECK(off == pw.buf.n);
  }
}

// Packed inference against the fp32 layer. The bounds: a packed forward with
// int8 weights computes, inside gemm_ex, each weight as q*s rounded once to
// fp32, then fp32 products: it is the fp32 layer run on those dequantized
// weights (qkv_dequantize_rows_s8's bits) up to the summation order of the
// projections, 1e-5 of the output scale as in the fp32 layer test. The same
// holds for bf16 weights with fp32 activations (the fp32 layer on the
// bf16-rounded weights), and bf16 weights with BF16 compute give the very
// bits of the bf16 layer's inference forward (the same rounded operands and
// GEMMs). Against the unquantized fp32 layer, every int8 weight is within
// s/2 (tested above): each projection output moves by at most
// sum_k |x_k| s_j / 2, and the output by a few times that; we check the
// bound 4 * max_j s_j/2 * sum_k |x_k| relative to the output magnitude
// loosely as a sanity bound (the exact checks are the ones above).
TEST_CASE("packed-weights forward: int8 and bf16 weights against the fp32 layer, every ISA", "[layer][packed]") {
  for (const auto& c : kCases) {
    if (c.d.d_in >= 768 && qkv_test::small_tests()) continue;  // emulated: the small cases only
    INFO(c.name);
    const qkv_mha_desc d = c.d;
    qkv_mha_layout l{};
    REQUIRE(qkv_mha_param_layout(&d, &l) == QKV_OK);
    const std::vector<float> prm = init_params(d, 31), x = qkv_test::random_vector(c.B * c.T * d.d_in, 32);
    // The fp32 weights the packed formats stand for.
    const std::vector<float> prm_bf16 = map_weights(d, l, prm, [](std::size_t r, std::size_t cols, float* w) {
      const std::vector<float> v(w, w + r * cols), rv = round_bf16(v);
      std::copy(rv.begin(), rv.end(), w);
    });
    const std::vector<float> prm_i8 = map_weights(d, l, prm, [](std::size_t r, std::size_t cols, float* w) {
      std::vector<float> wt(r * cols), s(cols);
      std::vector<std::int8_t> q(r * cols);
      for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < cols; ++j) wt[j * r + i] = w[i * cols + j];
      REQUIRE(qkv_quantize_rows_s8(cols, r, wt.data(), r, q.data(), r, s.data()) == QKV_OK);
      REQUIRE(qkv_dequantize_rows_s8(cols, r, q.data(), r, s.data(), wt.data(), r) == QKV_OK);
      for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < cols; ++j) w[i * cols + j] = wt[j * r + i];
    });
    const packed_weights p16(d, prm, QKV_DTYPE_BF16), p8(d, prm, QKV_DTYPE_I8);
    const std::vector<double> M = output_magnitude(d, l, c.B, c.T, prm, x);
    qkv_test::for_each_isa([&](qkv_isa) {
      auto fp32_forward = [&](const qkv_mha_desc& dd, const std::vector<float>& p) {
        layer_run r(dd, c.B, c.T, p, x);
        REQUIRE(r.forward(false) == QKV_OK);
        return r.y;
      };
      auto close = [](const std::vector<float>& a, const std::vector<float>& b) {
        double scale = 1;
        for (float v : b) scale = std::max(scale, double(std::fabs(v)));
        for (std::size_t i = 0; i < a.size(); ++i)
          if (!(std::fabs(a[i] - b[i]) <= 1e-5 * scale)) return false;
        return true;
      };
      CHECK(close(forward_packed(d, p8, QKV_DTYPE_I8, c.B, c.T, x), fp32_forward(d, prm_i8)));
      CHECK(close(forward_packed(d, p16, QKV_DTYPE_BF16, c.B, c.T, x), fp32_forward(d, prm_bf16)));
      const qkv_mha_desc d16 = with_type(d, QKV_DTYPE_BF16);
      CHECK(forward_packed(d16, p16, QKV_DTYPE_BF16, c.B, c.T, x) == fp32_forward(d16, prm));
      // Against the unquantized layer: int8 weights move each output by at
      // most ~2^-7 of its magnitude per level (s/2 <= max|w| / 254), bf16 by 2^-8.
      const std::vector<float> exact = fp32_forward(d, prm), y8 = forward_packed(d, p8, QKV_DTYPE_I8, c.B, c.T, x);
      double worst = 0;
      for (std::size_t i = 0; i < M.size(); ++i) worst = std::max(worst, std::fabs(y8[i] - exact[i]) / (kU * M[i]));
      INFO("int8 weights: worst |dy| / (u M) = " << worst);
      CHECK(worst <= 16.0);
    });
  }
}

TEST_CASE("packed-weights decode token by token equals the packed full forward", "[layer][packed][decode]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_BF16})
      for (qkv_dtype wt : {QKV_DTYPE_BF16, QKV_DTYPE_I8})
        for (qkv_kv_format kvf : {QKV_KV_F32, QKV_KV_BF16}) {
          INFO(qkv_dtype_name(ct) << " compute, " << qkv_dtype_name(wt) << " weights, kv format " << int(kvf));
          const std::size_t B = 2, T = 9, din = 5, dout = 8;
          const qkv_mha_desc d = make(din, dout, 2, 1, 1, 1, ct);
          const std::vector<float> prm = init_params(d, 41), x = qkv_test::random_vector(B * T * din, 42);
          const packed_weights pw(d, prm, wt);
          const std::vector<float> full = forward_packed(d, pw, wt, B, T, x);
          qkv_mha_kv_state st;
          REQUIRE(qkv_mha_kv_cache_init_ex(&st, B, T, kvf) == QKV_OK);
          std::size_t kvb = 0;
          REQUIRE(qkv_mha_kv_cache_size_ex(&d, B, T, kvf, &kvb) == QKV_OK);
          std::vector<unsigned char> kv(kvb);
          for (std::size_t t = 0; t < T; ++t) {
            const std::size_t n = (t == 3) ? 3 : 1;  // one prefill-style chunk
            std::vector<float> xt(B * n * din), yt(B * n * dout);
            for (std::size_t b = 0; b < B; ++b)
              std::memcpy(&xt[b * n * din], &x[(b * T + t) * din], n * din * 4);
            std::size_t wb = 0;
            REQUIRE(qkv_mha_decode_packed_workspace_size(&d, wt, &st, n, 1, &wb) == QKV_OK);
            std::vector<float> ws(wb / 4 + 1);
            REQUIRE(qkv_mha_decode_packed(&d, pw.buf.p, pw.buf.n, &st, kv.data(), kvb, n, xt.data(), yt.data(),
                                          ws.data(), wb) == QKV_OK);
            // fp32 cache: the same projections (the tokens' rows of the
            // same GEMMs) and attention on another tiling: 1e-5 relative.
            // bf16 cache: K, V rounded, 2^-8 each: 2^-6 relative.
            const double tol = kvf == QKV_KV_F32 ? 1e-5 : 1.0 / 64;
            for (std::size_t b = 0; b < B; ++b)
              for (std::size_t i = 0; i < n * dout; ++i) {
                const float want = full[(b * T + t) * dout + i];
                REQUIRE(std::fabs(yt[b * n * dout + i] - want) <= tol * (1 + std::fabs(want)));
              }
            t += n - 1;
          }
          CHECK(st.length == T);
        }
  });
}

TEST_CASE("bf16 and packed-weights entry points reject bad arguments, writing nothing", "[layer][packed][args]") {
  const qkv_mha_desc d = make(4, 6, 2, 1, 1, 1);
  std::size_t n = 0;
  auto bad = d;
  std::memset(&bad.compute_type, 0xff, sizeof bad.compute_type);  // -1, as a C caller may pass
  CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_ARGUMENT);
  for (int v : {1, 3, 5, 99}) {
    std::memcpy(&bad.compute_type, &v, sizeof v);
    CHECK(qkv_mha_validate(&bad) == QKV_ERR_BAD_ARGUMENT);
    CHECK(qkv_mha_param_count(&bad, &n) == QKV_ERR_BAD_ARGUMENT);
  }
  CHECK(qkv_mha_validate(&d) == QKV_OK);
  CHECK(qkv_mha_validate(&(bad = with_type(d, QKV_DTYPE_BF16))) == QKV_OK);

  // Sizes.
  CHECK(qkv_mha_pack_weights_size(&d, QKV_DTYPE_I8, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_pack_weights_size(nullptr, QKV_DTYPE_I8, &n) == QKV_ERR_NULL_POINTER);
  for (int v : {int(QKV_DTYPE_F32), int(QKV_DTYPE_F16), int(QKV_DTYPE_I32), 77, -1}) {
    qkv_dtype t;  // any int a C caller may pass
    std::memcpy(&t, &v, sizeof t);
    CHECK(qkv_mha_pack_weights_size(&d, t, &n) == QKV_ERR_BAD_DTYPE);
  }
  CHECK(qkv_mha_forward_packed_workspace_size(&d, QKV_DTYPE_F32, 1, 1, 1, &n) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_mha_forward_packed_workspace_size(&d, QKV_DTYPE_I8, 1, 1, 0, &n) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_forward_packed_workspace_size(&d, QKV_DTYPE_I8, 0, 1, 1, &n) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_mha_forward_packed_workspace_size(&d, QKV_DTYPE_I8, SIZE_MAX / 4, SIZE_MAX / 4, 1, &n) ==
        QKV_ERR_SIZE_OVERFLOW);
  auto huge = d;
  huge.d_in = SIZE_MAX / 2;
  CHECK(qkv_mha_pack_weights_size(&huge, QKV_DTYPE_I8, &n) == QKV_ERR_SIZE_OVERFLOW);

  // Packing: every check before anything is written.
  std::vector<float> prm = init_params(d, 1);
  const std::size_t need = packed_weights::size_of(d, QKV_DTYPE_I8);
  aligned_bytes out(need + 64);
  std::fill(out.raw.begin(), out.raw.end(), 0xAB);
  auto untouched = [&]() { return std::all_of(out.raw.begin(), out.raw.end(), [](unsigned char b) { return b == 0xAB; }); };
  CHECK(qkv_mha_pack_weights(&d, nullptr, QKV_DTYPE_I8, out.p, need) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_I8, nullptr, need) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_I8, out.p + 4, need) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_I8, out.p, need - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_F32, out.p, need) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_mha_pack_weights(&d, reinterpret_cast<const float*>(out.p), QKV_DTYPE_I8, out.p, need) ==
        QKV_ERR_BAD_ARGUMENT);  // overlap
  prm[5] = std::nanf("");
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_I8, out.p, need) == QKV_ERR_NOT_FINITE);
  prm[5] = 0.25f;
  qkv_mha_layout l{};
  REQUIRE(qkv_mha_param_layout(&d, &l) == QKV_OK);
  prm[l.w_o + 3] = INFINITY;  // the last tensor: still nothing written
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_I8, out.p, need) == QKV_ERR_NOT_FINITE);
  CHECK(untouched());
  const std::size_t need16 = packed_weights::size_of(d, QKV_DTYPE_BF16);
  CHECK(qkv_mha_pack_weights(&d, prm.data(), QKV_DTYPE_BF16, out.p, need16) == QKV_OK);  // bf16 keeps Inf
  prm[l.w_o + 3] = 0.5f;

  // The packed forward.
  const packed_weights pw(d, prm, QKV_DTYPE_I8);
  const std::vector<float> x = qkv_test::random_vector(5 * 4, 2);
  std::vector<float> y(5 * 6, 7.f);
  std::size_t wb = 0;
  REQUIRE(qkv_mha_forward_packed_workspace_size(&d, QKV_DTYPE_I8, 1, 5, 1, &wb) == QKV_OK);
  std::vector<float> ws(wb / 4 + 1);
  auto call = [&](const qkv_mha_desc* dd, const void* p, std::size_t pb, std::size_t bytes) {
    return qkv_mha_forward_packed(dd, p, pb, 1, 5, x.data(), y.data(), ws.data(), bytes);
  };
  CHECK(call(nullptr, pw.buf.p, pw.buf.n, wb) == QKV_ERR_NULL_POINTER);
  CHECK(call(&d, nullptr, pw.buf.n, wb) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_forward_packed(&d, pw.buf.p, pw.buf.n, 0, 5, x.data(), y.data(), ws.data(), wb) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_mha_forward_packed(&d, pw.buf.p, pw.buf.n, 1, 5, nullptr, y.data(), ws.data(), wb) ==
        QKV_ERR_NULL_POINTER);
  aligned_bytes copy(pw.buf.n + 1);
  std::memcpy(copy.p + 1, pw.buf.p, pw.buf.n);
  CHECK(call(&d, copy.p + 1, pw.buf.n, wb) == QKV_ERR_BAD_ARGUMENT);  // misaligned
  CHECK(call(&d, pw.buf.p, 63, wb) == QKV_ERR_BAD_FORMAT);            // shorter than the header
  CHECK(call(&d, pw.buf.p, pw.buf.n - 1, wb) == QKV_ERR_BAD_FORMAT);  // truncated
  auto other = d;
  other.qkv_bias = 0;
  CHECK(call(&other, pw.buf.p, pw.buf.n, wb) == QKV_ERR_BAD_FORMAT);  // packed for another layer
  other = d, other.d_in = 5;
  CHECK(call(&other, pw.buf.p, pw.buf.n, wb) == QKV_ERR_BAD_FORMAT);
  std::memcpy(copy.p, pw.buf.p, pw.buf.n);
  copy.p[0] ^= 1;  // magic
  CHECK(call(&d, copy.p, pw.buf.n, wb) == QKV_ERR_BAD_FORMAT);
  copy.p[0] ^= 1, copy.p[8] = QKV_DTYPE_F16;  // wtype
  CHECK(call(&d, copy.p, pw.buf.n, wb) == QKV_ERR_BAD_FORMAT);
  copy.p[8] = QKV_DTYPE_BF16;  // a bf16 header on int8 data: its total is wrong
  CHECK(call(&d, copy.p, pw.buf.n, wb) == QKV_ERR_BAD_FORMAT);
  CHECK(call(&d, pw.buf.p, pw.buf.n, 16) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_mha_forward_packed(&d, pw.buf.p, pw.buf.n, 1, 5, x.data(), y.data(), nullptr, wb) ==
        QKV_ERR_NULL_POINTER);
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 7.f; }));
  CHECK(call(&d, pw.buf.p, pw.buf.n, wb) == QKV_OK);

  // The packed decode.
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init(&st, 1, 4) == QKV_OK);
  std::size_t kvb = 0;
  REQUIRE(qkv_mha_kv_cache_size(&d, 1, 4, &kvb) == QKV_OK);
  std::vector<float> kv(kvb / 4, 5.f);
  CHECK(qkv_mha_decode_packed_workspace_size(&d, QKV_DTYPE_F32, &st, 1, 1, &n) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_mha_decode_packed_workspace_size(&d, QKV_DTYPE_I8, nullptr, 1, 1, &n) == QKV_ERR_NULL_POINTER);
  REQUIRE(qkv_mha_decode_packed_workspace_size(&d, QKV_DTYPE_I8, &st, 1, 1, &n) == QKV_OK);
  std::vector<float> dws(n / 4 + 1), y1(6, 7.f);
  auto nc = d;
  nc.causal = 0;
  CHECK(qkv_mha_decode_packed(&nc, pw.buf.p, pw.buf.n, &st, kv.data(), kvb, 1, x.data(), y1.data(), dws.data(), n) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_decode_packed(&d, nullptr, pw.buf.n, &st, kv.data(), kvb, 1, x.data(), y1.data(), dws.data(), n) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_decode_packed(&d, copy.p, pw.buf.n, &st, kv.data(), kvb, 1, x.data(), y1.data(), dws.data(), n) ==
        QKV_ERR_BAD_FORMAT);
  CHECK(qkv_mha_decode_packed(&d, pw.buf.p, pw.buf.n, &st, kv.data(), kvb - 4, 1, x.data(), y1.data(), dws.data(),
                              n) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_mha_decode_packed(&d, pw.buf.p, pw.buf.n, &st, kv.data(), kvb, 5, x.data(), y1.data(), dws.data(), n) ==
        QKV_ERR_CAPACITY);
  CHECK(st.length == 0);
  CHECK(std::all_of(kv.begin(), kv.end(), [](float v) { return v == 5.f; }));
  CHECK(std::all_of(y1.begin(), y1.end(), [](float v) { return v == 7.f; }));
  CHECK(qkv_mha_decode_packed(&d, pw.buf.p, pw.buf.n, &st, kv.data(), kvb, 1, x.data(), y1.data(), dws.data(), n) ==
        QKV_OK);
  CHECK(st.length == 1);
}

TEST_CASE("AdamW with bf16 compute tracks the fp32 loss curve of a teacher-imitation task", "[layer][bf16][train]") {
  // The test_layer training task (a student layer learns a teacher's outputs)
  // run twice from the same start, fp32 and bf16 compute. Gradient noise of
  // 2^-7 relative per step perturbs AdamW's path only slightly: the bf16
  // loss stays within 25 % of the fp32 loss at every step (relative
  // difference measured below 5 % while the loss falls 1000x), and reaches
  // the same target, 0.5 % of the starting loss.
  const qkv_mha_desc d = make(16, 16, 2, 1, 1, 1);
  const std::vector<float> x = qkv_test::random_vector(4 * 8 * 16, 7);
  const std::vector<float> teacher_p = init_params(d, 101), student_p = init_params(d, 202);
  layer_run teacher(d, 4, 8, teacher_p, x);
  REQUIRE(teacher.forward(false) == QKV_OK);
  auto train = [&](qkv_dtype ct) {
    layer_run s(with_type(d, ct), 4, 8, student_p, x);
    std::size_t sf = 0;
    REQUIRE(qkv_adamw_state_floats(s.lay.count, &sf) == QKV_OK);
    std::vector<float> state(sf, 0.f), dy(teacher.y.size());
    const qkv_adamw_config opt{1e-2f, 0.9f, 0.999f, 1e-8f, 0.f};
    std::vector<double> curve;
    for (std::uint64_t step = 1; step <= 300; ++step) {
      REQUIRE(s.forward(true) == QKV_OK);
      double mse = 0;
      for (std::size_t i = 0; i < dy.size(); ++i) {
        const double e = double(s.y[i]) - teacher.y[i];
        mse += e * e / double(dy.size());
        dy[i] = float(2 * e / double(dy.size()));
      }
      curve.push_back(mse);
      REQUIRE(qkv_mha_zero_grads(&s.d, s.grads.data()) == QKV_OK);
      REQUIRE(s.backward(dy) == QKV_OK);
      REQUIRE(qkv_adamw_step(&opt, step, s.lay.count, s.params.data(), s.grads.data(), state.data()) == QKV_OK);
    }
    return curve;
  };
  const std::vector<double> f32 = train(QKV_DTYPE_F32), b16 = train(QKV_DTYPE_BF16);
  double worst = 0;
  for (std::size_t i = 0; i < f32.size(); ++i) worst = std::max(worst, std::fabs(b16[i] - f32[i]) / f32[i]);
  INFO("loss " << f32.front() << " -> fp32 " << f32.back() << ", bf16 " << b16.back() << "; worst relative gap "
               << worst);
  CHECK(worst <= 0.25);
  CHECK(f32.back() < 0.005 * f32.front());
  CHECK(b16.back() < 0.005 * b16.front());
}

// The demo's copy task (examples/copy_task.h: embeddings, one causal
// multi-head attention layer, a linear head, AdamW; the loop of
// examples/train_copy.c) trained from the same start in fp32 and with the
// attention layer in bf16 compute.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#endif
#include "../examples/copy_task.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace {

struct copy_run {
  std::vector<double> loss;  // per step
  double accuracy = 0;       // held-out, teacher forcing, after the last step
};

copy_run train_copy_task(qkv_dtype ct, int steps, bool evaluate) {
  constexpr std::size_t kBatch = 32, kRows = kBatch * COPY_T;
  copy_model m;
  REQUIRE(copy_model_setup(&m) == QKV_OK);
  m.attn.compute_type = ct;
  REQUIRE(qkv_init_uniform(m.params + m.off_tok, COPY_V * COPY_D, 1.0f, 1) == QKV_OK);
  REQUIRE(qkv_init_uniform(m.params + m.off_pos, COPY_T * COPY_D, 1.0f, 2) == QKV_OK);
  REQUIRE(qkv_mha_init(&m.attn, m.params + m.off_attn, 3) == QKV_OK);
  REQUIRE(qkv_init_uniform(m.params + m.off_head_w, COPY_D * COPY_V + COPY_V, 0.125f, 4) == QKV_OK);
  std::size_t cb = 0, fb = 0, bb = 0, af = 0;
  REQUIRE(qkv_mha_cache_size(&m.attn, kBatch, COPY_T, &cb) == QKV_OK);
  REQUIRE(qkv_mha_forward_workspace_size(&m.attn, kBatch, COPY_T, 3, &fb) == QKV_OK);
  REQUIRE(qkv_mha_backward_workspace_size(&m.attn, kBatch, COPY_T, 3, &bb) == QKV_OK);
  REQUIRE(qkv_adamw_state_floats(m.count, &af) == QKV_OK);
  std::vector<float> cache(cb / 4 + 16), fws(fb / 4 + 1), bws(bb / 4 + 1), grads(m.count, 0.f), adam(af, 0.f);
  std::vector<float> x(kRows * COPY_D), y(kRows * COPY_D), logits(kRows * COPY_V), dx(kRows * COPY_D),
      dy(kRows * COPY_D);
  std::vector<std::int32_t> ids(kRows), targets(kRows);
  auto batch = [&](std::uint64_t* rng) {
    for (std::size_t b = 0; b < kBatch; ++b) {
      char text[256];
      std::int32_t all[2 * COPY_L + 1];
      copy_make_text(rng, text, sizeof text);
      REQUIRE(copy_tokenize(text, all, 2 * COPY_L + 1) == 2 * COPY_L + 1);
      for (int p = 0; p < COPY_T; ++p) {
        ids[b * COPY_T + p] = all[p];
        targets[b * COPY_T + p] = p >= COPY_L ? all[p + 1] : COPY_IGNORE;
      }
    }
  };
  auto forward = [&](int training) {
    std::size_t bad = 0;
    REQUIRE(qkv_embedding_forward(&m.emb, kBatch, COPY_T, 0, ids.data(), m.params + m.off_tok,
                                  m.params + m.off_pos, x.data(), COPY_D, &bad) == QKV_OK);
    REQUIRE(qkv_mha_forward(&m.attn, m.params + m.off_attn, kBatch, COPY_T, x.data(), y.data(), training,
                            cache.data(), cache.size() * 4, fws.data(), fws.size() * 4) == QKV_OK);
    REQUIRE(copy_head_forward(&m, kRows, y.data(), logits.data()) == QKV_OK);
  };
  const qkv_adamw_config opt{3e-3f, 0.9f, 0.98f, 1e-8f, 0.01f};
  copy_run out;
  std::uint64_t rng = 2024;
  for (int step = 1; step <= steps; ++step) {
    batch(&rng);
    forward(1);
    float loss = 0;
    std::size_t bad = 0;
    REQUIRE(qkv_cross_entropy_forward_backward(kRows, COPY_V, logits.data(), COPY_V, targets.data(), COPY_IGNORE,
                                               1.0f, &loss, logits.data(), COPY_V) == QKV_OK);
    out.loss.push_back(loss);
    REQUIRE(qkv_sgemm(QKV_TRANS, QKV_NO_TRANS, COPY_D, COPY_V, kRows, 1.0f, y.data(), COPY_D, logits.data(), COPY_V,
                      1.0f, grads.data() + m.off_head_w, COPY_V) == QKV_OK);
    for (std::size_t r = 0; r < kRows; ++r)
      REQUIRE(qkv_saxpy(COPY_V, 1.0f, logits.data() + r * COPY_V, grads.data() + m.off_head_b) == QKV_OK);
    REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, kRows, COPY_D, COPY_V, 1.0f, logits.data(), COPY_V,
                      m.params + m.off_head_w, COPY_V, 0.0f, dy.data(), COPY_D) == QKV_OK);
    REQUIRE(qkv_mha_backward(&m.attn, m.params + m.off_attn, kBatch, COPY_T, x.data(), cache.data(),
                             cache.size() * 4, dy.data(), dx.data(), grads.data() + m.off_attn, bws.data(),
                             bws.size() * 4) == QKV_OK);
    REQUIRE(qkv_embedding_backward(&m.emb, kBatch, COPY_T, 0, ids.data(), dx.data(), COPY_D,
                                   grads.data() + m.off_tok, grads.data() + m.off_pos, &bad) == QKV_OK);
    REQUIRE(qkv_adamw_step(&opt, std::uint64_t(step), m.count, m.params, grads.data(), adam.data()) == QKV_OK);
    REQUIRE(qkv_zero(grads.data(), m.count) == QKV_OK);
  }
  std::uint64_t held_out = 99;
  int right = 0, total = 1;
  for (int done = 0; evaluate && done < 128; done += int(kBatch)) {
    batch(&held_out);
    forward(0);
    for (std::size_t r = 0; r < kRows; ++r)
      if (targets[r] != COPY_IGNORE) {
        right += copy_argmax(logits.data() + r * COPY_V) == targets[r];
        ++total;
      }
  }
  if (evaluate) --total;
  out.accuracy = double(right) / double(total);
  std::free(m.params);
  return out;
}

}  // namespace

TEST_CASE("copy task: bf16 compute tracks the fp32 loss curve and reaches the demo's accuracy",
          "[layer][bf16][train]") {
  // The demo reaches 95 % held-out accuracy in ~40 steps of this loop in
  // both precisions; 50 steps here (emulated: 4, the curve only). Margin:
  // bf16 rounds the layer's GEMM operands (2^-8 each), which perturbs each
  // step's gradient by ~2^-7 relative; AdamW normalises the step, so the
  // paths separate slowly. We require every step's bf16 loss within 10 % of
  // the fp32 loss (measured worst: 0.8 %; both end at loss 0.001 and 100 %
  // held-out accuracy; the test takes ~3 s) and the
  // same accuracy target at the end.
  const bool small = qkv_test::small_tests();
  const int steps = small ? 4 : 50;
  const copy_run f32 = train_copy_task(QKV_DTYPE_F32, steps, !small),
                 b16 = train_copy_task(QKV_DTYPE_BF16, steps, !small);
  double worst = 0;
  for (int i = 0; i < steps; ++i) worst = std::max(worst, std::fabs(b16.loss[i] - f32.loss[i]) / f32.loss[i]);
  INFO("loss " << f32.loss.front() << " -> fp32 " << f32.loss.back() << ", bf16 " << b16.loss.back()
               << "; worst relative gap " << worst << "; accuracy fp32 " << f32.accuracy << ", bf16 "
               << b16.accuracy);
  CHECK(worst <= 0.10);
  if (!small) {
    CHECK(f32.accuracy >= 0.95);
    CHECK(b16.accuracy >= 0.95);
  }
}
