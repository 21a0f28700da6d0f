// SPDX-License-Identifier: MIT
// LayerNorm and RMSNorm (qkv/norm.h): forward and backward against the
// double reference (tests/ref/ref_norm.h) on every ISA, with and without the
// fused residual, padded leading dimensions and in place; central
// differences; 1/2/3 threads bitwise; constant rows; huge and tiny
// magnitudes; and every bad argument, with nothing written.
//
// Tolerances are the header's error bounds ("Accuracy" in qkv/norm.h),
// evaluated on the reference's own values with the scalar set's L (the
// largest: W = 1), doubled for the slack of a worst-case bound (a few
// extra roundings it does not itemise: the residual add, the final multiply-add).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "qkv/qkv.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_norm.hpp"
#include "support/teams.hpp"

namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24
constexpr float kSentinel = -7.25e9f;

const std::size_t kSizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 127, 769};
const std::size_t kRows[] = {1, 5, 64};

// L of the header's bound at W = 1.
double bound_l(std::size_t n) { return static_cast<double>(n) / 4.0 + 8.0; }

struct problem {
  bool rms, fused, affine;
  std::size_t rows, n, ldx, ldr, lds, ldy;
  float eps;
  std::vector<float> x, res, gamma, beta, dy;
};

// x in [-1, 1] around a per-row offset (a mean of up to 2 spreads), res the same.
problem make(bool rms, bool fused, bool affine, std::size_t rows, std::size_t n, std::size_t pad, std::uint64_t seed) {
  problem p{rms, fused, affine, rows, n, n + pad, n + 2 * pad, n + 3 * pad, n + pad, 1e-5f, {}, {}, {}, {}, {}};
  p.x = qkv_test::random_vector(rows * p.ldx, seed, -1.f, 1.f);
  qkv_test::rng r(seed + 7);
  for (std::size_t i = 0; i < rows; ++i) {
    const float off = r.uniform(-2.f, 2.f);
    for (std::size_t j = 0; j < n; ++j) p.x[i * p.ldx + j] += off;
  }
  if (fused) p.res = qkv_test::random_vector(rows * p.ldr, seed + 1, -1.f, 1.f);
  if (affine) {
    p.gamma = qkv_test::random_vector(n, seed + 2, 0.5f, 1.5f);
    p.beta = qkv_test::random_vector(n, seed + 3, -0.5f, 0.5f);
  }
  p.dy = qkv_test::random_vector(rows * p.ldy, seed + 4, -1.f, 1.f);
  return p;
}

const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

// The library's forward through the public entry point that fits p.
qkv_status run_forward(const problem& p, const float* x, float* s, float* y, std::size_t ldy, float* mean,
                       float* rstd) {
  const float *g = ptr(p.gamma), *b = ptr(p.beta), *res = ptr(p.res);
  if (p.rms)
    return p.fused ? qkv_add_rmsnorm_forward(p.rows, p.n, p.eps, x, p.ldx, res, p.ldr, s, p.lds, g, y, ldy, rstd)
                   : qkv_rmsnorm_forward(p.rows, p.n, p.eps, x, p.ldx, g, y, ldy, rstd);
  return p.fused ? qkv_add_layernorm_forward(p.rows, p.n, p.eps, x, p.ldx, res, p.ldr, s, p.lds, g, b, y, ldy, mean,
                                             rstd)
                 : qkv_layernorm_forward(p.rows, p.n, p.eps, x, p.ldx, g, b, y, ldy, mean, rstd);
}

qkv_status run_backward(const problem& p, const float* s, std::size_t lds, const float* mean, const float* rstd,
                        const float* dy, float* dx, std::size_t lddx, int accumulate, float* dgamma, float* dbeta) {
  const float* g = ptr(p.gamma);
  if (p.rms) return qkv_rmsnorm_backward(p.rows, p.n, s, lds, g, rstd, dy, p.ldy, dx, lddx, accumulate, dgamma);
  return qkv_layernorm_backward(p.rows, p.n, s, lds, g, mean, rstd, dy, p.ldy, dx, lddx, accumulate, dgamma, dbeta);
}

struct outputs {
  std::vector<float> s, y, mean, rstd, dx, dgamma, dbeta;
};

// Forward (s kept when fused) then backward from s, dx accumulated onto
// `dx0` when accumulate, dgamma/dbeta onto 0.25.
outputs run_both(const problem& p, int accumulate, const std::vector<float>& dx0) {
  outputs o;
  o.s.assign(p.fused ? p.rows * p.lds : 0, kSentinel);
  o.y.assign(p.rows * p.ldy, kSentinel);
  o.mean.assign(p.rows, kSentinel);
  o.rstd.assign(p.rows, kSentinel);
  REQUIRE(run_forward(p, p.x.data(), p.fused ? o.s.data() : nullptr, o.y.data(), p.ldy, o.mean.data(),
                      o.rstd.data()) == QKV_OK);
  const float* s = p.fused ? o.s.data() : p.x.data();
  const std::size_t lds = p.fused ? p.lds : p.ldx;
  o.dx = dx0;
  o.dgamma.assign(p.n, 0.25f);
  o.dbeta.assign(p.n, 0.25f);
  REQUIRE(run_backward(p, s, lds, o.mean.data(), o.rstd.data(), p.dy.data(), o.dx.data(), p.ldy, accumulate,
                       p.affine ? o.dgamma.data() : nullptr, p.affine ? o.dbeta.data() : nullptr) == QKV_OK);
  return o;
}

// Checks every output of run_both against the reference, and the padding untouched.
// Element checks are counted and the first failure described (one Catch
// assertion per call: millions of them cost minutes under emulation).
#define NORM_EXPECT(cond, msg)                       \
  do {                                               \
    if (!(cond) && bad++ == 0) {                     \
      std::ostringstream os_;                        \
      os_ << #cond << ": " << msg;                   \
      first = os_.str();                             \
    }                                                \
  } while (0)
void check_against_ref(const problem& p, const outputs& o, int accumulate, const std::vector<float>& dx0) {
  std::size_t bad = 0;
  std::string first;
  // The fused calls' s is one rounding of the exact sum; their statistics and y
  // are those of that fp32 s (what the call stores and the backward reads).
  const auto fx = qkv_test::ref_norm_forward(p.rms, p.rows, p.n, p.eps, p.x.data(), p.ldx, ptr(p.res), p.ldr,
                                             ptr(p.gamma), p.rms ? nullptr : ptr(p.beta));
  std::vector<float> s_fp32(fx.s.begin(), fx.s.end());
  const auto f = p.fused ? qkv_test::ref_norm_forward(p.rms, p.rows, p.n, p.eps, s_fp32.data(), p.n, nullptr, 0,
                                                      ptr(p.gamma), p.rms ? nullptr : ptr(p.beta))
                         : fx;
  const double L = bound_l(p.n);
  const float* s = p.fused ? o.s.data() : p.x.data();
  const std::size_t lds = p.fused ? p.lds : p.ldx;
  for (std::size_t r = 0; r < p.rows; ++r) {
    const double mu = f.mean[r], rs = f.rstd[r];
    double D = 0;
    for (std::size_t j = 0; j < p.n; ++j) D = std::max(D, std::fabs(f.s[r * p.n + j] - f.s[r * p.n]));
    if (!p.rms) NORM_EXPECT(std::fabs(o.mean[r] - mu) <= 2 * (L + 2) * kU * (D + std::fabs(mu)), "row " << r);
    else NORM_EXPECT(o.mean[r] == kSentinel, "row " << r);  // RMSNorm has no mean
    NORM_EXPECT(std::fabs(o.rstd[r] - rs) <= 2 * (L + 4) * kU * rs, "row " << r);
    for (std::size_t j = 0; j < p.n; ++j) {
      const double sj = f.s[r * p.n + j];
      if (p.fused) NORM_EXPECT(o.s[r * p.lds + j] == static_cast<float>(fx.s[r * p.n + j]), "row " << r << " col " << j);  // one rounding of an exact sum
      const double g = p.affine ? p.gamma[j] : 1.0, b = p.affine && !p.rms ? p.beta[j] : 0.0;
      const double tol = 2 * (L + 4) * kU * (std::fabs(g) * rs * (D + std::fabs(mu) + std::fabs(sj - mu)) + std::fabs(b));
      NORM_EXPECT(std::fabs(o.y[r * p.ldy + j] - f.y[r * p.n + j]) <= tol, "row " << r << " col " << j << " y " << o.y[r * p.ldy + j] << " ref " << f.y[r * p.n + j]);
    }
    for (std::size_t j = p.n; j < p.ldy && r + 1 < p.rows; ++j) NORM_EXPECT(o.y[r * p.ldy + j] == kSentinel, "row " << r << " pad col " << j);
  }
  // Backward from the library's own s (what a training step feeds it).
  const auto b = qkv_test::ref_norm_backward(p.rms, p.rows, p.n, p.eps, s, lds, ptr(p.gamma), p.dy.data(), p.ldy);
  const auto fs = qkv_test::ref_norm_forward(p.rms, p.rows, p.n, p.eps, s, lds, nullptr, 0, nullptr, nullptr);
  std::vector<double> mag_g(p.n, 0.0), mag_b(p.n, 0.0), err_g(p.n, 0.0);
  for (std::size_t r = 0; r < p.rows; ++r) {
    const double mu = fs.mean[r], rs = fs.rstd[r];
    double D = 0, mg = 0, mgx = 0;
    for (std::size_t j = 0; j < p.n; ++j) {
      const double xh = fs.y[r * p.n + j], g = p.dy[r * p.ldy + j] * (p.affine ? p.gamma[j] : 1.0);
      D = std::max(D, std::fabs(static_cast<double>(s[r * lds + j]) - s[r * lds]));
      mg += std::fabs(g) / static_cast<double>(p.n);
      mgx += std::fabs(g * xh) / static_cast<double>(p.n);
    }
    // The statistics' errors move xhat by up to (L + 4) u (D + |mu|) rstd + (L + 4) u |xhat|.
    const double dxh = (L + 4) * kU * (D + std::fabs(mu)) * rs;
    for (std::size_t j = 0; j < p.n; ++j) {
      const double xh = fs.y[r * p.n + j], g = p.dy[r * p.ldy + j] * (p.affine ? p.gamma[j] : 1.0);
      mag_g[j] += std::fabs(p.dy[r * p.ldy + j] * xh);
      err_g[j] += std::fabs(p.dy[r * p.ldy + j]) * (dxh + (L + 4) * kU * std::fabs(xh));
      mag_b[j] += std::fabs(p.dy[r * p.ldy + j]);
      const double tol = 2 * (L + 8) * kU * rs * (std::fabs(g) + mg + (std::fabs(xh) + 1) * mgx) +
                         2 * rs * (dxh + (L + 4) * kU * std::fabs(xh)) * (mgx + mg) + 2 * (L + 4) * kU * rs * std::fabs(g);
      const double want = b.dx[r * p.n + j] + (accumulate ? dx0[r * p.ldy + j] : 0.0);
      NORM_EXPECT(std::fabs(o.dx[r * p.ldy + j] - want) <= tol + (accumulate ? kU * std::fabs(want) : 0.0), "row " << r << " col " << j << " dx " << o.dx[r * p.ldy + j] << " ref " << want);
    }
  }
  if (p.affine) {
    for (std::size_t j = 0; j < p.n; ++j) {
      const double tg = 2 * static_cast<double>(p.rows + 2) * kU * (mag_g[j] + 0.25) + 2 * err_g[j];
      NORM_EXPECT(std::fabs(o.dgamma[j] - (0.25 + b.dgamma[j])) <= tg, "col " << j);
      if (!p.rms) NORM_EXPECT(std::fabs(o.dbeta[j] - (0.25 + b.dbeta[j])) <= 2 * static_cast<double>(p.rows + 2) * kU * (mag_b[j] + 0.25), "col " << j);
      else NORM_EXPECT(o.dbeta[j] == 0.25f, "col " << j);
    }
  }
  INFO(first);
  CHECK(bad == 0);
}
#undef NORM_EXPECT

}  // namespace

TEST_CASE("norms match the double reference on every ISA, sizes around every vector width", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa) {
    std::uint64_t seed = 1;
    for (std::size_t n : kSizes)
      for (std::size_t rows : kRows)
        for (int variant = 0; variant < 8; ++variant) {
          const bool rms = variant & 1, fused = variant & 2, affine = variant & 4;
          const std::size_t pad = (variant + n) % 3 == 0 ? 0 : 1 + (n + variant) % 5;
          const int accumulate = (variant + static_cast<int>(rows)) % 2;
          INFO("n " << n << " rows " << rows << (rms ? " rms" : " layer") << (fused ? " fused" : "")
                    << (affine ? " affine" : "") << " pad " << pad << " acc " << accumulate);
          const problem p = make(rms, fused, affine, rows, n, pad, ++seed);
          const auto dx0 = qkv_test::random_vector(rows * p.ldy, seed + 99, -1.f, 1.f);
          const auto o = run_both(p, accumulate, dx0);
          check_against_ref(p, o, accumulate, dx0);
        }
  });
}

namespace {

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// Rows r of a and b ([rows][ld] each) equal bit for bit in their first n columns.
bool same_rows(const std::vector<float>& a, const std::vector<float>& b, std::size_t rows, std::size_t n,
               std::size_t ld) {
  for (std::size_t r = 0; r < rows; ++r)
    if (!same_bits(&a[r * ld], &b[r * ld], n)) return false;
  return true;
}

}  // namespace

TEST_CASE("norms in place give the out-of-place bits", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : {7u, 33u, 127u}) {
      const std::size_t rows = 5, ld = n + 3;
      for (int rms = 0; rms < 2; ++rms) {
        INFO("n " << n << (rms ? " rms" : " layer"));
        const auto x = qkv_test::random_vector(rows * ld, n, -2.f, 2.f);
        const auto res = qkv_test::random_vector(rows * ld, n + 1, -2.f, 2.f);
        const auto g = qkv_test::random_vector(n, n + 2, 0.5f, 1.5f), b = qkv_test::random_vector(n, n + 3);
        auto fwd = [&](const float* xp, const float* rp, float* s, float* y, float* mean, float* rstd) {
          if (rms)
            return rp ? qkv_add_rmsnorm_forward(rows, n, 1e-5f, xp, ld, rp, ld, s, ld, g.data(), y, ld, rstd)
                      : qkv_rmsnorm_forward(rows, n, 1e-5f, xp, ld, g.data(), y, ld, rstd);
          return rp ? qkv_add_layernorm_forward(rows, n, 1e-5f, xp, ld, rp, ld, s, ld, g.data(), b.data(), y, ld,
                                                mean, rstd)
                    : qkv_layernorm_forward(rows, n, 1e-5f, xp, ld, g.data(), b.data(), y, ld, mean, rstd);
        };
        // Out of place.
        std::vector<float> s(rows * ld, 0.f), y(rows * ld, 0.f), m(rows), r(rows), y1(rows * ld, 0.f), m1(rows),
            r1(rows);
        REQUIRE(fwd(x.data(), nullptr, nullptr, y1.data(), m1.data(), r1.data()) == QKV_OK);
        REQUIRE(fwd(x.data(), res.data(), s.data(), y.data(), m.data(), r.data()) == QKV_OK);
        // y == x.
        auto xi = x;
        REQUIRE(fwd(xi.data(), nullptr, nullptr, xi.data(), nullptr, nullptr) == QKV_OK);
        CHECK(same_rows(xi, y1, rows, n, ld));
        // s == x, y apart.
        xi = x;
        std::vector<float> y2(rows * ld, 0.f), m2(rows), r2(rows);
        REQUIRE(fwd(xi.data(), res.data(), xi.data(), y2.data(), m2.data(), r2.data()) == QKV_OK);
        CHECK(same_rows(xi, s, rows, n, ld));
        CHECK(same_rows(y2, y, rows, n, ld));
        CHECK(same_bits(r2.data(), r.data(), rows));
        if (!rms) CHECK(same_bits(m2.data(), m.data(), rows));
        // s == res, y == x.
        xi = x;
        auto ri = res;
        REQUIRE(fwd(xi.data(), ri.data(), ri.data(), xi.data(), nullptr, nullptr) == QKV_OK);
        CHECK(same_rows(ri, s, rows, n, ld));
        CHECK(same_rows(xi, y, rows, n, ld));
        // No s kept: y still the same.
        std::vector<float> y3(rows * ld, 0.f);
        REQUIRE(fwd(x.data(), res.data(), nullptr, y3.data(), nullptr, nullptr) == QKV_OK);
        CHECK(same_rows(y3, y, rows, n, ld));
        // No s kept, y == x.
        xi = x;
        REQUIRE(fwd(xi.data(), res.data(), nullptr, xi.data(), nullptr, nullptr) == QKV_OK);
        CHECK(same_rows(xi, y, rows, n, ld));
        // dx == dy, overwritten and accumulated.
        const auto dy = qkv_test::random_vector(rows * ld, n + 4);
        for (int acc = 0; acc < 2; ++acc) {
          auto bwd = [&](const float* d, float* out, float* dgp, float* dbp) {
            return rms ? qkv_rmsnorm_backward(rows, n, s.data(), ld, g.data(), r.data(), d, ld, out, ld, acc, dgp)
                       : qkv_layernorm_backward(rows, n, s.data(), ld, g.data(), m.data(), r.data(), d, ld, out, ld,
                                                acc, dgp, dbp);
          };
          // Out of place onto a copy of dy (accumulate: dx = dy + gradient), then in place over dy.
          std::vector<float> dx = dy, dg(n, 0.f), db(n, 0.f), dg2(n, 0.f), db2(n, 0.f);
          REQUIRE(bwd(dy.data(), dx.data(), dg.data(), db.data()) == QKV_OK);
          std::vector<float> di = dy;
          REQUIRE(bwd(di.data(), di.data(), dg2.data(), db2.data()) == QKV_OK);
          CHECK(same_rows(di, dx, rows, n, ld));
          CHECK(dg == dg2);
          CHECK(db == db2);
        }
      }
    }
  });
}

TEST_CASE("norms are bitwise identical for 1, 2 and 3 threads", "[norm][threads]") {
  const std::size_t rows = qkv_test::small_tests() ? 256 : 640, n = 1000, ld = 1003;
  const auto x = qkv_test::random_vector(rows * ld, 5, -3.f, 3.f), res = qkv_test::random_vector(rows * ld, 6);
  const auto g = qkv_test::random_vector(n, 7, 0.5f, 1.5f), b = qkv_test::random_vector(n, 8);
  const auto dy = qkv_test::random_vector(rows * ld, 9);
  // The parameter gradients at 0, 3 and 13 floats past a cache line (the
  // column split's boundaries follow dgamma's lines; dbeta sits 4 floats
  // off them); emulated, at 13 only.
  std::vector<float> grads(3 * (n + 28) + 32);
  const std::size_t line0 = (16 - reinterpret_cast<std::uintptr_t>(grads.data()) / sizeof(float) % 16) % 16;
  const std::vector<std::size_t> offsets =
      qkv_test::small_tests() ? std::vector<std::size_t>{13} : std::vector<std::size_t>{0, 3, 13};
  for (const std::size_t off : offsets) {
    qkv_test::for_each_isa([&](qkv_isa) {
      CAPTURE(off);
      std::vector<float> out[3];
      for (int t = 1; t <= 3; ++t) {
        qkv_test::threads_scope ts(t);
        qkv_test::team_watch watch;
        std::vector<float> s(rows * ld), y(rows * ld), m(rows), r(rows), y2(rows * ld), r2(rows), dx(rows * ld),
            dx2(rows * ld);
        std::fill(grads.begin(), grads.end(), 0.f);
        float* dg = grads.data() + line0 + off;
        float* db = dg + n + 28;
        float* dg2 = db + n + 28;
        REQUIRE(qkv_add_layernorm_forward(rows, n, 1e-5f, x.data(), ld, res.data(), ld, s.data(), ld, g.data(),
                                          b.data(), y.data(), ld, m.data(), r.data()) == QKV_OK);
        REQUIRE(qkv_layernorm_backward(rows, n, s.data(), ld, g.data(), m.data(), r.data(), dy.data(), ld, dx.data(),
                                       ld, 0, dg, db) == QKV_OK);
        REQUIRE(qkv_rmsnorm_forward(rows, n, 1e-6f, x.data(), ld, g.data(), y2.data(), ld, r2.data()) == QKV_OK);
        REQUIRE(qkv_rmsnorm_backward(rows, n, x.data(), ld, g.data(), r2.data(), dy.data(), ld, dx2.data(), ld, 0,
                                     dg2) == QKV_OK);
        if (t > 1) QKV_CHECK_TEAM(watch);
        for (auto* v : {&s, &y, &m, &r, &y2, &r2, &dx, &dx2})
          out[t - 1].insert(out[t - 1].end(), v->begin(), v->end());
        for (const float* p : {dg, db, dg2}) out[t - 1].insert(out[t - 1].end(), p, p + n);
      }
      CHECK(same_bits(out[0].data(), out[1].data(), out[0].size()));
      CHECK(same_bits(out[0].data(), out[2].data(), out[0].size()));
    });
  }
}

// ARMv7 NEON flushes subnormal inputs and results to zero (norm.h): there the
// subnormal cases below get FLT_MIN of absolute slack, or are not compared.
bool flushes_subnormals(qkv_isa isa) { return isa == QKV_ISA_NEON; }

TEST_CASE("norms of a constant row give y = beta exactly, at any magnitude", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    for (std::size_t n : {1u, 5u, 16u, 67u, 769u})
      for (float c : {0.f, 1.f, -3.7f, 0.1f, 1e30f, -1e37f, 1e-30f, 0x1p41f, 1e-40f})
        for (float eps : {1e-5f, 1e-45f}) {
          INFO("n " << n << " c " << c << " eps " << eps);
          const std::vector<float> x(n, c), b = qkv_test::random_vector(n, n), g = qkv_test::random_vector(n, n + 1);
          std::vector<float> y(n), dx(n);
          float mean = 0, rstd = 0;
          REQUIRE(qkv_layernorm_forward(1, n, eps, x.data(), n, g.data(), b.data(), y.data(), n, &mean, &rstd) ==
                  QKV_OK);
          CHECK(y == b);
          CHECK(mean == c);
          CHECK(std::isfinite(rstd));
          const auto dy = qkv_test::random_vector(n, n + 2);
          REQUIRE(qkv_layernorm_backward(1, n, x.data(), n, g.data(), &mean, &rstd, dy.data(), n, dx.data(), n, 0,
                                         nullptr, nullptr) == QKV_OK);
          for (float v : dx) CHECK(std::isfinite(v));
          // RMSNorm of a constant row: c / sqrt(c^2 + eps) * gamma, finite.
          REQUIRE(qkv_rmsnorm_forward(1, n, eps, x.data(), n, g.data(), y.data(), n, &rstd) == QKV_OK);
          const auto f = qkv_test::ref_norm_forward(true, 1, n, eps, x.data(), n, nullptr, 0, g.data(), nullptr);
          const bool subnormal_row = c != 0.f && std::fabs(c) < std::numeric_limits<float>::min();
          for (std::size_t j = 0; j < n; ++j) {
            REQUIRE(std::isfinite(y[j]));
            if (subnormal_row && flushes_subnormals(isa)) continue;  // c reads as 0 there
            CHECK(std::fabs(y[j] - f.y[j]) <= 2 * (bound_l(n) + 4) * kU * (std::fabs(f.y[j]) + 1e-30));
          }
        }
  });
}

TEST_CASE("fused norms' statistics are those of the stored fp32 sum", "[norm]") {
  // A row whose mean (about -90) dwarfs its spread (about 1.2): rounding
  // x + res to fp32 moves rstd by ~3e-6 relative, beyond the statistics'
  // bound, so the contract (qkv/norm.h) is about the stored s, which the
  // backward reads. Found by fuzz_norm (its corpus keeps the input).
  const float x[2] = {-0x1.45783p+6f, -0x1.eedb18p+4f}, res[2] = {-0x1.e7388p+2f, -0x1.d9dc0ep+5f};
  const std::size_t n = 2;
  const double L = bound_l(n);
  // The exact sums rounded once, through memory (i686's x87 keeps a cast's
  // excess precision in its registers).
  const auto exact = qkv_test::ref_norm_forward(false, 1, n, 1e-5, x, n, res, n, nullptr, nullptr);
  const std::vector<float> s_want(exact.s.begin(), exact.s.end());
  qkv_test::for_each_isa([&](qkv_isa) {
    for (int rms = 0; rms < 2; ++rms) {
      INFO((rms ? "rms" : "layer"));
      float s[2], y[2], mean = 0, rstd = 0;
      REQUIRE((rms ? qkv_add_rmsnorm_forward(1, n, 1e-5f, x, n, res, n, s, n, nullptr, y, n, &rstd)
                   : qkv_add_layernorm_forward(1, n, 1e-5f, x, n, res, n, s, n, nullptr, nullptr, y, n, &mean,
                                               &rstd)) == QKV_OK);
      for (std::size_t j = 0; j < n; ++j) CHECK(s[j] == s_want[j]);
      const auto f = qkv_test::ref_norm_forward(rms, 1, n, 1e-5, s, n, nullptr, 0, nullptr, nullptr);
      CHECK(std::fabs(rstd - f.rstd[0]) <= 2 * (L + 4) * kU * f.rstd[0]);
      const double D = std::fabs(double(s[1]) - s[0]), mu = f.mean[0];
      if (!rms) CHECK(std::fabs(mean - mu) <= 2 * (L + 2) * kU * (D + std::fabs(mu)));
      for (std::size_t j = 0; j < n; ++j)
        CHECK(std::fabs(y[j] - f.y[j]) <= 2 * (L + 4) * kU * f.rstd[0] * (D + std::fabs(mu) + std::fabs(s[j] - mu)));
    }
  });
}

TEST_CASE("norms of huge and tiny rows are finite and match the reference", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    const double flush = flushes_subnormals(isa) ? std::numeric_limits<float>::min() : 0.0;
    for (std::size_t n : {3u, 17u, 64u, 769u})
      for (float scale : {1e30f, 1e37f, 1e-30f, 1e-38f, 0x1p41f})
        for (int rms = 0; rms < 2; ++rms)
          for (float shift : {0.f, 0.5f}) {
            INFO("n " << n << " scale " << scale << (rms ? " rms" : " layer") << " shift " << shift);
            const std::size_t rows = 3;
            auto x = qkv_test::random_vector(rows * n, n, -1.f, 1.f);
            for (auto& v : x) v = (v + shift) * scale;
            const auto g = qkv_test::random_vector(n, n + 1, 0.5f, 1.5f), b = qkv_test::random_vector(n, n + 2);
            const auto dy = qkv_test::random_vector(rows * n, n + 3);
            std::vector<float> y(rows * n), m(rows), r(rows), dx(rows * n), dg(n, 0.f), db(n, 0.f);
            const float eps = 1e-5f;
            if (rms) {
              REQUIRE(qkv_rmsnorm_forward(rows, n, eps, x.data(), n, g.data(), y.data(), n, r.data()) == QKV_OK);
              REQUIRE(qkv_rmsnorm_backward(rows, n, x.data(), n, g.data(), r.data(), dy.data(), n, dx.data(), n, 0,
                                           dg.data()) == QKV_OK);
            } else {
              REQUIRE(qkv_layernorm_forward(rows, n, eps, x.data(), n, g.data(), b.data(), y.data(), n, m.data(),
                                            r.data()) == QKV_OK);
              REQUIRE(qkv_layernorm_backward(rows, n, x.data(), n, g.data(), m.data(), r.data(), dy.data(), n,
                                             dx.data(), n, 0, dg.data(), db.data()) == QKV_OK);
            }
            const auto f = qkv_test::ref_norm_forward(rms, rows, n, eps, x.data(), n, nullptr, 0, g.data(),
                                                      rms ? nullptr : b.data());
            const auto bw = qkv_test::ref_norm_backward(rms, rows, n, eps, x.data(), n, g.data(), dy.data(), n);
            // |xhat| <= sqrt(n) and the mean is at most 1.5 spreads: the bound
            // of the header at D + |mu| <= 3 * max|s| is a few L ulps of sqrt(n).
            const double L = bound_l(n), big = 4 * std::sqrt(static_cast<double>(n)) * 1.5;
            for (std::size_t i = 0; i < rows * n; ++i) {
              REQUIRE(std::isfinite(y[i]));
              REQUIRE(std::isfinite(dx[i]));
              CHECK(std::fabs(y[i] - f.y[i]) <= 2 * (L + 4) * kU * big * (1 + std::fabs(f.y[i])) + flush);
              const double dxs = std::fabs(bw.dx[i]) + f.rstd[i / n] * 4 * big;
              CHECK(std::fabs(dx[i] - bw.dx[i]) <= 2 * (L + 8) * kU * dxs + flush);
            }
            for (std::size_t j = 0; j < n; ++j)
              CHECK(std::fabs(dg[j] - bw.dgamma[j]) <= 2 * (rows + L) * kU * big * rows + flush);
          }
  });
}

namespace {

// sum_ij w[i][j] * y[i][j] of the reference forward, in double.
double ref_loss(bool rms, std::size_t rows, std::size_t n, const std::vector<float>& x, const std::vector<float>& res,
                const std::vector<float>& g, const std::vector<float>& b, const std::vector<float>& w) {
  const auto f = qkv_test::ref_norm_forward(rms, rows, n, 1e-5, x.data(), n, res.data(), n, g.data(),
                                            rms ? nullptr : b.data());
  double l = 0;
  for (std::size_t i = 0; i < rows * n; ++i) l += w[i] * f.y[i];
  return l;
}

// The same through the library (fp32), summed in double.
double lib_loss(bool rms, std::size_t rows, std::size_t n, const std::vector<float>& x, const std::vector<float>& res,
                const std::vector<float>& g, const std::vector<float>& b, const std::vector<float>& w) {
  std::vector<float> y(rows * n);
  const qkv_status st =
      rms ? qkv_add_rmsnorm_forward(rows, n, 1e-5f, x.data(), n, res.data(), n, nullptr, 0, g.data(), y.data(), n,
                                    nullptr)
          : qkv_add_layernorm_forward(rows, n, 1e-5f, x.data(), n, res.data(), n, nullptr, 0, g.data(), b.data(),
                                      y.data(), n, nullptr, nullptr);
  REQUIRE(st == QKV_OK);
  double l = 0;
  for (std::size_t i = 0; i < rows * n; ++i) l += static_cast<double>(w[i]) * y[i];
  return l;
}

}  // namespace

TEST_CASE("norm gradients match central differences", "[norm]") {
  const std::size_t rows = 3, n = 9;
  for (int rms = 0; rms < 2; ++rms) {
    INFO((rms ? "rms" : "layer"));
    auto x = qkv_test::random_vector(rows * n, 31, -1.5f, 2.f), res = qkv_test::random_vector(rows * n, 32);
    auto g = qkv_test::random_vector(n, 33, 0.5f, 1.5f), b = qkv_test::random_vector(n, 34);
    const auto w = qkv_test::random_vector(rows * n, 35);  // dy
    // Reference gradients (from s = x + res in double, rounded to float as the library keeps it).
    const auto f = qkv_test::ref_norm_forward(rms, rows, n, 1e-5, x.data(), n, res.data(), n, nullptr, nullptr);
    std::vector<float> s(rows * n);
    for (std::size_t i = 0; i < rows * n; ++i) s[i] = static_cast<float>(f.s[i]);
    const auto bw = qkv_test::ref_norm_backward(rms, rows, n, 1e-5, s.data(), n, g.data(), w.data(), n);
    // The library's gradients.
    std::vector<float> ls(rows * n), y(rows * n), m(rows), r(rows), dx(rows * n), dg(n, 0.f), db(n, 0.f);
    if (rms) {
      REQUIRE(qkv_add_rmsnorm_forward(rows, n, 1e-5f, x.data(), n, res.data(), n, ls.data(), n, g.data(), y.data(), n,
                                      r.data()) == QKV_OK);
      REQUIRE(qkv_rmsnorm_backward(rows, n, ls.data(), n, g.data(), r.data(), w.data(), n, dx.data(), n, 0,
                                   dg.data()) == QKV_OK);
    } else {
      REQUIRE(qkv_add_layernorm_forward(rows, n, 1e-5f, x.data(), n, res.data(), n, ls.data(), n, g.data(), b.data(),
                                        y.data(), n, m.data(), r.data()) == QKV_OK);
      REQUIRE(qkv_layernorm_backward(rows, n, ls.data(), n, g.data(), m.data(), r.data(), w.data(), n, dx.data(), n,
                                     0, dg.data(), db.data()) == QKV_OK);
    }
    // Central differences: in double on the reference (step 2^-10, exact in
    // float for these values; truncation ~h^2 |f'''| ~ 1e-6), and on the
    // library's fp32 forward (step 2^-6: rounding ~2^-24 |loss| / h ~ 1e-5,
    // truncation ~ 1e-4), each against the library's gradient.
    auto fd = [&](std::vector<float>& v, std::size_t i, float h, bool lib) {
      const float keep = v[i];
      v[i] = keep + h;
      const double up = lib ? lib_loss(rms, rows, n, x, res, g, b, w) : ref_loss(rms, rows, n, x, res, g, b, w);
      v[i] = keep - h;
      const double dn = lib ? lib_loss(rms, rows, n, x, res, g, b, w) : ref_loss(rms, rows, n, x, res, g, b, w);
      v[i] = keep;
      return (up - dn) / (2.0 * h);
    };
    for (std::size_t i = 0; i < rows * n; ++i) {
      INFO("element " << i);
      const double fx = fd(x, i, 0x1p-10f, false), fr = fd(res, i, 0x1p-10f, false);
      CHECK(std::fabs(bw.dx[i] - fx) <= 1e-5 * (1 + std::fabs(fx)));
      CHECK(std::fabs(bw.dx[i] - fr) <= 1e-5 * (1 + std::fabs(fr)));
      CHECK(std::fabs(dx[i] - fx) <= 1e-5 * (1 + std::fabs(fx)));
      CHECK(std::fabs(dx[i] - fd(x, i, 0x1p-6f, true)) <= 2e-3 * (1 + std::fabs(fx)));
    }
    for (std::size_t j = 0; j < n; ++j) {
      INFO("feature " << j);
      const double fg = fd(g, j, 0x1p-10f, false);
      CHECK(std::fabs(bw.dgamma[j] - fg) <= 1e-5 * (1 + std::fabs(fg)));
      CHECK(std::fabs(dg[j] - fg) <= 1e-5 * (1 + std::fabs(fg)));
      if (!rms) {
        const double fb = fd(b, j, 0x1p-10f, false);
        CHECK(std::fabs(bw.dbeta[j] - fb) <= 1e-5 * (1 + std::fabs(fb)));
        CHECK(std::fabs(db[j] - fb) <= 1e-5 * (1 + std::fabs(fb)));
      }
    }
  }
}

TEST_CASE("norms reject bad arguments in order and write nothing", "[norm][args]") {
  // Every buffer lives in one arena of sentinels; after a refused call the
  // whole arena (inputs included) must be unchanged.
  std::vector<float> a(256);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = kSentinel + static_cast<float>(i) * 1e3f;
  const std::vector<float> a0 = a;
  float* const p = a.data();
  float *x = p, *res = p + 16, *s = p + 32, *y = p + 48, *mean = p + 64, *rstd = p + 72, *g = p + 80, *b = p + 88,
        *dy = p + 96, *dx = p + 112, *dg = p + 128, *db = p + 136;
  const std::size_t R = 2, N = 3, huge = SIZE_MAX / 2;
  auto lf = [&](std::size_t rows, std::size_t n, float eps, const float* xp, std::size_t ldx, float* yp,
                std::size_t ldy, float* mp, float* rp, const float* gp = nullptr) {
    return qkv_layernorm_forward(rows, n, eps, xp, ldx, gp, b, yp, ldy, mp, rp);
  };
  auto af = [&](const float* xp, std::size_t ldx, const float* rp, std::size_t ldr, float* sp, std::size_t lds,
                float* yp, std::size_t ldy) {
    return qkv_add_layernorm_forward(R, N, 1e-5f, xp, ldx, rp, ldr, sp, lds, g, b, yp, ldy, mean, rstd);
  };
  auto lb = [&](std::size_t rows, const float* xp, std::size_t ldx, const float* mp, const float* rp,
                const float* dyp, std::size_t ldy, float* dxp, std::size_t lddx, int acc, float* dgp, float* dbp) {
    return qkv_layernorm_backward(rows, N, xp, ldx, g, mp, rp, dyp, ldy, dxp, lddx, acc, dgp, dbp);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const struct {
    const char* what;
    qkv_status got, want;
  } cases[] = {
      {"x NULL", lf(R, N, 1e-5f, nullptr, N, y, N, mean, rstd), QKV_ERR_NULL_POINTER},
      {"y NULL", lf(R, N, 1e-5f, x, N, nullptr, N, mean, rstd), QKV_ERR_NULL_POINTER},
      {"y NULL before rows 0", lf(0, N, 1e-5f, x, N, nullptr, N, mean, rstd), QKV_ERR_NULL_POINTER},
      {"rms x NULL", qkv_rmsnorm_forward(R, N, 1e-5f, nullptr, N, g, y, N, rstd), QKV_ERR_NULL_POINTER},
      {"res NULL", af(x, N, nullptr, N, s, N, y, N), QKV_ERR_NULL_POINTER},
      {"rms res NULL", qkv_add_rmsnorm_forward(R, N, 1e-5f, x, N, nullptr, N, s, N, g, y, N, rstd),
       QKV_ERR_NULL_POINTER},
      {"rows 0", lf(0, N, 1e-5f, x, N, y, N, mean, rstd), QKV_ERR_BAD_SHAPE},
      {"n 0", lf(R, 0, 1e-5f, x, N, y, N, mean, rstd), QKV_ERR_BAD_SHAPE},
      {"rms n 0", qkv_rmsnorm_forward(R, 0, 1e-5f, x, N, g, y, N, rstd), QKV_ERR_BAD_SHAPE},
      {"ldx < n", lf(R, N, 1e-5f, x, 2, y, N, mean, rstd), QKV_ERR_BAD_STRIDE},
      {"ldy < n", lf(R, N, 1e-5f, x, N, y, 2, mean, rstd), QKV_ERR_BAD_STRIDE},
      {"ldr < n", af(x, N, res, 2, s, N, y, N), QKV_ERR_BAD_STRIDE},
      {"lds < n", af(x, N, res, N, s, 2, y, N), QKV_ERR_BAD_STRIDE},
      {"ld before eps", lf(R, N, nan, x, 2, y, N, mean, rstd), QKV_ERR_BAD_STRIDE},
      {"eps 0", lf(R, N, 0.f, x, N, y, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"eps < 0", lf(R, N, -1e-5f, x, N, y, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"eps NaN", lf(R, N, nan, x, N, y, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"eps inf", lf(R, N, inf, x, N, y, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"rms eps 0", qkv_rmsnorm_forward(R, N, 0.f, x, N, g, y, N, rstd), QKV_ERR_BAD_ARGUMENT},
      {"x overflows", lf(huge, N, 1e-5f, x, N, y, N, mean, rstd), QKV_ERR_SIZE_OVERFLOW},
      {"ld overflows", lf(R, N, 1e-5f, x, huge, y, N, mean, rstd), QKV_ERR_SIZE_OVERFLOW},
      {"eps before overflow", lf(huge, N, 0.f, x, N, y, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"y == x, other ld", lf(R, N, 1e-5f, x, N, x, N + 1, mean, rstd), QKV_ERR_BAD_STRIDE},
      {"s == x, other ld", af(x, N, res, N, x, N + 1, y, N), QKV_ERR_BAD_STRIDE},
      {"s == res, other ld", af(x, N, res, N, res, N + 1, y, N), QKV_ERR_BAD_STRIDE},
      {"y overlaps x", lf(R, N, 1e-5f, x, N, x + 1, N, mean, rstd), QKV_ERR_BAD_ARGUMENT},
      {"y overlaps res", af(x, N, res, N, s, N, res + 2, N), QKV_ERR_BAD_ARGUMENT},
      {"y == res", af(x, N, res, N, s, N, res, N), QKV_ERR_BAD_ARGUMENT},
      {"y == s", af(x, N, res, N, s, N, s, N), QKV_ERR_BAD_ARGUMENT},
      {"y == x == s", af(x, N, res, N, x, N, x, N), QKV_ERR_BAD_ARGUMENT},
      {"s overlaps x", af(x, N, res, N, x + 3, N, y, N), QKV_ERR_BAD_ARGUMENT},
      {"mean overlaps x", lf(R, N, 1e-5f, x, N, y, N, x + 5, rstd), QKV_ERR_BAD_ARGUMENT},
      {"rstd overlaps y", lf(R, N, 1e-5f, x, N, y, N, mean, y), QKV_ERR_BAD_ARGUMENT},
      {"mean overlaps rstd", lf(R, N, 1e-5f, x, N, y, N, mean, mean + 1), QKV_ERR_BAD_ARGUMENT},
      {"gamma overlaps y", lf(R, N, 1e-5f, x, N, y, N, mean, rstd, y + 4), QKV_ERR_BAD_ARGUMENT},
      {"rms rstd overlaps x", qkv_rmsnorm_forward(R, N, 1e-5f, x, N, g, y, N, x), QKV_ERR_BAD_ARGUMENT},
      {"backward x NULL", lb(R, nullptr, N, mean, rstd, dy, N, dx, N, 0, dg, db), QKV_ERR_NULL_POINTER},
      {"backward dy NULL", lb(R, x, N, mean, rstd, nullptr, N, dx, N, 0, dg, db), QKV_ERR_NULL_POINTER},
      {"backward dx NULL", lb(R, x, N, mean, rstd, dy, N, nullptr, N, 0, dg, db), QKV_ERR_NULL_POINTER},
      {"backward rstd NULL", lb(R, x, N, mean, nullptr, dy, N, dx, N, 0, dg, db), QKV_ERR_NULL_POINTER},
      {"backward mean NULL", lb(R, x, N, nullptr, rstd, dy, N, dx, N, 0, dg, db), QKV_ERR_NULL_POINTER},
      {"rms backward rstd NULL", qkv_rmsnorm_backward(R, N, x, N, g, nullptr, dy, N, dx, N, 0, dg),
       QKV_ERR_NULL_POINTER},
      {"backward rows 0", lb(0, x, N, mean, rstd, dy, N, dx, N, 0, dg, db), QKV_ERR_BAD_SHAPE},
      {"rms backward n 0", qkv_rmsnorm_backward(R, 0, x, N, g, rstd, dy, N, dx, N, 0, dg), QKV_ERR_BAD_SHAPE},
      {"backward ldx < n", lb(R, x, 2, mean, rstd, dy, N, dx, N, 0, dg, db), QKV_ERR_BAD_STRIDE},
      {"backward ldy < n", lb(R, x, N, mean, rstd, dy, 2, dx, N, 0, dg, db), QKV_ERR_BAD_STRIDE},
      {"backward lddx < n", lb(R, x, N, mean, rstd, dy, N, dx, 2, 0, dg, db), QKV_ERR_BAD_STRIDE},
      {"accumulate 2", lb(R, x, N, mean, rstd, dy, N, dx, N, 2, dg, db), QKV_ERR_BAD_ARGUMENT},
      {"accumulate -1", lb(R, x, N, mean, rstd, dy, N, dx, N, -1, dg, db), QKV_ERR_BAD_ARGUMENT},
      {"backward overflow", lb(huge, x, N, mean, rstd, dy, N, dx, N, 0, dg, db), QKV_ERR_SIZE_OVERFLOW},
      {"dx == dy, other ld", lb(R, x, N, mean, rstd, dy, N, dy, N + 1, 0, dg, db), QKV_ERR_BAD_STRIDE},
      {"dx overlaps dy", lb(R, x, N, mean, rstd, dy, N, dy + 1, N, 0, dg, db), QKV_ERR_BAD_ARGUMENT},
      {"dx == x", lb(R, x, N, mean, rstd, dy, N, x, N, 0, dg, db), QKV_ERR_BAD_ARGUMENT},
      {"dx overlaps rstd", lb(R, x, N, mean, rstd, dy, N, rstd - 1, N, 0, dg, db), QKV_ERR_BAD_ARGUMENT},
      {"dgamma overlaps dy", lb(R, x, N, mean, rstd, dy, N, dx, N, 0, dy + 3, db), QKV_ERR_BAD_ARGUMENT},
      {"dgamma == dbeta", lb(R, x, N, mean, rstd, dy, N, dx, N, 0, dg, dg), QKV_ERR_BAD_ARGUMENT},
      {"dbeta overlaps gamma", lb(R, x, N, mean, rstd, dy, N, dx, N, 0, dg, g + 1), QKV_ERR_BAD_ARGUMENT},
      {"dbeta overlaps dx", lb(R, x, N, mean, rstd, dy, N, dx, N, 0, dg, dx + 5), QKV_ERR_BAD_ARGUMENT},
      {"rms dgamma overlaps x", qkv_rmsnorm_backward(R, N, x, N, g, rstd, dy, N, dx, N, 0, x + 2),
       QKV_ERR_BAD_ARGUMENT},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(c.got == c.want);
  }
  CHECK(a == a0);
  // And the same arena is accepted where the rules allow it.
  CHECK(lf(R, N, 1e-5f, x, N, y, N, nullptr, nullptr) == QKV_OK);
  CHECK(af(x, N, res, N, nullptr, 0, y, N) == QKV_OK);  // lds unused without s
  CHECK(qkv_add_layernorm_forward(R, N, 1e-5f, x, N, x, N, s, N, nullptr, nullptr, y, N, nullptr, nullptr) == QKV_OK);
  CHECK(qkv_rmsnorm_backward(R, N, x, N, g, rstd, dy, N, dx, N, 0, nullptr) == QKV_OK);  // no mean needed
}
