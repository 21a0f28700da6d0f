// SPDX-License-Identifier: MIT
// Fuzz target: vector.h - qkv_sdot, qkv_saxpy (aliasing x == y included),
// against the double references of tests/ref/ref_vector.h.
#include "fuzz/harness.hpp"
#include "ref/ref_vector.h"

namespace {
using namespace qkv_fuzz;

void one_dot(input& in) {
  std::size_t n = in.dim(300);
  const values kind = in.kind();
  const bool big = !fits(n);
  guarded x(big ? 64 : n * sizeof(float)), y(big ? 64 : n * sizeof(float)), r(sizeof(float));
  fill(x, kind, in.seed());
  fill(y, kind, in.seed());
  const float* xp = in.maybe_null(x.f());
  const float* yp = in.maybe_null(y.f());
  float* rp = in.maybe_null(r.f());
  // A size the harness cannot back with memory is passed only with a NULL
  // pointer, which must be refused before anything is read.
  if (big && xp && yp && rp) xp = nullptr;
  r.snapshot();
  const qkv_status st = count(qkv_sdot(n, xp, yp, rp));
  QKV_FUZZ_CHECK(r.canaries_intact());
  const bool should_fail = !rp || (n && (!xp || !yp));
  QKV_FUZZ_CHECK(should_fail == (st != QKV_OK));
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(st == QKV_ERR_NULL_POINTER && r.unchanged());
    return;
  }
  double mag = 0;
  const double ref = qkv_ref_sdot(n, x.f(), y.f(), &mag);
  bool any_nan = false;
  for (std::size_t i = 0; i < n; ++i) any_nan |= std::isnan(x.f()[i]) || std::isnan(y.f()[i]);
  const float got = *r.f();
  if (any_nan) {
    QKV_FUZZ_CHECK(std::isnan(got));
  } else if (std::isfinite(mag) && mag < 1e37) {
    // Summation error <= n*eps*sum|x*y| (gamma_n bound, lanes and products included);
    // 1e-37 absolute for denormal products flushed or rounded.
    QKV_FUZZ_CHECK(std::fabs(got - ref) <= double(n + 2) * kEps * mag + 1e-37);
    ++stats().compared;
  }
}

void one_axpy(input& in) {
  std::size_t n = in.dim(300);
  const values kind = in.kind();
  const float alpha = in.flag() ? in.scalar() : in.raw().ConsumeFloatingPoint<float>();
  const bool big = !fits(n);
  guarded x(big ? 64 : n * sizeof(float)), y(big ? 64 : n * sizeof(float));
  fill(x, kind, in.seed());
  fill(y, kind, in.seed());
  const bool alias = in.one_in(4);
  const float* xp = in.maybe_null(alias ? y.f() : x.f());
  float* yp = in.maybe_null(y.f());
  if (big && xp && yp) yp = nullptr;
  y.snapshot();
  const qkv_status st = count(qkv_saxpy(n, alpha, xp, yp));
  QKV_FUZZ_CHECK(y.canaries_intact());
  const bool should_fail = n && (!xp || !yp);
  QKV_FUZZ_CHECK(should_fail == (st != QKV_OK));
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(st == QKV_ERR_NULL_POINTER && y.unchanged());
    return;
  }
  std::vector<float> yv(n);  // y before the call (and x too when aliased)
  for (std::size_t i = 0; i < n; ++i) yv[i] = y.saved(i);
  std::vector<double> ref(n), mag(n);
  qkv_ref_saxpy(n, alpha, alias ? yv.data() : x.f(), yv.data(), ref.data(), mag.data());
  for (std::size_t i = 0; i < n; ++i) {
    const double y0 = yv[i], x0 = alias ? y0 : double(x.f()[i]);
    const double got = y.f()[i];
    if (std::isnan(ref[i])) {
      QKV_FUZZ_CHECK(std::isnan(got));
    } else if (std::fabs(y0) < 1e37 && std::fabs(double(alpha) * x0) < 1e37) {
      // One multiply and one add, or one fma: at most two roundings.
      QKV_FUZZ_CHECK(std::fabs(got - ref[i]) <= 2 * kEps * mag[i] + 1e-44);
    }
  }
  ++stats().compared;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "vector";
  input in(data, size);
  in.runtime();
  if (in.flag())
    one_dot(in);
  else
    one_axpy(in);
  return 0;
}
