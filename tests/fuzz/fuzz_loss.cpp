// SPDX-License-Identifier: MIT
// Fuzz target: loss.h - qkv_cross_entropy_forward, _backward, _forward_backward
// (in place included).
// qkv-fuzz-requires: src/ops/loss.hpp
//
// Reference (tests/ref/ref_loss.h), per counted row r in double:
// lse_r - logit[r][t_r], mean over count rows; gradient
// dloss/count * (p_j - [j == t_r]). With A = 1 + max|logit| of the row
// (absolute rounding of the shift) and V classes (the sum):
//   loss:     |loss - ref| <= eps * (4A + 2V + 8) + eps * count * mean|term|
//   dlogits:  |g - ref| <= |dloss|/count * eps * ((4A + 2V + 8) * p_j + 2) + 1e-37
// Ignored rows (target == ignore_index) get exact zeros; all ignored: loss 0.
#include "fuzz/harness.hpp"
#include "ref/ref_loss.h"
#include "ref/ref_softmax.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qkv_fuzz;
  stats().target = "loss";
  input in(data, size);
  in.runtime();
  const int mode = in.in(0, 2);  // forward, backward, forward_backward
  const std::size_t rows = in.dim(24), classes = in.dim(60);
  const std::size_t ld = in.ld(classes);
  const bool in_place = mode > 0 && in.one_in(4);
  const std::size_t ldd = in_place ? ld : in.ld(classes);  // in place is row for row only
  const std::int32_t ignore = in.one_in(4) ? in.raw().ConsumeIntegral<std::int32_t>() : -100;
  const float dloss = in.flag() ? 1.f : in.scalar();
  const values kind = in.kind();

  std::size_t el, ed;
  const bool ol = extent(rows, classes, ld, &el), od = extent(rows, classes, ldd, &ed);
  // Buffers the call uses: logits and targets, and dlogits unless forward only.
  const bool overflow = !ol || (mode > 0 && !od);
  const bool tgt_fit = fits(rows);
  // The library may read logits and targets before it checks dlogits' extent
  // (the order is unspecified), so they must be real unless logits overflow.
  if (ol && !(fits(el) && tgt_fit)) return 0;
  if (!overflow && mode > 0 && !fits(ed)) return 0;  // valid, too big to back
  const bool small = overflow;
  guarded logits(ol && fits(el) ? el * 4 : 64), dl(od && fits(ed) ? ed * 4 : 64), loss(4);
  guarded targets(tgt_fit ? rows * 4 : 64);  // targets are sized by rows alone
  fill(logits, kind, in.seed());
  fill(dl, values::special, 3);
  bool targets_ok = true;
  std::vector<std::int32_t> tg(targets.floats());
  for (std::size_t r = 0; r < tg.size(); ++r) {
    std::int32_t t;
    switch (in.in(0, 15)) {
      case 13: t = ignore; break;
      case 14: t = in.raw().ConsumeIntegral<std::int32_t>(); break;
      case 15: t = static_cast<std::int32_t>(classes); break;
      default: t = static_cast<std::int32_t>(in.in<std::size_t>(0, classes ? classes - 1 : 0));
    }
    tg[r] = t;
    if (r < rows && t != ignore && (t < 0 || static_cast<std::size_t>(t) >= classes)) targets_ok = false;
  }
  if (!tg.empty()) std::memcpy(targets.data(), tg.data(), tg.size() * 4);
  const float* lp = in.maybe_null(logits.f());
  const std::int32_t* tp = in.maybe_null(static_cast<const std::int32_t*>(targets.data()));
  float* lossp = in.maybe_null(loss.f());
  guarded& grad = in_place ? logits : dl;
  float* gp = in.maybe_null(grad.f());
  std::vector<float> x0(logits.f(), logits.f() + logits.floats());
  grad.snapshot();
  loss.snapshot();
  qkv_status st;
  if (mode == 0)
    st = count(qkv_cross_entropy_forward(rows, classes, lp, ld, tp, ignore, lossp));
  else if (mode == 1)
    st = count(qkv_cross_entropy_backward(rows, classes, lp, ld, tp, ignore, dloss, gp, ldd));
  else
    st = count(qkv_cross_entropy_forward_backward(rows, classes, lp, ld, tp, ignore, dloss, lossp, gp, ldd));
  QKV_FUZZ_CHECK(logits.canaries_intact() && dl.canaries_intact() && loss.canaries_intact() &&
                 targets.canaries_intact());
  const bool valid = rows && classes && !small && lp && tp && ld >= classes && targets_ok &&
                     (mode == 1 || lossp) && (mode == 0 || (gp && ldd >= classes && std::isfinite(dloss) &&
                                                            (!in_place || ldd == ld)));
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(grad.unchanged() && loss.unchanged());
    QKV_FUZZ_CHECK(!valid);
    if (st == QKV_ERR_BAD_TOKEN) QKV_FUZZ_CHECK(!targets_ok);
    return 0;
  }
  QKV_FUZZ_CHECK(!small && targets_ok && rows && classes);
  if (mode == 0) QKV_FUZZ_CHECK(grad.unchanged());
  if (!finite_kind(kind) || double(rows) * double(classes) > kMaxRefWork) return 0;

  std::size_t counted = 0;
  for (std::size_t r = 0; r < rows; ++r) counted += tg[r] != ignore;
  // The reference (tests/ref/ref_loss.h): the mean, each row's term and the gradient.
  std::vector<double> terms(rows), gref(mode == 0 ? 0 : rows * classes), prob(classes);
  const double ref_mean = qkv_ref_cross_entropy_forward(rows, classes, x0.data(), ld, tg.data(), ignore, terms.data());
  if (mode > 0) qkv_ref_cross_entropy_backward(rows, classes, x0.data(), ld, tg.data(), ignore, double(dloss), gref.data(), classes);
  double mag = 0, worst_tol = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* x = x0.data() + r * ld;
    double A = 1;
    for (std::size_t j = 0; j < classes; ++j) A = std::max(A, 1 + std::fabs(double(x[j])));
    const double base = kEps * (4 * A + 2 * double(classes) + 8);
    worst_tol = std::max(worst_tol, base);
    const bool ignored = tg[r] == ignore;
    mag += std::fabs(terms[r]);
    if (mode == 0) continue;
    // The row's softmax p_j (tests/ref/ref_softmax.h) scales the gradient's error.
    qkv_ref_softmax_row(x, classes, 1.0, 0, prob.data());
    const float* g = grad.f() + r * ldd;
    for (std::size_t j = 0; j < classes; ++j) {
      if (ignored || counted == 0) {
        QKV_FUZZ_CHECK(g[j] == 0.f);
        continue;
      }
      const double p = prob[j], ref = gref[r * classes + j];
      QKV_FUZZ_CHECK(std::fabs(g[j] - ref) <= std::fabs(double(dloss)) / double(counted) * (base * p + 2 * kEps) + 1e-37);
    }
    for (std::size_t j = classes; j < ldd && r * ldd + j < grad.floats(); ++j) QKV_FUZZ_CHECK(grad.same_bits(r * ldd + j));
  }
  if (mode != 1) {
    QKV_FUZZ_CHECK(std::fabs(*loss.f() - ref_mean) <= worst_tol + kEps * (mag + 1) + (counted ? 0 : 0));
  }
  ++stats().compared;
  return 0;
}
