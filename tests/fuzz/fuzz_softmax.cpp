// SPDX-License-Identifier: MIT
// Fuzz target: softmax.h - qkv_softmax, qkv_log_softmax (in place included).
// qkv-fuzz-requires: src/ops/softmax.hpp
//
// Reference (tests/ref/ref_softmax.h: double, per row, s_j = scale * x_j,
// m = max s):
//   softmax y_j = exp(s_j - m) / sum_k exp(s_k - m);  log y_j = s_j - m - log(sum).
// Tolerance: the fp32 product scale*x_j and the shift by m each carry a
// relative rounding, an absolute error of eps*A in the exponent with
// A = 1 + max|s|; exp adds <= 2 ulp; the n-term sum a relative n*eps. So
//   softmax:     |y - ref| <= eps * (4A + 2n + 8) * ref + 1e-37 (flushed tails),
//   log-softmax: |y - ref| <= eps * (4A + 2n + 8).
// Non-finite input (the contract in softmax.h): NaN or +inf in a row -> the
// row is NaN; -inf entries get weight 0 (log: -inf); an all -inf row ->
// zeros (log: all -inf). A row with |scale*x| > 2^28 has an unspecified
// result (softmax.h; only bounds and canaries are checked there).
#include "fuzz/harness.hpp"
#include "ref/ref_softmax.h"

namespace {
using namespace qkv_fuzz;

QKV_FUZZ_NO_COVERAGE void check_row(const float* x, const float* y, std::size_t n, float scale, bool log) {
  const double inf = std::numeric_limits<double>::infinity();
  bool nan = false, any_visible = false, overflow = false;
  double A = 1;
  for (std::size_t j = 0; j < n; ++j) {
    const double s = double(scale) * x[j];
    if (std::isnan(x[j]) || x[j] == std::numeric_limits<float>::infinity()) nan = true;
    if (std::isfinite(x[j]) && std::fabs(s) > 268435456.0) overflow = true;
    if (x[j] != -std::numeric_limits<float>::infinity()) {
      any_visible = true;
      A = std::max(A, 1 + std::fabs(s));
    }
  }
  if (nan) {
    for (std::size_t j = 0; j < n; ++j) QKV_FUZZ_CHECK(std::isnan(y[j]));
    return;
  }
  if (overflow) return;
  if (!any_visible) {
    for (std::size_t j = 0; j < n; ++j) QKV_FUZZ_CHECK(log ? y[j] == -inf : y[j] == 0.f);
    return;
  }
  std::vector<double> ref(n);
  qkv_ref_softmax_row(x, n, double(scale), log, ref.data());
  const double tol = kEps * (4 * A + 2 * double(n) + 8);
  for (std::size_t j = 0; j < n; ++j) {
    if (x[j] == -std::numeric_limits<float>::infinity()) {
      QKV_FUZZ_CHECK(log ? y[j] == -inf : y[j] == 0.f);
      continue;
    }
    if (log) {
      QKV_FUZZ_CHECK(std::fabs(y[j] - ref[j]) <= tol);
    } else {
      QKV_FUZZ_CHECK(std::fabs(y[j] - ref[j]) <= tol * ref[j] + 1e-37);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "softmax";
  input in(data, size);
  in.runtime();
  const bool log = in.flag();
  const std::size_t rows = in.dim(24), cols = in.dim(70);
  const bool in_place = in.one_in(4);
  const std::size_t ldx = in.ld(cols), ldy = in_place && !in.one_in(8) ? ldx : in.ld(cols);
  const float scale = in.scalar();
  const values kind = in.kind();

  std::size_t ex = 0, ey = 0;
  const bool ok_x = extent(rows, cols, ldx, &ex), ok_y = extent(rows, cols, ldy, &ey);
  const bool overflow = !ok_x || !ok_y;
  if (!overflow && (!fits(ex) || !fits(ey))) return 0;  // valid but too big to back with memory
  guarded x(overflow ? 64 : ex * sizeof(float)), y(overflow ? 64 : ey * sizeof(float));
  fill(x, kind, in.seed());
  fill(y, values::special, 99);
  guarded& out = in_place ? x : y;
  const float* xp = in.maybe_null(x.f());
  float* yp = in.maybe_null(in_place ? x.f() : y.f());
  out.snapshot();
  std::vector<float> x0(x.f(), x.f() + x.floats());

  const qkv_status st = count(log ? qkv_log_softmax(rows, cols, scale, xp, ldx, yp, ldy)
                                  : qkv_softmax(rows, cols, scale, xp, ldx, yp, ldy));
  QKV_FUZZ_CHECK(x.canaries_intact() && y.canaries_intact());
  if (!in_place && !x0.empty()) QKV_FUZZ_CHECK(std::memcmp(x0.data(), x.f(), x0.size() * sizeof(float)) == 0);  // input is const
  const bool empty = rows == 0 || cols == 0;
  const bool scale_ok = std::isfinite(scale) && scale > 0.f;
  const bool valid = scale_ok && (empty || (xp && yp && ldx >= cols && ldy >= cols && !overflow &&
                                            !(in_place && xp && yp && ldx != ldy)));
  QKV_FUZZ_CHECK(valid == (st == QKV_OK));
  if (st != QKV_OK || empty) {
    QKV_FUZZ_CHECK(out.unchanged());
    return 0;
  }
  // Gaps between rows are not part of the output: untouched.
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = cols; j < ldy && r * ldy + j < out.floats(); ++j) QKV_FUZZ_CHECK(out.same_bits(r * ldy + j));
  if (double(rows) * double(cols) <= kMaxRefWork) {
    for (std::size_t r = 0; r < rows; ++r) check_row(x0.data() + r * ldx, out.f() + r * ldy, cols, scale, log);
    ++stats().compared;
  }
  return 0;
}
