// SPDX-License-Identifier: MIT
// Fuzz target: attention.h - qkv_sdpa_workspace_size, qkv_sdpa_forward,
// qkv-fuzz-requires: src/ops/sdpa_forward.hpp src/ops/sdpa_backward.hpp
// qkv_sdpa_backward_workspace_size, qkv_sdpa_backward.
//
// Layouts per tensor: [B,H,T,d], [B,T,H,d], padded token strides, head
// stride 0 (shared K/V), arbitrary small strides (possibly overlapping) and
// values near SIZE_MAX; grouped-query heads, windows, per-sequence lengths
// and masks (tests/fuzz/sdpa_draw.hpp). A call with a fault of the 0.5
// fields must be refused, and when that fault is the only one the size
// query returns its documented status. Accepted calls are compared with the
// double oracle (tests/support/ref_attention.hpp). Tolerances, with A = 1 +
// max|score| (the mask's largest finite |bias| included; absolute error of
// a score is ~eps*(D + A)), grow with the sums involved (R = heads /
// kv_heads query heads summed into each dK, dV):
//   O, lse:  eps * 8 (A + D + Tk) * max|v| / (1 - p)  (lse: without max|v|)
//   dV:      eps * 8 (A + D + Dv + Tq) * R Tq * max|dO| / (1 - p)
//   dQ, dK:  eps * 8 (A + D + Dv + Tq + Tk) * R max(Tq, Tk) * scale * G * max(|q|,|k|),
//            G = Dv * max|dO| * max|v| / (1 - p) bounding |dP|.
#include "fuzz/harness.hpp"
#include "fuzz/sdpa_draw.hpp"
#include "support/ref_attention.hpp"

namespace {
using namespace qkv_fuzz;


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
  sdpa_draw c = draw_sdpa(in, backward);
  if (c.skip) return 0;
  const qkv_sdpa_desc& d = c.d;
  const std::size_t dv = c.dv, sq = c.sq, sk = c.sk, sv = c.sv, so = c.so, nlse = c.nlse;
  const bool cq = c.cq, ck = c.ck, cv = c.cv, co = c.co, small = c.small;
  const int algo = c.algo;
  const values kind = c.kind;
  const tensor_dims &tq = c.tq, &tk = c.tk, &tv = c.tv, &to = c.to;
  auto bytes_of = [&](std::size_t n) { return small ? 64 : n * sizeof(float); };
  // The mask (an input) and the lengths are in place before the size query, which checks them.
  guarded mask(c.has_mask ? bytes_of(c.smask) : 0);
  bind(c, mask.f());
  // Valid but for the harness's canonical choices, apart from a fault of the 0.5 fields.
  const bool plain = cq && ck && cv && co && c.cm && d.causal >= 0 && d.causal <= 1 && d.dropout_p >= 0.f &&
                     d.dropout_p < 1.f && (d.scale == 0.f || (std::isfinite(d.scale) && d.scale > 0.f)) &&
                     algo >= 0 && algo <= 2;

  const int threads = in.in(1, 3);
  std::size_t need = 0;
  qkv_status qst = count(backward ? qkv_sdpa_backward_workspace_size(&d, threads, &need)
                                  : qkv_sdpa_workspace_size(&d, threads, &need));
  // A fault of the new fields that is the call's only one: its documented status.
  if (plain && c.nfaults == 1) QKV_FUZZ_CHECK(qst == c.fault);
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
  fill_mask(mask, c.mask_special, seed + 9);
  mask.snapshot();

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
  QKV_FUZZ_CHECK(mask.unchanged());  // an input: read only
  if (st != QKV_OK) {
    for (int i = 0; i < nouts; ++i) QKV_FUZZ_CHECK(outs[i]->unchanged());
    // A call the harness knows is valid must not be refused.
    const bool simple = plain && !small && all_pointers && qst == QKV_OK && ws_bytes >= need;
    QKV_FUZZ_CHECK(!simple);
    return 0;
  }
  QKV_FUZZ_CHECK(!small);
  if (!finite_kind(kind) || c.mask_special) return 0;
  const double work = double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) * double(d.head_dim + dv);
  if (work > kMaxRefWork) return 0;

  // Outputs outside the layout's elements stay untouched: mark what compare() visits.
  const double keep = d.dropout_p > 0.f ? 1.0 / (1.0 - d.dropout_p) : 1.0;
  const qkv_test::ref_dims n(d);
  double A = 1;
  {
    const double mq = max_abs(q.f(), q.floats()), mk = max_abs(k.f(), k.floats());
    A += n.scale * double(d.head_dim) * mq * mk;
    if (c.has_mask) A += 3;  // |bias| <= 3 (fill_mask)
    if (d.softcap > 0.f) A += 6 * double(d.softcap);  // the cap's own rounding (tanh, 1/c, c times), ~6 eps of c
  }
  const double R = double(d.heads / c.kvh);
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
    // A capped score's error also moves the slope 1 - tanh^2(s / c) by up to its error / c.
    const double terms =
        (A + double(d.head_dim + dv + d.q_len + d.kv_len)) * (d.softcap > 0.f ? 1.0 + 2.0 / double(d.softcap) : 1.0);
    const double G = double(dv) * mo * mv * keep;
    const double tol_qk = kEps * 8 * terms * R * double(std::max(d.q_len, d.kv_len)) * n.scale * G * mqk + 1e-30;
    const double tol_v = kEps * 8 * terms * R * double(d.q_len) * mo * keep + 1e-30;
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
