// SPDX-License-Identifier: MIT
// Fuzz target: attention.h on typed tensors - qkv_sdpa_workspace_size_ex,
// qkv-fuzz-requires: src/ops/sdpa_forward_lowp.cpp src/ops/sdpa_backward_lowp.cpp
// qkv_sdpa_forward_ex, qkv_sdpa_backward_workspace_size_ex, qkv_sdpa_backward_ex.
//
// The shapes, layouts, flags, pointers and workspaces of fuzz_sdpa.cpp (the
// 0.5 fields among them: kv_heads, window, lengths, the fp32 mask), plus
// the element type: mostly BF16 or F16, sometimes F32, sometimes any int (a
// C caller's enum, passed through c_callers.c). Per call:
//   - canaries intact, inputs unchanged; on error every output (and the
//     size query's *bytes) unchanged, a call the harness knows is valid is
//     never refused, and one whose only fault is the type is
//     QKV_ERR_BAD_ARGUMENT; an invalid type is never accepted;
//   - F32: bit for bit the fp32 entry points (query, forward, backward);
//   - forward, finite inputs: O against the double oracle run on the widened
//     stored values within the header's bound
//       |O - O*| <= u |O*| + (u_p + e) sum_j P*_ij |V_jf|,
//     sum_j P*_ij |V_jf| bounded by max|V| / (1 - p); u = 2^-8 (bf16),
//     2^-11 (fp16); u_p = 2^-8 for bf16 (P may be rounded to bf16), else 0;
//     e = fuzz_sdpa.cpp's fp32 tolerance eps * 8 (A + D + Tk). Absolute
//     terms for what the bound states in relative terms only: bf16's flush
//     of inputs and partial sums below 2^-126 ((Tk + 2) 2^-126 / (1 - p)) and
//     fp16's subnormal outputs (2^-25); an fp16 O beyond 65504 may be Inf.
//     lse as fuzz_sdpa.cpp's. Elements outside O's layout untouched;
//   - backward: dQ, dK, dV equal bit for bit to qkv_convert(F32 -> type) of
//     qkv_sdpa_backward run on the widened Q, K, V, O, dO (same layouts,
//     valid whenever the typed call was: the same checks), any values;
//     except in the fused backward's bf16 mode (BF16 where the forward
//     multiplied in bf16: attention.h), which rounds P and dS to bf16 as
//     well: there each gradient within 4u of that fp32 backward normwise
//     (the unit tests' bound) for unit and wide inputs; tiny ones are
//     flushed by the bf16 dot products, special ones compare no values.
//     Elements outside the layouts untouched.
#include <algorithm>

#include "fuzz/harness.hpp"
#include "fuzz/sdpa_draw.hpp"
#include "support/ref_attention.hpp"
#include "util/half.hpp"

namespace {
using namespace qkv_fuzz;


bool valid_type(int t) { return t == QKV_DTYPE_F32 || t == QKV_DTYPE_BF16 || t == QKV_DTYPE_F16; }
std::size_t elem_bytes(int t) { return t == QKV_DTYPE_F32 ? 4 : 2; }

// Mostly bf16 or fp16 (the low end, what an exhausted input gives, is
// bf16), sometimes F32, sometimes any int.
int pick_type(input& in) {
  switch (in.in(0, 15)) {
    case 15: return in.raw().ConsumeIntegral<int>();
    case 14: return in.in(-2, static_cast<int>(QKV_DTYPE_COUNT) + 2);
    case 12:
    case 13: return QKV_DTYPE_F32;
    default: return in.flag() ? QKV_DTYPE_F16 : QKV_DTYPE_BF16;
  }
}

// Fills `b` with elements of type t (a 16-bit type: values of `kind` rounded to it).
QKV_FUZZ_NO_COVERAGE void fill_typed(guarded& b, int t, values kind, std::uint64_t seed) {
  if (t == QKV_DTYPE_F32) {
    fill(b, kind, seed);
    return;
  }
  splitmix r(seed);
  const std::size_t n = b.size() / 2;
  std::vector<float> f(n);
  for (float& v : f) v = value(r, kind);
  if (n && qkv_convert(n, QKV_DTYPE_F32, f.data(), static_cast<qkv_dtype>(t), b.data()) != QKV_OK) std::abort();
}

// Every element of a typed buffer, widened (exact).
QKV_FUZZ_NO_COVERAGE std::vector<float> widen_all(const guarded& b, int t) {
  std::vector<float> out(b.size() / elem_bytes(t));
  if (t == QKV_DTYPE_F32) {
    if (!out.empty()) std::memcpy(out.data(), b.data(), out.size() * sizeof(float));
  } else if (!out.empty() &&
             qkv_convert(out.size(), static_cast<qkv_dtype>(t), b.data(), QKV_DTYPE_F32,
                         out.data()) != QKV_OK) {
    std::abort();
  }
  return out;
}

double max_abs(const std::vector<float>& p) {
  double m = 0;
  for (float x : p) m = std::max(m, std::fabs(double(x)));
  return m;
}

// Calls on_element(offset, dense index) for every element of a layout-described tensor.
template <class F>
void for_each_element(const qkv_sdpa_strides& s, const tensor_dims& d, F&& on_element) {
  std::size_t i = 0;
  for (std::size_t b = 0; b < d.b; ++b)
    for (std::size_t h = 0; h < d.h; ++h)
      for (std::size_t t = 0; t < d.t; ++t)
        for (std::size_t f = 0; f < d.f; ++f, ++i) on_element(b * s.batch + h * s.head + t * s.token + f, i);
}

// Elements of `g` (of `eb` bytes) not marked in `seen` are as at the snapshot.
void untouched_outside(const guarded& g, std::size_t eb, const std::vector<bool>& seen) {
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) QKV_FUZZ_CHECK(g.same_bytes(i * eb, eb));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "sdpa_ex";
  input in(data, size);
  in.runtime();
  const bool backward = in.flag();
  const int type = pick_type(in);
  const bool typed_ok = valid_type(type);
  const int tfill = typed_ok ? type : QKV_DTYPE_BF16;  // how the buffers of an invalid type are filled
  const std::size_t eb = elem_bytes(tfill);
  sdpa_draw c = draw_sdpa(in, backward);
  if (c.skip) return 0;
  const qkv_sdpa_desc& d = c.d;
  const std::size_t dv = c.dv, sq = c.sq, sk = c.sk, sv = c.sv, so = c.so, nlse = c.nlse;
  const bool cq = c.cq, ck = c.ck, cv = c.cv, co = c.co, small = c.small;
  const int algo = c.algo;
  const values kind = c.kind;
  const tensor_dims &tq = c.tq, &tk = c.tk, &tv = c.tv, &to = c.to;
  auto bytes_of = [&](std::size_t n, std::size_t e) { return small ? 64 : n * e; };
  // The mask (fp32 for every type) and the lengths are in place before the size query.
  guarded mask(c.has_mask ? bytes_of(c.smask, sizeof(float)) : 0);
  bind(c, mask.f());
  // Valid but for the harness's canonical choices and the type, apart from a fault of the 0.5 fields.
  const bool plain = cq && ck && cv && co && c.cm && d.causal >= 0 && d.causal <= 1 && d.dropout_p >= 0.f &&
                     d.dropout_p < 1.f && (d.scale == 0.f || (std::isfinite(d.scale) && d.scale > 0.f)) &&
                     algo >= 0 && algo <= 2;

  // The size query: nothing written on error; F32 is the fp32 query; an invalid type is refused.
  const int threads = in.in(1, 3);
  constexpr std::size_t kUnset = 0x5eedf00d;
  std::size_t need = kUnset;
  const qkv_status qst = count(backward ? fuzz_c_sdpa_backward_workspace_size_ex(&d, type, threads, &need)
                                        : fuzz_c_sdpa_workspace_size_ex(&d, type, threads, &need));
  if (qst != QKV_OK) QKV_FUZZ_CHECK(need == kUnset);
  if (!typed_ok) QKV_FUZZ_CHECK(qst != QKV_OK);
  // A fault of the new fields that is the only one (the type valid): its documented status.
  if (typed_ok && plain && c.nfaults == 1) QKV_FUZZ_CHECK(qst == c.fault);
  {
    std::size_t need32 = kUnset;
    const qkv_status st32 = backward ? qkv_sdpa_backward_workspace_size(&d, threads, &need32)
                                     : qkv_sdpa_workspace_size(&d, threads, &need32);
    if (type == QKV_DTYPE_F32) QKV_FUZZ_CHECK(st32 == qst && need32 == need);
    // The type is the query's only fault: QKV_ERR_BAD_ARGUMENT.
    if (!typed_ok && st32 == QKV_OK) QKV_FUZZ_CHECK(qst == QKV_ERR_BAD_ARGUMENT);
  }
  if (qst == QKV_OK && need > kMaxBytes) return 0;
  const std::size_t ws_bytes = in.workspace(qst == QKV_OK ? need : 128);
  if (ws_bytes > kMaxBytes) return 0;

  guarded q(bytes_of(sq, eb)), k(bytes_of(sk, eb)), v(bytes_of(sv, eb)), o(bytes_of(so, eb)),
      lse(bytes_of(nlse, sizeof(float))), ws(ws_bytes);
  guarded dout(backward ? bytes_of(so, eb) : 0), dq(backward ? bytes_of(sq, eb) : 0),
      dk(backward ? bytes_of(sk, eb) : 0), dvb(backward ? bytes_of(sv, eb) : 0);
  const std::uint64_t seed = in.seed();
  // Outputs start as `special` values: their initial state, also for the fp32 replays below.
  auto init_out = [&](guarded& g, std::uint64_t s, int t) { fill_typed(g, t, values::special, seed + s); };
  fill_typed(q, tfill, kind, seed);
  fill_typed(k, tfill, kind, seed + 1);
  fill_typed(v, tfill, kind, seed + 2);
  init_out(o, 3, tfill);
  fill(lse, values::special, seed + 4);
  fill_typed(dout, tfill, kind, seed + 5);
  init_out(dq, 6, tfill);
  init_out(dk, 7, tfill);
  init_out(dvb, 8, tfill);
  fill_mask(mask, c.mask_special, seed + 9);
  mask.snapshot();

  const bool want_lse = backward || !in.one_in(4);
  const void* qp = in.maybe_null(q.data());
  const void* kp = in.maybe_null(k.data());
  const void* vp = in.maybe_null(v.data());
  void* wp = in.one_in(12) ? nullptr : ws.data();
  qkv_status st;
  guarded* outs[4];
  int nouts = 0;
  bool all_pointers = qp && kp && vp && wp;
  if (!backward) {
    void* op = in.maybe_null(o.data());
    all_pointers = all_pointers && op;
    for (guarded* g : {&q, &k, &v}) g->snapshot();
    o.snapshot();
    lse.snapshot();
    outs[nouts++] = &o;
    outs[nouts++] = &lse;
    st = count(fuzz_c_sdpa_forward_ex(&d, type, qp, kp, vp, op, want_lse ? lse.f() : nullptr, wp, ws_bytes));
  } else {
    // The backward reads the forward's O and lse: produce them first when possible.
    std::size_t fneed = 0;
    if (typed_ok && !small && fuzz_c_sdpa_workspace_size_ex(&d, type, 1, &fneed) == QKV_OK && fneed <= kMaxBytes) {
      guarded fws(fneed);
      if (fuzz_c_sdpa_forward_ex(&d, type, q.data(), k.data(), v.data(), o.data(), lse.f(), fws.data(), fneed) !=
          QKV_OK)
        fill_typed(o, tfill, kind, 1);
    }
    for (guarded* g : {&q, &k, &v, &o, &lse, &dout}) g->snapshot();
    dq.snapshot();
    dk.snapshot();
    dvb.snapshot();
    outs[nouts++] = &dq;
    outs[nouts++] = &dk;
    outs[nouts++] = &dvb;
    const void *op = in.maybe_null(o.data()), *gp = in.maybe_null(dout.data());
    const float* lp = in.maybe_null(lse.f());
    void *gq = in.maybe_null(dq.data()), *gk = in.maybe_null(dk.data()), *gv = in.maybe_null(dvb.data());
    all_pointers = all_pointers && op && lp && gp && gq && gk && gv;
    st = count(fuzz_c_sdpa_backward_ex(&d, type, qp, kp, vp, op, lp, gp, gq, gk, gv, wp, ws_bytes));
  }
  for (guarded* g : {&q, &k, &v, &o, &lse, &ws, &dout, &dq, &dk, &dvb}) QKV_FUZZ_CHECK(g->canaries_intact());
  // Inputs are read only.
  for (guarded* g : {&q, &k, &v, &mask}) QKV_FUZZ_CHECK(g->unchanged());
  if (backward)
    for (guarded* g : {&o, &lse, &dout}) QKV_FUZZ_CHECK(g->unchanged());
  if (st != QKV_OK) {
    for (int i = 0; i < nouts; ++i) QKV_FUZZ_CHECK(outs[i]->unchanged());
    // A call the harness knows is valid must not be refused; one whose only
    // fault is its type is QKV_ERR_BAD_ARGUMENT.
    const bool simple_but_type = plain && !small && all_pointers;
    if (typed_ok)
      QKV_FUZZ_CHECK(!(simple_but_type && qst == QKV_OK && ws_bytes >= need));
    else if (simple_but_type)
      QKV_FUZZ_CHECK(st == QKV_ERR_BAD_ARGUMENT);
    return 0;
  }
  QKV_FUZZ_CHECK(!small && typed_ok);

  if (type == QKV_DTYPE_F32) {
    // Bit for bit the fp32 entry points, from the same initial outputs.
    guarded ws2(ws_bytes);
    if (!backward) {
      guarded o2(o.size()), l2(lse.size());
      init_out(o2, 3, type);
      fill(l2, values::special, seed + 4);
      QKV_FUZZ_CHECK(qkv_sdpa_forward(&d, q.f(), k.f(), v.f(), o2.f(), want_lse ? l2.f() : nullptr, ws2.data(),
                                      ws_bytes) == QKV_OK);
      QKV_FUZZ_CHECK(std::memcmp(o.data(), o2.data(), o.size()) == 0);
      QKV_FUZZ_CHECK(std::memcmp(lse.data(), l2.data(), lse.size()) == 0);
    } else {
      guarded q2(dq.size()), k2(dk.size()), v2(dvb.size());
      init_out(q2, 6, type);
      init_out(k2, 7, type);
      init_out(v2, 8, type);
      QKV_FUZZ_CHECK(qkv_sdpa_backward(&d, q.f(), k.f(), v.f(), o.f(), lse.f(), dout.f(), q2.f(), k2.f(), v2.f(),
                                       ws2.data(), ws_bytes) == QKV_OK);
      QKV_FUZZ_CHECK(std::memcmp(dq.data(), q2.data(), dq.size()) == 0);
      QKV_FUZZ_CHECK(std::memcmp(dk.data(), k2.data(), dk.size()) == 0);
      QKV_FUZZ_CHECK(std::memcmp(dvb.data(), v2.data(), dvb.size()) == 0);
    }
    ++stats().compared;
    return 0;  // the fp32 results themselves: fuzz_sdpa.cpp
  }

  const std::vector<float> qw = widen_all(q, type), kw = widen_all(k, type), vw = widen_all(v, type);
  if (!backward) {
    if (!finite_kind(kind) || c.mask_special) return 0;
    const double work =
        double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) * double(d.head_dim + dv);
    if (work > kMaxRefWork) return 0;
    const double keep = d.dropout_p > 0.f ? 1.0 / (1.0 - d.dropout_p) : 1.0;
    const qkv_test::ref_dims n(d);
    const double A = 1 + n.scale * double(d.head_dim) * max_abs(qw) * max_abs(kw) + (c.has_mask ? 3 : 0) +
                     (d.softcap > 0.f ? 6 * double(d.softcap) : 0);  // the cap's own rounding
    std::vector<double> ro, rl;
    qkv_test::ref_sdpa_forward(d, qw.data(), kw.data(), vw.data(), ro, rl);
    const bool bf16 = type == QKV_DTYPE_BF16;
    const double u = bf16 ? 0x1p-8 : 0x1p-11, up = bf16 ? 0x1p-8 : 0.0;
    const double e = kEps * 8 * (A + double(d.head_dim) + double(d.kv_len));
    const double flush = bf16 ? (double(d.kv_len) + 2) * 0x1p-126 * keep : 0x1p-25;
    const double mass = (up + e) * keep * max_abs(vw) + flush + 1e-30;
    const std::vector<float> ow = widen_all(o, type);
    std::vector<bool> seen(ow.size(), false);
    for_each_element(d.o, to, [&](std::size_t off, std::size_t i) {
      seen[off] = true;
      const double want = ro[i], got = ow[off], tol = u * std::fabs(want) + mass;
      // fp16 rounds a result beyond its range to Inf.
      if (!bf16 && std::isinf(got) && (got > 0) == (want > 0) && std::fabs(want) + tol >= 65520.0) return;
      if (!(std::fabs(got - want) <= tol)) {
        std::fprintf(stderr, "qkv-fuzz: O[%zu] = %.9g, oracle %.9g, tol %.3g\n", off, got, want, tol);
        QKV_FUZZ_CHECK(std::fabs(got - want) <= tol);
      }
    });
    untouched_outside(o, eb, seen);
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
    // The fp32 backward on the widened values, same layouts (valid: the
    // typed call passed the same checks), rounded once to the type.
    const std::vector<float> ow = widen_all(o, type), gw = widen_all(dout, type);
    std::size_t b32 = 0;
    QKV_FUZZ_CHECK(qkv_sdpa_backward_workspace_size(&d, 1, &b32) == QKV_OK);
    if (b32 > kMaxBytes) return 0;
    guarded ws32(b32);
    std::vector<float> rq(dq.size() / eb, 0.f), rk(dk.size() / eb, 0.f), rv(dvb.size() / eb, 0.f);
    QKV_FUZZ_CHECK(qkv_sdpa_backward(&d, qw.data(), kw.data(), vw.data(), ow.data(), lse.f(), gw.data(), rq.data(),
                                     rk.data(), rv.data(), ws32.data(), b32) == QKV_OK);
    const bool in_bf16 = qkv_test::sdpa_ex_backward_in_bf16(d, static_cast<qkv_dtype>(type));
    const bool bounded = (kind == values::unit || kind == values::wide) && !c.mask_special;
    auto same = [&](const guarded& got, std::vector<float>& ref, const qkv_sdpa_strides& s, const tensor_dims& td) {
      const auto* g = static_cast<const std::uint16_t*>(got.data());
      std::vector<bool> seen(ref.size(), false);
      if (in_bf16) {  // ||got - ref|| <= 4u ||ref|| (u = 2^-8), over the tensor's elements
        for_each_element(s, td, [&](std::size_t off, std::size_t) { seen[off] = true; });
        auto widen = [](std::uint16_t x) { return double(qkv::util::bf16_to_f32(x)); };  // in_bf16: the type is BF16
        const double err = qkv_test::sdpa_rel_error(ref, std::vector<std::uint16_t>(g, g + ref.size()), seen, widen);
        if (bounded && !(err <= 4 * 0x1p-8)) {
          std::fprintf(stderr, "qkv-fuzz: bf16 mode: normwise error / u = %.3g\n", 256 * err);
          QKV_FUZZ_CHECK(err <= 4 * 0x1p-8);
        }
        untouched_outside(got, eb, seen);
        return;
      }
      std::vector<std::uint16_t> bits(ref.size());  // the fp32 backward rounded once to the type
      if (!ref.empty() &&
          qkv_convert(ref.size(), QKV_DTYPE_F32, ref.data(), static_cast<qkv_dtype>(type), bits.data()) != QKV_OK)
        std::abort();
      for_each_element(s, td, [&](std::size_t off, std::size_t) {
        seen[off] = true;
        if (g[off] != bits[off]) {
          std::fprintf(stderr, "qkv-fuzz: element %zu: 0x%04x, narrowed fp32 backward 0x%04x (%.9g)\n", off,
                       unsigned(g[off]), unsigned(bits[off]), double(ref[off]));
          QKV_FUZZ_CHECK(g[off] == bits[off]);
        }
      });
      untouched_outside(got, eb, seen);
    };
    same(dq, rq, d.q, tq);
    same(dk, rk, d.k, tk);
    same(dvb, rv, d.v, tv);
  }
  ++stats().compared;
  return 0;
}
