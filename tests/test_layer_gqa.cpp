// SPDX-License-Identifier: MIT
// The layer's grouped-query heads, sliding window and ragged batched
// decoding (issue 20), through the C API:
//  - a GQA layer equals the MHA layer whose K/V weights repeat each K/V
//    head for its group (forward, dX, and dW_k, dW_v = the group's sums);
//  - decode (fp32, bf16 and q8_0 caches, packed weights) token by token
//    equals the full forward's rows, with GQA and a window;
//  - a window as long as the sequence changes nothing, and a window of w
//    equals masking by hand (the sdpa reference over the layer's own Q/K/V);
//  - ragged decode: each sequence of a batch with its own length gives what
//    decoding it alone gives.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

qkv_mha_desc make(std::size_t din, std::size_t dout, std::size_t heads, std::size_t kv_heads, std::size_t window,
                  int bias, int proj) {
  qkv_mha_desc d{};
  d.d_in = din, d.d_out = dout, d.num_heads = heads, d.num_kv_heads = kv_heads, d.window = window;
  d.causal = 1, d.qkv_bias = bias, d.out_proj = proj;
  return d;
}

// One layer's parameters and a full forward/backward on (B, T).
struct run {
  qkv_mha_desc d;
  qkv_mha_layout lay{};
  std::size_t B, T;
  std::vector<float> params, x, y, cache, grads, dx;

  run(const qkv_mha_desc& desc, std::size_t b, std::size_t t) : d(desc), B(b), T(t) {
    REQUIRE(qkv_mha_param_layout(&d, &lay) == QKV_OK);
    params.resize(lay.count);
    grads.assign(lay.count, 0.f);
    y.assign(B * T * d.d_out, 0.f);
    dx.assign(B * T * d.d_in, 0.f);
  }
  void forward(bool training) {
    std::size_t cb = 0, wb = 0;
    REQUIRE(qkv_mha_cache_size(&d, B, T, &cb) == QKV_OK);
    REQUIRE(qkv_mha_forward_workspace_size(&d, B, T, 2, &wb) == QKV_OK);
    cache.assign(cb / sizeof(float) + 1, 0.f);
    std::vector<float> ws(wb / sizeof(float) + 1);
    REQUIRE(qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), training, cache.data(), cb, ws.data(),
                            wb) == QKV_OK);
  }
  void backward(const std::vector<float>& dy) {
    std::size_t wb = 0;
    REQUIRE(qkv_mha_backward_workspace_size(&d, B, T, 2, &wb) == QKV_OK);
    std::vector<float> ws(wb / sizeof(float) + 1);
    REQUIRE(qkv_mha_backward(&d, params.data(), B, T, x.data(), cache.data(), cache.size() * sizeof(float), dy.data(),
                             dx.data(), grads.data(), ws.data(), wb) == QKV_OK);
  }
};

// |a - b| <= tol * (1 + max|b|) over the whole vector: the outputs are sums
// of O(d_in) products of O(1) values rounded in fp32, and the two layers
// compute them with different GEMM shapes (tile edges) and head splits:
// a few ulps times d_in relative to the output scale.
void close(const std::vector<float>& a, const std::vector<float>& b, float tol) {
  REQUIRE(a.size() == b.size());
  float scale = 0.f, worst = 0.f;
  for (float v : b) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  INFO("worst " << worst << " scale " << scale);
  CHECK(worst <= tol * (1.f + scale));
}

// The MHA layer equivalent to a GQA one: W_k, W_v (and b_k, b_v) columns of
// K/V head g copied to every query head of its group.
void expand(const run& g, run& m) {
  const std::size_t dh = g.d.d_out / g.d.num_heads, group = g.d.num_heads / g.d.num_kv_heads;
  const std::size_t dkv = g.d.num_kv_heads * dh, D = g.d.d_out;
  auto copy_cols = [&](std::size_t rows, const float* src, float* dst) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t h = 0; h < g.d.num_heads; ++h)
        for (std::size_t f = 0; f < dh; ++f) dst[r * D + h * dh + f] = src[r * dkv + (h / group) * dh + f];
  };
  std::copy(g.params.begin() + g.lay.w_q, g.params.begin() + g.lay.w_q + g.d.d_in * D, m.params.begin() + m.lay.w_q);
  copy_cols(g.d.d_in, &g.params[g.lay.w_k], &m.params[m.lay.w_k]);
  copy_cols(g.d.d_in, &g.params[g.lay.w_v], &m.params[m.lay.w_v]);
  if (g.d.qkv_bias) {
    std::copy(g.params.begin() + g.lay.b_q, g.params.begin() + g.lay.b_q + D, m.params.begin() + m.lay.b_q);
    copy_cols(1, &g.params[g.lay.b_k], &m.params[m.lay.b_k]);
    copy_cols(1, &g.params[g.lay.b_v], &m.params[m.lay.b_v]);
  }
  if (g.d.out_proj) {
    std::copy(g.params.begin() + g.lay.w_o, g.params.begin() + g.lay.w_o + D * D, m.params.begin() + m.lay.w_o);
    std::copy(g.params.begin() + g.lay.b_o, g.params.begin() + g.lay.b_o + D, m.params.begin() + m.lay.b_o);
  }
}

// MHA gradient columns of W_k / W_v summed over each group: the GQA gradient.
std::vector<float> fold(const run& g, const run& m, std::size_t m_off, std::size_t rows) {
  const std::size_t dh = g.d.d_out / g.d.num_heads, group = g.d.num_heads / g.d.num_kv_heads;
  const std::size_t dkv = g.d.num_kv_heads * dh, D = g.d.d_out;
  std::vector<float> out(rows * dkv, 0.f);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t h = 0; h < g.d.num_heads; ++h)
      for (std::size_t f = 0; f < dh; ++f) out[r * dkv + (h / group) * dh + f] += m.grads[m_off + r * D + h * dh + f];
  return out;
}
std::vector<float> slice(const std::vector<float>& v, std::size_t off, std::size_t n) {
  return std::vector<float>(v.begin() + off, v.begin() + off + n);
}

}  // namespace

TEST_CASE("GQA layer equals the MHA layer with each K/V head repeated for its group", "[layer][gqa]") {
  struct shape {
    std::size_t heads, kv_heads, window;
    int bias, proj;
  };
  for (const shape s : {shape{6, 2, 0, 1, 1}, shape{7, 1, 0, 0, 1}, shape{4, 4, 0, 1, 0}, shape{6, 3, 5, 1, 1}}) {
    INFO("heads " << s.heads << " kv_heads " << s.kv_heads << " window " << s.window);
    qkv_test::for_each_isa([&](qkv_isa) {
      const std::size_t B = 2, T = 19, din = 9, dout = s.heads * 4;
      run g(make(din, dout, s.heads, s.kv_heads, s.window, s.bias, s.proj), B, T);
      run m(make(din, dout, s.heads, 0, s.window, s.bias, s.proj), B, T);
      REQUIRE(qkv_mha_init(&g.d, g.params.data(), 77) == QKV_OK);
      REQUIRE(qkv_mha_init(&m.d, m.params.data(), 1) == QKV_OK);
      expand(g, m);
      g.x = m.x = qkv_test::random_vector(B * T * din, 5);
      g.forward(true);
      m.forward(true);
      close(g.y, m.y, 2e-6f);

      const auto dy = qkv_test::random_vector(B * T * dout, 6);
      g.backward(dy);
      m.backward(dy);
      close(g.dx, m.dx, 1e-5f);
      const std::size_t dkv = s.kv_heads * 4;
      close(slice(g.grads, g.lay.w_q, din * dout), slice(m.grads, m.lay.w_q, din * dout), 1e-5f);
      close(slice(g.grads, g.lay.w_k, din * dkv), fold(g, m, m.lay.w_k, din), 1e-5f);
      close(slice(g.grads, g.lay.w_v, din * dkv), fold(g, m, m.lay.w_v, din), 1e-5f);
      if (s.bias) {
        close(slice(g.grads, g.lay.b_k, dkv), fold(g, m, m.lay.b_k, 1), 1e-5f);
        close(slice(g.grads, g.lay.b_v, dkv), fold(g, m, m.lay.b_v, 1), 1e-5f);
      }
      if (s.proj) close(slice(g.grads, g.lay.w_o, dout * dout), slice(m.grads, m.lay.w_o, dout * dout), 1e-5f);
    });
  }
}

TEST_CASE("GQA layer sizes: fewer parameters, a narrower KV cache, bad group counts refused", "[layer][gqa]") {
  qkv_mha_desc d = make(16, 32, 8, 2, 0, 1, 1);
  qkv_mha_layout l{};
  REQUIRE(qkv_mha_param_layout(&d, &l) == QKV_OK);
  const std::size_t dkv = 2 * 4;
  CHECK(l.w_k - l.w_q == 16 * 32);
  CHECK(l.w_v - l.w_k == 16 * dkv);
  CHECK(l.b_q - l.w_v == 16 * dkv);
  CHECK(l.b_k - l.b_q == 32);
  CHECK(l.b_v - l.b_k == dkv);
  CHECK(l.w_o - l.b_v == dkv);
  CHECK(l.count == 16 * 32 + 2 * 16 * dkv + 32 + 2 * dkv + 32 * 32 + 32);
  std::size_t kvb = 0;
  REQUIRE(qkv_mha_kv_cache_size(&d, 3, 10, &kvb) == QKV_OK);
  CHECK(kvb == 2 * 3 * 10 * dkv * sizeof(float));
  d.num_kv_heads = 3;  // 8 heads are not groups of 3
  CHECK(qkv_mha_validate(&d) == QKV_ERR_BAD_SHAPE);
  std::size_t count = 12345;
  CHECK(qkv_mha_param_count(&d, &count) == QKV_ERR_BAD_SHAPE);
  CHECK(count == 12345);
  d.num_kv_heads = 16;
  CHECK(qkv_mha_validate(&d) == QKV_ERR_BAD_SHAPE);
}

TEST_CASE("layer window: as long as the sequence changes nothing, shorter hides the older tokens", "[layer][window]") {
  const std::size_t B = 2, T = 23, din = 7, dout = 12;
  run full(make(din, dout, 3, 0, 0, 1, 0), B, T), same(make(din, dout, 3, 0, T, 1, 0), B, T);
  REQUIRE(qkv_mha_init(&full.d, full.params.data(), 3) == QKV_OK);
  same.params = full.params;
  full.x = same.x = qkv_test::random_vector(B * T * din, 4);
  full.forward(false);
  same.forward(false);
  CHECK(full.y == same.y);  // the same computation: every tile sees all it saw

  // Window 4, no output projection: Y is attention of the layer's own Q, K,
  // V (from the training cache) under the sdpa reference with window 4.
  run w(make(din, dout, 3, 0, 4, 1, 0), B, T);
  w.params = full.params;
  w.x = full.x;
  w.forward(true);
  qkv_sdpa_desc s{};
  s.batch = B, s.heads = 3, s.q_len = s.kv_len = T, s.head_dim = 4;
  s.q = s.k = s.v = s.o = {T * dout, 4, dout};
  s.causal = 1, s.window = 4, s.algo = QKV_SDPA_REFERENCE;
  const float* q = w.cache.data();  // the cache starts with Q, then K and V (64-byte aligned pieces)
  const std::size_t act = (B * T * dout + 15) / 16 * 16;
  std::vector<float> o(B * T * dout);
  std::size_t wb = 0;
  REQUIRE(qkv_sdpa_workspace_size(&s, 1, &wb) == QKV_OK);
  std::vector<float> ws(wb / sizeof(float) + 1);
  REQUIRE(qkv_sdpa_forward(&s, q, q + act, q + 2 * act, o.data(), nullptr, ws.data(), wb) == QKV_OK);
  close(w.y, o, 1e-6f);
  CHECK_FALSE(w.y == full.y);
}

namespace {

// Decodes x [B][T][din] in chunks (1, then `chunk`, then 1s) and returns the
// outputs [B][T][dout]; every call against the full forward's rows.
std::vector<float> decode_all(const run& r, qkv_kv_format f, const void* packed, std::size_t packed_bytes,
                              std::size_t chunk) {
  const std::size_t B = r.B, T = r.T, din = r.d.d_in, dout = r.d.d_out;
  qkv_mha_kv_state st;
  REQUIRE(qkv_mha_kv_cache_init_ex(&st, B, T, f) == QKV_OK);
  std::size_t kvb = 0;
  REQUIRE(qkv_mha_kv_cache_size_ex(&r.d, B, T, f, &kvb) == QKV_OK);
  std::vector<unsigned char> kv(kvb);
  std::vector<float> out(B * T * dout);
  for (std::size_t t = 0; t < T;) {
    const std::size_t n = std::min(t == 1 ? chunk : std::size_t{1}, T - t);
    std::vector<float> xt(B * n * din), yt(B * n * dout);
    for (std::size_t b = 0; b < B; ++b) std::memcpy(&xt[b * n * din], &r.x[(b * T + t) * din], n * din * sizeof(float));
    std::size_t wb = 0;
    qkv_status s;
    if (packed) {
      REQUIRE(qkv_mha_decode_packed_workspace_size(&r.d, QKV_DTYPE_BF16, &st, n, 2, &wb) == QKV_OK);
      std::vector<float> ws(wb / sizeof(float) + 1);
      s = qkv_mha_decode_packed(&r.d, packed, packed_bytes, &st, kv.data(), kvb, n, xt.data(), yt.data(), ws.data(),
                                wb);
    } else {
      REQUIRE(qkv_mha_decode_workspace_size(&r.d, &st, n, 2, &wb) == QKV_OK);
      std::vector<float> ws(wb / sizeof(float) + 1);
      s = qkv_mha_decode(&r.d, r.params.data(), &st, kv.data(), kvb, n, xt.data(), yt.data(), ws.data(), wb);
    }
    REQUIRE(s == QKV_OK);
    for (std::size_t b = 0; b < B; ++b)
      std::memcpy(&out[(b * T + t) * dout], &yt[b * n * dout], n * dout * sizeof(float));
    t += n;
  }
  CHECK(st.length == T);
  return out;
}

}  // namespace

TEST_CASE("GQA + window decode equals the full forward's rows (fp32, bf16, q8_0 caches, packed weights)",
          "[layer][gqa][decode]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const std::size_t B = 2, T = 21, din = 10, dout = 6 * 32;  // d_head 32: q8_0 blocks fit
    for (std::size_t window : {std::size_t{0}, std::size_t{5}}) {
      INFO("window " << window);
      run r(make(din, dout, 6, 2, window, 1, 1), B, T);
      REQUIRE(qkv_mha_init(&r.d, r.params.data(), 11) == QKV_OK);
      r.x = qkv_test::random_vector(B * T * din, 12);
      r.forward(false);
      // fp32 cache: the same arithmetic over another tiling (see test_layer.cpp).
      close(decode_all(r, QKV_KV_F32, nullptr, 0, 4), r.y, 1e-5f);
      // bf16 / q8_0 caches store K and V rounded: 2^-8 / max|x|/254 of
      // each value, which moves the scores and outputs by about that much
      // relative to the output scale.
      close(decode_all(r, QKV_KV_BF16, nullptr, 0, 3), r.y, 2e-2f);
      close(decode_all(r, QKV_KV_Q8_0, nullptr, 0, 1), r.y, 3e-2f);
      // bf16 packed weights: every projection's inputs rounded to bf16.
      std::size_t pb = 0;
      REQUIRE(qkv_mha_pack_weights_size(&r.d, QKV_DTYPE_BF16, &pb) == QKV_OK);
      std::vector<unsigned char> raw(pb + 64);
      void* packed = raw.data() + (64 - reinterpret_cast<std::uintptr_t>(raw.data()) % 64) % 64;
      REQUIRE(qkv_mha_pack_weights(&r.d, r.params.data(), QKV_DTYPE_BF16, packed, pb) == QKV_OK);
      close(decode_all(r, QKV_KV_F32, packed, pb, 2), r.y, 3e-2f);
    }
  });
}

TEST_CASE("ragged decode: each sequence with its own length decodes as it would alone", "[layer][decode][ragged]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (qkv_kv_format f : {QKV_KV_F32, QKV_KV_BF16}) {
      INFO("format " << f);
      const std::size_t B = 3, cap = 16, din = 6, dout = 8;
      const qkv_mha_desc d = make(din, dout, 4, 2, 0, 1, 1);
      run r(d, B, cap);
      REQUIRE(qkv_mha_init(&r.d, r.params.data(), 21) == QKV_OK);
      const auto x = qkv_test::random_vector(B * cap * din, 22);
      const std::size_t prompt[B] = {5, 1, 9};  // true prompt lengths; prefilled padded to 9

      std::size_t kvb = 0;
      REQUIRE(qkv_mha_kv_cache_size_ex(&d, B, cap, f, &kvb) == QKV_OK);
      std::vector<unsigned char> kv(kvb);
      qkv_mha_kv_state st;
      REQUIRE(qkv_mha_kv_cache_init_ex(&st, B, cap, f) == QKV_OK);
      std::size_t lengths[B] = {0, 0, 0};
      st.lengths = lengths;
      auto step = [&](qkv_mha_kv_state& s, std::size_t batch, const float* xs, std::size_t n, float* ys) {
        std::size_t wb = 0;
        REQUIRE(qkv_mha_decode_workspace_size(&d, &s, n, 2, &wb) == QKV_OK);
        std::vector<float> ws(wb / sizeof(float) + 1);
        REQUIRE(qkv_mha_decode(&d, r.params.data(), &s, kv.data(), kvb, n, xs, ys, ws.data(), wb) == QKV_OK);
        (void)batch;
      };
      // Prefill 9 tokens for all (rows of sequence b are x[b][0..9)), then
      // drop each sequence's padding, then 4 decode steps.
      std::vector<float> xp(B * 9 * din), yp(B * 9 * dout);
      for (std::size_t b = 0; b < B; ++b) std::memcpy(&xp[b * 9 * din], &x[b * cap * din], 9 * din * sizeof(float));
      step(st, B, xp.data(), 9, yp.data());
      for (std::size_t b = 0; b < B; ++b) {
        CHECK(lengths[b] == 9);
        lengths[b] = prompt[b];
      }
      std::vector<std::vector<float>> got(B);
      for (int k = 0; k < 4; ++k) {
        std::vector<float> xt(B * din), yt(B * dout);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(&xt[b * din], &x[(b * cap + prompt[b] + k) * din], din * sizeof(float));
        step(st, B, xt.data(), 1, yt.data());
        for (std::size_t b = 0; b < B; ++b) got[b].insert(got[b].end(), yt.begin() + b * dout, yt.begin() + (b + 1) * dout);
      }
      for (std::size_t b = 0; b < B; ++b) CHECK(lengths[b] == prompt[b] + 4);

      // Each sequence alone: its prompt, then the same 4 tokens, as a
      // plain full forward over prompt + 4 tokens (rows prompt..prompt+3).
      for (std::size_t b = 0; b < B; ++b) {
        const std::size_t Tb = prompt[b] + 4;
        run alone(d, 1, Tb);
        alone.params = r.params;
        alone.x.assign(x.begin() + b * cap * din, x.begin() + (b * cap + Tb) * din);
        alone.forward(false);
        const std::vector<float> want(alone.y.begin() + prompt[b] * dout, alone.y.end());
        close(got[b], want, f == QKV_KV_F32 ? 1e-5f : 2e-2f);
      }

      // A sequence that would overflow: a status, nothing changed.
      lengths[2] = cap;
      std::size_t wb = 0;
      CHECK(qkv_mha_decode_workspace_size(&d, &st, 1, 1, &wb) == QKV_ERR_CAPACITY);
      std::vector<float> xt(B * din), yt(B * dout, -7.f), ws(1 << 16);
      const auto kv_before = kv;
      CHECK(qkv_mha_decode(&d, r.params.data(), &st, kv.data(), kvb, 1, xt.data(), yt.data(), ws.data(),
                           ws.size() * sizeof(float)) == QKV_ERR_CAPACITY);
      CHECK(kv == kv_before);
      CHECK(lengths[0] == prompt[0] + 4);
      CHECK(yt[0] == -7.f);
    }
  });
}

TEST_CASE("windowed decode past the capacity (a ring) equals the full windowed forward", "[layer][window][decode]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (qkv_kv_format f : {QKV_KV_F32, QKV_KV_BF16}) {
      INFO("format " << f);
      const std::size_t B = 2, T = 29, W = 5, cap = 7, din = 6, dout = 8;  // cap >= W + 3 - 1: chunks of 3 fit
      run r(make(din, dout, 4, 2, W, 1, 1), B, T);
      REQUIRE(qkv_mha_init(&r.d, r.params.data(), 31) == QKV_OK);
      r.x = qkv_test::random_vector(B * T * din, 32);
      r.forward(false);
      qkv_mha_kv_state st;
      REQUIRE(qkv_mha_kv_cache_init_ex(&st, B, cap, f) == QKV_OK);
      std::size_t kvb = 0;
      REQUIRE(qkv_mha_kv_cache_size_ex(&r.d, B, cap, f, &kvb) == QKV_OK);
      std::vector<unsigned char> kv(kvb);
      std::vector<float> got(B * T * dout);
      for (std::size_t t = 0; t < T;) {
        const std::size_t n = std::min<std::size_t>(t % 4 == 1 ? 3 : 1, T - t);
        std::vector<float> xt(B * n * din), yt(B * n * dout);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(&xt[b * n * din], &r.x[(b * T + t) * din], n * din * sizeof(float));
        std::size_t wb = 0;
        REQUIRE(qkv_mha_decode_workspace_size(&r.d, &st, n, 2, &wb) == QKV_OK);
        std::vector<float> ws(wb / sizeof(float) + 1);
        REQUIRE(qkv_mha_decode(&r.d, r.params.data(), &st, kv.data(), kvb, n, xt.data(), yt.data(), ws.data(), wb) ==
                QKV_OK);
        for (std::size_t b = 0; b < B; ++b)
          std::memcpy(&got[(b * T + t) * dout], &yt[b * n * dout], n * dout * sizeof(float));
        t += n;
      }
      CHECK(st.length == T);  // positions go on past the capacity
      close(got, r.y, f == QKV_KV_F32 ? 1e-5f : 2e-2f);

      // A chunk the ring cannot hold with its window: a status, nothing written.
      std::size_t wb = 0;
      CHECK(qkv_mha_decode_workspace_size(&r.d, &st, cap - W + 2, 1, &wb) == QKV_ERR_CAPACITY);
      r.d.window = 0;  // without a window the cache is full
      CHECK(qkv_mha_decode_workspace_size(&r.d, &st, 1, 1, &wb) == QKV_ERR_CAPACITY);
    }
  });
}
