// SPDX-License-Identifier: MIT
// Fuzz target: layer.h - descriptor queries (validate, param_count,
// param_layout, cache and workspace sizes), init, forward (inference and
// training), backward, zero_grads, and KV-cache decoding.
// qkv-fuzz-requires: src/ops/mha_layer.hpp tests/support/ref_layer.hpp
//
// Forward results are compared with the double oracle (support/ref_layer.hpp).
// Tolerance: three projections and an attention, each a sum of at most
// S = d_in + d_out + T terms of magnitude <= M = 1 + max|y_ref|:
// |y - ref| <= 64 eps * S * M / (1 - p). Backward and decode are checked for
// the boundary contract (status, untouched outputs on error, canaries) and
// finite results on finite input.
#include "fuzz/harness.hpp"
#include "support/ref_layer.hpp"

namespace {
using namespace qkv_fuzz;

bool all_finite(const guarded& g, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(g.f()[i])) return false;
  return true;
}

void* aligned_or_null(input& in, guarded& g) { return in.one_in(12) ? nullptr : g.data(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "layer";
  input in(data, size);
  in.runtime();
  qkv_mha_desc d{};
  d.d_in = in.dim(12), d.d_out = in.dim(16), d.num_heads = in.dim(4);
  if (in.flag() && d.num_heads) d.d_out = d.num_heads * in.in<std::size_t>(1, 4);  // divisible, usually
  d.causal = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.qkv_bias = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.out_proj = in.one_in(10) ? in.in(-1, 2) : in.flag();
  d.dropout_p = in.one_in(10) ? in.scalar() : (in.flag() ? 0.f : 0.2f);
  d.dropout_seed = in.seed();
  const qkv_mha_desc* dp = in.one_in(16) ? nullptr : &d;
  const std::size_t B = in.dim(3), T = in.dim(8);
  const int op = in.in(0, 2);  // forward, backward, decode
  // Keep one input well under the 10 s hang limit (ASan, 1 core): ~T^2 attention work.
  if (double(B) * double(T) * double(T) * double(d.d_out + d.d_in) > 2e7) return 0;
  const int threads = in.in(1, 3);

  // Queries: a refusal writes nothing.
  std::size_t np = 12345;
  qkv_mha_layout lay;
  std::memset(&lay, 0x5A, sizeof lay);
  const qkv_mha_layout lay0 = lay;
  const qkv_status vst = count(qkv_mha_validate(dp));
  const qkv_status pst = count(qkv_mha_param_count(dp, in.maybe_null(&np)));
  const qkv_status lst = count(qkv_mha_param_layout(dp, &lay));
  if (vst != QKV_OK) {
    QKV_FUZZ_CHECK(pst != QKV_OK && lst != QKV_OK && np == 12345 && std::memcmp(&lay, &lay0, sizeof lay) == 0);
    return 0;
  }
  QKV_FUZZ_CHECK(lst == QKV_OK && lay.count == np || pst != QKV_OK);
  if (pst != QKV_OK || !fits(np)) return 0;

  guarded params(np * 4), grads(np * 4);
  QKV_FUZZ_CHECK(count(qkv_mha_init(&d, params.f(), in.seed())) == QKV_OK);
  fill(grads, values::unit, 4);
  const bool training = op == 1 || in.flag();
  const values kind = in.one_in(6) ? values::special : values::unit;

  if (op == 2) {  // decode with a KV cache
    const std::size_t cap = in.dim(10), n_new = in.dim(4);
    if (double(B) * double(n_new) * (double(cap) + double(n_new)) * double(d.d_out + d.d_in) > 2e7) return 0;
    std::size_t kvb = 0, wsb = 0;
    qkv_mha_kv_state state;
    std::memset(&state, 0x33, sizeof state);
    // Any format, one past the enum included (refused: BAD_ARGUMENT).
    const auto format = static_cast<qkv_kv_format>(in.in(0, static_cast<int>(QKV_KV_FORMAT_COUNT)));
    const qkv_status ist = count(qkv_mha_kv_cache_init_ex(&state, B, cap, format));
    const qkv_status kst = count(qkv_mha_kv_cache_size_ex(&d, B, cap, format, &kvb));
    QKV_FUZZ_CHECK((ist == QKV_ERR_BAD_ARGUMENT) == (format == QKV_KV_FORMAT_COUNT));
    if (ist != QKV_OK || kst != QKV_OK || !fits(kvb / 4)) return 0;
    state.length = in.one_in(4) ? in.in<std::size_t>(0, cap + 1) : 0;
    const qkv_status wst = count(qkv_mha_decode_workspace_size(&d, &state, n_new, threads, &wsb));
    if (wst == QKV_OK && !fits(wsb / 4)) return 0;
    std::size_t nx = 0, ny = 0;
    if (__builtin_mul_overflow(B * n_new, d.d_in, &nx) || __builtin_mul_overflow(B * n_new, d.d_out, &ny) ||
        !fits(nx) || !fits(ny))
      return 0;
    guarded kv(kvb), ws(in.workspace(wsb)), x(nx * 4), y(ny * 4);
    fill(x, kind, 7);
    y.snapshot();
    kv.snapshot();
    const qkv_mha_kv_state s0 = state;
    const qkv_status st = count(qkv_mha_decode(&d, params.f(), &state, aligned_or_null(in, kv), kvb, n_new,
                                               in.maybe_null(x.f()), in.maybe_null(y.f()), aligned_or_null(in, ws),
                                               ws.size()));
    QKV_FUZZ_CHECK(kv.canaries_intact() && ws.canaries_intact() && x.canaries_intact() && y.canaries_intact());
    if (st != QKV_OK) {
      QKV_FUZZ_CHECK(y.unchanged() && kv.unchanged() && std::memcmp(&state, &s0, sizeof state) == 0);
      if (st == QKV_ERR_CAPACITY) QKV_FUZZ_CHECK(s0.length + n_new > s0.capacity);
      if (st == QKV_ERR_NOT_FINITE) QKV_FUZZ_CHECK(format == QKV_KV_Q8_0 && kind == values::special);
      return 0;
    }
    QKV_FUZZ_CHECK(d.causal == 1 && state.length == s0.length + n_new);
    if (kind == values::unit) QKV_FUZZ_CHECK(all_finite(y, ny));
    return 0;
  }

  std::size_t cache_b = 0, wf = 0, wb = 0;
  if (count(qkv_mha_cache_size(&d, B, T, &cache_b)) != QKV_OK ||
      count(qkv_mha_forward_workspace_size(&d, B, T, threads, &wf)) != QKV_OK ||
      count(qkv_mha_backward_workspace_size(&d, B, T, threads, &wb)) != QKV_OK)
    return 0;
  std::size_t nx = 0, ny = 0;
  if (__builtin_mul_overflow(B * T, d.d_in, &nx) || __builtin_mul_overflow(B * T, d.d_out, &ny) || !fits(nx) ||
      !fits(ny) || !fits(cache_b / 4) || !fits(wf / 4) || !fits(wb / 4))
    return 0;
  guarded x(nx * 4), y(ny * 4), cache(cache_b), ws(in.workspace(op == 1 ? wb : wf)), dy(ny * 4), dx(nx * 4);
  fill(x, kind, 8);
  fill(dy, values::unit, 9);
  fill(y, values::special, 10);
  fill(dx, values::special, 11);
  if (op == 0) {
    y.snapshot();
    cache.snapshot();
    const qkv_status st =
        count(qkv_mha_forward(&d, in.maybe_null(params.f()), B, T, in.maybe_null(x.f()), in.maybe_null(y.f()),
                              training ? 1 : (in.one_in(10) ? in.in(-1, 3) : 0),
                              training ? aligned_or_null(in, cache) : nullptr, cache.size(), aligned_or_null(in, ws),
                              ws.size()));
    QKV_FUZZ_CHECK(x.canaries_intact() && y.canaries_intact() && cache.canaries_intact() && ws.canaries_intact());
    if (st != QKV_OK) {
      QKV_FUZZ_CHECK(y.unchanged() && cache.unchanged());
      return 0;
    }
    if (kind != values::unit || double(B) * double(T) * (double(T) * double(d.d_out) + 4.0 * double(d.d_in) * double(d.d_out)) > kMaxRefWork)
      return 0;
    qkv_test::ref_layer ref{d, lay, B, T};
    std::vector<double> prm(params.f(), params.f() + np), xd(x.f(), x.f() + nx);
    const auto yr = ref.forward(prm, xd, training);
    double M = 1;
    for (double v : yr) M = std::max(M, 1 + std::fabs(v));
    const double keep = training && d.dropout_p > 0.f ? 1.0 / (1.0 - d.dropout_p) : 1.0;
    const double tol = 64 * kEps * double(d.d_in + d.d_out + T) * M * keep;
    for (std::size_t i = 0; i < ny; ++i) QKV_FUZZ_CHECK(std::fabs(y.f()[i] - yr[i]) <= tol);
    ++stats().compared;
    return 0;
  }

  // Backward after a successful training forward.
  {
    guarded fws(wf);
    if (qkv_mha_forward(&d, params.f(), B, T, x.f(), y.f(), 1, cache.data(), cache_b, fws.data(), wf) != QKV_OK) return 0;
  }
  dx.snapshot();
  grads.snapshot();
  float* dxp = in.one_in(4) ? nullptr : dx.f();  // NULL is allowed: no input gradient
  const qkv_status st = count(qkv_mha_backward(&d, in.maybe_null(params.f()), B, T, in.maybe_null(x.f()),
                                               aligned_or_null(in, cache), cache_b, in.maybe_null(dy.f()), dxp,
                                               in.maybe_null(grads.f()), aligned_or_null(in, ws), ws.size()));
  for (guarded* g : {&x, &y, &cache, &ws, &dy, &dx, &grads, &params}) QKV_FUZZ_CHECK(g->canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(dx.unchanged() && grads.unchanged());
    return 0;
  }
  if (!dxp) QKV_FUZZ_CHECK(dx.unchanged());
  if (kind == values::unit) QKV_FUZZ_CHECK(all_finite(grads, np) && (!dxp || all_finite(dx, nx)));
  guarded& g2 = grads;
  QKV_FUZZ_CHECK(count(qkv_mha_zero_grads(&d, g2.f())) == QKV_OK);
  for (std::size_t i = 0; i < np; ++i) QKV_FUZZ_CHECK(g2.f()[i] == 0.f);
  return 0;
}
