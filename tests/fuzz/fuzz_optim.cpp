// SPDX-License-Identifier: MIT
// Fuzz target: optim.h and init.h - qkv_sgd_state_floats, qkv_sgd_step,
// qkv_adamw_state_floats, qkv_adamw_step, qkv_init_uniform, qkv_zero, and the
// one-pass pair qkv_grad_clip_scale + qkv_adamw_step_ex (against
// qkv_clip_grad_norm + qkv_adamw_step + zeroing, bit for bit).
// qkv-fuzz-requires: src/ops/optim.hpp src/capi/init.cpp
//
// Reference: the per-element update rules written in optim.h, in double
// (tests/ref/ref_optim.h).
// Each update is a handful of roundings of terms no larger than
// T = |p| + lr * |update|: |p - ref| <= 16 eps * T (and the same for the
// state). At t == 1 the state's previous contents must be ignored, so the
// state starts as garbage (NaN, Inf) then.
#include <algorithm>
#include <vector>

#include "fuzz/harness.hpp"
#include "ref/ref_optim.h"

namespace {
using namespace qkv_fuzz;

float hyper(input& in, float lo, float hi) {
  switch (in.in(0, 11)) {
    case 9: return -0.5f;
    case 10: return std::numeric_limits<float>::quiet_NaN();
    case 11: return std::numeric_limits<float>::infinity();
    default: return in.raw().ConsumeFloatingPointInRange<float>(lo, hi);
  }
}

void init_target(input& in) {
  const bool zero = in.flag();
  const std::size_t n = in.dim(500);
  const float bound = in.flag() ? 0.5f : in.scalar();
  const bool big = !fits(n);
  guarded p(big ? 64 : n * 4);
  fill(p, values::special, 5);
  float* pp = in.maybe_null(p.f());
  if (big && pp) pp = nullptr;
  p.snapshot();
  const std::uint64_t seed = in.seed();
  const qkv_status st = count(zero ? qkv_zero(pp, n) : qkv_init_uniform(pp, n, bound, seed));
  QKV_FUZZ_CHECK(p.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(p.unchanged());
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const float v = p.f()[i];
    if (zero) {
      QKV_FUZZ_CHECK(v == 0.f && !std::signbit(v));
    } else {
      QKV_FUZZ_CHECK(std::isfinite(bound) && bound >= 0.f);
      // (2k + 1 - 2^23) / 2^23 * bound: strictly inside (-bound, bound) unless bound == 0.
      QKV_FUZZ_CHECK(bound == 0.f ? v == 0.f : (v > -bound && v < bound));
    }
  }
}

void step_target(input& in) {
  const bool adam = in.flag();
  const std::size_t n = in.dim(300);
  const std::uint64_t t = in.one_in(6) ? in.raw().ConsumeIntegral<std::uint64_t>() : in.in<std::uint64_t>(0, 4);
  qkv_sgd_config sgd{hyper(in, 0.f, 1.f), in.flag() ? 0.f : hyper(in, 0.f, 0.99f), in.flag() ? 0.f : hyper(in, 0.f, 1.f),
                     hyper(in, 0.f, 0.1f), in.one_in(3) ? (in.one_in(4) ? in.in(-3, 3) : 1) : 0};
  // eps == 0 is valid but turns a zero (or underflowing) gradient into 0/0 = NaN, as in
  // PyTorch (optim.h says so); the reference comparison below wants eps > 0.
  qkv_adamw_config adamw{hyper(in, 0.f, 0.1f), hyper(in, 0.f, 0.999f), hyper(in, 0.f, 0.9999f),
                         in.one_in(16) ? 0.f : hyper(in, 1e-12f, 1e-3f), hyper(in, 0.f, 0.1f)};
  const values kind = in.kind();
  // The query with NULLs must be refused; the buffer is sized by a proper query
  // (the step cannot check a state buffer's length: that is the caller's part).
  std::size_t floats = 777;
  if (in.one_in(8)) {
    QKV_FUZZ_CHECK(count(adam ? qkv_adamw_state_floats(n, nullptr) : qkv_sgd_state_floats(&sgd, n, nullptr)) ==
                   QKV_ERR_NULL_POINTER);
    QKV_FUZZ_CHECK(count(qkv_sgd_state_floats(nullptr, n, &floats)) == QKV_ERR_NULL_POINTER && floats == 777);
  }
  const qkv_status qst = count(adam ? qkv_adamw_state_floats(n, &floats) : qkv_sgd_state_floats(&sgd, n, &floats));
  const bool big = !fits(n) || (qst == QKV_OK && !fits(floats));
  guarded p(big ? 64 : n * 4), g(big ? 64 : n * 4), s(big || qst != QKV_OK ? 64 : std::max<std::size_t>(floats, 1) * 4);
  const std::uint64_t seed = in.seed();
  fill(p, kind, seed);
  fill(g, kind, seed + 1);
  if (t == 1) {
    fill(s, values::special, seed + 2);  // must be ignored
  } else {
    fill(s, values::unit, seed + 2);
    if (adam)  // v >= 0
      for (std::size_t i = n; i < s.floats(); ++i) s.f()[i] = std::fabs(s.f()[i]);
  }
  float* pp = in.maybe_null(p.f());
  const float* gp = in.maybe_null(g.f());
  float* sp = in.maybe_null(s.f());
  if (big && pp && gp) pp = nullptr;  // too big to back: only a refused call
  p.snapshot();
  s.snapshot();
  const qkv_status st = count(adam ? qkv_adamw_step(in.one_in(12) ? nullptr : &adamw, t, n, pp, gp, sp)
                                   : qkv_sgd_step(in.one_in(12) ? nullptr : &sgd, t, n, pp, gp, sp));
  QKV_FUZZ_CHECK(p.canaries_intact() && g.canaries_intact() && s.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(p.unchanged() && s.unchanged());
    return;
  }
  QKV_FUZZ_CHECK(t >= 1 || n == 0);
  if (!finite_kind(kind) || n == 0 || (adam && adamw.eps == 0.f)) return;
  if (kind == values::tiny) {
    // Denormal moments carry few significant bits (and AdamW divides by ~eps):
    // no reference comparison, but finite in, finite out.
    for (std::size_t i = 0; i < n; ++i) QKV_FUZZ_CHECK(std::isfinite(p.f()[i]));
    return;
  }
  // The reference (tests/ref/ref_optim.h) from the saved parameters and state,
  // with the intermediates the tolerances scale with.
  const bool has_state = adam || sgd.momentum != 0.f;  // else s is no state (and shorter than n)
  std::vector<double> pd(n), s1(n), s2(n), upd(n), upd_terms(n);
  for (std::size_t i = 0; i < n; ++i) {
    pd[i] = p.saved(i);
    if (has_state) s1[i] = s.saved(i);
    if (adam) s2[i] = s.saved(n + i);
  }
  if (adam)
    qkv_ref_adamw_step(&adamw, t, n, pd.data(), g.f(), s1.data(), s2.data(), upd.data(), upd_terms.data());
  else
    qkv_ref_sgd_step(&sgd, t, n, pd.data(), g.f(), s1.data(), upd.data());
  for (std::size_t i = 0; i < n; ++i) {
    const double p0 = p.saved(i), gr = g.f()[i], ref = pd[i];
    double T;
    if (adam) {
      const double m0 = t == 1 ? 0 : s.saved(i), v0 = t == 1 ? 0 : s.saved(n + i);
      const double m = s1[i], v = s2[i];
      // m may cancel (b1 m0 and (1 - b1) g of opposite signs): its rounding
      // error scales with the terms, not with m, and reaches the update as
      // upd_terms does (as for SGD's momentum buffer below).
      T = std::fabs(p0) + std::fabs(upd[i]) * 4 + upd_terms[i];
      QKV_FUZZ_CHECK(std::fabs(s.f()[i] - m) <= 16 * kEps * (std::fabs(m0) + std::fabs(gr)) + 1e-37);
      QKV_FUZZ_CHECK(std::fabs(s.f()[n + i] - v) <= 16 * kEps * (v0 + gr * gr) + 1e-37);
    } else {
      const double gg = upd[i];  // the final g', p moved by -lr * g'
      double gterms = std::fabs(gr) + std::fabs(double(sgd.weight_decay) * p0);
      if (sgd.momentum != 0.f) {
        const double buf = s1[i];
        // The terms before cancellation set the scale of the rounding errors.
        const double gmag = std::fabs(gr) + std::fabs(double(sgd.weight_decay) * p0);
        const double bmag = gmag * (1 + std::fabs(1 - double(sgd.dampening))) +
                            (t == 1 ? 0 : std::fabs(double(sgd.momentum) * s.saved(i)));
        QKV_FUZZ_CHECK(std::fabs(s.f()[i] - buf) <= 16 * kEps * bmag + 1e-37);
        gterms = bmag * (1 + double(sgd.momentum)) + gmag;
      }
      T = std::fabs(p0) + double(sgd.lr) * (4 * gterms + std::fabs(gg));
    }
    QKV_FUZZ_CHECK(std::fabs(p.f()[i] - ref) <= 16 * kEps * T + 1e-37);
  }
  ++stats().compared;
}

// The one-pass pair against the separate calls on copies: the same bits in
// the parameters, the state and the norm, the gradients zeroed or untouched;
// refusals write nothing.
void fused_target(input& in) {
  const std::size_t n = in.dim(300);
  const std::uint64_t t = in.in<std::uint64_t>(0, 4);
  qkv_adamw_config adamw{hyper(in, 0.f, 0.1f), hyper(in, 0.f, 0.999f), hyper(in, 0.f, 0.9999f),
                         hyper(in, 1e-12f, 1e-3f), hyper(in, 0.f, 0.1f)};
  const float max_norm = in.one_in(10) ? hyper(in, -1.f, 1.f) : in.raw().ConsumeFloatingPointInRange<float>(1e-3f, 50.f);
  const int zero = in.one_in(10) ? in.in(-2, 3) : in.in(0, 1);
  const values kind = in.kind();
  const bool big = !fits(n) || n > SIZE_MAX / 2 || !fits(2 * n);
  guarded p(big ? 64 : n * 4), g(big ? 64 : n * 4), s(big ? 64 : 2 * n * 4);
  const std::uint64_t seed = in.seed();
  fill(p, kind, seed);
  fill(g, kind, seed + 1);
  fill(s, values::unit, seed + 2);
  if (!big)
    for (std::size_t i = n; i < 2 * n; ++i) s.f()[i] = std::fabs(s.f()[i]);  // v >= 0
  float* pp = in.maybe_null(p.f());
  float* gp = in.maybe_null(g.f());
  float* sp = in.maybe_null(s.f());
  if (big) gp = nullptr;  // too big to back: only refused calls (the norm would read grads)
  p.snapshot();
  g.snapshot();
  s.snapshot();
  float norm = 7.f, scale = 7.f;
  const qkv_status cst = count(qkv_grad_clip_scale(gp, n, max_norm, in.one_in(4) ? nullptr : &norm, &scale));
  QKV_FUZZ_CHECK(g.canaries_intact() && g.unchanged());
  if (cst != QKV_OK) {
    QKV_FUZZ_CHECK(norm == 7.f && scale == 7.f);
    scale = in.flag() ? 1.f : hyper(in, -2.f, 2.f);  // any factor, e.g. a loss scale
  }
  const qkv_status st = count(qkv_adamw_step_ex(in.one_in(12) ? nullptr : &adamw, t, scale, zero, n, pp, gp, sp));
  QKV_FUZZ_CHECK(p.canaries_intact() && g.canaries_intact() && s.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(p.unchanged() && g.unchanged() && s.unchanged());
    return;
  }
  QKV_FUZZ_CHECK(t >= 1 || n == 0);
  QKV_FUZZ_CHECK(zero == 0 || zero == 1);
  if (n == 0) return;
  // The separate passes on the saved inputs; grads: zeros, or untouched.
  std::vector<float> p2(n), g2(n), s2(2 * n);
  for (std::size_t i = 0; i < n; ++i) p2[i] = p.saved(i), g2[i] = g.saved(i);
  for (std::size_t i = 0; i < n; ++i)
    QKV_FUZZ_CHECK(zero ? (g.f()[i] == 0.f && !std::signbit(g.f()[i])) : g.same_bits(i));
  for (std::size_t i = 0; i < 2 * n; ++i) s2[i] = s.saved(i);
  if (cst == QKV_OK) {
    float norm2 = -1.f;
    QKV_FUZZ_CHECK(qkv_clip_grad_norm(g2.data(), n, max_norm, &norm2) == QKV_OK);
    QKV_FUZZ_CHECK(std::memcmp(&norm, &norm2, sizeof norm) == 0 || norm == 7.f);
  } else if (scale != 1.f) {
    for (float& x : g2) x *= scale;
  }
  QKV_FUZZ_CHECK(qkv_adamw_step(&adamw, t, n, p2.data(), g2.data(), s2.data()) == QKV_OK);
  QKV_FUZZ_CHECK(std::memcmp(p2.data(), p.f(), n * 4) == 0);
  QKV_FUZZ_CHECK(std::memcmp(s2.data(), s.f(), 2 * n * 4) == 0);
  ++stats().compared;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "optim";
  input in(data, size);
  in.runtime();
  switch (in.in(0, 7)) {
    case 0:
    case 1: init_target(in); break;
    case 2:
    case 3: fused_target(in); break;
    default: step_target(in);
  }
  return 0;
}
