// SPDX-License-Identifier: MIT
// routines - every compute routine of the public API as a self-contained
// run: fixed seeded inputs in, the bytes of every output out. The
// determinism test runs each at 1, 2 and 3 threads, the concurrency test
// from several std::threads at once; both compare bytes.
//
// Shapes of threaded routines are large enough that the drivers really split
// work (qkv::ops::threads_for wants ~1 MFLOP per thread, by each op's own
// work estimate) at every scale: under emulation (QKV_TEST_SCALE=small) they
// shrink only down to just above that cut-off, and the determinism test
// checks that a team ran (support/teams.hpp). A family appears once its
// implementation is in the tree (__has_include of its ops header), so this
// file follows the API as it grows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "qkv/qkv.h"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace qkv_test {

using bytes = std::vector<unsigned char>;

struct routine {
  std::string name;
  std::function<bytes()> run;  // empty bytes: a call returned an error
  // Whether the routine's calls split work across threads. Those that do run
  // above the library's cut-off (~1 MFLOP per thread) at every test scale, so
  // that a 2-thread run really starts a team; those that do not (the BLAS-1
  // vector routines run on the caller's thread) must start none.
  bool threaded = true;
};

namespace detail {
template <class T>
inline void append(bytes& out, const std::vector<T>& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  out.insert(out.end(), p, p + v.size() * sizeof(T));
}
template <class T>
inline void append(bytes& out, const T& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
inline std::size_t scaled(std::size_t n, std::size_t small) { return small_tests() ? small : n; }
// Catch2 v2 assertions are not thread-safe, and the concurrency test runs
// these on worker threads: a failed call makes run() return no bytes.
inline bool ok(qkv_status st) { return st == QKV_OK; }
}  // namespace detail

// The registry. Each run() returns empty bytes when a call failed.
inline std::vector<routine> all_routines() {
  using detail::append;
  using detail::ok;
  using detail::scaled;
  std::vector<routine> r;

  r.push_back({"sdot+saxpy", [] {
                 const std::size_t n = scaled(100003, 1001);
                 auto x = random_vector(n, 11), y = random_vector(n, 12);
                 float d = 0;
                 bytes out;
                 if (!ok(qkv_sdot(n, x.data(), y.data(), &d)) || !ok(qkv_saxpy(n, 0.75f, x.data(), y.data())))
                   return bytes{};
                 append(out, d);
                 append(out, y);
                 return out;
               },
               false});

#if __has_include("ops/softmax.hpp")
  r.push_back({"softmax+log_softmax", [] {
                 const std::size_t rows = 300, cols = 301, ld = 307;  // 25 flops a logit: 2.3 M
                 auto x = random_vector(rows * ld, 21, -8.f, 8.f);
                 std::vector<float> y(rows * ld, 0.f), z(rows * ld, 0.f);
                 if (!ok(qkv_softmax(rows, cols, 0.7f, x.data(), ld, y.data(), ld)) ||
                     !ok(qkv_log_softmax(rows, cols, 1.3f, x.data(), ld, z.data(), ld)))
                   return bytes{};
                 bytes out;
                 append(out, y);
                 append(out, z);
                 return out;
               }});
#endif

#if __has_include("ops/sdpa_forward.hpp")
  for (int variant = 0; variant < 3; ++variant) {
    static const char* names[] = {"sdpa_forward fused", "sdpa_forward fused causal+dropout",
                                  "sdpa_forward reference causal"};
    r.push_back({names[variant], [variant] {
                   const std::size_t B = 2, H = 3, T = scaled(96, 80), D = 32;  // causal fused: 2.5 M at 80
                   qkv_sdpa_desc d{};
                   d.batch = B, d.heads = H, d.q_len = T, d.kv_len = T, d.head_dim = D;
                   // [B, T, H, D]: heads interleaved, as a fused QKV projection writes them.
                   const qkv_sdpa_strides s{T * H * D, D, H * D};
                   d.q = d.k = d.v = d.o = s;
                   d.causal = variant > 0;
                   d.dropout_p = variant == 1 ? 0.1f : 0.f;
                   d.dropout_seed = 7;
                   d.algo = variant == 2 ? QKV_SDPA_REFERENCE : QKV_SDPA_FUSED;
                   auto q = random_vector(B * T * H * D, 31), k = random_vector(B * T * H * D, 32),
                        v = random_vector(B * T * H * D, 33);
                   std::vector<float> o(B * T * H * D), lse(B * H * T);
                   std::size_t ws = 0;
                   if (!ok(qkv_sdpa_workspace_size(&d, 3, &ws))) return bytes{};
                   std::vector<unsigned char> w(ws + 1);
                   if (!ok(qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), w.data(), ws)))
                     return bytes{};
                   bytes out;
                   append(out, o);
                   append(out, lse);
#if __has_include("ops/sdpa_backward.hpp")
                   auto dout = random_vector(B * T * H * D, 34);
                   std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
                   if (!ok(qkv_sdpa_backward_workspace_size(&d, 3, &ws))) return bytes{};
                   w.assign(ws + 1, 0);
                   if (!ok(qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), dout.data(),
                                             dq.data(), dk.data(), dv.data(), w.data(), ws)))
                     return bytes{};
                   append(out, dq);
                   append(out, dk);
                   append(out, dv);
#endif
                   return out;
                 }});
  }
#endif

#if __has_include("qkv/gemm.h") && __has_include("ops/gemm.hpp")
  for (int t = 0; t < 2; ++t)
    r.push_back({t ? "sgemm_ws (A^T B^T)" : "sgemm (A B)", [t] {
                   const std::size_t M = scaled(203, 127), N = scaled(190, 97), K = scaled(111, 103);  // >= 2.5 M
                   const qkv_trans tr = t ? QKV_TRANS : QKV_NO_TRANS;
                   const std::size_t lda = (t ? M : K) + 3, ldb = (t ? K : N) + 1, ldc = N + 5;
                   auto a = random_vector((t ? K : M) * lda, 41), b = random_vector((t ? N : K) * ldb, 42);
                   auto c = random_vector(M * ldc, 43);
                   if (t) {
                     std::size_t ws = 0;
                     if (!ok(qkv_sgemm_workspace_size(tr, tr, M, N, K, 3, &ws))) return bytes{};
                     std::vector<unsigned char> w(ws + 1);
                     if (!ok(qkv_sgemm_ws(tr, tr, M, N, K, 1.5f, a.data(), lda, b.data(), ldb, 0.5f, c.data(), ldc,
                                          w.data(), ws)))
                       return bytes{};
                   } else if (!ok(qkv_sgemm(tr, tr, M, N, K, 1.5f, a.data(), lda, b.data(), ldb, 0.5f, c.data(), ldc))) {
                     return bytes{};
                   }
                   bytes out;
                   append(out, c);
                   return out;
                 }});
#endif

#if __has_include("qkv/gemm_ex.h") && __has_include("ops/gemm_ex.hpp")
  // Mixed precision: each compute kind (bf16 dot products or widened, int8
  // exact, fp32 widening of fp16 / int8 weights), K split into blocks, edges.
  struct gemm_ex_case {
    const char* name;
    qkv_dtype a, b, c;
    bool ta, tb;
    float alpha, beta;
  };
  for (const gemm_ex_case& g : {gemm_ex_case{"gemm_ex (BF16 x BF16 -> BF16)", QKV_DTYPE_BF16, QKV_DTYPE_BF16, QKV_DTYPE_BF16, false, true, 1.5f, 0.5f},
                                gemm_ex_case{"gemm_ex (I8 x I8 -> I32)", QKV_DTYPE_I8, QKV_DTYPE_I8, QKV_DTYPE_I32, true, false, 1.f, 1.f},
                                gemm_ex_case{"gemm_ex (F16 x I8 -> F32)", QKV_DTYPE_F16, QKV_DTYPE_I8, QKV_DTYPE_F32, false, false, 0.75f, 0.f}}) {
    r.push_back({g.name, [g] {
                   const std::size_t M = scaled(203, 127), N = scaled(190, 97), K = scaled(1111, 153);
                   qkv_gemm_ex_desc d{};
                   d.ta = g.ta ? QKV_TRANS : QKV_NO_TRANS, d.tb = g.tb ? QKV_TRANS : QKV_NO_TRANS;
                   d.M = M, d.N = N, d.K = K, d.a_type = g.a, d.b_type = g.b, d.c_type = g.c;
                   d.lda = (g.ta ? M : K) + 3, d.ldb = (g.tb ? K : N) + 1, d.ldc = N + 5;
                   d.alpha = g.alpha, d.beta = g.beta;
                   // Operand bytes from seeded floats: int8 codes and 16-bit
                   // patterns alike (the high halves: finite bf16 / fp16 values).
                   auto bits16 = [](std::size_t n, std::uint64_t seed) {
                     const std::vector<float> f = random_vector(n, seed);
                     std::vector<std::uint16_t> h(n);
                     for (std::size_t i = 0; i < n; ++i) {
                       std::uint32_t u;
                       std::memcpy(&u, &f[i], 4);
                       h[i] = static_cast<std::uint16_t>(u >> 16) & 0xbfffu;  // exponent < max: finite in fp16 too
                     }
                     return h;
                   };
                   const auto a = bits16((g.ta ? K : M) * d.lda, 61), b = bits16((g.tb ? N : K) * d.ldb, 62);
                   const std::vector<float> sb = random_vector(N, 64, 0.01f, 0.1f);
                   if (g.b == QKV_DTYPE_I8 && g.c != QKV_DTYPE_I32) d.b_scales = sb.data();
                   auto c = random_vector(M * d.ldc, 63);  // fp32, or bf16 / int32 bit patterns in its bytes
                   if (g.c == QKV_DTYPE_I32)
                     for (auto& x : c) x = 0.f;
                   std::size_t ws = 0;
                   if (!ok(qkv_gemm_ex_workspace_size(&d, 3, &ws))) return bytes{};
                   std::vector<unsigned char> w(ws + 1);
                   if (!ok(qkv_gemm_ex(&d, a.data(), b.data(), c.data(), w.data() + 1, ws))) return bytes{};
                   bytes out;
                   append(out, c);
                   return out;
                 }});
  }
#endif

#if __has_include("qkv/loss.h") && __has_include("ops/loss.hpp")
  r.push_back({"cross_entropy", [] {
                 const std::size_t rows = scaled(1031, 541), classes = 257, ld = 260;  // 15 a logit: >= 2.1 M
                 auto logits = random_vector(rows * ld, 51, -6.f, 6.f);
                 std::vector<int32_t> tgt(rows);
                 rng g(52);
                 for (auto& t : tgt) t = (g.next() % 11 == 0) ? -100 : static_cast<int32_t>(g.next() % classes);
                 float loss = 0, loss2 = 0;
                 std::vector<float> dl(rows * ld, 0.f);
                 if (!ok(qkv_cross_entropy_forward(rows, classes, logits.data(), ld, tgt.data(), -100, &loss)) ||
                     !ok(qkv_cross_entropy_forward_backward(rows, classes, logits.data(), ld, tgt.data(), -100, 0.5f,
                                                            &loss2, dl.data(), ld)))
                   return bytes{};
                 bytes out;
                 append(out, loss);
                 append(out, loss2);
                 append(out, dl);
                 return out;
               }});
#endif

#if __has_include("qkv/embedding.h") && __has_include("ops/embedding.hpp")
  r.push_back({"embedding", [] {
                 // 8 "flops" an element, memory-bound: 4 x 257 rows of 256 are 2.1 M.
                 const qkv_embedding_desc d{scaled(5003, 101), 256, 300};
                 const std::size_t B = 4, T = 257, ld = d.dim + 4;
                 auto tok = random_vector(d.vocab * d.dim, 61), pos = random_vector(d.max_positions * d.dim, 62);
                 std::vector<int32_t> ids(B * T);
                 rng g(63);
                 for (auto& i : ids) i = static_cast<int32_t>(g.next() % 40);  // many repeats: scatter-add order
                 std::vector<float> y(B * T * ld, 0.f), dtok(tok.size(), 0.f), dpos(pos.size(), 0.f);
                 auto dy = random_vector(B * T * ld, 64);
                 if (!ok(qkv_embedding_forward(&d, B, T, 3, ids.data(), tok.data(), pos.data(), y.data(), ld, nullptr)) ||
                     !ok(qkv_embedding_backward(&d, B, T, 3, ids.data(), dy.data(), ld, dtok.data(), dpos.data(),
                                                nullptr)))
                   return bytes{};
                 bytes out;
                 append(out, y);
                 append(out, dtok);
                 append(out, dpos);
                 return out;
               }});
#endif

#if __has_include("qkv/rope.h") && __has_include("ops/rope.hpp")
  r.push_back({"rope", [] {
                 // Per (b, t) row: 64 pairs' cos/sin (~100 "flops" each) and 8 heads x 128 elements
                 // (8 each): 2 x 129 rows are 3.8 M; per-sequence positions, then shared ones in place.
                 qkv_rope_desc d{};
                 d.batch = 2;
                 d.heads = 8;
                 d.tokens = scaled(257, 129);
                 d.head_dim = 128;
                 d.x = {d.tokens * 8 * 132, 132, 8 * 132};  // [B,T,H,d], padded rows
                 d.theta = 500000.f;
                 std::vector<std::size_t> pos(2 * d.tokens);
                 for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = (i * 7919) % 40000;
                 d.positions = pos.data();
                 d.positions_batch_stride = d.tokens;
                 const auto x = random_vector(d.batch * d.x.batch, 65);
                 std::vector<float> y(x.size(), 0.f);
                 if (!ok(qkv_rope_forward(&d, x.data(), y.data()))) return bytes{};
                 d.positions_batch_stride = 0;
                 d.layout = QKV_ROPE_INTERLEAVED;
                 if (!ok(qkv_rope_backward(&d, y.data(), y.data()))) return bytes{};
                 bytes out;
                 append(out, y);
                 return out;
               }});
#endif

#if __has_include("qkv/norm.h") && __has_include("ops/norm.hpp")
  r.push_back({"norm", [] {
                 // ~8 "flops" an element forward, 10 backward: 300 x 1000 are 2.4 M.
                 const std::size_t rows = scaled(600, 300), n = 1000, ld = 1003;
                 const auto x = random_vector(rows * ld, 81, -2.f, 2.f), res = random_vector(rows * ld, 82);
                 const auto g = random_vector(n, 83, 0.5f, 1.5f), b = random_vector(n, 84);
                 auto dy = random_vector(rows * ld, 85);
                 std::vector<float> s(rows * ld, 0.f), y(rows * ld, 0.f), m(rows), rs(rows), dx(rows * ld, 0.f),
                     dg(n, 0.f), db(n, 0.f);
                 if (!ok(qkv_add_layernorm_forward(rows, n, 1e-5f, x.data(), ld, res.data(), ld, s.data(), ld,
                                                   g.data(), b.data(), y.data(), ld, m.data(), rs.data())) ||
                     !ok(qkv_layernorm_backward(rows, n, s.data(), ld, g.data(), m.data(), rs.data(), dy.data(), ld,
                                                dx.data(), ld, 0, dg.data(), db.data())) ||
                     !ok(qkv_rmsnorm_forward(rows, n, 1e-6f, s.data(), ld, g.data(), y.data(), ld, rs.data())) ||
                     !ok(qkv_rmsnorm_backward(rows, n, s.data(), ld, g.data(), rs.data(), dy.data(), ld, dy.data(),
                                              ld, 1, dg.data())))
                   return bytes{};
                 bytes out;
                 for (const auto* v : {&s, &y, &m, &rs, &dx, &dg, &db, &dy}) append(out, *v);
                 return out;
               }});
#endif

#if __has_include("qkv/activation.h") && __has_include("ops/act.hpp")
  r.push_back({"activation+swiglu+sgemm_bias_act", [] {
                 // ~40 "flops" an activated element, 60 backward: 129 x 515 (small) are 2.7 M, still two
                 // threads' worth; the GEMM 2 x 256 x 384 x 128 = 25 M (small: M 96, 9.4 M).
                 const std::size_t rows = scaled(257, 129), n = scaled(1031, 515), ld = n + 5;
                 const auto x = random_vector(rows * ld, 81, -8.f, 8.f), dy = random_vector(rows * ld, 82);
                 std::vector<float> y(rows * ld, 0.f), d(rows * ld, 0.f), dg(rows * ld, 0.f), du(rows * ld, 0.f);
                 bytes out;
                 for (qkv_activation k : {QKV_ACT_GELU_TANH, QKV_ACT_GELU_ERF, QKV_ACT_SILU, QKV_ACT_RELU}) {
                   if (!ok(qkv_activation_forward(k, rows, n, x.data(), ld, y.data(), ld)) ||
                       !ok(qkv_activation_backward(k, rows, n, x.data(), ld, dy.data(), ld, d.data(), ld)))
                     return bytes{};
                   append(out, y);
                   append(out, d);
                 }
                 if (!ok(qkv_swiglu_forward(rows, n, x.data(), ld, dy.data(), ld, y.data(), ld)) ||
                     !ok(qkv_swiglu_backward(rows, n, x.data(), ld, dy.data(), ld, x.data(), ld, dg.data(), ld,
                                             du.data(), ld)))
                   return bytes{};
                 append(out, y);
                 append(out, dg);
                 append(out, du);
                 const std::size_t M = scaled(256, 96), N = 384, K = 128;
                 const auto A = random_vector(M * K, 83), B = random_vector(K * N, 84), bias = random_vector(N, 85);
                 std::size_t wb = 0;
                 if (!ok(qkv_sgemm_bias_act_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, 4, &wb))) return bytes{};
                 std::vector<unsigned char> ws(wb + 1);
                 std::vector<float> pre(M * N, 0.f), c(M * N, 0.f);
                 if (!ok(qkv_sgemm_bias_act(QKV_NO_TRANS, QKV_TRANS, M, N, K, A.data(), K, B.data(), K, bias.data(),
                                            QKV_ACT_GELU_TANH, pre.data(), N, c.data(), N, ws.data(), ws.size())))
                   return bytes{};
                 append(out, pre);
                 append(out, c);
                 return out;
               }});
#endif

#if __has_include("qkv/optim.h") && __has_include("ops/optim.hpp")
  r.push_back({"sgd+adamw+init", [] {
                 const std::size_t n = scaled(200003, 70001);  // AdamW 32 flops an element: 2.2 M
                 std::vector<float> p(n), p2(n), g(n);
                 if (!ok(qkv_init_uniform(p.data(), n, 0.5f, 71)) || !ok(qkv_init_uniform(g.data(), n, 1.f, 72)))
                   return bytes{};
                 p2 = p;
                 const qkv_sgd_config sgd{0.1f, 0.9f, 0.f, 0.01f, 1};
                 const qkv_adamw_config adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
                 std::vector<float> s1(n), s2(2 * n);
                 for (std::uint64_t t = 1; t <= 3; ++t)
                   if (!ok(qkv_sgd_step(&sgd, t, n, p.data(), g.data(), s1.data())) ||
                       !ok(qkv_adamw_step(&adam, t, n, p2.data(), g.data(), s2.data())))
                     return bytes{};
                 bytes out;
                 append(out, p);
                 append(out, p2);
                 append(out, s1);
                 append(out, s2);
                 return out;
               }});
  r.push_back({"clip scale+adamw_ex", [] {
                 const std::size_t n = scaled(200003, 70001);
                 std::vector<float> p(n), g(n), s(2 * n);
                 if (!ok(qkv_init_uniform(p.data(), n, 0.5f, 73))) return bytes{};
                 const qkv_adamw_config adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
                 float norm = 0.f, scale = 0.f;
                 for (std::uint64_t t = 1; t <= 3; ++t)
                   if (!ok(qkv_init_uniform(g.data(), n, 1.f, 74 + t)) ||
                       !ok(qkv_grad_clip_scale(g.data(), n, 10.f, &norm, &scale)) ||
                       !ok(qkv_adamw_step_ex(&adam, t, scale, t == 3 ? 0 : 1, n, p.data(), g.data(), s.data())))
                     return bytes{};
                 bytes out;
                 append(out, p);
                 append(out, s);
                 append(out, g);
                 out.push_back(static_cast<unsigned char>(scale < 1.f));
                 return out;
               }});
#endif

#if __has_include("qkv/layer.h") && __has_include("ops/mha_layer.hpp")
  r.push_back({"mha layer forward+backward", [] {
                 qkv_mha_desc d{};
                 d.d_in = 48, d.d_out = 64, d.num_heads = 4, d.causal = 1, d.qkv_bias = 1, d.out_proj = 1;
                 d.dropout_p = 0.1f, d.dropout_seed = 5;
                 const std::size_t B = 2, T = 64;
                 std::size_t np = 0, cache = 0, wf = 0, wb = 0;
                 if (!ok(qkv_mha_param_count(&d, &np)) || !ok(qkv_mha_cache_size(&d, B, T, &cache)) ||
                     !ok(qkv_mha_forward_workspace_size(&d, B, T, 3, &wf)) ||
                     !ok(qkv_mha_backward_workspace_size(&d, B, T, 3, &wb)))
                   return bytes{};
                 std::vector<float> params(np), grads(np, 0.f);
                 if (!ok(qkv_mha_init(&d, params.data(), 81))) return bytes{};
                 auto x = random_vector(B * T * d.d_in, 82), dy = random_vector(B * T * d.d_out, 83);
                 std::vector<float> y(B * T * d.d_out), dx(x.size());
                 // 64-byte aligned caches and workspaces, as documented.
                 std::vector<float> c((cache + 3) / 4 + 16), w((std::max(wf, wb) + 3) / 4 + 16);
                 auto align = [](std::vector<float>& v) {
                   return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(v.data()) + 63) & ~std::uintptr_t{63});
                 };
                 if (!ok(qkv_mha_forward(&d, params.data(), B, T, x.data(), y.data(), 1, align(c), cache, align(w), wf)) ||
                     !ok(qkv_mha_backward(&d, params.data(), B, T, x.data(), align(c), cache, dy.data(), dx.data(),
                                          grads.data(), align(w), wb)))
                   return bytes{};
                 bytes out;
                 append(out, y);
                 append(out, dx);
                 append(out, grads);
                 return out;
               }});
  r.push_back({"mha KV-cache decode", [] {
                 qkv_mha_desc d{};
                 // 64 new rows a call through 128 x 128 projections: 2.1 M each.
                 d.d_in = 128, d.d_out = 128, d.num_heads = 4, d.causal = 1, d.qkv_bias = 1, d.out_proj = 1;
                 const std::size_t B = 2, step = 32, cap = scaled(4, 2) * step;
                 std::size_t np = 0, kvb = 0, wsb = 0;
                 qkv_mha_kv_state st{};
                 if (!ok(qkv_mha_param_count(&d, &np)) || !ok(qkv_mha_kv_cache_size(&d, B, cap, &kvb)) ||
                     !ok(qkv_mha_kv_cache_init(&st, B, cap)) ||
                     !ok(qkv_mha_decode_workspace_size(&d, &st, step, 3, &wsb)))
                   return bytes{};
                 qkv_mha_kv_state last = st;  // the largest workspace: the last call's
                 last.length = cap - step;
                 std::size_t wmax = 0;
                 if (!ok(qkv_mha_decode_workspace_size(&d, &last, step, 3, &wmax))) return bytes{};
                 wsb = std::max(wsb, wmax);
                 std::vector<float> params(np), kv((kvb + 3) / 4 + 16), w((wsb + 3) / 4 + 16), y(B * step * d.d_out);
                 if (!ok(qkv_mha_init(&d, params.data(), 91))) return bytes{};
                 auto align = [](std::vector<float>& v) {
                   return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(v.data()) + 63) & ~std::uintptr_t{63});
                 };
                 bytes out;
                 for (std::size_t t = 0; t + step <= cap; t += step) {  // the cache fills up in 4 (2) calls
                   auto x = random_vector(B * step * d.d_in, 92 + t);
                   if (!ok(qkv_mha_decode_workspace_size(&d, &st, step, 3, &wsb)) || wsb > (w.size() - 16) * 4 ||
                       !ok(qkv_mha_decode(&d, params.data(), &st, align(kv), kvb, step, x.data(), y.data(), align(w),
                                          wsb)))
                     return bytes{};
                   append(out, y);
                 }
                 return out;
               }});
#endif

#if __has_include("qkv/layer_int8.h") && __has_include("ops/mha_int8.hpp")
  r.push_back({"mha int8 layer (calibrated) forward", [] {
                 qkv_mha_desc d{};
                 d.d_in = 48, d.d_out = 64, d.num_heads = 4, d.num_kv_heads = 2, d.causal = 1, d.qkv_bias = 1;
                 d.out_proj = 1;
                 const std::size_t B = 2, T = 64;
                 std::size_t np = 0, wc = 0, wf = 0;
                 qkv_mha_int8_layout l{};
                 if (!ok(qkv_mha_param_count(&d, &np)) || !ok(qkv_mha_int8_param_layout(&d, &l)) ||
                     !ok(qkv_mha_int8_calibrate_workspace_size(&d, B, T, 3, &wc)) ||
                     !ok(qkv_mha_int8_forward_workspace_size(&d, B, T, 3, &wf)))
                   return bytes{};
                 std::vector<float> params(np), raw(l.bytes / 4 + 17);
                 if (!ok(qkv_mha_init(&d, params.data(), 101))) return bytes{};
                 auto x = random_vector(B * T * d.d_in, 102);
                 void* q = reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(raw.data()) + 63) & ~std::uintptr_t{63});
                 std::vector<unsigned char> w(std::max(wc, wf));
                 std::vector<std::int8_t> xq(x.size()), y(B * T * d.d_out);
                 if (!ok(qkv_mha_int8_calibrate(&d, params.data(), B, T, x.data(), q, l.bytes, w.data(), w.size())) ||
                     !ok(qkv_quantize_affine_s8(x.size(), x.data(), static_cast<qkv_mha_int8_header*>(q)->x, xq.data())) ||
                     !ok(qkv_mha_int8_forward(&d, q, l.bytes, B, T, xq.data(), y.data(), w.data(), w.size())))
                   return bytes{};
                 bytes out(static_cast<const unsigned char*>(q), static_cast<const unsigned char*>(q) + l.bytes);
                 out.insert(out.end(), reinterpret_cast<const unsigned char*>(y.data()),
                            reinterpret_cast<const unsigned char*>(y.data()) + y.size());
                 return out;
               }});
#endif
  return r;
}

}  // namespace qkv_test
