// SPDX-License-Identifier: MIT
// The attention plan (ops/sdpa_plan.hpp): resolve_sdpa copies every field of
// a description and resolves its defaults, and the ops pair run on a plan
// gives the C API's results bit for bit (the plan carries all a call needs).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"

#if __has_include("ops/sdpa_plan.hpp")
#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_plan.hpp"

namespace {

bool same_strides(const qkv_sdpa_strides& a, const qkv_sdpa_strides& b) {
  return a.batch == b.batch && a.head == b.head && a.token == b.token;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("sdpa plan: every field copied, the defaults resolved", "[sdpa][plan]") {
  qkv_sdpa_desc d{};
  d.batch = 2, d.heads = 3, d.q_len = 5, d.kv_len = 7, d.head_dim = 64;
  d.q = {9000, 1000, 100}, d.k = {9001, 1001, 101}, d.v = {9002, 1002, 102}, d.o = {9003, 1003, 103};
  d.causal = 1, d.dropout_p = 0.25f, d.dropout_seed = 0x0123456789abcdefull;
  const qkv::ops::exec x = qkv::ops::plain_exec(QKV_ISA_SCALAR, 3);

  const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(d, x);
  CHECK(p.batch == 2);
  CHECK(p.heads == 3);
  CHECK(p.q_len == 5);
  CHECK(p.kv_len == 7);
  CHECK(p.head_dim == 64);
  CHECK(p.v_dim == 64);      // 0: head_dim
  CHECK(p.scale == 0.125f);  // 0: 1/sqrt(head_dim), exact at 64
  CHECK(same_strides(p.q, d.q));
  CHECK(same_strides(p.k, d.k));
  CHECK(same_strides(p.v, d.v));
  CHECK(same_strides(p.o, d.o));
  CHECK(p.causal);
  CHECK(p.dropout_p == 0.25f);
  CHECK(p.dropout_seed == 0x0123456789abcdefull);
  CHECK(p.algo == QKV_SDPA_FUSED);  // AUTO: the fused kernel
  CHECK(p.x.isa == QKV_ISA_SCALAR);
  CHECK(p.x.threads == 3);
  CHECK(p.kv_heads == 3);  // 0: heads
  CHECK(p.group == 1);
  CHECK(p.window == 0);
  CHECK(p.kv_lens == nullptr);
  CHECK(p.q_lens == nullptr);
  CHECK(p.mask == nullptr);

  d.v_dim = 9, d.scale = 0.3f, d.causal = 0, d.algo = QKV_SDPA_REFERENCE;
  const qkv::ops::sdpa_plan r = qkv::ops::resolve_sdpa(d, x);
  CHECK(r.v_dim == 9);
  CHECK(r.scale == 0.3f);
  CHECK_FALSE(r.causal);
  CHECK(r.algo == QKV_SDPA_REFERENCE);
  d.algo = QKV_SDPA_FUSED;
  CHECK(qkv::ops::resolve_sdpa(d, x).algo == QKV_SDPA_FUSED);

  const std::size_t kv_lens[2] = {3, 7}, q_lens[2] = {5, 1};
  const float mask[1] = {0.f};
  d.heads = 6, d.kv_heads = 2, d.window = 4, d.kv_lens = kv_lens, d.q_lens = q_lens, d.mask = mask;
  d.mask_strides = {11, 12, 13};
  const qkv::ops::sdpa_plan g = qkv::ops::resolve_sdpa(d, x);
  CHECK(g.kv_heads == 2);
  CHECK(g.group == 3);
  CHECK(g.window == 4);
  CHECK(g.kv_lens == kv_lens);
  CHECK(g.q_lens == q_lens);
  CHECK(g.mask == mask);
  CHECK(same_strides(g.mask_strides, d.mask_strides));
}

TEST_CASE("sdpa plan: the ops pair on a plan is the C API's call", "[sdpa][plan]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (qkv_sdpa_algo algo : {QKV_SDPA_AUTO, QKV_SDPA_REFERENCE}) {
      INFO("algo = " << algo);
      const std::size_t B = 2, H = 2, Tq = 21, Tk = 33, D = 12, Dv = 8;
      qkv_sdpa_desc d{};
      d.batch = B, d.heads = H, d.q_len = Tq, d.kv_len = Tk, d.head_dim = D, d.v_dim = Dv;
      d.q = {H * Tq * D, Tq * D, D}, d.k = {H * Tk * D, Tk * D, D};
      d.v = {H * Tk * Dv, Tk * Dv, Dv}, d.o = {H * Tq * Dv, Tq * Dv, Dv};
      d.causal = 1, d.dropout_p = 0.2f, d.dropout_seed = 17, d.algo = algo;  // scale 0: the default
      const auto q = qkv_test::random_vector(B * H * Tq * D, 1), k = qkv_test::random_vector(B * H * Tk * D, 2);
      const auto v = qkv_test::random_vector(B * H * Tk * Dv, 3), dout = qkv_test::random_vector(B * H * Tq * Dv, 4);

      struct result {
        std::vector<float> o, lse, dq, dk, dv;
      };
      auto fresh = [&] {
        return result{std::vector<float>(dout.size()), std::vector<float>(B * H * Tq), std::vector<float>(q.size()),
                      std::vector<float>(k.size()), std::vector<float>(v.size())};
      };
      result api = fresh(), ops = fresh();

      std::size_t fw = 0, bw = 0;
      REQUIRE(qkv_sdpa_workspace_size(&d, 1, &fw) == QKV_OK);
      REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &bw) == QKV_OK);
      std::vector<unsigned char> ws(std::max(fw, bw));
      REQUIRE(qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), api.o.data(), api.lse.data(), ws.data(), fw) ==
              QKV_OK);
      REQUIRE(qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), api.o.data(), api.lse.data(), dout.data(),
                                api.dq.data(), api.dk.data(), api.dv.data(), ws.data(), bw) == QKV_OK);

      const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(d, qkv::ops::current_exec());
      std::size_t pfw = 0, pbw = 0;
      REQUIRE(qkv::ops::sdpa_forward_workspace_bytes(p, 1, &pfw));
      REQUIRE(qkv::ops::sdpa_backward_workspace_bytes(p, 1, &pbw));
      CHECK(pfw == fw);
      CHECK(pbw == bw);
      REQUIRE(qkv::ops::sdpa_forward(p, q.data(), k.data(), v.data(), ops.o.data(), ops.lse.data(), ws.data(), fw));
      REQUIRE(qkv::ops::sdpa_backward(p, q.data(), k.data(), v.data(), ops.o.data(), ops.lse.data(), dout.data(),
                                      ops.dq.data(), ops.dk.data(), ops.dv.data(), ws.data(), bw));
      CHECK(same_bits(api.o, ops.o));
      CHECK(same_bits(api.lse, ops.lse));
      CHECK(same_bits(api.dq, ops.dq));
      CHECK(same_bits(api.dk, ops.dk));
      CHECK(same_bits(api.dv, ops.dv));
    }
  });
}
#endif
