// SPDX-License-Identifier: MIT
// Fuzz target: block.h - descriptor queries (validate, attention_desc,
// param_count, param_layout, cache and workspace sizes), init, forward
// (inference and training), backward, and KV-cache decoding.
// qkv-fuzz-requires: src/ops/block.hpp tests/ref/ref_block.h
//
// The description draws every field, invalid values included (enums as any
// int a C caller may store), and the validation status is predicted from
// qkv_block_validate's documented list (the attention part through
// qkv_mha_validate, whose own fuzz target predicts it). Forward results are
// compared with the double oracle (ref/ref_block.h, both dropouts included).
// Tolerance: two norms (each within a few eps of its output scale), an
// attention layer and three projections, each a sum of at most
// S = 2 d_model + d_ff + T terms of magnitude <= M = 1 + max|y_ref|, the
// dropouts scaling by 1/(1-p) each: |y - ref| <= 256 eps * S * M * keep
// (bf16 compute: 8 u * S * M * keep, u = 2^-8).
// Backward and decode are checked for the boundary contract (status,
// untouched outputs and state on error, canaries) and finite results.
#include "fuzz/harness.hpp"
#include "ref/ref_block.h"
#include "support/ref_attention.hpp"  // ref_dropout

namespace {
using namespace qkv_fuzz;

bool all_finite(const guarded& g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(g.f()[i])) return false;
  return true;
}

template <class E>
void store_int(E& e, int v) {
  static_assert(sizeof(E) == sizeof(int), "enum of int size");
  std::memcpy(&e, &v, sizeof v);
}
template <class E>
int load_int(const E& e) {
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// qkv_block_validate's documented statuses, short of QKV_ERR_SIZE_OVERFLOW.
qkv_status expected_validate(const qkv_block_desc& d) {
  if (d.d_model == 0 || d.num_heads == 0 || d.d_ff == 0) return QKV_ERR_BAD_SHAPE;
  qkv_mha_desc a{};  // the block's attention (qkv_block_attention_desc), checked by the layer
  a.d_in = a.d_out = d.d_model, a.num_heads = d.num_heads, a.num_kv_heads = d.num_kv_heads;
  a.causal = d.causal, a.qkv_bias = d.bias, a.dropout_p = d.attn_dropout, a.window = d.window;
  a.rope = d.rope, a.rope_layout = d.rope_layout, a.rope_dim = d.rope_dim, a.rope_theta = d.rope_theta;
  std::memcpy(&a.compute_type, &d.compute_type, sizeof a.compute_type);  // any int: copied as bits
  if (const qkv_status ast = qkv_mha_validate(&a); ast != QKV_OK) return ast;
  const auto flag_ok = [](int f) { return f == 0 || f == 1; };
  const int norm = load_int(d.norm), ffn = load_int(d.ffn);
  if (!flag_ok(d.pre_norm) || !flag_ok(d.bias) || (norm != QKV_NORM_LAYER && norm != QKV_NORM_RMS) ||
      ffn < QKV_FFN_GELU_TANH || ffn > QKV_FFN_SWIGLU || !(d.norm_eps >= 0.f) || !std::isfinite(d.norm_eps) ||
      !(d.resid_dropout >= 0.f && d.resid_dropout < 1.f))
    return QKV_ERR_BAD_ARGUMENT;
  return QKV_OK;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "block";
  input in(data, size);
  in.runtime();
  qkv_block_desc d{};
  d.num_heads = in.dim(4);
  d.d_model = in.flag() && d.num_heads ? d.num_heads * in.in<std::size_t>(1, 6) : in.dim(16);
  d.num_kv_heads = in.flag() ? in.dim(4) : 0;
  d.d_ff = in.dim(24);
  store_int(d.norm, in.one_in(10) ? in.in(-1, 2) : in.in(0, 1));
  store_int(d.ffn, in.one_in(10) ? in.in(-1, 5) : in.in(0, 4));
  d.norm_eps = in.one_in(10) ? in.scalar() : (in.flag() ? 0.f : 1e-6f);
  d.pre_norm = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.bias = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.causal = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.attn_dropout = in.one_in(10) ? in.scalar() : (in.flag() ? 0.f : 0.2f);
  d.resid_dropout = in.one_in(10) ? in.scalar() : (in.flag() ? 0.f : 0.3f);
  d.dropout_seed = in.seed();
  if (in.flag()) d.window = in.in<std::size_t>(1, 10);
  if (in.flag()) d.rope = 1, d.rope_dim = 2 * in.in<std::size_t>(0, 4);  // 0: d_head (refused when odd)
  // compute_type (since 0.9): F32, BF16, or rarely any int.
  store_int(d.compute_type, in.one_in(16) ? in.in(-1, 6) : (in.flag() ? int(QKV_DTYPE_BF16) : int(QKV_DTYPE_F32)));
  const qkv_block_desc* dp = in.one_in(16) ? nullptr : &d;
  const std::size_t B = in.dim(3), T = in.dim(8);
  const int op = in.in(0, 2);  // forward, backward, decode
  const int threads = in.in(1, 3);
  if (double(B) * double(T) * (double(T) + double(d.d_ff) + double(d.d_model)) * double(d.d_model) > 2e7) return 0;

  // Queries: a refusal writes nothing.
  std::size_t np = 12345;
  qkv_block_layout lay;
  std::memset(&lay, 0x5A, sizeof lay);
  const qkv_block_layout lay0 = lay;
  const qkv_status vst = count(qkv_block_validate(dp));
  const qkv_status pst = count(qkv_block_param_count(dp, in.maybe_null(&np)));
  const qkv_status lst = count(qkv_block_param_layout(dp, &lay));
  if (dp) {
    const qkv_status want = expected_validate(d);
    QKV_FUZZ_CHECK(vst == want || (want == QKV_OK && vst == QKV_ERR_SIZE_OVERFLOW));
  } else {
    QKV_FUZZ_CHECK(vst == QKV_ERR_NULL_POINTER);
  }
  if (vst != QKV_OK) {
    QKV_FUZZ_CHECK(pst != QKV_OK && lst != QKV_OK && np == 12345 && std::memcmp(&lay, &lay0, sizeof lay) == 0);
    return 0;
  }
  QKV_FUZZ_CHECK((lst == QKV_OK && lay.count == np) || pst != QKV_OK);
  if (pst != QKV_OK || !fits(np)) return 0;

  guarded params(np * 4), grads(np * 4);
  QKV_FUZZ_CHECK(count(qkv_block_init(&d, params.f(), in.seed())) == QKV_OK);
  fill(grads, values::unit, 4);
  const bool training = op == 1 || in.flag();
  const values kind = in.one_in(6) ? values::special : values::unit;
  const std::size_t D = d.d_model;

  if (op == 2) {  // decode with a KV cache
    const std::size_t cap = in.dim(10), n_new = in.dim(4);
    std::size_t kvb = 0, wsb = 0;
    qkv_mha_kv_state state;
    const qkv_status ist = count(qkv_mha_kv_cache_init(&state, B, cap));
    if (ist != QKV_OK || count(qkv_block_kv_cache_size(&d, B, cap, QKV_KV_F32, &kvb)) != QKV_OK || !fits(kvb / 4))
      return 0;
    state.length = in.one_in(4) ? in.in<std::size_t>(0, cap + 1) : 0;
    const qkv_status wst = count(qkv_block_decode_workspace_size(&d, &state, n_new, threads, &wsb));
    if (wst != QKV_OK || !fits(wsb / 4)) return 0;
    std::size_t nx = 0;
    if (__builtin_mul_overflow(B * n_new, D, &nx) || !fits(nx)) return 0;
    guarded kv(kvb), ws(in.workspace(wsb)), x(nx * 4), y(nx * 4);
    fill(x, kind, 7);
    y.snapshot();
    kv.snapshot();
    const qkv_mha_kv_state s0 = state;
    const qkv_status st = count(qkv_block_decode(&d, params.f(), &state, in.one_in(12) ? nullptr : kv.data(), kvb,
                                                 n_new, in.maybe_null(x.f()), in.maybe_null(y.f()),
                                                 in.one_in(12) ? nullptr : ws.data(), ws.size()));
    QKV_FUZZ_CHECK(kv.canaries_intact() && ws.canaries_intact() && x.canaries_intact() && y.canaries_intact());
    if (st != QKV_OK) {
      QKV_FUZZ_CHECK(y.unchanged() && kv.unchanged() && std::memcmp(&state, &s0, sizeof state) == 0);
      return 0;
    }
    QKV_FUZZ_CHECK(d.causal == 1 && state.length == s0.length + n_new);
    if (kind == values::unit) QKV_FUZZ_CHECK(all_finite(y, nx));
    return 0;
  }

  std::size_t cache_b = 0, wf = 0, wb = 0;
  if (count(qkv_block_cache_size(&d, B, T, &cache_b)) != QKV_OK ||
      count(qkv_block_forward_workspace_size(&d, B, T, threads, &wf)) != QKV_OK ||
      count(qkv_block_backward_workspace_size(&d, B, T, threads, &wb)) != QKV_OK)
    return 0;
  std::size_t nx = 0;
  if (__builtin_mul_overflow(B * T, D, &nx) || !fits(nx) || !fits(cache_b / 4) || !fits(wf / 4) || !fits(wb / 4))
    return 0;
  guarded x(nx * 4), y(nx * 4), cache(cache_b), ws(in.workspace(op == 1 ? wb : wf)), dy(nx * 4), dx(nx * 4);
  fill(x, kind, 8);
  fill(dy, values::unit, 9);
  fill(y, values::special, 10);
  fill(dx, values::special, 11);
  if (op == 0) {
    y.snapshot();
    cache.snapshot();
    const qkv_status st =
        count(qkv_block_forward(&d, in.maybe_null(params.f()), B, T, in.maybe_null(x.f()), in.maybe_null(y.f()),
                                training ? 1 : (in.one_in(10) ? in.in(-1, 3) : 0),
                                training && !in.one_in(12) ? cache.data() : nullptr, cache.size(),
                                in.one_in(12) ? nullptr : ws.data(), ws.size()));
    QKV_FUZZ_CHECK(x.canaries_intact() && y.canaries_intact() && cache.canaries_intact() && ws.canaries_intact());
    if (st != QKV_OK) {
      QKV_FUZZ_CHECK(y.unchanged() && cache.unchanged());
      return 0;
    }
    if (kind != values::unit ||
        double(B) * double(T) * (double(T) * double(D) + 6.0 * double(D) * double(D + d.d_ff)) > kMaxRefWork)
      return 0;
    std::vector<double> prm(params.f(), params.f() + np), xd(x.f(), x.f() + nx), yr(nx),
        scratch(qkv_ref_block_scratch_doubles(&d, B, T));
    qkv_ref_block_forward(&d, &lay, B, T, prm.data(), xd.data(), training, qkv_test::ref_dropout, yr.data(),
                          scratch.data());
    double M = 1;
    for (double v : yr) M = std::max(M, 1 + std::fabs(v));
    const double keep = training ? (1.0 / (1.0 - d.attn_dropout)) * (1.0 / (1.0 - d.resid_dropout)) : 1.0;
    // bf16 compute: every GEMM on operands rounded to bf16 (u = 2^-8 each),
    // a chain of up to four such products per branch: 8u in place of 256 eps.
    const double unit = d.compute_type == QKV_DTYPE_BF16 ? 8.0 / 256 : 256 * kEps;
    const double tol = unit * double(2 * D + d.d_ff + T) * M * keep;
    for (std::size_t i = 0; i < nx; ++i) QKV_FUZZ_CHECK(std::fabs(y.f()[i] - yr[i]) <= tol);
    ++stats().compared;
    return 0;
  }

  // Backward after a successful training forward.
  {
    guarded fws(wf);
    if (qkv_block_forward(&d, params.f(), B, T, x.f(), y.f(), 1, cache.data(), cache_b, fws.data(), wf) != QKV_OK)
      return 0;
  }
  dx.snapshot();
  grads.snapshot();
  float* dxp = in.one_in(4) ? nullptr : dx.f();  // NULL is allowed: no input gradient
  const qkv_status st = count(qkv_block_backward(&d, in.maybe_null(params.f()), B, T, in.maybe_null(x.f()),
                                                 cache.data(), in.one_in(12) ? cache_b / 2 : cache_b,
                                                 in.maybe_null(dy.f()), dxp, in.maybe_null(grads.f()),
                                                 in.one_in(12) ? nullptr : ws.data(), ws.size()));
  QKV_FUZZ_CHECK(dx.canaries_intact() && grads.canaries_intact() && ws.canaries_intact() && cache.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(dx.unchanged() && grads.unchanged());
    return 0;
  }
  if (kind == values::unit) QKV_FUZZ_CHECK(all_finite(grads, np) && (!dxp || all_finite(dx, nx)));
  return 0;
}
