// SPDX-License-Identifier: MIT
// Fuzz target: attention.h - qkv_sdpa_workspace_size, qkv_sdpa_forward,
// qkv-fuzz-requires: src/ops/sdpa_forward.hpp src/ops/sdpa_backward.hpp
// qkv_sdpa_backward_workspace_size, qkv_sdpa_backward.
//
// Layouts per tensor: [B,H,T,d], [B,T,H,d], padded token strides, head
// stride 0 (shared K/V), arbitrary small strides (possibly overlapping) and
// values near SIZE_MAX. Accepted calls are compared with the double oracle
// (tests/support/ref_attention.hpp). Tolerances, with A = 1 + max|score|
// (absolute error of a score is ~eps*(D + A)), grow with the sums involved:
//   O, lse:  eps * 8 (A + D + Tk) * max|v| / (1 - p)  (lse: without max|v|)
//   dV:      eps * 8 (A + D + Dv + Tq) * Tq * max|dO| / (1 - p)
//   dQ, dK:  eps * 8 (A + D + Dv + Tq + Tk) * max(Tq, Tk) * scale * G * max(|q|,|k|),
//            G = Dv * max|dO| * max|v| / (1 - p) bounding |dP|.
#include "fuzz/harness.hpp"
#include "support/ref_attention.hpp"

namespace {
using namespace qkv_fuzz;

struct tensor_dims {
  std::size_t b, h, t, f;
};

qkv_sdpa_strides pick_layout(input& in, const tensor_dims& d, bool allow_shared, bool* canonical) {
  *canonical = true;
  switch (in.in(0, 7)) {
    case 5:  // padded [B,T,H,d]
      return {d.t * d.h * (d.f + 3), d.f + 3, d.h * (d.f + 3)};
    case 6:
      if (allow_shared) return {d.t * d.f, 0, d.f};  // shared by all heads
      return {d.h * d.t * d.f, d.t * d.f, d.f};
    case 7: {
      *canonical = false;
      if (in.one_in(3)) return {in.edge(), in.in<std::size_t>(0, 64), in.ld(d.f)};
      return {in.in<std::size_t>(0, 300), in.in<std::size_t>(0, 100), in.in<std::size_t>(0, 40)};
    }
    case 1:
    case 2:  // [B,T,H,d]
      return {d.t * d.h * d.f, d.f, d.h * d.f};
    default:  // [B,H,T,d]
      return {d.h * d.t * d.f, d.t * d.f, d.f};
  }
}

// Elements a tensor spans (0 on overflow -> *ok false).
std::size_t span(const qkv_sdpa_strides& s, const tensor_dims& d, bool* ok) {
  std::size_t total = d.f, off;
  const std::size_t st[3] = {s.batch, s.head, s.token}, ex[3] = {d.b, d.h, d.t};
  *ok = true;
  for (int i = 0; i < 3; ++i)
    if (__builtin_mul_overflow(ex[i] - 1, st[i], &off) || __builtin_add_overflow(total, off, &total)) *ok = false;
  if (total > kMaxElems) *ok = false;
  return *ok ? total : 0;
}

double max_abs(const float* p, std::size_t n) {
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(double(p[i])));
  return m;
}

// Every element of a layout-described tensor equals the dense reference.
template <class F>
void compare(const float* got, const qkv_sdpa_strides& s, const tensor_dims& d, const std::vector<double>& ref,
             double tol, F&& on_element) {
  for (std::size_t b = 0; b < d.b; ++b)
    for (std::size_t h = 0; h < d.h; ++h)
      for (std::size_t t = 0; t < d.t; ++t)
        for (std::size_t f = 0; f < d.f; ++f) {
          const std::size_t off = b * s.batch + h * s.head + t * s.token + f;
          on_element(off);
          QKV_FUZZ_CHECK(std::fabs(got[off] - ref[((b * d.h + h) * d.t + t) * d.f + f]) <= tol);
        }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "sdpa";
  input in(data, size);
  in.runtime();
  const bool backward = in.flag();
  qkv_sdpa_desc d{};
  d.batch = in.dim(3), d.heads = in.dim(3), d.q_len = in.dim(9), d.kv_len = in.dim(9), d.head_dim = in.dim(17);
  d.v_dim = in.flag() ? 0 : in.dim(17);
  const std::size_t dv = d.v_dim ? d.v_dim : d.head_dim;
  bool cq, ck, cv, co;
  d.q = pick_layout(in, {d.batch, d.heads, d.q_len, d.head_dim}, false, &cq);
  d.k = pick_layout(in, {d.batch, d.heads, d.kv_len, d.head_dim}, !backward, &ck);
  d.v = pick_layout(in, {d.batch, d.heads, d.kv_len, dv}, !backward, &cv);
  d.o = pick_layout(in, {d.batch, d.heads, d.q_len, dv}, false, &co);
  d.scale = in.flag() ? 0.f : in.scalar();
  d.causal = in.one_in(8) ? in.in(-2, 3) : in.flag();
  switch (in.in(0, 7)) {
    case 4: d.dropout_p = in.raw().ConsumeProbability<float>() * 0.9f; break;
    case 5: d.dropout_p = 1.f; break;
    case 6: d.dropout_p = std::numeric_limits<float>::quiet_NaN(); break;
    case 7: d.dropout_p = -0.25f; break;
    default: d.dropout_p = 0.f;
  }
  d.dropout_seed = in.seed();
  const int algo = in.one_in(8) ? in.raw().ConsumeIntegral<int>() : in.in(0, 2);
  fuzz_c_set_algo(&d, algo);
  const values kind = in.kind();

  const tensor_dims tq{d.batch, d.heads, d.q_len, d.head_dim}, tk{d.batch, d.heads, d.kv_len, d.head_dim},
      tv{d.batch, d.heads, d.kv_len, dv}, to{d.batch, d.heads, d.q_len, dv};
  bool fq, fk, fv, fo;
  const std::size_t sq = span(d.q, tq, &fq), sk = span(d.k, tk, &fk), sv = span(d.v, tv, &fv), so = span(d.o, to, &fo);
  std::size_t nlse = 0;
  const bool flse = !__builtin_mul_overflow(d.batch, d.heads, &nlse) && !__builtin_mul_overflow(nlse, d.q_len, &nlse) &&
                    nlse <= kMaxElems;
  const bool zero_dim = !d.batch || !d.heads || !d.q_len || !d.kv_len || !d.head_dim;
  const bool overflow = !(fq && fk && fv && fo && flse);
  const bool big = !overflow && !zero_dim && !(fits(sq) && fits(sk) && fits(sv) && fits(so) && fits(nlse));
  if (big) return 0;
  // Keep one input well under the 10 s hang limit: the attention work of a valid call.
  if (!overflow && !zero_dim &&
      double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) * double(d.head_dim + dv) > 2e7)
    return 0;
  const bool small = overflow || zero_dim;  // must be refused: tiny real buffers
  auto bytes_of = [&](std::size_t n) { return small ? 64 : n * sizeof(float); };

  const int threads = in.in(1, 3);
  std::size_t need = 0;
  qkv_status qst = count(backward ? qkv_sdpa_backward_workspace_size(&d, threads, &need)
                                  : qkv_sdpa_workspace_size(&d, threads, &need));
  if (qst == QKV_OK && need > kMaxBytes) return 0;
  const std::size_t ws_bytes = in.workspace(qst == QKV_OK ? need : 128);
  if (ws_bytes > kMaxBytes) return 0;

  guarded q(bytes_of(sq)), k(bytes_of(sk)), v(bytes_of(sv)), o(bytes_of(so)), lse(bytes_of(nlse)), ws(ws_bytes);
  guarded dout(backward ? bytes_of(so) : 0), dq(backward ? bytes_of(sq) : 0), dk(backward ? bytes_of(sk) : 0),
      dvb(backward ? bytes_of(sv) : 0);
  const std::uint64_t seed = in.seed();
  fill(q, kind, seed);
  fill(k, kind, seed + 1);
  fill(v, kind, seed + 2);
  fill(o, values::special, seed + 3);
  fill(lse, values::special, seed + 4);
  fill(dout, kind, seed + 5);
  fill(dq, values::special, seed + 6);
  fill(dk, values::special, seed + 7);
  fill(dvb, values::special, seed + 8);

  const bool want_lse = backward || !in.one_in(4);
  const float* qp = in.maybe_null(q.f());
  const float* kp = in.maybe_null(k.f());
  const float* vp = in.maybe_null(v.f());
  void* wp = in.one_in(12) ? nullptr : ws.data();
  qkv_status st;
  guarded* outs[4];
  int nouts = 0;
  bool all_pointers = qp && kp && vp && wp;
  if (!backward) {
    float* op = in.maybe_null(o.f());
    all_pointers = all_pointers && op;
    o.snapshot();
    lse.snapshot();
    outs[nouts++] = &o;
    outs[nouts++] = &lse;
    st = count(qkv_sdpa_forward(&d, qp, kp, vp, op, want_lse ? lse.f() : nullptr, wp, ws_bytes));
  } else {
    // The backward reads the forward's O and lse: produce them first when possible.
    std::size_t fneed = 0;
    if (qkv_sdpa_workspace_size(&d, 1, &fneed) == QKV_OK && fneed <= kMaxBytes && !small) {
      guarded fws(fneed);
      if (qkv_sdpa_forward(&d, q.f(), k.f(), v.f(), o.f(), lse.f(), fws.data(), fneed) != QKV_OK) fill(o, kind, 1);
    }
    dq.snapshot();
    dk.snapshot();
    dvb.snapshot();
    outs[nouts++] = &dq;
    outs[nouts++] = &dk;
    outs[nouts++] = &dvb;
    const float *op = in.maybe_null(o.f()), *lp = in.maybe_null(lse.f()), *gp = in.maybe_null(dout.f());
    float *gq = in.maybe_null(dq.f()), *gk = in.maybe_null(dk.f()), *gv = in.maybe_null(dvb.f());
    all_pointers = all_pointers && op && lp && gp && gq && gk && gv;
    st = count(qkv_sdpa_backward(&d, qp, kp, vp, op, lp, gp, gq, gk, gv, wp, ws_bytes));
  }
  for (guarded* g : {&q, &k, &v, &o, &lse, &ws, &dout, &dq, &dk, &dvb}) QKV_FUZZ_CHECK(g->canaries_intact());
  if (st != QKV_OK) {
    for (int i = 0; i < nouts; ++i) QKV_FUZZ_CHECK(outs[i]->unchanged());
    // A call the harness knows is valid must not be refused.
    const bool simple = cq && ck && cv && co && !small && d.causal >= 0 && d.causal <= 1 && d.dropout_p >= 0.f &&
                        d.dropout_p < 1.f && (d.scale == 0.f || (std::isfinite(d.scale) && d.scale > 0.f)) &&
                        algo >= 0 && algo <= 2 && all_pointers && qst == QKV_OK && ws_bytes >= need;
    QKV_FUZZ_CHECK(!simple);
    return 0;
  }
  QKV_FUZZ_CHECK(!small);
  if (!finite_kind(kind)) return 0;
  const double work = double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) * double(d.head_dim + dv);
  if (work > kMaxRefWork) return 0;

  // Outputs outside the layout's elements stay untouched: mark what compare() visits.
  const double keep = d.dropout_p > 0.f ? 1.0 / (1.0 - d.dropout_p) : 1.0;
  const qkv_test::ref_dims n(d);
  double A = 1;
  {
    const double mq = max_abs(q.f(), q.floats()), mk = max_abs(k.f(), k.floats());
    A += n.scale * double(d.head_dim) * mq * mk;
  }
  auto visit_check = [](guarded& g, std::vector<char>& seen) {
    for (std::size_t i = 0; i < g.floats(); ++i)
      if (!seen[i]) QKV_FUZZ_CHECK(g.same_bits(i));
  };
  if (!backward) {
    std::vector<double> ro, rl;
    qkv_test::ref_sdpa_forward(d, q.f(), k.f(), v.f(), ro, rl);
    std::vector<char> seen(o.floats(), 0);
    const double tol = kEps * 8 * (A + double(d.head_dim) + double(d.kv_len)) * keep * (max_abs(v.f(), v.floats()) + 1e-30);
    compare(o.f(), d.o, to, ro, tol, [&](std::size_t off) { seen[off] = 1; });
    visit_check(o, seen);
    if (want_lse)
      for (std::size_t i = 0; i < nlse; ++i) {
        if (std::isinf(rl[i]))
          QKV_FUZZ_CHECK(lse.f()[i] == rl[i]);
        else
          QKV_FUZZ_CHECK(std::fabs(lse.f()[i] - rl[i]) <= kEps * 8 * (A + double(d.head_dim) + double(d.kv_len)));
      }
    else
      QKV_FUZZ_CHECK(lse.unchanged());
  } else {
    std::vector<double> rq, rk, rv;
    qkv_test::ref_sdpa_backward(d, q.f(), k.f(), v.f(), dout.f(), rq, rk, rv);
    const double mo = max_abs(dout.f(), dout.floats()), mv = max_abs(v.f(), v.floats());
    const double mqk = std::max(max_abs(q.f(), q.floats()), max_abs(k.f(), k.floats()));
    const double terms = A + double(d.head_dim + dv + d.q_len + d.kv_len);
    const double G = double(dv) * mo * mv * keep;
    const double tol_qk = kEps * 8 * terms * double(std::max(d.q_len, d.kv_len)) * n.scale * G * mqk + 1e-30;
    const double tol_v = kEps * 8 * terms * double(d.q_len) * mo * keep + 1e-30;
    std::vector<char> sq_seen(dq.floats(), 0), sk_seen(dk.floats(), 0), sv_seen(dvb.floats(), 0);
    compare(dq.f(), d.q, tq, rq, tol_qk, [&](std::size_t off) { sq_seen[off] = 1; });
    compare(dk.f(), d.k, tk, rk, tol_qk, [&](std::size_t off) { sk_seen[off] = 1; });
    compare(dvb.f(), d.v, tv, rv, tol_v, [&](std::size_t off) { sv_seen[off] = 1; });
    visit_check(dq, sq_seen);
    visit_check(dk, sk_seen);
    visit_check(dvb, sv_seen);
  }
  ++stats().compared;
  return 0;
}
