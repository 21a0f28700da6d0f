// SPDX-License-Identifier: MIT
// no_heap - every compute entry point of the C API, on every runnable ISA
// and at 1 and 2 threads, makes no heap call of its own.
//
// The program is linked with -Wl,--wrap for malloc, calloc, realloc, free,
// aligned_alloc, posix_memalign and the operator new/delete family
// (tests/process/CMakeLists.txt): every call to them from qkv's objects (and
// from this file) goes through the counters below, which count only while a
// call under test runs. Buffers are all allocated before. Calls made inside
// libgomp or libstdc++'s shared objects are not wrapped: OpenMP's own team
// bookkeeping is outside qkv (the "OpenMP's aside").
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "qkv/qkv.h"

namespace {
std::atomic<bool> g_armed{false};
std::atomic<long> g_calls{0};
inline void note() {
  if (g_armed.load(std::memory_order_relaxed)) g_calls.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* __real_malloc(std::size_t);
void* __real_calloc(std::size_t, std::size_t);
void* __real_realloc(void*, std::size_t);
void __real_free(void*);
void* __real_aligned_alloc(std::size_t, std::size_t);
int __real_posix_memalign(void**, std::size_t, std::size_t);
void* __wrap_malloc(std::size_t n) { note(); return __real_malloc(n); }
void* __wrap_calloc(std::size_t a, std::size_t b) { note(); return __real_calloc(a, b); }
void* __wrap_realloc(void* p, std::size_t n) { note(); return __real_realloc(p, n); }
void __wrap_free(void* p) { note(); __real_free(p); }
void* __wrap_aligned_alloc(std::size_t a, std::size_t n) { note(); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void** p, std::size_t a, std::size_t n) { note(); return __real_posix_memalign(p, a, n); }

// operator new / delete (Itanium names): new(size), new[](size), their
// aligned forms, and the sized / aligned deletes.
void* __real__Znwm(std::size_t);
void* __real__Znam(std::size_t);
void* __real__ZnwmSt11align_val_t(std::size_t, std::align_val_t);
void __real__ZdlPv(void*);
void __real__ZdaPv(void*);
void __real__ZdlPvm(void*, std::size_t);
void __real__ZdaPvm(void*, std::size_t);
void* __wrap__Znwm(std::size_t n) { note(); return __real__Znwm(n); }
void* __wrap__Znam(std::size_t n) { note(); return __real__Znam(n); }
void* __wrap__ZnwmSt11align_val_t(std::size_t n, std::align_val_t a) { note(); return __real__ZnwmSt11align_val_t(n, a); }
void __wrap__ZdlPv(void* p) { note(); __real__ZdlPv(p); }
void __wrap__ZdaPv(void* p) { note(); __real__ZdaPv(p); }
void __wrap__ZdlPvm(void* p, std::size_t n) { note(); __real__ZdlPvm(p, n); }
void __wrap__ZdaPvm(void* p, std::size_t n) { note(); __real__ZdaPvm(p, n); }
}

namespace {

int g_failures = 0;

// Runs one call under the counters; it must return QKV_OK and make no heap call.
template <class F>
void expect(const char* what, F&& call) {
  g_calls.store(0);
  g_armed.store(true);
  const qkv_status st = call();
  g_armed.store(false);
  const long n = g_calls.load();
  if (st != QKV_OK || n != 0) {
    std::printf("FAIL: %s: status %d, %ld heap call(s)\n", what, static_cast<int>(st), n);
    ++g_failures;
  }
}

std::vector<float> filled(std::size_t n, float v) { return std::vector<float>(n, v); }

void* aligned64(std::vector<unsigned char>& v) {
  return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(v.data()) + 63) & ~std::uintptr_t{63});
}

// Every compute entry point once, with buffers allocated beforehand.
void run_all() {
  // BLAS: tiny, packed (workspace and none), vectors.
  const std::size_t M = 150, N = 300, K = 129;
  auto a = filled(M * K, 0.5f), b = filled(K * N, 0.25f), c = filled(M * N, 0.f), t = filled(64, 1.f);
  std::size_t gb = 0;
  qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, 2, &gb);
  std::vector<unsigned char> gws(gb + 64);
  float dot = 0;
  expect("qkv_sgemm 6x2x3", [&] { return qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 6, 2, 3, 1.f, a.data(), 3, b.data(), 2, 0.f, c.data(), 2); });
  expect("qkv_sgemm 150x300x129", [&] { return qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, M, N, K, 1.f, a.data(), K, b.data(), N, 0.f, c.data(), N); });
  expect("qkv_sgemm_ws 150x300x129 B^T", [&] { return qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, a.data(), K, b.data(), K, 0.f, c.data(), N, gws.data(), gws.size()); });
  {
    qkv_gemm_ex_desc d{};
    d.ta = QKV_NO_TRANS, d.tb = QKV_TRANS, d.M = M, d.N = N, d.K = K, d.lda = K, d.ldb = 2 * K, d.ldc = N;
    d.a_type = QKV_DTYPE_F32, d.b_type = QKV_DTYPE_BF16, d.c_type = QKV_DTYPE_BF16, d.alpha = 1.f, d.beta = 0.5f;
    std::size_t xb = 0;
    qkv_gemm_ex_workspace_size(&d, 2, &xb);
    std::vector<unsigned char> xws(xb + 1);
    expect("qkv_gemm_ex 150x300x129 F32 x BF16 -> BF16", [&] { return qkv_gemm_ex(&d, a.data(), b.data(), c.data(), xws.data() + 1, xb); });
    d.a_type = d.b_type = QKV_DTYPE_I8, d.c_type = QKV_DTYPE_I32, d.beta = 1.f;
    qkv_gemm_ex_workspace_size(&d, 2, &xb);
    xws.assign(xb + 1, 0);
    expect("qkv_gemm_ex 150x300x129 I8 x I8 -> I32", [&] { return qkv_gemm_ex(&d, a.data(), b.data(), c.data(), xws.data() + 1, xb); });
  }
  expect("qkv_sdot", [&] { return qkv_sdot(64, t.data(), t.data(), &dot); });
  expect("qkv_saxpy", [&] { return qkv_saxpy(64, 0.5f, t.data(), c.data()); });
  expect("qkv_softmax", [&] { return qkv_softmax(M, N, 0.5f, c.data(), N, c.data(), N); });
  expect("qkv_log_softmax", [&] { return qkv_log_softmax(M, N, 0.5f, c.data(), N, c.data(), N); });

  // Attention, both algorithms, forward and backward.
  for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
    qkv_sdpa_desc d{};
    d.batch = 2, d.heads = 2, d.q_len = 70, d.kv_len = 70, d.head_dim = 16, d.causal = 1, d.dropout_p = 0.1f;
    d.algo = algo;
    d.q = d.k = d.v = d.o = qkv_sdpa_strides{70 * 2 * 16, 16, 2 * 16};
    const std::size_t n = 2 * 70 * 2 * 16;
    auto q = filled(n, 0.1f), k = filled(n, 0.2f), v = filled(n, 0.3f), o = filled(n, 0), lse = filled(2 * 2 * 70, 0);
    auto dq = filled(n, 0), dk = filled(n, 0), dv = filled(n, 0);
    std::size_t fb = 0, bb = 0;
    qkv_sdpa_workspace_size(&d, 2, &fb);
    qkv_sdpa_backward_workspace_size(&d, 2, &bb);
    std::vector<unsigned char> fw(fb), bw(bb);
    expect(algo == QKV_SDPA_FUSED ? "qkv_sdpa_forward fused" : "qkv_sdpa_forward reference",
           [&] { return qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), fw.data(), fb); });
    expect(algo == QKV_SDPA_FUSED ? "qkv_sdpa_backward fused" : "qkv_sdpa_backward reference", [&] {
      return qkv_sdpa_backward(&d, q.data(), k.data(), v.data(), o.data(), lse.data(), v.data(), dq.data(),
                               dk.data(), dv.data(), bw.data(), bb);
    });
  }

  // The layer: init, training forward and backward, inference, decoding.
  qkv_mha_desc md{};
  md.d_in = 24, md.d_out = 32, md.num_heads = 4, md.causal = 1, md.qkv_bias = 1, md.out_proj = 1, md.dropout_p = 0.1f;
  const std::size_t B = 2, T = 40;
  std::size_t np = 0, cb = 0, wf = 0, wb = 0, kvb = 0, wd = 0;
  qkv_mha_param_count(&md, &np);
  qkv_mha_cache_size(&md, B, T, &cb);
  qkv_mha_forward_workspace_size(&md, B, T, 2, &wf);
  qkv_mha_backward_workspace_size(&md, B, T, 2, &wb);
  qkv_mha_kv_cache_size(&md, B, T, &kvb);
  qkv_mha_kv_state st{};
  qkv_mha_kv_cache_init(&st, B, T);
  qkv_mha_decode_workspace_size(&md, &st, T, 2, &wd);
  auto params = filled(np, 0), grads = filled(np, 0), x = filled(B * T * md.d_in, 0.3f), y = filled(B * T * md.d_out, 0);
  auto dx = filled(x.size(), 0), torch = filled(32 * 24, 0.5f), w = filled(32 * 24, 0);
  std::vector<unsigned char> cache(cb + 64), fws(wf + 64), bws(wb + 64), kv(kvb + 64), dws(wd + 64);
  expect("qkv_mha_init", [&] { return qkv_mha_init(&md, params.data(), 3); });
  expect("qkv_linear_weight_from_torch", [&] { return qkv_linear_weight_from_torch(32, 24, torch.data(), w.data()); });
  expect("qkv_mha_forward (training)", [&] {
    return qkv_mha_forward(&md, params.data(), B, T, x.data(), y.data(), 1, aligned64(cache), cb, aligned64(fws), wf);
  });
  expect("qkv_mha_backward", [&] {
    return qkv_mha_backward(&md, params.data(), B, T, x.data(), aligned64(cache), cb, y.data(), dx.data(),
                            grads.data(), aligned64(bws), wb);
  });
  expect("qkv_mha_forward (inference)", [&] {
    return qkv_mha_forward(&md, params.data(), B, T, x.data(), y.data(), 0, nullptr, 0, aligned64(fws), wf);
  });
  expect("qkv_mha_zero_grads", [&] { return qkv_mha_zero_grads(&md, grads.data()); });
  expect("qkv_mha_decode", [&] {
    return qkv_mha_decode(&md, params.data(), &st, aligned64(kv), kvb, T, x.data(), y.data(), aligned64(dws), wd);
  });

  // The decoder block: training step and decoding, fp32 and bf16 compute.
  for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_BF16}) {
    qkv_block_desc bd{};
    bd.d_model = 16, bd.num_heads = 4, bd.num_kv_heads = 2, bd.d_ff = 40, bd.norm = QKV_NORM_RMS;
    bd.ffn = QKV_FFN_SWIGLU, bd.pre_norm = 1, bd.causal = 1, bd.rope = 1, bd.resid_dropout = 0.1f;
    bd.compute_type = ct;
    std::size_t bn = 0, bc = 0, bf = 0, bb = 0, bkv = 0, bdw = 0;
    qkv_block_param_count(&bd, &bn);
    qkv_block_cache_size(&bd, B, T, &bc);
    qkv_block_forward_workspace_size(&bd, B, T, 2, &bf);
    qkv_block_backward_workspace_size(&bd, B, T, 2, &bb);
    qkv_block_kv_cache_size(&bd, B, T, QKV_KV_F32, &bkv);
    qkv_mha_kv_state bst{};
    qkv_mha_kv_cache_init(&bst, B, T);
    qkv_block_decode_workspace_size(&bd, &bst, T, 2, &bdw);
    auto bp = filled(bn, 0), bg = filled(bn, 0), bx = filled(B * T * 16, 0.3f), by = filled(B * T * 16, 0);
    auto bdx = filled(B * T * 16, 0);
    std::vector<unsigned char> bcache(bc + 64), bfws(bf + 64), bbws(bb + 64), bkvb(bkv + 64), bdws(bdw + 64);
    expect("qkv_block_init", [&] { return qkv_block_init(&bd, bp.data(), 3); });
    expect("qkv_block_forward (training)", [&] {
      return qkv_block_forward(&bd, bp.data(), B, T, bx.data(), by.data(), 1, aligned64(bcache), bc, aligned64(bfws), bf);
    });
    expect("qkv_block_backward", [&] {
      return qkv_block_backward(&bd, bp.data(), B, T, bx.data(), aligned64(bcache), bc, by.data(), bdx.data(),
                                bg.data(), aligned64(bbws), bb);
    });
    expect("qkv_block_decode", [&] {
      return qkv_block_decode(&bd, bp.data(), &bst, aligned64(bkvb), bkv, T, bx.data(), by.data(), aligned64(bdws), bdw);
    });
    if (ct == QKV_DTYPE_BF16) {
      std::vector<std::uint16_t> mirror(bn, 0);
      expect("qkv_block_forward_mirror (training)", [&] {
        return qkv_block_forward_mirror(&bd, bp.data(), mirror.data(), B, T, bx.data(), by.data(), 1,
                                        aligned64(bcache), bc, aligned64(bfws), bf);
      });
      expect("qkv_block_backward_mirror", [&] {
        return qkv_block_backward_mirror(&bd, bp.data(), mirror.data(), B, T, bx.data(), aligned64(bcache), bc,
                                         by.data(), bdx.data(), bg.data(), aligned64(bbws), bb);
      });
    }
  }

  // The layer in bf16 compute, and from packed bf16 / int8 weights.
  qkv_mha_desc mb = md;
  mb.compute_type = QKV_DTYPE_BF16;
  std::size_t cb16 = 0, wf16 = 0, wb16 = 0;
  qkv_mha_cache_size(&mb, B, T, &cb16);
  qkv_mha_forward_workspace_size(&mb, B, T, 2, &wf16);
  qkv_mha_backward_workspace_size(&mb, B, T, 2, &wb16);
  std::vector<unsigned char> cache16(cb16 + 64), fws16(wf16 + 64), bws16(wb16 + 64);
  expect("qkv_mha_forward (bf16 compute, training)", [&] {
    return qkv_mha_forward(&mb, params.data(), B, T, x.data(), y.data(), 1, aligned64(cache16), cb16,
                           aligned64(fws16), wf16);
  });
  expect("qkv_mha_backward (bf16 compute)", [&] {
    return qkv_mha_backward(&mb, params.data(), B, T, x.data(), aligned64(cache16), cb16, y.data(), dx.data(),
                            grads.data(), aligned64(bws16), wb16);
  });
  std::vector<std::uint16_t> mirror(params.size(), 0x3f80);  // bf16 1.0
  expect("qkv_mha_forward_mirror (training)", [&] {
    return qkv_mha_forward_mirror(&mb, params.data(), mirror.data(), B, T, x.data(), y.data(), 1,
                                  aligned64(cache16), cb16, aligned64(fws16), wf16);
  });
  expect("qkv_mha_backward_mirror", [&] {
    return qkv_mha_backward_mirror(&mb, params.data(), mirror.data(), B, T, x.data(), aligned64(cache16), cb16,
                                   y.data(), dx.data(), grads.data(), aligned64(bws16), wb16);
  });
  for (qkv_dtype wt : {QKV_DTYPE_BF16, QKV_DTYPE_I8}) {
    std::size_t pb = 0, wpf = 0, wpd = 0;
    qkv_mha_pack_weights_size(&md, wt, &pb);
    qkv_mha_forward_packed_workspace_size(&md, wt, B, T, 2, &wpf);
    qkv_mha_kv_state sp{};
    qkv_mha_kv_cache_init(&sp, B, T);
    qkv_mha_decode_packed_workspace_size(&md, wt, &sp, T, 2, &wpd);
    std::vector<unsigned char> packed(pb + 64), pfws(wpf + 64), pdws(wpd + 64), kvp(kvb + 64);
    const bool i8 = wt == QKV_DTYPE_I8;
    expect(i8 ? "qkv_mha_pack_weights (i8)" : "qkv_mha_pack_weights (bf16)",
           [&] { return qkv_mha_pack_weights(&md, params.data(), wt, aligned64(packed), pb); });
    expect(i8 ? "qkv_mha_forward_packed (i8)" : "qkv_mha_forward_packed (bf16)", [&] {
      return qkv_mha_forward_packed(&md, aligned64(packed), pb, B, T, x.data(), y.data(), aligned64(pfws), wpf);
    });
    expect(i8 ? "qkv_mha_decode_packed (i8)" : "qkv_mha_decode_packed (bf16)", [&] {
      return qkv_mha_decode_packed(&md, aligned64(packed), pb, &sp, aligned64(kvp), kvb, T, x.data(), y.data(),
                                   aligned64(pdws), wpd);
    });
  }

  // Embedding, loss, optimizers, init.
  const qkv_embedding_desc ed{50, 32, 64};
  std::vector<std::int32_t> ids(B * T, 7);
  auto tok = filled(50 * 32, 0.1f), pos = filled(64 * 32, 0.2f), e = filled(B * T * 32, 0);
  auto dtok = filled(tok.size(), 0), dpos = filled(pos.size(), 0);
  expect("qkv_embedding_forward", [&] {
    return qkv_embedding_forward(&ed, B, T, 0, ids.data(), tok.data(), pos.data(), e.data(), 32, nullptr);
  });
  expect("qkv_embedding_backward", [&] {
    return qkv_embedding_backward(&ed, B, T, 0, ids.data(), e.data(), 32, dtok.data(), dpos.data(), nullptr);
  });
  qkv_rope_desc rd{};
  rd.batch = B;
  rd.heads = 4;
  rd.tokens = T;
  rd.head_dim = 32;
  rd.x = {T * 4 * 32, 32, 4 * 32};
  auto rx = filled(B * T * 4 * 32, 0.3f), ry = filled(rx.size(), 0);
  expect("qkv_rope_forward", [&] { return qkv_rope_forward(&rd, rx.data(), ry.data()); });
  expect("qkv_rope_backward", [&] { return qkv_rope_backward(&rd, ry.data(), ry.data()); });
  std::vector<std::uint16_t> r16(rx.size(), 0x3f80);  // bf16 1.0
  expect("qkv_rope_forward_ex bf16", [&] { return qkv_rope_forward_ex(&rd, QKV_DTYPE_BF16, r16.data(), r16.data()); });
  expect("qkv_rope_backward_ex f16", [&] { return qkv_rope_backward_ex(&rd, QKV_DTYPE_F16, r16.data(), r16.data()); });
  auto ax = filled(300 * 257, 0.3f), ay = filled(ax.size(), 0), ad = filled(ax.size(), 0);
  expect("qkv_activation_forward", [&] { return qkv_activation_forward(QKV_ACT_GELU_ERF, 300, 257, ax.data(), 257, ay.data(), 257); });
  expect("qkv_activation_backward", [&] { return qkv_activation_backward(QKV_ACT_SILU, 300, 257, ax.data(), 257, ay.data(), 257, ad.data(), 257); });
  expect("qkv_swiglu_forward", [&] { return qkv_swiglu_forward(300, 128, ax.data(), 257, ax.data() + 128, 257, ay.data(), 257); });
  expect("qkv_swiglu_backward", [&] { return qkv_swiglu_backward(300, 128, ax.data(), 257, ax.data() + 128, 257, ay.data(), 257, ad.data(), 257, ad.data() + 128, 257); });
  std::size_t ab = 0;
  qkv_sgemm_bias_act_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, 300, 257, 128, 2, &ab);
  std::vector<unsigned char> aws(ab + 64);
  expect("qkv_sgemm_bias_act", [&] { return qkv_sgemm_bias_act(QKV_NO_TRANS, QKV_NO_TRANS, 300, 257, 128, ax.data(), 128, ax.data(), 257, ax.data(), QKV_ACT_GELU_TANH, ay.data(), 257, ad.data(), 257, aws.data(), aws.size()); });
  const std::size_t rows = 300, classes = 257;
  auto logits = filled(rows * classes, 0.5f), dl = filled(rows * classes, 0);
  std::vector<std::int32_t> tg(rows, 3);
  float loss = 0;
  expect("qkv_cross_entropy_forward", [&] { return qkv_cross_entropy_forward(rows, classes, logits.data(), classes, tg.data(), -100, &loss); });
  expect("qkv_cross_entropy_backward", [&] { return qkv_cross_entropy_backward(rows, classes, logits.data(), classes, tg.data(), -100, 1.f, dl.data(), classes); });
  expect("qkv_cross_entropy_forward_backward", [&] { return qkv_cross_entropy_forward_backward(rows, classes, logits.data(), classes, tg.data(), -100, 1.f, &loss, dl.data(), classes); });
  // LayerNorm / RMSNorm (qkv/norm.h): enough rows for two threads.
  const std::size_t nr = 512, nn = 769;
  auto nx = filled(nr * nn, 0.5f), nres = filled(nr * nn, 0.25f), ns = filled(nr * nn, 0), ny = filled(nr * nn, 0),
       ng = filled(nn, 1.f), nb = filled(nn, 0.f), nm = filled(nr, 0), nrs = filled(nr, 0), ndx = filled(nr * nn, 0),
       ndg = filled(nn, 0), ndb = filled(nn, 0);
  expect("qkv_layernorm_forward", [&] { return qkv_layernorm_forward(nr, nn, 1e-5f, nx.data(), nn, ng.data(), nb.data(), ny.data(), nn, nm.data(), nrs.data()); });
  expect("qkv_add_layernorm_forward", [&] { return qkv_add_layernorm_forward(nr, nn, 1e-5f, nx.data(), nn, nres.data(), nn, ns.data(), nn, ng.data(), nb.data(), ny.data(), nn, nm.data(), nrs.data()); });
  expect("qkv_layernorm_backward", [&] { return qkv_layernorm_backward(nr, nn, ns.data(), nn, ng.data(), nm.data(), nrs.data(), ny.data(), nn, ndx.data(), nn, 0, ndg.data(), ndb.data()); });
  expect("qkv_rmsnorm_forward", [&] { return qkv_rmsnorm_forward(nr, nn, 1e-6f, nx.data(), nn, ng.data(), ny.data(), nn, nrs.data()); });
  expect("qkv_add_rmsnorm_forward", [&] { return qkv_add_rmsnorm_forward(nr, nn, 1e-6f, nx.data(), nn, nres.data(), nn, ns.data(), nn, ng.data(), ny.data(), nn, nrs.data()); });
  expect("qkv_rmsnorm_backward", [&] { return qkv_rmsnorm_backward(nr, nn, ns.data(), nn, ng.data(), nrs.data(), ny.data(), nn, ny.data(), nn, 1, ndg.data()); });
  const std::size_t n = 200003;
  auto p = filled(n, 0.5f), g = filled(n, 0.01f), s1 = filled(n, 0), s2 = filled(2 * n, 0);
  const qkv_sgd_config sgd{0.1f, 0.9f, 0.f, 0.01f, 1};
  const qkv_adamw_config adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
  float norm = 0;
  expect("qkv_sgd_step", [&] { return qkv_sgd_step(&sgd, 1, n, p.data(), g.data(), s1.data()); });
  expect("qkv_adamw_step", [&] { return qkv_adamw_step(&adam, 1, n, p.data(), g.data(), s2.data()); });
  expect("qkv_clip_grad_norm", [&] { return qkv_clip_grad_norm(g.data(), n, 1.f, &norm); });
  float scale = 0;
  expect("qkv_grad_clip_scale", [&] { return qkv_grad_clip_scale(g.data(), n, 1.f, &norm, &scale); });
  expect("qkv_adamw_step_ex", [&] { return qkv_adamw_step_ex(&adam, 2, 0.5f, 1, n, p.data(), g.data(), s2.data()); });
  std::vector<std::uint16_t> pm(n);
  expect("qkv_adamw_step_mirror",
         [&] { return qkv_adamw_step_mirror(&adam, 3, 0.5f, 1, n, p.data(), g.data(), s2.data(), pm.data()); });
  expect("qkv_init_uniform", [&] { return qkv_init_uniform(p.data(), n, 0.5f, 9); });
  expect("qkv_zero", [&] { return qkv_zero(p.data(), n); });

  // Checkpoints: the layer's parameters written as safetensors, read and loaded back.
  std::size_t nv = 0, fsize = 0, count = 0, wsb = 0, len = 0, idx = 0;
  qkv_mha_param_views(&md, params.data(), "attn.", nullptr, 0, &nv);
  std::vector<qkv_tensor_view> views(nv), back(nv);
  const qkv_safetensors_meta meta[1] = {{"format", "pt"}};
  expect("qkv_mha_param_views", [&] { return qkv_mha_param_views(&md, params.data(), "attn.", views.data(), nv, &nv); });
  qkv_safetensors_write(views.data(), nv, meta, 1, nullptr, 0, &fsize);
  std::vector<unsigned char> file(fsize);
  expect("qkv_safetensors_write", [&] {
    return qkv_safetensors_write(views.data(), nv, meta, 1, file.data(), file.size(), &fsize);
  });
  expect("qkv_safetensors_read_size", [&] {
    return qkv_safetensors_read_size(file.data(), file.size(), &count, &wsb, nullptr);
  });
  std::vector<unsigned char> sws(wsb);
  char value[8];
  expect("qkv_safetensors_read", [&] {
    return qkv_safetensors_read(file.data(), file.size(), back.data(), nv, &count, sws.data(), wsb, nullptr);
  });
  expect("qkv_safetensors_metadata", [&] {
    return qkv_safetensors_metadata(file.data(), file.size(), "format", value, sizeof value, &len, nullptr);
  });
  expect("qkv_safetensors_find", [&] { return qkv_safetensors_find(back.data(), count, "attn.w_k", &idx); });
  expect("qkv_safetensors_copy_f32", [&] {
    const std::size_t shape[2] = {md.d_in, md.d_out};
    return qkv_safetensors_copy_f32(&back[idx], 2, shape, w.data());
  });
  expect("qkv_mha_param_load", [&] {
    return qkv_mha_param_load(&md, "attn.", back.data(), count, grads.data(), nullptr);
  });
}

}  // namespace

int main() {
  int checked = 0;
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    int supported = 0;
    qkv_isa_query(static_cast<qkv_isa>(i), nullptr, &supported);
    if (!supported || qkv_set_isa(static_cast<qkv_isa>(i)) != QKV_OK) continue;
    for (int threads : {1, 2}) {
      qkv_set_num_threads(threads);
      run_all();
      ++checked;
    }
  }
  std::printf("no_heap: %d ISA x thread settings checked, %d failure(s)\n", checked, g_failures);
  return g_failures == 0 && checked > 0 ? 0 : 1;
}
