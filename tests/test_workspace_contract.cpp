// SPDX-License-Identifier: MIT
// The workspace contract of qkv/qkv.h, for every entry point that takes one:
// a call refuses a NULL workspace with QKV_ERR_NULL_POINTER (whatever its
// byte count) and anything below what its size query said for one thread
// with QKV_ERR_WORKSPACE_TOO_SMALL, at every alignment of the pointer,
// writing nothing; exactly that many bytes, at any alignment, is enough and
// gives the same bits as a generous workspace.
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

constexpr float kCanary = -1234.5f;

// One entry point bound to fixed inputs. run() calls it with a workspace;
// outputs() are the buffers it writes (reset to the canary by reset()).
struct entry {
  std::string name;
  std::function<std::size_t()> query{};  // the size query's answer for one thread (depends on the ISA)
  std::size_t need = 0;                    // query() under the ISA being tested
  std::function<qkv_status(void*, std::size_t)> run{};
  std::vector<std::vector<float>*> outputs{};
  std::function<void()> restore{};  // inputs a call may update (KV-cache state)

  void reset() {
    for (auto* o : outputs) std::fill(o->begin(), o->end(), kCanary);
    if (restore) restore();
  }
  bool untouched() const {
    for (auto* o : outputs)
      for (float x : *o)
        if (std::memcmp(&x, &kCanary, sizeof x) != 0) return false;
    return true;
  }
  std::vector<float> snapshot() const {
    std::vector<float> all;
    for (auto* o : outputs) all.insert(all.end(), o->begin(), o->end());
    return all;
  }
};

// Storage shared by the entries (kept alive for the whole test).
struct fixture {
  // sgemm
  std::size_t M = 61, N = 200, K = 130;
  std::vector<float> a = qkv_test::random_vector(M * K, 1), b = qkv_test::random_vector(K * N, 2), c;
  // sdpa
  qkv_sdpa_desc sd{};
  std::vector<float> q, k, v, o, lse, dout, dq, dk, dv;
  // layer
  qkv_mha_desc md{};
  std::size_t B = 2, T = 9, np = 0, cache_bytes = 0, kv_bytes = 0;
  std::vector<float> params, x, y, cache, dy, dx, grads, kv, y_new;
  qkv_mha_kv_state st{};
  // the layer in bf16 compute, and from packed weights (64-byte aligned)
  qkv_mha_desc md16{};
  std::size_t cache16_bytes = 0, packed8_bytes = 0, packed16_bytes = 0;
  std::vector<float> cache16;
  std::vector<unsigned char> raw8, raw16;
  unsigned char *packed8 = nullptr, *packed16 = nullptr;
  // the decoder block (its cache 64-byte aligned, as qkv/block.h asks)
  qkv_block_desc bd{};
  std::size_t bnp = 0, bcache_bytes = 0, bkv_bytes = 0;
  std::vector<float> bparams, bgrads, bkv, bdx;
  std::vector<unsigned char> braw;
  float* bcache = nullptr;
  qkv_mha_kv_state bst{};
  // the block in bf16 compute: its own (larger) cache
  qkv_block_desc bd16{};
  std::size_t bcache16_bytes = 0;
  std::vector<unsigned char> braw16;
  float* bcache16 = nullptr;
  // the int8 layer (qkv/layer_int8.h): its buffer (64-byte aligned inside
  // q8raw), X codes, Y codes (in float storage: the canary check is bytewise)
  qkv_mha_int8_layout l8{};
  std::vector<float> q8raw, y8;
  std::vector<std::int8_t> x8;
  unsigned char* q8 = nullptr;

  fixture() {
    c.resize(M * N);
    sd.batch = 1, sd.heads = 2, sd.q_len = 19, sd.kv_len = 23, sd.head_dim = 8, sd.causal = 1;
    const std::size_t T2 = 23, H = 2, D = 8;
    sd.q = sd.k = sd.v = sd.o = qkv_sdpa_strides{T2 * H * D, D, H * D};
    q = qkv_test::random_vector(T2 * H * D, 3), k = qkv_test::random_vector(T2 * H * D, 4);
    v = qkv_test::random_vector(T2 * H * D, 5), dout = qkv_test::random_vector(T2 * H * D, 6);
    o.resize(T2 * H * D), lse.resize(H * sd.q_len), dq.resize(q.size()), dk.resize(k.size()), dv.resize(v.size());

    md.d_in = 12, md.d_out = 16, md.num_heads = 2, md.causal = 1, md.qkv_bias = 1, md.out_proj = 1;
    REQUIRE(qkv_mha_param_count(&md, &np) == QKV_OK);
    REQUIRE(qkv_mha_cache_size(&md, B, T, &cache_bytes) == QKV_OK);
    REQUIRE(qkv_mha_kv_cache_size(&md, B, T, &kv_bytes) == QKV_OK);
    params.resize(np), grads.resize(np);
    REQUIRE(qkv_mha_init(&md, params.data(), 7) == QKV_OK);
    x = qkv_test::random_vector(B * T * md.d_in, 8), dy = qkv_test::random_vector(B * T * md.d_out, 9);
    y.resize(B * T * md.d_out), dx.resize(x.size()), y_new.resize(B * 3 * md.d_out);
    cache.resize(cache_bytes / sizeof(float) + 1), kv.resize(kv_bytes / sizeof(float) + 1);

    md16 = md;
    md16.compute_type = QKV_DTYPE_BF16;
    REQUIRE(qkv_mha_cache_size(&md16, B, T, &cache16_bytes) == QKV_OK);
    cache16.resize(cache16_bytes / sizeof(float) + 1);
    auto pack = [&](qkv_dtype t, std::vector<unsigned char>& raw, std::size_t* bytes) {
      REQUIRE(qkv_mha_pack_weights_size(&md, t, bytes) == QKV_OK);
      raw.resize(*bytes + 64);
      unsigned char* p = raw.data() + (64 - reinterpret_cast<std::uintptr_t>(raw.data()) % 64) % 64;
      REQUIRE(qkv_mha_pack_weights(&md, params.data(), t, p, *bytes) == QKV_OK);
      return p;
    };
    packed8 = pack(QKV_DTYPE_I8, raw8, &packed8_bytes);
    packed16 = pack(QKV_DTYPE_BF16, raw16, &packed16_bytes);

    bd.d_model = 16, bd.num_heads = 2, bd.num_kv_heads = 1, bd.d_ff = 24, bd.norm = QKV_NORM_LAYER;
    bd.ffn = QKV_FFN_GELU_TANH, bd.pre_norm = 1, bd.bias = 1, bd.causal = 1, bd.resid_dropout = 0.1f;
    REQUIRE(qkv_block_param_count(&bd, &bnp) == QKV_OK);
    REQUIRE(qkv_block_cache_size(&bd, B, T, &bcache_bytes) == QKV_OK);
    REQUIRE(qkv_block_kv_cache_size(&bd, B, T, QKV_KV_F32, &bkv_bytes) == QKV_OK);
    bparams.resize(bnp), bgrads.resize(bnp), bkv.resize(bkv_bytes / sizeof(float) + 1), bdx.resize(B * T * 16);
    REQUIRE(qkv_block_init(&bd, bparams.data(), 11) == QKV_OK);
    braw.resize(bcache_bytes + 64);
    bcache = reinterpret_cast<float*>(braw.data() + (64 - reinterpret_cast<std::uintptr_t>(braw.data()) % 64) % 64);
    bd16 = bd;
    bd16.compute_type = QKV_DTYPE_BF16;
    REQUIRE(qkv_block_cache_size(&bd16, B, T, &bcache16_bytes) == QKV_OK);
    braw16.resize(bcache16_bytes + 64);
    bcache16 =
        reinterpret_cast<float*>(braw16.data() + (64 - reinterpret_cast<std::uintptr_t>(braw16.data()) % 64) % 64);

    REQUIRE(qkv_mha_int8_param_layout(&md, &l8) == QKV_OK);
    q8raw.resize(l8.bytes / sizeof(float) + 17), y8.resize(B * T * md.d_out / sizeof(float) + 1);
    q8 = reinterpret_cast<unsigned char*>(q8raw.data()) +
         (64 - reinterpret_cast<std::uintptr_t>(q8raw.data()) % 64) % 64;
    x8.resize(B * T * md.d_in);
    for (std::size_t i = 0; i < x8.size(); ++i) x8[i] = static_cast<std::int8_t>(static_cast<int>(i * 37 % 256) - 128);
  }
};

std::vector<entry> entries(fixture& f) {
  std::vector<entry> e;
  {
    entry s{"qkv_sgemm_ws"};
    s.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, f.M, f.N, f.K, 1, &n) == QKV_OK);
      return n;
    };
    s.run = [&f](void* w, std::size_t n) {
      return qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, f.M, f.N, f.K, 1.f, f.a.data(), f.K, f.b.data(), f.N, 0.f,
                          f.c.data(), f.N, w, n);
    };
    s.outputs = {&f.c};
    e.push_back(s);
  }
  {
    entry s{"qkv_sgemm_bias_act"};
    s.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_sgemm_bias_act_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, f.M, f.N, f.K, 1, &n) == QKV_OK);
      return n;
    };
    auto pre = std::make_shared<std::vector<float>>(f.M * f.N);
    s.run = [&f, pre](void* w, std::size_t n) {
      return qkv_sgemm_bias_act(QKV_NO_TRANS, QKV_NO_TRANS, f.M, f.N, f.K, f.a.data(), f.K, f.b.data(), f.N,
                                f.b.data(), QKV_ACT_GELU_TANH, pre->data(), f.N, f.c.data(), f.N, w, n);
    };
    s.outputs = {&f.c, pre.get()};
    e.push_back(s);
  }
  {
    // int8 codes: the bytes of the fp32 operands (any byte is a code).
    entry s{"qkv_gemm_ex"};
    qkv_gemm_ex_desc d{};
    d.ta = d.tb = QKV_NO_TRANS;
    d.M = f.M, d.N = f.N, d.K = f.K, d.lda = f.K, d.ldb = f.N, d.ldc = f.N;
    d.a_type = d.b_type = QKV_DTYPE_I8;
    d.c_type = QKV_DTYPE_F32;
    d.alpha = 0.5f;
    s.query = [d] {
      std::size_t n = 0;
      REQUIRE(qkv_gemm_ex_workspace_size(&d, 1, &n) == QKV_OK);
      return n;
    };
    s.run = [&f, d](void* w, std::size_t n) { return qkv_gemm_ex(&d, f.a.data(), f.b.data(), f.c.data(), w, n); };
    s.outputs = {&f.c};
    e.push_back(s);
  }
  for (qkv_sdpa_algo algo : {QKV_SDPA_FUSED, QKV_SDPA_REFERENCE}) {
    const std::string tag = algo == QKV_SDPA_FUSED ? " (fused)" : " (reference)";
    f.sd.algo = algo;
    const qkv_sdpa_desc d = f.sd;
    entry fw{"qkv_sdpa_forward" + tag};
    fw.query = [d] {
      std::size_t n = 0;
      REQUIRE(qkv_sdpa_workspace_size(&d, 1, &n) == QKV_OK);
      return n;
    };
    fw.run = [&f, d](void* w, std::size_t n) {
      return qkv_sdpa_forward(&d, f.q.data(), f.k.data(), f.v.data(), f.o.data(), f.lse.data(), w, n);
    };
    fw.outputs = {&f.o, &f.lse};
    e.push_back(fw);

    entry bw{"qkv_sdpa_backward" + tag};
    bw.query = [d] {
      std::size_t n = 0;
      REQUIRE(qkv_sdpa_backward_workspace_size(&d, 1, &n) == QKV_OK);
      return n;
    };
    bw.run = [&f, d](void* w, std::size_t n) {
      // Its own forward (generous workspace) first: o and lse are inputs here.
      std::size_t fb = 0;
      if (qkv_sdpa_workspace_size(&d, 1, &fb) != QKV_OK) return QKV_ERR_BAD_ARGUMENT;
      std::vector<unsigned char> fws(fb);
      if (qkv_sdpa_forward(&d, f.q.data(), f.k.data(), f.v.data(), f.o.data(), f.lse.data(), fws.data(), fb) !=
          QKV_OK)
        return QKV_ERR_BAD_ARGUMENT;
      return qkv_sdpa_backward(&d, f.q.data(), f.k.data(), f.v.data(), f.o.data(), f.lse.data(), f.dout.data(),
                               f.dq.data(), f.dk.data(), f.dv.data(), w, n);
    };
    bw.outputs = {&f.dq, &f.dk, &f.dv};
    e.push_back(bw);
  }
  {
    entry fw{"qkv_mha_forward"};
    fw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_forward_workspace_size(&f.md, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    fw.run = [&f](void* w, std::size_t n) {
      return qkv_mha_forward(&f.md, f.params.data(), f.B, f.T, f.x.data(), f.y.data(), 1, f.cache.data(),
                             f.cache_bytes, w, n);
    };
    fw.outputs = {&f.y};
    e.push_back(fw);

    entry bw{"qkv_mha_backward"};
    bw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_backward_workspace_size(&f.md, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    bw.run = [&f](void* w, std::size_t n) {
      return qkv_mha_backward(&f.md, f.params.data(), f.B, f.T, f.x.data(), f.cache.data(), f.cache_bytes,
                              f.dy.data(), f.dx.data(), f.grads.data(), w, n);
    };
    bw.outputs = {&f.dx, &f.grads};
    e.push_back(bw);

    entry dc{"qkv_mha_decode"};
    REQUIRE(qkv_mha_kv_cache_init(&f.st, f.B, f.T) == QKV_OK);
    dc.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_kv_cache_init(&f.st, f.B, f.T) == QKV_OK);
      REQUIRE(qkv_mha_decode_workspace_size(&f.md, &f.st, 3, 1, &n) == QKV_OK);
      return n;
    };
    dc.run = [&f](void* w, std::size_t n) {
      return qkv_mha_decode(&f.md, f.params.data(), &f.st, f.kv.data(), f.kv_bytes, 3, f.x.data(), f.y_new.data(),
                            w, n);
    };
    dc.outputs = {&f.y_new};
    dc.restore = [&f] { REQUIRE(qkv_mha_kv_cache_init(&f.st, f.B, f.T) == QKV_OK); };
    e.push_back(dc);
  }
  {
    // The block's rows are d_model = 16 wide, as the layer's y, dy and y_new.
    entry fw{"qkv_block_forward"};
    fw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_block_forward_workspace_size(&f.bd, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    fw.run = [&f](void* w, std::size_t n) {
      return qkv_block_forward(&f.bd, f.bparams.data(), f.B, f.T, f.dy.data(), f.y.data(), 1, f.bcache,
                               f.bcache_bytes, w, n);
    };
    fw.outputs = {&f.y};
    e.push_back(fw);

    entry bw{"qkv_block_backward"};
    bw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_block_backward_workspace_size(&f.bd, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    bw.run = [&f](void* w, std::size_t n) {
      return qkv_block_backward(&f.bd, f.bparams.data(), f.B, f.T, f.dy.data(), f.bcache, f.bcache_bytes,
                                f.y.data(), f.bdx.data(), f.bgrads.data(), w, n);
    };
    bw.outputs = {&f.bdx, &f.bgrads};
    e.push_back(bw);

    entry dc{"qkv_block_decode"};
    dc.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_kv_cache_init(&f.bst, f.B, f.T) == QKV_OK);
      REQUIRE(qkv_block_decode_workspace_size(&f.bd, &f.bst, 3, 1, &n) == QKV_OK);
      return n;
    };
    dc.run = [&f](void* w, std::size_t n) {
      return qkv_block_decode(&f.bd, f.bparams.data(), &f.bst, f.bkv.data(), f.bkv_bytes, 3, f.dy.data(),
                              f.y_new.data(), w, n);
    };
    dc.outputs = {&f.y_new};
    dc.restore = [&f] { REQUIRE(qkv_mha_kv_cache_init(&f.bst, f.B, f.T) == QKV_OK); };
    e.push_back(dc);
  }
  {
    entry fw{"qkv_block_forward (bf16 compute)"};
    fw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_block_forward_workspace_size(&f.bd16, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    fw.run = [&f](void* w, std::size_t n) {
      return qkv_block_forward(&f.bd16, f.bparams.data(), f.B, f.T, f.dy.data(), f.y.data(), 1, f.bcache16,
                               f.bcache16_bytes, w, n);
    };
    fw.outputs = {&f.y};
    e.push_back(fw);

    entry bw{"qkv_block_backward (bf16 compute)"};
    bw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_block_backward_workspace_size(&f.bd16, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    bw.run = [&f](void* w, std::size_t n) {
      return qkv_block_backward(&f.bd16, f.bparams.data(), f.B, f.T, f.dy.data(), f.bcache16, f.bcache16_bytes,
                                f.y.data(), f.bdx.data(), f.bgrads.data(), w, n);
    };
    bw.outputs = {&f.bdx, &f.bgrads};
    e.push_back(bw);
  }
  {
    entry fw{"qkv_mha_forward (bf16 compute)"};
    fw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_forward_workspace_size(&f.md16, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    fw.run = [&f](void* w, std::size_t n) {
      return qkv_mha_forward(&f.md16, f.params.data(), f.B, f.T, f.x.data(), f.y.data(), 1, f.cache16.data(),
                             f.cache16_bytes, w, n);
    };
    fw.outputs = {&f.y};
    e.push_back(fw);

    entry bw{"qkv_mha_backward (bf16 compute)"};
    bw.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_backward_workspace_size(&f.md16, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    bw.run = [&f](void* w, std::size_t n) {
      return qkv_mha_backward(&f.md16, f.params.data(), f.B, f.T, f.x.data(), f.cache16.data(), f.cache16_bytes,
                              f.dy.data(), f.dx.data(), f.grads.data(), w, n);
    };
    bw.outputs = {&f.dx, &f.grads};
    e.push_back(bw);

    entry pf{"qkv_mha_forward_packed (int8 weights)"};
    pf.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_forward_packed_workspace_size(&f.md, QKV_DTYPE_I8, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    pf.run = [&f](void* w, std::size_t n) {
      return qkv_mha_forward_packed(&f.md, f.packed8, f.packed8_bytes, f.B, f.T, f.x.data(), f.y.data(), w, n);
    };
    pf.outputs = {&f.y};
    e.push_back(pf);

    entry pd{"qkv_mha_decode_packed (bf16 weights)"};
    pd.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_kv_cache_init(&f.st, f.B, f.T) == QKV_OK);
      REQUIRE(qkv_mha_decode_packed_workspace_size(&f.md, QKV_DTYPE_BF16, &f.st, 3, 1, &n) == QKV_OK);
      return n;
    };
    pd.run = [&f](void* w, std::size_t n) {
      return qkv_mha_decode_packed(&f.md, f.packed16, f.packed16_bytes, &f.st, f.kv.data(), f.kv_bytes, 3,
                                   f.x.data(), f.y_new.data(), w, n);
    };
    pd.outputs = {&f.y_new};
    pd.restore = [&f] { REQUIRE(qkv_mha_kv_cache_init(&f.st, f.B, f.T) == QKV_OK); };
    e.push_back(pd);

    entry cal{"qkv_mha_int8_calibrate"};
    cal.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_int8_calibrate_workspace_size(&f.md, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    cal.run = [&f](void* w, std::size_t n) {
      return qkv_mha_int8_calibrate(&f.md, f.params.data(), f.B, f.T, f.x.data(), f.q8, f.l8.bytes, w, n);
    };
    cal.outputs = {&f.q8raw};
    e.push_back(cal);

    entry i8{"qkv_mha_int8_forward"};
    i8.query = [&f] {
      std::size_t n = 0;
      REQUIRE(qkv_mha_int8_forward_workspace_size(&f.md, f.B, f.T, 1, &n) == QKV_OK);
      return n;
    };
    i8.run = [&f](void* w, std::size_t n) {
      // A calibrated buffer, made once (the calibration entry's outputs are its own).
      static std::vector<float> raw;
      static unsigned char* q = nullptr;
      if (!q) {
        raw.resize(f.l8.bytes / sizeof(float) + 17);
        q = reinterpret_cast<unsigned char*>(raw.data()) + (64 - reinterpret_cast<std::uintptr_t>(raw.data()) % 64) % 64;
        std::size_t cb = 0;
        REQUIRE(qkv_mha_int8_calibrate_workspace_size(&f.md, f.B, f.T, 1, &cb) == QKV_OK);
        std::vector<unsigned char> cw(cb);
        REQUIRE(qkv_mha_int8_calibrate(&f.md, f.params.data(), f.B, f.T, f.x.data(), q, f.l8.bytes, cw.data(), cb) ==
                QKV_OK);
      }
      return qkv_mha_int8_forward(&f.md, q, f.l8.bytes, f.B, f.T, f.x8.data(), reinterpret_cast<std::int8_t*>(f.y8.data()),
                                  w, n);
    };
    i8.outputs = {&f.y8};
    e.push_back(i8);
  }
  return e;
}

}  // namespace

TEST_CASE("every entry point refuses a NULL or short workspace at any alignment and takes exactly the query",
          "[capi][workspace]") {
  fixture f;
  auto all = entries(f);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (entry& e : all) {
      e.need = e.query();
      INFO(e.name << ", needs " << e.need << " bytes");
      REQUIRE(e.need > 0);
      // The result with a generous, aligned workspace.
      std::vector<unsigned char> big(e.need + 256);
      e.reset();
      REQUIRE(e.run(big.data(), big.size()) == QKV_OK);
      const std::vector<float> want = e.snapshot();

      // NULL, with or without a byte count: one status.
      for (std::size_t n : {std::size_t{0}, e.need, e.need + 64}) {
        e.reset();
        CHECK(e.run(nullptr, n) == QKV_ERR_NULL_POINTER);
        CHECK(e.untouched());
      }
      std::vector<unsigned char> buf(e.need + 128);
      const auto base = reinterpret_cast<std::uintptr_t>(buf.data());
      unsigned char* aligned = buf.data() + (64 - base % 64) % 64;
      for (std::size_t shift : {0, 1, 4, 16, 32, 60, 63}) {
        INFO("pointer 64-byte alignment + " << shift);
        e.reset();
        CHECK(e.run(aligned + shift, e.need - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
        CHECK(e.untouched());
        e.reset();
        CHECK(e.run(aligned + shift, 0) == QKV_ERR_WORKSPACE_TOO_SMALL);
        CHECK(e.untouched());
        e.reset();
        REQUIRE(e.run(aligned + shift, e.need) == QKV_OK);
        const std::vector<float> got = e.snapshot();  // compared as bytes: int8 outputs may spell NaNs
        CHECK((got.size() == want.size() && std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0));
      }
    }
  });
}
