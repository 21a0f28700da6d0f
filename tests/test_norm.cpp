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
#include <cstring>
#include <limits>
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
void check_against_ref(const problem& p, const outputs& o, int accumulate, const std::vector<float>& dx0) {
  const auto f = qkv_test::ref_norm_forward(p.rms, p.rows, p.n, p.eps, p.x.data(), p.ldx, ptr(p.res), p.ldr,
                                            ptr(p.gamma), p.rms ? nullptr : ptr(p.beta));
  const double L = bound_l(p.n);
  const float* s = p.fused ? o.s.data() : p.x.data();
  const std::size_t lds = p.fused ? p.lds : p.ldx;
  for (std::size_t r = 0; r < p.rows; ++r) {
    const double mu = f.mean[r], rs = f.rstd[r];
    double D = 0;
    for (std::size_t j = 0; j < p.n; ++j) D = std::max(D, std::fabs(f.s[r * p.n + j] - f.s[r * p.n]));
    if (!p.rms) CHECK(std::fabs(o.mean[r] - mu) <= 2 * (L + 2) * kU * (D + std::fabs(mu)));
    else CHECK(o.mean[r] == kSentinel);  // RMSNorm has no mean
    CHECK(std::fabs(o.rstd[r] - rs) <= 2 * (L + 4) * kU * rs);
    for (std::size_t j = 0; j < p.n; ++j) {
      const double sj = f.s[r * p.n + j];
      if (p.fused) CHECK(o.s[r * p.lds + j] == static_cast<float>(sj));  // one rounding of an exact sum
      const double g = p.affine ? p.gamma[j] : 1.0, b = p.affine && !p.rms ? p.beta[j] : 0.0;
      const double tol = 2 * (L + 4) * kU * (std::fabs(g) * rs * (D + std::fabs(mu) + std::fabs(sj - mu)) + std::fabs(b));
      INFO("row " << r << " col " << j << " y " << o.y[r * p.ldy + j] << " ref " << f.y[r * p.n + j]);
      CHECK(std::fabs(o.y[r * p.ldy + j] - f.y[r * p.n + j]) <= tol);
    }
    for (std::size_t j = p.n; j < p.ldy && r + 1 < p.rows; ++j) CHECK(o.y[r * p.ldy + j] == kSentinel);
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
      INFO("row " << r << " col " << j << " dx " << o.dx[r * p.ldy + j] << " ref " << want);
      CHECK(std::fabs(o.dx[r * p.ldy + j] - want) <= tol + (accumulate ? kU * std::fabs(want) : 0.0));
    }
  }
  if (p.affine) {
    for (std::size_t j = 0; j < p.n; ++j) {
      const double tg = 2 * static_cast<double>(p.rows + 2) * kU * mag_g[j] + 2 * err_g[j] + kU * (0.25 + std::fabs(b.dgamma[j]));
      CHECK(std::fabs(o.dgamma[j] - (0.25 + b.dgamma[j])) <= tg);
      if (!p.rms) CHECK(std::fabs(o.dbeta[j] - (0.25 + b.dbeta[j])) <= 2 * static_cast<double>(p.rows + 2) * kU * mag_b[j] + kU * 0.5);
      else CHECK(o.dbeta[j] == 0.25f);
    }
  }
}

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
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> out[3];
    for (int t = 1; t <= 3; ++t) {
      qkv_test::threads_scope ts(t);
      qkv_test::team_watch watch;
      std::vector<float> s(rows * ld), y(rows * ld), m(rows), r(rows), y2(rows * ld), r2(rows), dx(rows * ld),
          dx2(rows * ld), dg(n, 0.f), db(n, 0.f), dg2(n, 0.f);
      REQUIRE(qkv_add_layernorm_forward(rows, n, 1e-5f, x.data(), ld, res.data(), ld, s.data(), ld, g.data(),
                                        b.data(), y.data(), ld, m.data(), r.data()) == QKV_OK);
      REQUIRE(qkv_layernorm_backward(rows, n, s.data(), ld, g.data(), m.data(), r.data(), dy.data(), ld, dx.data(),
                                     ld, 0, dg.data(), db.data()) == QKV_OK);
      REQUIRE(qkv_rmsnorm_forward(rows, n, 1e-6f, x.data(), ld, g.data(), y2.data(), ld, r2.data()) == QKV_OK);
      REQUIRE(qkv_rmsnorm_backward(rows, n, x.data(), ld, g.data(), r2.data(), dy.data(), ld, dx2.data(), ld, 0,
                                   dg2.data()) == QKV_OK);
      if (t > 1) QKV_CHECK_TEAM(watch);
      for (auto* v : {&s, &y, &m, &r, &y2, &r2, &dx, &dx2, &dg, &db, &dg2})
        out[t - 1].insert(out[t - 1].end(), v->begin(), v->end());
    }
    CHECK(same_bits(out[0].data(), out[1].data(), out[0].size()));
    CHECK(same_bits(out[0].data(), out[2].data(), out[0].size()));
  });
}

TEST_CASE("a constant row gives y = beta exactly, at any magnitude", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa) {
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
          for (std::size_t j = 0; j < n; ++j) {
            REQUIRE(std::isfinite(y[j]));
            CHECK(std::fabs(y[j] - f.y[j]) <= 2 * (bound_l(n) + 4) * kU * (std::fabs(f.y[j]) + 1e-30));
          }
        }
  });
}

TEST_CASE("huge and tiny rows give finite results that match the reference", "[norm]") {
  qkv_test::for_each_isa([](qkv_isa) {
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
              CHECK(std::fabs(y[i] - f.y[i]) <= 2 * (L + 4) * kU * big * (1 + std::fabs(f.y[i])));
              const double dxs = std::fabs(bw.dx[i]) + f.rstd[i / n] * 4 * big;
              CHECK(std::fabs(dx[i] - bw.dx[i]) <= 2 * (L + 8) * kU * dxs);
            }
            for (std::size_t j = 0; j < n; ++j) CHECK(std::fabs(dg[j] - bw.dgamma[j]) <= 2 * (rows + L) * kU * big * rows);
          }
  });
}
