// SPDX-License-Identifier: MIT
// Settings changed while calls run: runtime.h promises that a routine running
// while another thread changes the ISA or the thread count uses the old or
// the new value throughout. One thread flips both settings as fast as it can
// while two others call every compute entry point; every result must equal,
// bit for bit, that call's result under one of the ISAs alone (the thread
// count never changes bits). A call that mixed two ISAs' kernels matches
// neither. Each unit below is one API call on fixed inputs, with workspaces
// sized for the largest ISA, so no call can be refused.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

using bytes = std::vector<unsigned char>;

template <class T>
bytes as_bytes(const std::vector<T>& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  return bytes(p, p + v.size() * sizeof(T));
}

struct unit {
  std::string name;
  std::function<bytes()> run;  // empty: the call failed
};

// Fixed inputs shared (read-only) by every call.
struct inputs {
  const bool small = qkv_test::small_tests();
  // sgemm
  std::size_t M = small ? 90 : 200, N = small ? 70 : 190, K = small ? 60 : 150;
  std::vector<float> a = qkv_test::random_vector(M * K, 1), b = qkv_test::random_vector(K * N, 2);
  // softmax, cross-entropy
  std::size_t rows = small ? 40 : 300, cols = 257;
  std::vector<float> logits = qkv_test::random_vector(rows * cols, 3, -6.f, 6.f);
  std::vector<std::int32_t> targets;
  // attention
  qkv_sdpa_desc sd{};
  std::vector<float> q, k, v, o, lse, dout;
  // layer
  qkv_mha_desc md{};
  std::size_t B = 2, T = small ? 24 : 64, np = 0, cache_bytes = 0, kv_bytes = 0;
  std::vector<float> params, x, dy, cache;
  // optimizer, embedding, vectors
  std::size_t n = small ? 40000 : 200003;
  std::vector<float> p = qkv_test::random_vector(n, 4), g = qkv_test::random_vector(n, 5);
  qkv_embedding_desc ed{97, 64, 300};
  std::vector<std::int32_t> ids;

  inputs() {
    for (std::size_t r = 0; r < rows; ++r) targets.push_back(static_cast<std::int32_t>(r * 7 % cols));
    const std::size_t T2 = small ? 40 : 96, H = 2, D = 32;
    sd.batch = 2, sd.heads = H, sd.q_len = T2, sd.kv_len = T2, sd.head_dim = D, sd.causal = 1;
    sd.q = sd.k = sd.v = sd.o = qkv_sdpa_strides{T2 * H * D, D, H * D};
    const std::size_t e = 2 * T2 * H * D;
    q = qkv_test::random_vector(e, 6), k = qkv_test::random_vector(e, 7), v = qkv_test::random_vector(e, 8);
    dout = qkv_test::random_vector(e, 9), o.resize(e), lse.resize(2 * H * T2);
    std::size_t wb = 0;
    REQUIRE(qkv_sdpa_workspace_size(&sd, 1, &wb) == QKV_OK);
    std::vector<unsigned char> w(wb);
    REQUIRE(qkv_sdpa_forward(&sd, q.data(), k.data(), v.data(), o.data(), lse.data(), w.data(), wb) == QKV_OK);

    md.d_in = 48, md.d_out = 64, md.num_heads = 4, md.causal = 1, md.qkv_bias = 1, md.out_proj = 1;
    md.dropout_p = 0.1f, md.dropout_seed = 3;
    REQUIRE(qkv_mha_param_count(&md, &np) == QKV_OK);
    REQUIRE(qkv_mha_cache_size(&md, B, T, &cache_bytes) == QKV_OK);
    REQUIRE(qkv_mha_kv_cache_size(&md, B, T, &kv_bytes) == QKV_OK);
    params.resize(np);
    REQUIRE(qkv_mha_init(&md, params.data(), 11) == QKV_OK);
    x = qkv_test::random_vector(B * T * md.d_in, 12), dy = qkv_test::random_vector(B * T * md.d_out, 13);
    cache.resize(cache_bytes / sizeof(float) + 1);
    std::size_t fb = 0;
    REQUIRE(qkv_mha_forward_workspace_size(&md, B, T, 1, &fb) == QKV_OK);
    std::vector<unsigned char> fw(fb);
    std::vector<float> y(B * T * md.d_out);
    REQUIRE(qkv_mha_forward(&md, params.data(), B, T, x.data(), y.data(), 1, cache.data(), cache_bytes, fw.data(),
                            fb) == QKV_OK);
    for (std::size_t i = 0; i < 4 * 257; ++i) ids.push_back(static_cast<std::int32_t>(i * 13 % 97));
  }
};

// The largest answer of a size query over every runnable ISA.
std::size_t max_over_isas(const std::function<std::size_t()>& query) {
  std::size_t most = 0;
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    qkv_test::isa_scope scope(isa);
    most = std::max(most, query());
  }
  return most;
}

std::vector<unit> units(const inputs& in) {
  std::vector<unit> u;
  const std::size_t gemm_ws = max_over_isas([&] {
    std::size_t s = 0;
    qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, in.M, in.N, in.K, 3, &s);
    return s;
  });
  u.push_back({"qkv_sgemm", [&in] {
                 std::vector<float> c(in.M * in.N);
                 if (qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, in.M, in.N, in.K, 1.f, in.a.data(), in.K, in.b.data(), in.N,
                               0.f, c.data(), in.N) != QKV_OK)
                   return bytes{};
                 return as_bytes(c);
               }});
  u.push_back({"qkv_sgemm_ws", [&in, gemm_ws] {
                 std::vector<float> c(in.M * in.N);
                 std::vector<unsigned char> w(gemm_ws + 1);
                 if (qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, in.M, in.N, in.K, 1.f, in.a.data(), in.K, in.b.data(), in.K,
                                  0.f, c.data(), in.N, w.data(), w.size()) != QKV_OK)
                   return bytes{};
                 return as_bytes(c);
               }});
  u.push_back({"qkv_softmax", [&in] {
                 std::vector<float> y(in.rows * in.cols);
                 if (qkv_softmax(in.rows, in.cols, 0.7f, in.logits.data(), in.cols, y.data(), in.cols) != QKV_OK)
                   return bytes{};
                 return as_bytes(y);
               }});
  u.push_back({"qkv_cross_entropy_forward_backward", [&in] {
                 std::vector<float> d(in.rows * in.cols + 1);
                 if (qkv_cross_entropy_forward_backward(in.rows, in.cols, in.logits.data(), in.cols, in.targets.data(),
                                                        -100, 1.f, &d.back(), d.data(), in.cols) != QKV_OK)
                   return bytes{};
                 return as_bytes(d);
               }});
  for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
    qkv_sdpa_desc d = in.sd;
    d.algo = algo;
    d.dropout_p = 0.1f;
    const std::string tag = algo == QKV_SDPA_FUSED ? " fused" : " reference";
    const std::size_t fw = max_over_isas([d] {
      std::size_t s = 0;
      qkv_sdpa_workspace_size(&d, 3, &s);
      return s;
    });
    const std::size_t bw = max_over_isas([d] {
      std::size_t s = 0;
      qkv_sdpa_backward_workspace_size(&d, 3, &s);
      return s;
    });
    u.push_back({"qkv_sdpa_forward" + tag, [&in, d, fw] {
                   std::vector<float> o(in.o.size() + in.lse.size());
                   std::vector<unsigned char> w(fw);
                   if (qkv_sdpa_forward(&d, in.q.data(), in.k.data(), in.v.data(), o.data(), o.data() + in.o.size(),
                                        w.data(), fw) != QKV_OK)
                     return bytes{};
                   return as_bytes(o);
                 }});
    u.push_back({"qkv_sdpa_backward" + tag, [&in, d, bw] {
                   qkv_sdpa_desc nd = d;
                   nd.dropout_p = 0.f;  // o and lse came from a forward without dropout
                   std::vector<float> g(3 * in.q.size());
                   std::vector<unsigned char> w(bw + 4096);
                   if (qkv_sdpa_backward(&nd, in.q.data(), in.k.data(), in.v.data(), in.o.data(), in.lse.data(),
                                         in.dout.data(), g.data(), g.data() + in.q.size(), g.data() + 2 * in.q.size(),
                                         w.data(), w.size()) != QKV_OK)
                     return bytes{};
                   return as_bytes(g);
                 }});
  }
  const std::size_t lf = max_over_isas([&in] {
    std::size_t s = 0;
    qkv_mha_forward_workspace_size(&in.md, in.B, in.T, 3, &s);
    return s;
  });
  const std::size_t lb = max_over_isas([&in] {
    std::size_t s = 0;
    qkv_mha_backward_workspace_size(&in.md, in.B, in.T, 3, &s);
    return s;
  });
  const std::size_t ld = max_over_isas([&in] {
    qkv_mha_kv_state st{};
    qkv_mha_kv_cache_init(&st, in.B, in.T);
    std::size_t s = 0;
    qkv_mha_decode_workspace_size(&in.md, &st, in.T, 3, &s);
    return s;
  });
  u.push_back({"qkv_mha_forward", [&in, lf] {
                 std::vector<float> y(in.B * in.T * in.md.d_out), c(in.cache.size());
                 std::vector<unsigned char> w(lf);
                 if (qkv_mha_forward(&in.md, in.params.data(), in.B, in.T, in.x.data(), y.data(), 1, c.data(),
                                     in.cache_bytes, w.data(), lf) != QKV_OK)
                   return bytes{};
                 return as_bytes(y);
               }});
  u.push_back({"qkv_mha_backward", [&in, lb] {
                 std::vector<float> dx(in.x.size()), grads(in.np, 0.f);
                 std::vector<unsigned char> w(lb);
                 if (qkv_mha_backward(&in.md, in.params.data(), in.B, in.T, in.x.data(), in.cache.data(),
                                      in.cache_bytes, in.dy.data(), dx.data(), grads.data(), w.data(), lb) != QKV_OK)
                   return bytes{};
                 dx.insert(dx.end(), grads.begin(), grads.end());
                 return as_bytes(dx);
               }});
  u.push_back({"qkv_mha_decode", [&in, ld] {
                 qkv_mha_kv_state st{};
                 std::vector<float> kv(in.kv_bytes / sizeof(float) + 1), y(in.B * in.T * in.md.d_out);
                 std::vector<unsigned char> w(ld);
                 if (qkv_mha_kv_cache_init(&st, in.B, in.T) != QKV_OK ||
                     qkv_mha_decode(&in.md, in.params.data(), &st, kv.data(), in.kv_bytes, in.T, in.x.data(), y.data(),
                                    w.data(), ld) != QKV_OK)
                   return bytes{};
                 return as_bytes(y);
               }});
  u.push_back({"qkv_embedding_backward", [&in] {
                 std::vector<float> dtok(in.ed.vocab * in.ed.dim, 0.f);
                 const std::vector<float> dout = qkv_test::random_vector(in.ids.size() * in.ed.dim, 14);
                 if (qkv_embedding_backward(&in.ed, 4, 257, 0, in.ids.data(), dout.data(), in.ed.dim, dtok.data(),
                                            nullptr, nullptr) != QKV_OK)
                   return bytes{};
                 return as_bytes(dtok);
               }});
  u.push_back({"qkv_adamw_step", [&in] {
                 std::vector<float> p = in.p, s(2 * in.n, 0.f);
                 const qkv_adamw_config c{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
                 if (qkv_adamw_step(&c, 1, in.n, p.data(), in.g.data(), s.data()) != QKV_OK) return bytes{};
                 return as_bytes(p);
               }});
  u.push_back({"qkv_clip_grad_norm", [&in] {
                 std::vector<float> g = in.g;
                 g.push_back(0.f);
                 if (qkv_clip_grad_norm(g.data(), in.n, 0.5f, &g.back()) != QKV_OK) return bytes{};
                 return as_bytes(g);
               }});
  u.push_back({"qkv_grad_clip_scale+qkv_adamw_step_ex", [&in] {
                 std::vector<float> p = in.p, g = in.g, s(2 * in.n, 0.f);
                 const qkv_adamw_config c{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
                 float scale = 0.f;
                 if (qkv_grad_clip_scale(g.data(), in.n, 0.5f, nullptr, &scale) != QKV_OK ||
                     qkv_adamw_step_ex(&c, 1, scale, 1, in.n, p.data(), g.data(), s.data()) != QKV_OK)
                   return bytes{};
                 p.push_back(scale);
                 return as_bytes(p);
               }});
  u.push_back({"qkv_sdot", [&in] {
                 std::vector<float> d(1);
                 if (qkv_sdot(in.n, in.p.data(), in.g.data(), d.data()) != QKV_OK) return bytes{};
                 return as_bytes(d);
               }});
  return u;
}

}  // namespace

TEST_CASE("a call racing qkv_set_isa and qkv_set_num_threads returns one ISA's result", "[reliability][concurrency]") {
  const inputs in;
  const auto all = units(in);
  const std::vector<qkv_isa> isas = qkv_test::runnable_isas();
  qkv_isa saved_isa = QKV_ISA_SCALAR;
  int saved_threads = 1;
  qkv_get_isa(&saved_isa);
  qkv_get_num_threads(&saved_threads);

  // Each call's result under each ISA alone.
  std::vector<std::vector<bytes>> want(all.size());
  for (qkv_isa isa : isas) {
    qkv_test::isa_scope scope(isa);
    for (std::size_t i = 0; i < all.size(); ++i) {
      want[i].push_back(all[i].run());
      INFO(all[i].name << " on " << qkv_isa_name(isa));
      REQUIRE(!want[i].back().empty());
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<long> flips{0};
  std::thread flipper([&] {
    for (unsigned n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      qkv_set_isa(isas[n % isas.size()]);
      qkv_set_num_threads(1 + static_cast<int>(n / isas.size() % 3));
      flips.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  const int callers = 2, rounds = qkv_test::small_tests() ? 2 : 20;
  // failed[i] / mixed[i]: calls of unit i that returned an error / matched no ISA.
  std::vector<std::atomic<int>> failed(all.size()), mixed(all.size());
  std::vector<std::thread> pool;
  for (int c = 0; c < callers; ++c)
    pool.emplace_back([&, c] {
      for (int round = 0; round < rounds; ++round)
        for (std::size_t j = 0; j < all.size(); ++j) {
          const std::size_t i = (j + static_cast<std::size_t>(c)) % all.size();
          const bytes got = all[i].run();
          if (got.empty()) {
            ++failed[i];
            continue;
          }
          bool any = false;
          for (const bytes& w : want[i]) any = any || w == got;
          if (!any) ++mixed[i];
        }
    });
  for (auto& t : pool) t.join();
  stop.store(true);
  flipper.join();
  qkv_set_isa(saved_isa);
  qkv_set_num_threads(saved_threads);

  INFO("setting flips during the calls: " << flips.load());
  CHECK(flips.load() > 0);
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(all[i].name);
    CHECK(failed[i].load() == 0);
    CHECK(mixed[i].load() == 0);
  }
}
