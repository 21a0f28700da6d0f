// SPDX-License-Identifier: MIT
// Fuzz target: activation.h - qkv_activation_forward/_backward,
// qkv_swiglu_forward/_backward (in place included), qkv_sgemm_bias_act and
// its workspace query. Out-of-range enums come through c_callers.c.
// qkv-fuzz-requires: src/ops/act.hpp
//
// Reference (tests/ref/ref_act.h), in double, with u = 2^-24 and c the
// condition scale qkv_ref_act_condition (qkv/activation.h's bounds):
//   act:   |y - ref| <= (8 + 4c) u |ref| + 2^-118
//   act':  |dx - ref| <= ((16 + 4c) u S + 2^-100) |dy| + 2u |ref|, S the sum of |terms|
//   swiglu: silu's bounds with one more rounding per product.
// qkv_sgemm_bias_act: bitwise qkv_sgemm_ws (bias preset, beta 1; else beta 0)
// then qkv_activation_forward. Finite inputs give finite outputs (forward).
#include "fuzz/harness.hpp"
#include "ref/ref_act.h"

namespace {

using namespace qkv_fuzz;

constexpr double kU = 1.0 / 16777216.0;
constexpr double kFloor = 3.009265538105056e-36;    // 2^-118
constexpr double kFloorD = 7.888609052210118e-31;  // 2^-100
constexpr double kSub = 1.401298464324817e-45;     // 2^-149: a subnormal product's rounding

// Floats outside the rows x n view of `b` unchanged since its snapshot.
bool outside_unchanged(const guarded& b, std::size_t rows, std::size_t n, std::size_t ld) {
  for (std::size_t i = 0; i < b.floats(); ++i)
    if ((i / ld >= rows || i % ld >= n) && !b.same_bits(i)) return false;
  return true;
}

int elementwise(input& in, int mode) {
  const int kind = in.in(-1, 4);  // -1 and 4: not a qkv_activation
  const bool kind_ok = mode >= 2 || (kind >= 0 && kind <= 3);
  const qkv_activation k = kind_ok && mode < 2 ? static_cast<qkv_activation>(kind) : QKV_ACT_RELU;
  const std::size_t rows = in.dim(12), n = in.dim(70);
  const std::size_t lda = in.ld(n), ldb = in.ld(n), ldc = in.ld(n);  // inputs a, b (dy or u), c (dy, swiglu bwd)
  const bool in_place = in.one_in(4);
  const std::size_t ldo = in_place ? (in.one_in(4) ? lda + 1 : lda) : in.ld(n), ldo2 = in.ld(n);
  const values kv = in.kind();
  const std::size_t n_in = mode == 0 ? 1 : (mode == 3 ? 3 : 2), n_out = mode == 3 ? 2 : 1;
  const std::size_t ld_in[3] = {lda, ldb, ldc}, ld_out[2] = {ldo, ldo2};
  std::size_t e_in[3] = {0, 0, 0}, e_out[2] = {0, 0};
  bool overflow = false;
  for (std::size_t i = 0; i < n_in; ++i) overflow = overflow || !extent(rows, n, ld_in[i], &e_in[i]);
  for (std::size_t i = 0; i < n_out; ++i) overflow = overflow || !extent(rows, n, ld_out[i], &e_out[i]);
  bool too_big = false;
  for (std::size_t i = 0; i < 3; ++i) too_big = too_big || !fits(e_in[i]);
  for (std::size_t i = 0; i < 2; ++i) too_big = too_big || !fits(e_out[i]);
  if (!overflow && too_big) return 0;  // valid, too big to back
  auto bytes = [&](std::size_t e) { return overflow ? std::size_t{64} : e * 4 + 4; };
  guarded a(bytes(e_in[0])), b(bytes(e_in[1])), c(bytes(e_in[2])), o1(bytes(e_out[0])), o2(bytes(e_out[1]));
  fill(a, kv, in.seed());
  fill(b, in.flag() ? kv : values::unit, in.seed());
  fill(c, values::unit, in.seed());
  fill(o1, values::special, 5);
  fill(o2, values::special, 6);
  // In place: the first output is the first input's buffer (with ld ldo).
  guarded& out1 = in_place && !overflow && e_out[0] <= e_in[0] ? a : o1;
  const bool really_in_place = &out1 == &a;
  const float *pa = in.maybe_null(a.f()), *pb = in.maybe_null(b.f()), *pc = in.maybe_null(c.f());
  float *p1 = in.maybe_null(out1.f()), *p2 = in.maybe_null(o2.f());
  const std::vector<float> a0(a.f(), a.f() + a.floats()), b0(b.f(), b.f() + b.floats()), c0(c.f(), c.f() + c.floats());
  a.snapshot(), b.snapshot(), c.snapshot(), o1.snapshot(), o2.snapshot();
  qkv_status st;
  switch (mode) {
    case 0: st = count(fuzz_c_activation_forward(kind, rows, n, pa, lda, p1, ldo)); break;
    case 1: st = count(fuzz_c_activation_backward(kind, rows, n, pa, lda, pb, ldb, p1, ldo)); break;
    case 2: st = count(qkv_swiglu_forward(rows, n, pa, lda, pb, ldb, p1, ldo)); break;
    default: st = count(qkv_swiglu_backward(rows, n, pa, lda, pb, ldb, pc, ldc, p1, ldo, p2, ldo2)); break;
  }
  QKV_FUZZ_CHECK(a.canaries_intact() && b.canaries_intact() && c.canaries_intact() && o1.canaries_intact() &&
                 o2.canaries_intact());
  QKV_FUZZ_CHECK(b.unchanged() && c.unchanged());
  const bool empty = rows == 0 || n == 0;
  const bool ptrs = pa && p1 && (mode == 0 || pb) && (mode < 3 || (pc && p2));
  bool lds_ok = true;
  for (std::size_t i = 0; i < n_in; ++i) lds_ok = lds_ok && ld_in[i] >= n;
  for (std::size_t i = 0; i < n_out; ++i) lds_ok = lds_ok && ld_out[i] >= n;
  const bool alias_ok = !really_in_place || ldo == lda || rows * n == 0;
  const bool valid = kind_ok && (empty || (ptrs && lds_ok && !overflow && alias_ok));
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(!valid);
    QKV_FUZZ_CHECK(a.unchanged() && o1.unchanged() && o2.unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(valid);
  if (empty) {
    QKV_FUZZ_CHECK(a.unchanged() && o1.unchanged() && o2.unchanged());
    return 0;
  }
  if (!really_in_place) QKV_FUZZ_CHECK(a.unchanged());
  QKV_FUZZ_CHECK(outside_unchanged(out1, rows, n, ldo));
  if (mode == 3) QKV_FUZZ_CHECK(outside_unchanged(o2, rows, n, ldo2));
  if (double(rows) * double(n) > kMaxRefWork) return 0;
  const float* y = out1.f();
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < n; ++j) {
      const float x = a0[r * lda + j], v = mode > 0 ? b0[r * ldb + j] : 0.f;  // b: unused by the forward
      const float yv = y[r * ldo + j];
      if (!std::isfinite(x) || !std::isfinite(v) || std::fabs(x) > 1e18f || std::fabs(v) > 1e18f) continue;
      if (mode == 0) {
        const double ref = qkv_ref_act(k, x);
        QKV_FUZZ_CHECK(std::isfinite(yv));
        QKV_FUZZ_CHECK(std::fabs(yv - ref) <=
                       (k == QKV_ACT_RELU ? 0.0 : (8 + 4 * qkv_ref_act_condition(k, x)) * kU * std::fabs(ref) + kFloor));
      } else if (mode == 1) {
        double mag = 0;
        const double ref = double(v) * qkv_ref_act_derivative(k, x, &mag);
        const double tol = k == QKV_ACT_RELU ? 0.0
                                             : ((16 + 4 * qkv_ref_act_condition(k, x)) * kU * mag + kFloorD) *
                                                       std::fabs(double(v)) + 2 * kU * std::fabs(ref) + kSub;
        if (std::getenv("ACT_DBG") && !(std::fabs(yv - ref) <= tol)) std::fprintf(stderr, "k %d x %a dy %a got %a ref %a tol %a\n", int(k), double(x), double(v), double(yv), ref, tol);
        QKV_FUZZ_CHECK(std::fabs(yv - ref) <= tol);
      } else {
        const double s = std::fabs(qkv_ref_act(QKV_ACT_SILU, x)), cnd = qkv_ref_act_condition(QKV_ACT_SILU, x);
        if (mode == 2) {
          const double ref = qkv_ref_act(QKV_ACT_SILU, x) * double(v);
          QKV_FUZZ_CHECK(std::fabs(yv - ref) <= (10 + 4 * cnd) * kU * s * std::fabs(double(v)) + kFloor * (1 + std::fabs(double(v))) + kSub);
        } else {
          const float d = c0[r * ldc + j];
          double mag = 0;
          const double ds = qkv_ref_act_derivative(QKV_ACT_SILU, x, &mag);
          const double rdg = double(d) * double(v) * ds, rdu = double(d) * qkv_ref_act(QKV_ACT_SILU, x);
          QKV_FUZZ_CHECK(std::fabs(yv - rdg) <= (20 + 4 * cnd) * kU * mag * std::fabs(double(v) * d) + kFloorD * (1 + std::fabs(double(v) * d)) + kSub);
          QKV_FUZZ_CHECK(std::fabs(o2.f()[r * ldo2 + j] - rdu) <= (10 + 4 * cnd) * kU * s * std::fabs(double(d)) + kFloor * (1 + std::fabs(double(d))) + kSub);
        }
      }
    }
  ++stats().compared;
  return 0;
}

int gemm(input& in) {
  const int ta = in.in(0, 2) % 2 + (in.one_in(16) ? 5 : 0), tb = in.in(0, 1) + (in.one_in(16) ? -3 : 0);
  const int kind = in.in(-1, 4);
  const std::size_t M = in.dim(40), N = in.dim(40), K = in.dim(40);
  const bool tas = ta == 1, tbs = tb == 1;
  const std::size_t ar = tas ? K : M, ac = tas ? M : K, br = tbs ? N : K, bc = tbs ? K : N;
  const std::size_t lda = in.ld(ac), ldb = in.ld(bc), ldc = in.ld(N), ldp = in.ld(N);
  const bool want_pre = !in.one_in(3), want_bias = !in.one_in(3);
  std::size_t ea, eb, ec, ep;
  const bool ov = !extent(ar, ac, lda, &ea) || !extent(br, bc, ldb, &eb) || !extent(M, N, ldc, &ec) ||
                  (want_pre && !extent(M, N, ldp, &ep));
  if (!want_pre) ep = 0;
  if (!ov && !(fits(ea) && fits(eb) && fits(ec) && fits(ep) && fits(N))) return 0;
  auto bytes = [&](std::size_t e) { return ov ? std::size_t{64} : e * 4 + 4; };
  guarded A(bytes(ea)), B(bytes(eb)), C(bytes(ec)), P(bytes(ep)), bias(bytes(N));
  const values kv = in.kind();
  fill(A, kv, in.seed());
  fill(B, values::unit, in.seed());
  fill(bias, values::unit, 3);
  fill(C, values::special, 4);
  fill(P, values::special, 5);
  const int threads = in.in(1, 3);
  std::size_t need = 0;
  const qkv_status qs = count(fuzz_c_sgemm_bias_act_workspace_size(ta, tb, M, N, K, threads, &need));
  const bool trans_ok = (ta == 0 || ta == 1) && (tb == 0 || tb == 1);
  QKV_FUZZ_CHECK((qs == QKV_OK) == trans_ok);
  std::size_t need1 = 0;
  if (trans_ok) QKV_FUZZ_CHECK(qkv_sgemm_bias_act_workspace_size(static_cast<qkv_trans>(ta), static_cast<qkv_trans>(tb),
                                                                 M, N, K, 1, &need1) == QKV_OK);
  const std::size_t wbytes = in.workspace(need1);
  guarded ws(wbytes);
  const float *pa = in.maybe_null(A.f()), *pb = in.maybe_null(B.f());
  float* pc = in.maybe_null(C.f());
  const float* pbias = want_bias ? bias.f() : nullptr;
  float* pp = want_pre ? P.f() : nullptr;
  void* pw = in.one_in(8) ? nullptr : ws.data();
  C.snapshot(), P.snapshot();
  const qkv_status st =
      count(fuzz_c_sgemm_bias_act(ta, tb, M, N, K, pa, lda, pb, ldb, pbias, kind, pp, ldp, pc, ldc, pw, wbytes));
  QKV_FUZZ_CHECK(A.canaries_intact() && B.canaries_intact() && C.canaries_intact() && P.canaries_intact() &&
                 bias.canaries_intact() && ws.canaries_intact());
  const bool kind_ok = kind >= 0 && kind <= 3;
  const bool ptrs = (!(M && K) || pa) && (!(K && N) || pb) && (!(M && N) || pc);
  const bool lds = lda >= ac && ldb >= bc && ldc >= N && (!want_pre || ldp >= N);
  const bool ws_ok = !(M && N) || need1 == 0 || (pw && wbytes >= need1);
  const bool valid = trans_ok && kind_ok && ptrs && lds && !ov && ws_ok;
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(!valid);
    QKV_FUZZ_CHECK(C.unchanged() && P.unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(valid);
  if (!(M && N)) {
    QKV_FUZZ_CHECK(C.unchanged() && P.unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(outside_unchanged(C, M, N, ldc));
  if (want_pre) QKV_FUZZ_CHECK(outside_unchanged(P, M, N, ldp));
  // The two-call form, bitwise.
  std::vector<float> pre2(M * N), c2(M * N);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t j = 0; j < N; ++j) pre2[r * N + j] = pbias ? pbias[j] : 0.f;
  std::size_t gneed = 0;
  QKV_FUZZ_CHECK(qkv_sgemm_workspace_size(static_cast<qkv_trans>(ta), static_cast<qkv_trans>(tb), M, N, K, 1,
                                          &gneed) == QKV_OK);
  std::vector<unsigned char> gws(gneed + 1);
  QKV_FUZZ_CHECK(qkv_sgemm_ws(static_cast<qkv_trans>(ta), static_cast<qkv_trans>(tb), M, N, K, 1.f, A.f(), lda, B.f(),
                              ldb, pbias ? 1.f : 0.f, pre2.data(), N, gws.data(), gws.size()) == QKV_OK);
  QKV_FUZZ_CHECK(qkv_activation_forward(static_cast<qkv_activation>(kind), M, N, pre2.data(), N, c2.data(), N) ==
                 QKV_OK);
  for (std::size_t r = 0; r < M; ++r)
    for (std::size_t j = 0; j < N; ++j) {
      QKV_FUZZ_CHECK(std::memcmp(&C.f()[r * ldc + j], &c2[r * N + j], 4) == 0);
      if (want_pre) QKV_FUZZ_CHECK(std::memcmp(&P.f()[r * ldp + j], &pre2[r * N + j], 4) == 0);
    }
  ++stats().compared;
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "act";
  input in(data, size);
  in.runtime();
  const int mode = in.in(0, 4);  // forward, backward, swiglu forward, swiglu backward, sgemm_bias_act
  return mode == 4 ? gemm(in) : elementwise(in, mode);
}
