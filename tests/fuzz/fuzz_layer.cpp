// SPDX-License-Identifier: MIT
// Fuzz target: layer.h - descriptor queries (validate, param_count,
// param_layout, cache and workspace sizes), init, forward (inference and
// training), backward, zero_grads, and KV-cache decoding.
// qkv-fuzz-requires: src/ops/mha_layer.hpp tests/support/ref_layer.hpp
//
// The description draws the 0.5 fields too (num_kv_heads, window, rope,
// rope_layout, rope_dim, rope_theta; invalid values included) and the
// validation status is predicted from qkv_mha_validate's documented list.
// Forward results are compared with the double oracle (support/ref_layer.hpp,
// which honours GQA, the window and RoPE). Tolerance: three projections and
// an attention, each a sum of at most S = d_in + d_out + T terms of
// magnitude <= M = 1 + max|y_ref| (RoPE adds one rotation, within 4 eps of
// the pair's magnitude, qkv/rope.h): |y - ref| <= 64 eps * S * M / (1 - p).
// Decode draws state.lengths (ragged) as well; its QKV_ERR_CAPACITY is
// predicted (no window: a sequence's length + n_new beyond the capacity; a
// window: also capacity < window + n_new - 1), and decoding an empty fp32
// cache is the full forward of the n_new tokens (same oracle and bound).
// Backward and decode are otherwise checked for the boundary contract
// (status, untouched outputs and state on error, canaries) and finite
// results on finite input.
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

// The 0.5 fields, drawn after the older ones: an input that ends before
// them (the older corpus) gets the low end of every range, all features off.
void draw_new_fields(input& in, qkv_mha_desc& d, std::size_t T) {
  const std::size_t H = d.num_heads, dh = H && d.d_out % H == 0 ? d.d_out / H : 0;
  if (in.flag()) {  // grouped-query heads
    if (in.one_in(6) || H == 0 || H > 64) {
      d.num_kv_heads = in.dim(8);  // often not a divisor: refused
    } else {
      std::size_t g = in.in<std::size_t>(1, H);  // the largest divisor of H <= g
      while (H % g != 0) --g;
      d.num_kv_heads = g;
    }
  }
  if (in.flag()) d.window = in.one_in(16) ? in.edge() : in.in<std::size_t>(1, std::min<std::size_t>(T, 64) + 2);  // T may be huge
  d.rope = in.one_in(12) ? in.in(-1, 2) : (in.flag() ? 1 : 0);
  if (d.rope) {
    const int layout = in.one_in(10) ? in.in(-1, 2) : in.in(0, 1);
    std::memcpy(&d.rope_layout, &layout, sizeof layout);  // any int a C caller may store
    if (in.one_in(8) || dh == 0 || dh > 1024)
      d.rope_dim = in.in<std::size_t>(0, std::min<std::size_t>(dh, 1024) + 3);  // odd or too long: refused
    else
      d.rope_dim = 2 * in.in<std::size_t>(0, dh / 2);  // 0: d_head (refused when odd)
    d.rope_theta = in.one_in(8) ? in.scalar() : (in.flag() ? 0.f : in.raw().ConsumeFloatingPointInRange(1.f, 1e6f));
  }
}

// qkv_mha_validate's documented statuses, in its order, short of
// QKV_ERR_SIZE_OVERFLOW (returned as QKV_OK here: the caller allows both).
qkv_status expected_validate(const qkv_mha_desc& d) {
  const auto flag_ok = [](int f) { return f == 0 || f == 1; };
  if (d.d_in == 0 || d.d_out == 0 || d.num_heads == 0 || d.d_out % d.num_heads != 0 ||
      (d.num_kv_heads != 0 && d.num_heads % d.num_kv_heads != 0))
    return QKV_ERR_BAD_SHAPE;
  const std::size_t dh = d.d_out / d.num_heads;
  if (d.rope == 1 && (d.rope_dim % 2 != 0 || d.rope_dim > dh || (d.rope_dim == 0 && dh % 2 != 0)))
    return QKV_ERR_BAD_SHAPE;
  if (!flag_ok(d.causal) || !flag_ok(d.qkv_bias) || !flag_ok(d.out_proj) || !flag_ok(d.rope))
    return QKV_ERR_BAD_ARGUMENT;
  if (!(d.dropout_p >= 0.f && d.dropout_p < 1.f)) return QKV_ERR_BAD_ARGUMENT;
  if (d.rope == 1) {
    int layout;
    std::memcpy(&layout, &d.rope_layout, sizeof layout);
    if ((layout != QKV_ROPE_HALF && layout != QKV_ROPE_INTERLEAVED) || !(d.rope_theta >= 0.f) ||
        !std::isfinite(d.rope_theta))
      return QKV_ERR_BAD_ARGUMENT;
  }
  return QKV_OK;
}

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
  draw_new_fields(in, d, T);

  // Queries: a refusal writes nothing.
  std::size_t np = 12345;
  qkv_mha_layout lay;
  std::memset(&lay, 0x5A, sizeof lay);
  const qkv_mha_layout lay0 = lay;
  const qkv_status vst = count(qkv_mha_validate(dp));
  const qkv_status pst = count(qkv_mha_param_count(dp, in.maybe_null(&np)));
  const qkv_status lst = count(qkv_mha_param_layout(dp, &lay));
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
    // Ragged: each sequence's own length (state.length then unused).
    std::vector<std::size_t> lengths;
    if (B <= 8 && in.flag()) {
      lengths.resize(B);
      for (auto& l : lengths) l = in.one_in(3) ? in.in<std::size_t>(0, cap + 1) : 0;
      state.lengths = lengths.data();
    }
    const std::vector<std::size_t> lengths0 = lengths;
    std::size_t longest = state.lengths ? 0 : state.length;
    for (std::size_t l : lengths) longest = std::max(longest, l);
    // layer.h: QKV_ERR_CAPACITY iff some length + n_new > capacity and the
    // layer has no window, or has one and capacity < window + n_new - 1.
    const bool no_wrap = longest <= cap && n_new <= cap - longest;
    const bool ring = d.window != 0 && d.window <= cap && n_new - 1 <= cap - d.window;
    const bool fits_cap = no_wrap || ring;
    const qkv_status wst = count(qkv_mha_decode_workspace_size(&d, &state, n_new, threads, &wsb));
    if (wst == QKV_ERR_CAPACITY) QKV_FUZZ_CHECK(!fits_cap);
    if (wst == QKV_OK) QKV_FUZZ_CHECK(fits_cap);
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
      QKV_FUZZ_CHECK(y.unchanged() && kv.unchanged() && std::memcmp(&state, &s0, sizeof state) == 0 &&
                     lengths == lengths0);
      if (st == QKV_ERR_CAPACITY) QKV_FUZZ_CHECK(!fits_cap);
      if (st == QKV_ERR_NOT_FINITE) QKV_FUZZ_CHECK(format == QKV_KV_Q8_0 && kind == values::special);
      return 0;
    }
    QKV_FUZZ_CHECK(d.causal == 1 && fits_cap);
    if (s0.lengths) {
      for (std::size_t b = 0; b < B; ++b) QKV_FUZZ_CHECK(lengths[b] == lengths0[b] + n_new);
      QKV_FUZZ_CHECK(state.length == s0.length);
    } else {
      QKV_FUZZ_CHECK(state.length == s0.length + n_new);
    }
    if (kind != values::unit) return 0;
    QKV_FUZZ_CHECK(all_finite(y, ny));
    // An empty fp32 cache: the new tokens are a whole sequence, positions
    // 0..n_new-1 (RoPE), so y is the full forward of them.
    if (format != QKV_KV_F32 || longest != 0 ||
        double(B) * double(n_new) * (double(n_new) * double(d.d_out) + 4.0 * double(d.d_in) * double(d.d_out)) >
            kMaxRefWork)
      return 0;
    qkv_test::ref_layer ref{d, lay, B, n_new};
    std::vector<double> prm(params.f(), params.f() + np), xd(x.f(), x.f() + nx);
    const auto yr = ref.forward(prm, xd, false);
    double M = 1;
    for (double v : yr) M = std::max(M, 1 + std::fabs(v));
    const double tol = 64 * kEps * double(d.d_in + d.d_out + n_new) * M;
    for (std::size_t i = 0; i < ny; ++i) QKV_FUZZ_CHECK(std::fabs(y.f()[i] - yr[i]) <= tol);
    ++stats().compared;
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
