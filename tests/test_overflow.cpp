// SPDX-License-Identifier: MIT
// Size-overflow hardening: every size query and entry point that derives a
// size from its arguments (products of dims and strides, workspace and state
// formulas) answers values near SIZE_MAX with QKV_ERR_SIZE_OVERFLOW (or,
// where the header orders another check first, that error), never with a
// wrapped size, and writes nothing. The buffers passed are tiny and real, so
// a wrapped size that slipped through would write out of bounds (ASan stage).
#include <cstdint>
#include <cstring>
#include <vector>

#include <algorithm>

#include "support/isa.hpp"

namespace {

constexpr std::size_t kMax = SIZE_MAX;
const std::size_t kHuge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2 + 1, SIZE_MAX / 4 + 1,
                             static_cast<std::size_t>(PTRDIFF_MAX) / 4 + 1, SIZE_MAX / 8 + 1};

// A small buffer whose bytes must survive a refused call.
struct sentinel {
  std::vector<float> v = std::vector<float>(64, 1234.5f);
  float* p() { return v.data(); }
  bool untouched() const {
    for (float x : v)
      if (x != 1234.5f) return false;
    return true;
  }
};

}  // namespace

#if __has_include("ops/softmax.hpp")
TEST_CASE("softmax: sizes near SIZE_MAX overflow", "[overflow][softmax]") {
  sentinel x, y;
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    CHECK(qkv_softmax(h, 2, 1.f, x.p(), 2, y.p(), 2) == QKV_ERR_SIZE_OVERFLOW);      // (rows-1)*ld
    CHECK(qkv_softmax(2, h, 1.f, x.p(), h, y.p(), h) == QKV_ERR_SIZE_OVERFLOW);      // ld + cols
    CHECK(qkv_log_softmax(3, 1, 1.f, x.p(), h, y.p(), 1) == QKV_ERR_SIZE_OVERFLOW);  // ldx alone
    CHECK(qkv_log_softmax(3, 1, 1.f, x.p(), 1, y.p(), h) == QKV_ERR_SIZE_OVERFLOW);  // ldy alone
  }
  CHECK(y.untouched());
}
#endif

#if __has_include("ops/sdpa_forward.hpp")
TEST_CASE("sdpa: dims and strides near SIZE_MAX overflow", "[overflow][sdpa]") {
  sentinel q, k, v, o, lse, ws;
  auto base = [] {
    qkv_sdpa_desc d{};
    d.batch = 2, d.heads = 2, d.q_len = 3, d.kv_len = 3, d.head_dim = 4;
    d.q = d.k = d.v = d.o = {24, 12, 4};
    return d;
  };
  for (std::size_t h : kHuge) {
    for (int field = 0; field < 9; ++field) {
      qkv_sdpa_desc d = base();
      switch (field) {
        case 0: d.batch = h; break;
        case 1: d.heads = h; break;
        case 2: d.q_len = h; break;
        case 3: d.kv_len = h; break;
        case 4: d.head_dim = h, d.q.token = d.k.token = h, d.v.token = d.o.token = h; break;
        case 5: d.q.batch = h; break;
        case 6: d.k.head = h; break;
        case 7: d.v.token = h; break;
        default: d.o.batch = h; break;
      }
      INFO("h = " << h << ", field " << field);
      std::size_t bytes = 777;
      const qkv_status s1 = qkv_sdpa_workspace_size(&d, 3, &bytes);
      CHECK(s1 == QKV_ERR_SIZE_OVERFLOW);
      CHECK(bytes == 777);
      CHECK(qkv_sdpa_forward(&d, q.p(), k.p(), v.p(), o.p(), lse.p(), ws.p(), 256) == QKV_ERR_SIZE_OVERFLOW);
#if __has_include("ops/sdpa_backward.hpp")
      const qkv_status s2 = qkv_sdpa_backward_workspace_size(&d, 3, &bytes);
      // The backward also refuses overlapping gradient layouts; with one
      // huge stride either status is a correct refusal.
      CHECK((s2 == QKV_ERR_SIZE_OVERFLOW || s2 == QKV_ERR_BAD_STRIDE));
      CHECK(bytes == 777);
      const qkv_status s3 = qkv_sdpa_backward(&d, q.p(), k.p(), v.p(), o.p(), lse.p(), o.p(), q.p(), k.p(), v.p(),
                                              ws.p(), 256);
      CHECK((s3 == QKV_ERR_SIZE_OVERFLOW || s3 == QKV_ERR_BAD_STRIDE));
#endif
    }
  }
  for (sentinel* s : {&q, &k, &v, &o, &lse, &ws}) CHECK(s->untouched());
}
#endif

#if __has_include("qkv/gemm.h") && __has_include("ops/gemm.hpp")
TEST_CASE("sgemm: dims and leading dimensions near SIZE_MAX overflow", "[overflow][gemm]") {
  sentinel a, b, c, ws;
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    std::size_t bytes = 777;
    CHECK(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, h, 2, 2, 1.f, a.p(), 2, b.p(), 2, 0.f, c.p(), 2) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 2, 1.f, a.p(), h, b.p(), 2, 0.f, c.p(), 2) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_sgemm(QKV_TRANS, QKV_TRANS, 2, 2, 2, 1.f, a.p(), 2, b.p(), h, 0.f, c.p(), 2) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 2, 1.f, a.p(), 2, b.p(), 2, 0.f, c.p(), h) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, 2, h, 2, 1.f, a.p(), 2, b.p(), h, 0.f, c.p(), h, ws.p(), 256) ==
          QKV_ERR_SIZE_OVERFLOW);
    const qkv_status qs = qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, h, h, h, 3, &bytes);
    // A size query may also answer: this problem needs a (bounded) packing workspace.
    CHECK((qs == QKV_ERR_SIZE_OVERFLOW || (qs == QKV_OK && bytes < static_cast<std::size_t>(std::min<unsigned long long>(1ull << 40, SIZE_MAX)))));
  }
  CHECK(c.untouched());
  CHECK(ws.untouched());
}
#endif

#if __has_include("qkv/loss.h") && __has_include("ops/loss.hpp")
TEST_CASE("cross-entropy: rows and ld near SIZE_MAX overflow", "[overflow][loss]") {
  sentinel logits, g, loss;
  const std::int32_t t[4] = {0, 0, 0, 0};
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    CHECK(qkv_cross_entropy_forward(h, 2, logits.p(), 2, t, -100, loss.p()) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_cross_entropy_forward(2, 2, logits.p(), h, t, -100, loss.p()) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_cross_entropy_backward(2, 2, logits.p(), 2, t, -100, 1.f, g.p(), h) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_cross_entropy_forward_backward(2, h, logits.p(), h, t, -100, 1.f, loss.p(), g.p(), h) ==
          QKV_ERR_SIZE_OVERFLOW);
  }
  CHECK(g.untouched());
  CHECK(loss.untouched());
}
#endif

#if __has_include("qkv/embedding.h") && __has_include("ops/embedding.hpp")
TEST_CASE("embedding: tables, batch and positions near SIZE_MAX never wrap", "[overflow][embedding]") {
  sentinel tok, pos, out;
  const std::int32_t ids[4] = {0, 0, 0, 0};
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    const qkv_embedding_desc big_vocab{h, 2, 0}, big_dim{2, h, 0}, ok{2, 2, 4};
    CHECK(qkv_embedding_forward(&big_vocab, 1, 2, 0, ids, tok.p(), pos.p(), out.p(), 2, nullptr) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_embedding_forward(&big_dim, 1, 2, 0, ids, tok.p(), pos.p(), out.p(), h, nullptr) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_embedding_forward(&ok, h, 2, 0, ids, tok.p(), pos.p(), out.p(), 2, nullptr) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_embedding_forward(&ok, 2, 2, 0, ids, tok.p(), pos.p(), out.p(), h, nullptr) == QKV_ERR_SIZE_OVERFLOW);
    // pos_offset + seq_len past max_positions must not wrap into range.
    CHECK(qkv_embedding_forward(&ok, 1, 2, h, ids, tok.p(), pos.p(), out.p(), 2, nullptr) == QKV_ERR_BAD_SHAPE);
    CHECK(qkv_embedding_backward(&ok, 1, 2, h, ids, out.p(), 2, tok.p(), pos.p(), nullptr) == QKV_ERR_BAD_SHAPE);
    CHECK(qkv_embedding_backward(&ok, h, h, 0, ids, out.p(), 2, tok.p(), pos.p(), nullptr) != QKV_OK);
  }
  CHECK(tok.untouched());
  CHECK(pos.untouched());
  CHECK(out.untouched());
}
#endif

#if __has_include("qkv/optim.h") && __has_include("ops/optim.hpp")
TEST_CASE("optimizers and init: lengths near SIZE_MAX overflow", "[overflow][optim]") {
  sentinel p, g, s, m;
  const qkv_sgd_config sgd{0.1f, 0.9f, 0.f, 0.f, 0};
  const qkv_adamw_config adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.f};
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    std::size_t floats = 777;
    CHECK(qkv_sgd_state_floats(&sgd, h, &floats) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_adamw_state_floats(h, &floats) == QKV_ERR_SIZE_OVERFLOW);  // 2n
    CHECK(floats == 777);
    CHECK(qkv_sgd_step(&sgd, 1, h, p.p(), g.p(), s.p()) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_adamw_step(&adam, 1, h, p.p(), g.p(), s.p()) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_adamw_step_ex(&adam, 1, 0.5f, 1, h, p.p(), g.p(), s.p()) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_adamw_step_mirror(&adam, 1, 0.5f, 1, h, p.p(), g.p(), s.p(), reinterpret_cast<std::uint16_t*>(m.p())) ==
          QKV_ERR_SIZE_OVERFLOW);
    float scale = 7.f;
    CHECK(qkv_grad_clip_scale(g.p(), h, 1.f, nullptr, &scale) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(scale == 7.f);
    CHECK(qkv_init_uniform(p.p(), h, 1.f, 1) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_zero(p.p(), h) == QKV_ERR_SIZE_OVERFLOW);
  }
  CHECK(p.untouched());
  CHECK(s.untouched());
  CHECK(m.untouched());
}
#endif

#if __has_include("qkv/layer.h") && __has_include("ops/mha_layer.hpp")
TEST_CASE("layer: sizes near SIZE_MAX overflow in every query and entry point", "[overflow][layer]") {
  sentinel params, x, y, cache, ws;
  for (std::size_t h : kHuge) {
    INFO("h = " << h);
    qkv_mha_desc d{};
    d.d_in = 4, d.d_out = 4, d.num_heads = 1;
    std::size_t n = 777;
    qkv_mha_desc wide = d;
    wide.d_in = h;
    CHECK(qkv_mha_param_count(&wide, &n) == QKV_ERR_SIZE_OVERFLOW);
    wide = d;
    wide.d_out = h - h % 2, wide.num_heads = 2;
    CHECK(qkv_mha_param_count(&wide, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(n == 777);
    CHECK(qkv_mha_cache_size(&d, h, 2, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_cache_size(&d, 2, h, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_forward_workspace_size(&d, h, 2, 1, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_backward_workspace_size(&d, 2, h, 1, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_kv_cache_size(&d, h, 2, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_kv_cache_size(&d, 2, h, &n) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(n == 777);
    CHECK(qkv_mha_forward(&d, params.p(), h, 2, x.p(), y.p(), 0, nullptr, 0, ws.p(), 256) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_forward(&d, params.p(), 2, h, x.p(), y.p(), 1, cache.p(), 256, ws.p(), 256) == QKV_ERR_SIZE_OVERFLOW);
    CHECK(qkv_mha_backward(&d, params.p(), h, 2, x.p(), cache.p(), 256, y.p(), x.p(), params.p(), ws.p(), 256) ==
          QKV_ERR_SIZE_OVERFLOW);
    d.causal = 1;
    qkv_mha_kv_state st{};
    REQUIRE(qkv_mha_kv_cache_init(&st, 1, 4) == QKV_OK);
    const qkv_status dw = qkv_mha_decode_workspace_size(&d, &st, h, 1, &n);
    CHECK((dw == QKV_ERR_SIZE_OVERFLOW || dw == QKV_ERR_CAPACITY));
    const qkv_status dc = qkv_mha_decode(&d, params.p(), &st, cache.p(), 256, h, x.p(), y.p(), ws.p(), 256);
    CHECK((dc == QKV_ERR_SIZE_OVERFLOW || dc == QKV_ERR_CAPACITY));
    CHECK(st.length == 0);
  }
  for (sentinel* s : {&params, &x, &y, &cache, &ws}) CHECK(s->untouched());
}
#endif
