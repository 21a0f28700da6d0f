// SPDX-License-Identifier: MIT
// Fuzz target: gemm.h - qkv_sgemm, qkv_sgemm_workspace_size, qkv_sgemm_ws.
// qkv-fuzz-requires: src/ops/gemm.hpp
//
// Reference: C = alpha * op(A) op(B) + beta * C in double. Each entry is a
// K-term dot product: |C - ref| <= eps * (K + 4) * (|alpha| sum_k |a||b| + |beta c|)
// (recursive summation bound gamma_K, plus the alpha/beta scalings).
// beta == 0 must not read C (C starts as NaN then), alpha == 0 or K == 0
// must not read A or B, and nothing outside the M x N block of C changes.
#include "fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qkv_fuzz;
  stats().target = "gemm";
  input in(data, size);
  in.runtime();
  const bool with_ws = in.flag();
  const int ta = in.one_in(10) ? in.raw().ConsumeIntegral<int>() : in.in(0, 1);
  const int tb = in.one_in(10) ? in.raw().ConsumeIntegral<int>() : in.in(0, 1);
  const std::size_t M = in.dim(40), N = in.dim(40), K = in.dim(40);
  // Stored shapes: A is M x K (or K x M transposed), B is K x N (or N x K).
  const bool tra = ta == 1, trb = tb == 1;
  const std::size_t ar = tra ? K : M, ac = tra ? M : K, br = trb ? N : K, bc = trb ? K : N;
  const std::size_t lda = in.ld(ac), ldb = in.ld(bc), ldc = in.ld(N);
  float alpha = in.flag() ? 1.f : in.scalar(), beta = 0.f;
  switch (in.in(0, 3)) {
    case 1: beta = 1.f; break;
    case 2: beta = -0.5f; break;
    case 3: beta = in.scalar(); break;
    default: beta = 0.f;
  }
  if (in.one_in(6)) alpha = 0.f;
  const values kind = in.kind();

  std::size_t ea, eb, ec;
  const bool oa = extent(ar, ac, lda, &ea), ob = extent(br, bc, ldb, &eb), oc = extent(M, N, ldc, &ec);
  const bool overflow = !(oa && ob && oc);
  if (!overflow && !(fits(ea) && fits(eb) && fits(ec))) return 0;
  // Well under the hang limit (ASan, scalar kernels, oversubscribed threads).
  if (!overflow && double(M) * double(N) * double(K) > 4e6) return 0;
  guarded a(overflow ? 64 : ea * 4), b(overflow ? 64 : eb * 4), c(overflow ? 64 : ec * 4);
  const std::uint64_t seed = in.seed();
  fill(a, kind, seed);
  fill(b, kind, seed + 1);
  if (beta == 0.f) {
    for (std::size_t i = 0; i < c.floats(); ++i) c.f()[i] = std::numeric_limits<float>::quiet_NaN();
  } else {
    fill(c, kind, seed + 2);
  }
  const float* ap = in.maybe_null(a.f());
  const float* bp = in.maybe_null(b.f());
  float* cp = in.maybe_null(c.f());

  qkv_status st;
  std::size_t need = 0, ws_bytes = 0;
  const int threads = in.in(1, 3);
  qkv_status qst = QKV_OK;
  std::unique_ptr<guarded> ws;
  c.snapshot();
  if (with_ws) {
    qst = count(fuzz_c_sgemm_workspace_size(ta, tb, M, N, K, threads, &need));
    if (qst == QKV_OK && need > kMaxBytes) return 0;
    ws_bytes = in.workspace(qst == QKV_OK ? need : 0);
    if (ws_bytes > kMaxBytes) return 0;
    ws.reset(new guarded(ws_bytes));
    void* wp = in.one_in(12) ? nullptr : ws->data();
    st = count(fuzz_c_sgemm_ws(ta, tb, M, N, K, alpha, ap, lda, bp, ldb, beta, cp, ldc, wp, ws_bytes));
    QKV_FUZZ_CHECK(ws->canaries_intact());
  } else {
    st = count(fuzz_c_sgemm(ta, tb, M, N, K, alpha, ap, lda, bp, ldb, beta, cp, ldc));
  }
  QKV_FUZZ_CHECK(a.canaries_intact() && b.canaries_intact() && c.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(c.unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(ta >= 0 && ta <= 1 && tb >= 0 && tb <= 1);
  if (M == 0 || N == 0) {
    QKV_FUZZ_CHECK(c.unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(!overflow && ldc >= N);
  // Outside the M x N block (the row gaps) nothing changed.
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = N; j < ldc && i * ldc + j < c.floats(); ++j) QKV_FUZZ_CHECK(c.same_bits(i * ldc + j));
  if (!finite_kind(kind) || !std::isfinite(alpha) || !std::isfinite(beta)) return 0;
  if (double(M) * double(N) * double(K) > kMaxRefWork) return 0;
  const bool reads_ab = alpha != 0.f && K != 0;
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) {
      double acc = 0, mag = 0;
      if (reads_ab)
        for (std::size_t k = 0; k < K; ++k) {
          const double x = tra ? a.f()[k * lda + i] : a.f()[i * lda + k];
          const double y = trb ? b.f()[j * ldb + k] : b.f()[k * ldb + j];
          acc += x * y;
          mag += std::fabs(x * y);
        }
      const double c0 = beta == 0.f ? 0.0 : double(c.saved(i * ldc + j));
      const double ref = double(alpha) * acc + double(beta) * c0;
      const double tol = kEps * double(K + 4) * (std::fabs(double(alpha)) * mag + std::fabs(double(beta) * c0)) + 1e-37;
      QKV_FUZZ_CHECK(std::fabs(double(c.f()[i * ldc + j]) - ref) <= tol);
    }
  ++stats().compared;
  return 0;
}
