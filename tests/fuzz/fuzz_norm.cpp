// SPDX-License-Identifier: MIT
// Fuzz target: norm.h - qkv_layernorm_forward, qkv_add_layernorm_forward,
// qkv_layernorm_backward and their RMSNorm twins, in place included (y == x,
// s == x or s == res, dx == dy), with NULLs, short or huge leading
// dimensions, bad eps and accumulate values.
// qkv-fuzz-requires: src/ops/norm.hpp
//
// Property: the call is accepted exactly when the header's rules allow it;
// refused calls change nothing. Accepted calls on finite values are compared
// with the reference (tests/ref/ref_norm.h) within twice the header's bounds
// (L = n/4 + 8, the scalar set's), with D = max|s_j - s_0| and s (fused) the
// fp32 sum fl(x + res):
//   mean: (L + 2) eps (D + |mu|);  rstd: (L + 4) eps rstd
//   y:  (L + 4) eps (|gamma| rstd (D + |mu| + |s - mu|) + |beta|)
//   dx: (L + 8) eps rstd (|g| + mean|g| + (|xhat| + 1) mean|g xhat|) + the statistics' share
//   dgamma, dbeta: (rows + 2) eps (|initial value| + sum_r |term|) + the statistics' share
// plus 1e-37 * rstd for denormal inputs (whose roundings are absolute).
#include "fuzz/harness.hpp"
#include "ref/ref_norm.h"

namespace {

using namespace qkv_fuzz;

// An output buffer the call may share with an input: `alias` or its own.
struct maybe_alias {
  guarded* own;
  guarded* alias;
  guarded& buf() const { return alias ? *alias : *own; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "norm";
  input in(data, size);
  in.runtime();
  const int mode = in.in(0, 5);  // layer fwd, add_layer fwd, layer bwd, rms fwd, add_rms fwd, rms bwd
  const bool rms = mode >= 3, backward = mode % 3 == 2, fused = mode % 3 == 1;
  const std::size_t rows = in.dim(12), n = in.dim(80);
  const std::size_t ldx = in.ld(n), ldr = in.ld(n);
  // In place: one of the allowed pairs, usually with equal leading dimensions.
  const int place = in.in(0, 3);  // 0 apart; forward 1 y == x, 2 s == x, 3 s == res; backward 1-3 dx == dy
  std::size_t ldo = in.ld(n);      // y (forward) or dx (backward)
  std::size_t lds = in.ld(n), ldy = in.ld(n);  // s (forward), dy (backward)
  if (!in.one_in(6)) {
    if (!backward && place == 1) ldo = ldx;
    if (!backward && place == 2) lds = ldx;
    if (!backward && place == 3) lds = ldr;
    if (backward && place > 0) ldo = ldy;
  }
  const float eps = in.flag() ? 1e-5f : in.scalar() * 1e-3f;
  const int accumulate = in.one_in(8) ? in.in(-1, 3) : in.in(0, 1);
  const values kind = in.kind();

  std::size_t ex = 0, er = 0, es = 0, eo = 0, ey = 0;
  const bool okx = extent(rows, n, ldx, &ex), okr = extent(rows, n, ldr, &er), oks = extent(rows, n, lds, &es),
             oko = extent(rows, n, ldo, &eo), oky = extent(rows, n, ldy, &ey);
  const bool overflow = !okx || !oko || (fused && !okr) || (backward && !oky);  // s: decided below (may be NULL)
  auto bytes = [&](bool ok, std::size_t e) { return ok && fits(e) ? e * 4 : 64; };
  if (!overflow && !(fits(ex) && fits(eo) && (!fused || fits(er)) && (!backward || fits(ey)))) return 0;
  guarded x(std::max(bytes(okx, ex), backward ? 0 : place == 1 ? bytes(oko, eo) : place == 2 ? bytes(oks, es) : 0));
  guarded res(fused ? std::max(bytes(okr, er), place == 3 ? bytes(oks, es) : 0) : 64);
  guarded s_own(fused ? bytes(oks, es) : 64), out_own(bytes(oko, eo));
  guarded dy(backward ? std::max(bytes(oky, ey), place > 0 ? bytes(oko, eo) : 0) : 64);
  guarded gamma(n && fits(n) ? n * 4 : 64), beta(n && fits(n) ? n * 4 : 64);
  guarded mean(rows && fits(rows) ? rows * 4 : 64), rstd(rows && fits(rows) ? rows * 4 : 64);
  guarded dg(n && fits(n) ? n * 4 : 64), db(n && fits(n) ? n * 4 : 64);
  fill(x, kind, in.seed());
  fill(res, kind, in.seed());
  fill(dy, kind, in.seed());
  fill(gamma, kind == values::special ? kind : values::unit, in.seed());
  fill(beta, kind == values::special ? kind : values::unit, in.seed());
  fill(out_own, backward ? values::unit : values::special, 1);  // accumulated onto in the backward
  fill(s_own, values::special, 2);
  fill(dg, values::unit, 4);
  fill(db, values::unit, 5);
  fill(mean, values::special, 6);
  fill(rstd, values::special, 7);
  const maybe_alias out{&out_own, !backward && place == 1 ? &x : backward && place > 0 ? &dy : nullptr};
  const maybe_alias s_buf{&s_own, !backward && place == 2 ? &x : !backward && place == 3 ? &res : nullptr};
  // The backward's statistics: the double reference's of x, rounded (finite x only).
  const bool finite = finite_kind(kind) && !overflow && double(rows) * double(n) <= kMaxRefWork && rows && n &&
                      ldx >= n && ldy >= n && ldo >= n;
  if (backward && finite) {
    std::vector<double> m(rows), r(rows), y(rows * n);
    qkv_ref_norm_forward(rms, rows, n, 1e-5, x.f(), ldx, nullptr, 0, nullptr, nullptr, nullptr, y.data(), m.data(),
                         r.data());
    for (std::size_t i = 0; i < rows; ++i) {
      mean.f()[i] = static_cast<float>(m[i]);
      rstd.f()[i] = static_cast<float>(r[i]);
    }
  }
  const float* xp = in.maybe_null(x.f());
  const float* rp = fused ? in.maybe_null(res.f()) : nullptr;
  float* sp = fused && !in.one_in(5) ? s_buf.buf().f() : nullptr;
  float* op = in.maybe_null(out.buf().f());
  const float* gp = in.one_in(5) ? nullptr : gamma.f();
  const float* bp = in.one_in(5) ? nullptr : beta.f();
  float* mp = in.maybe_null(mean.f());
  float* sdp = in.maybe_null(rstd.f());
  const float* dyp = backward ? in.maybe_null(dy.f()) : nullptr;
  float* dgp = in.one_in(4) ? nullptr : dg.f();
  float* dbp = in.one_in(4) ? nullptr : db.f();
  const bool s_overflow = sp && !oks;
  if (sp && oks && !fits(es)) return 0;

  std::vector<float> x0(x.f(), x.f() + x.floats()), r0(res.f(), res.f() + res.floats()),
      dy0(dy.f(), dy.f() + dy.floats()), dg0(dg.f(), dg.f() + dg.floats()), db0(db.f(), db.f() + db.floats());
  for (guarded* b : {&x, &res, &s_own, &out_own, &dy, &mean, &rstd, &dg, &db, &gamma, &beta}) b->snapshot();
  qkv_status st;
  if (!backward && !rms)
    st = fused ? qkv_add_layernorm_forward(rows, n, eps, xp, ldx, rp, ldr, sp, lds, gp, bp, op, ldo, mp, sdp)
               : qkv_layernorm_forward(rows, n, eps, xp, ldx, gp, bp, op, ldo, mp, sdp);
  else if (!backward)
    st = fused ? qkv_add_rmsnorm_forward(rows, n, eps, xp, ldx, rp, ldr, sp, lds, gp, op, ldo, sdp)
               : qkv_rmsnorm_forward(rows, n, eps, xp, ldx, gp, op, ldo, sdp);
  else if (!rms)
    st = qkv_layernorm_backward(rows, n, xp, ldx, gp, mp, sdp, dyp, ldy, op, ldo, accumulate, dgp, dbp);
  else
    st = qkv_rmsnorm_backward(rows, n, xp, ldx, gp, sdp, dyp, ldy, op, ldo, accumulate, dgp);
  count(st);
  for (guarded* b : {&x, &res, &s_own, &out_own, &dy, &mean, &rstd, &dg, &db, &gamma, &beta})
    QKV_FUZZ_CHECK(b->canaries_intact());

  bool valid = xp && op && rows && n && ldx >= n && ldo >= n && !overflow && !s_overflow;
  if (backward)
    valid = valid && dyp && sdp && (rms || mp) && ldy >= n && (accumulate == 0 || accumulate == 1) &&
            (place == 0 || ldo == ldy);
  else
    valid = valid && (!fused || (rp && ldr >= n)) && (!sp || lds >= n) && std::isfinite(eps) && eps > 0.f &&
            (place != 1 || ldo == ldx) && (place != 2 || !sp || lds == ldx) && (place != 3 || !sp || lds == ldr);
  if (st != QKV_OK) {
    for (guarded* b : {&x, &res, &s_own, &out_own, &dy, &mean, &rstd, &dg, &db, &gamma, &beta})
      QKV_FUZZ_CHECK(b->unchanged());
    QKV_FUZZ_CHECK(!valid);
    return 0;
  }
  QKV_FUZZ_CHECK(valid);
  // Padding between rows is never written.
  const guarded& o = out.buf();
  for (std::size_t r = 0; r + 1 < rows; ++r)
    for (std::size_t j = n; j < ldo; ++j) QKV_FUZZ_CHECK(o.same_bits(r * ldo + j));
  if (!finite) return 0;

  const double L = double(n) / 4 + 8, u = kEps / 2;
  const float* g0 = gp ? gamma.f() : nullptr;
  if (!backward) {
    // The fused calls' s is one rounding of the exact sum; their statistics and
    // y are those of that fp32 s (what the call stores and the backward reads).
    std::vector<double> s(rows * n), y(rows * n), m(rows), r(rows);
    std::vector<float> s32;
    if (fused) {
      s32.resize(rows * n);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < n; ++j)
          s32[i * n + j] = static_cast<float>(double(x0[i * ldx + j]) + double(r0[i * ldr + j]));
    }
    qkv_ref_norm_forward(rms, rows, n, eps, fused ? s32.data() : x0.data(), fused ? n : ldx, nullptr, 0, g0,
                         rms ? nullptr : bp ? beta.f() : nullptr, s.data(), y.data(), m.data(), r.data());
    for (std::size_t i = 0; i < rows; ++i) {
      double D = 0;
      for (std::size_t j = 0; j < n; ++j) D = std::max(D, std::fabs(s[i * n + j] - s[i * n]));
      if (sdp) QKV_FUZZ_CHECK(std::fabs(rstd.f()[i] - r[i]) <= 2 * (L + 4) * u * r[i] + 1e-37 * r[i]);
      if (mp && !rms) QKV_FUZZ_CHECK(std::fabs(mean.f()[i] - m[i]) <= 2 * (L + 2) * u * (D + std::fabs(m[i])) + 1e-37);
      if (mp && rms) QKV_FUZZ_CHECK(mean.unchanged());
      for (std::size_t j = 0; j < n; ++j) {
        const double sj = s[i * n + j], gj = g0 ? g0[j] : 1.0, bj = !rms && bp ? beta.f()[j] : 0.0;
        if (sp) QKV_FUZZ_CHECK(s_buf.buf().f()[i * lds + j] == static_cast<float>(sj));  // s32: exact sum, rounded once
        const double tol = 2 * (L + 4) * u * (std::fabs(gj) * r[i] * (D + std::fabs(m[i]) + std::fabs(sj - m[i])) +
                                              std::fabs(bj)) + 1e-37 * r[i] * (1 + std::fabs(gj));
        QKV_FUZZ_CHECK(std::fabs(o.f()[i * ldo + j] - y[i * n + j]) <= tol);
      }
    }
  } else {
    std::vector<double> dx(rows * n), dgr(n), dbr(n), m(rows), r(rows), xh(rows * n);
    qkv_ref_norm_backward(rms, rows, n, 1e-5, x0.data(), ldx, g0, dy0.data(), ldy, dx.data(), dgr.data(), dbr.data());
    qkv_ref_norm_forward(rms, rows, n, 1e-5, x0.data(), ldx, nullptr, 0, nullptr, nullptr, nullptr, xh.data(),
                         m.data(), r.data());
    std::vector<double> mag_g(n, 0.0), mag_b(n, 0.0), err_g(n, 0.0);
    for (std::size_t i = 0; i < rows; ++i) {
      double D = 0, mg = 0, mgx = 0;
      for (std::size_t j = 0; j < n; ++j) {
        const double g = dy0[i * ldy + j] * (g0 ? g0[j] : 1.0);
        D = std::max(D, std::fabs(double(x0[i * ldx + j]) - x0[i * ldx]));
        mg += std::fabs(g) / double(n);
        mgx += std::fabs(g * xh[i * n + j]) / double(n);
      }
      const double dxh = (L + 4) * u * (D + std::fabs(m[i])) * r[i] + 1e-37 * r[i];
      for (std::size_t j = 0; j < n; ++j) {
        const double xj = xh[i * n + j], dyj = dy0[i * ldy + j], g = dyj * (g0 ? g0[j] : 1.0);
        mag_g[j] += std::fabs(dyj * xj);
        err_g[j] += std::fabs(dyj) * (dxh + (L + 4) * u * std::fabs(xj));
        mag_b[j] += std::fabs(dyj);
        const double before = accumulate ? (place ? dy0[i * ldy + j] : out_own.saved(i * ldo + j)) : 0.0;
        const double want = dx[i * n + j] + before;
        const double tol = 2 * (L + 8) * u * r[i] * (std::fabs(g) + mg + (std::fabs(xj) + 1) * mgx) +
                           2 * r[i] * (dxh + (L + 4) * u * std::fabs(xj)) * (mgx + mg) +
                           2 * (L + 4) * u * r[i] * std::fabs(g) + u * std::fabs(want) + 1e-37 * r[i];
        QKV_FUZZ_CHECK(std::fabs(o.f()[i * ldo + j] - want) <= tol);
      }
    }
    for (std::size_t j = 0; j < n; ++j) {
      if (dgp)
        QKV_FUZZ_CHECK(std::fabs(dg.f()[j] - (dg0[j] + dgr[j])) <=
                       2 * double(rows + 2) * u * (mag_g[j] + std::fabs(dg0[j])) + 2 * err_g[j] + 1e-37);
      else
        QKV_FUZZ_CHECK(dg.unchanged());
      if (dbp && !rms)
        QKV_FUZZ_CHECK(std::fabs(db.f()[j] - (db0[j] + dbr[j])) <=
                       2 * double(rows + 2) * u * (mag_b[j] + std::fabs(db0[j])) + 1e-37);
      else
        QKV_FUZZ_CHECK(db.unchanged());
    }
  }
  ++stats().compared;
  return 0;
}
