// SPDX-License-Identifier: MIT
// C boundary: SGEMM. Validates every argument (qkv/gemm.h lists the order
// of the checks), then calls the trusted ops layer.
#include <cstdint>

#include "capi/checked.hpp"
#include "capi/enum_value.hpp"
#include "capi/report.hpp"
#include "capi/workspace.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_blocking.hpp"
#include "ops/gemm_tiny.hpp"
#include "qkv/gemm.h"

namespace {

// By reference and through the bits: a C caller may pass any int (capi/enum_value.hpp).
bool valid_trans(const qkv_trans& t) {
  const long long v = qkv::capi::enum_value(t);
  return v == QKV_NO_TRANS || v == QKV_TRANS;
}

// A stored rows x cols matrix with leading dimension ld.
struct stored {
  const void* ptr;
  std::size_t rows, cols, ld;
  bool empty() const { return rows == 0 || cols == 0; }
};

stored stored_a(qkv_trans t, std::size_t rows, std::size_t cols, const void* p, std::size_t ld) {
  return t == QKV_TRANS ? stored{p, cols, rows, ld} : stored{p, rows, cols, ld};
}

bool extent_fits(const stored& m) {
  std::size_t span;
  return qkv::capi::matrix_extent(m.rows, m.cols, m.ld, &span);
}

qkv_status check(const qkv_trans& ta, const qkv_trans& tb, std::size_t M, std::size_t N, std::size_t K,
                 const float* A, std::size_t lda, const float* B, std::size_t ldb, const float* C, std::size_t ldc) {
  if (!valid_trans(ta) || !valid_trans(tb)) return QKV_ERR_BAD_ARGUMENT;
  const stored ms[3] = {stored_a(ta, M, K, A, lda), stored_a(tb, K, N, B, ldb), stored{C, M, N, ldc}};
  for (const stored& m : ms)
    if (!m.ptr && !m.empty()) return QKV_ERR_NULL_POINTER;
  for (const stored& m : ms)
    if (m.ld < m.cols) return QKV_ERR_BAD_STRIDE;
  // Every extent is below 2^14 * 2^14 floats = 1 GiB < PTRDIFF_MAX (also on
  // 32-bit targets) when all sizes are: one test instead of three multiplies.
  if (((M | N | K | lda | ldb | ldc) >> 14) == 0) return QKV_OK;
  for (const stored& m : ms)
    if (!extent_fits(m)) return QKV_ERR_SIZE_OVERFLOW;
  return QKV_OK;
}

// "sgemm,avx512,gemm_f32_14x32 mc126 kc240 nc800,NT M1024 N768 K768,threads 2".
// (Small problems run unpacked: "direct".)
void report_sgemm(const qkv::capi::report_clock& clock, const char* routine, const qkv::ops::exec& x, qkv_trans ta,
                  qkv_trans tb, size_t M, size_t N, size_t K) {
  const char t[2] = {'N', 'T'};
  const char* pool = x.pool.parallel_for ? " (executor)" : "";
  if (qkv::ops::sgemm_is_small(M, N, K)) {
    qkv::capi::report(clock.microseconds(), "%s,%s,direct,%c%c M%zu N%zu K%zu,threads 1", routine,
                      qkv_isa_name(x.isa), t[ta == QKV_TRANS], t[tb == QKV_TRANS], M, N, K);
    return;
  }
  const qkv_gemm_blocking b = qkv::ops::describe_gemm_blocking(x.isa);
  qkv::capi::report(clock.microseconds(), "%s,%s,%s mc%zu kc%zu nc%zu,%c%c M%zu N%zu K%zu,threads %d%s", routine,
                    qkv_isa_name(x.isa), b.kernel, b.mc, b.kc, b.nc, t[ta == QKV_TRANS], t[tb == QKV_TRANS], M, N, K,
                    x.threads, pool);
}

}  // namespace

extern "C" {

qkv_status qkv_sgemm(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha, const float* A,
                     size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  const qkv_status s = check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
  if (s != QKV_OK) return s;
  const bool at = ta == QKV_TRANS, bt = tb == QKV_TRANS;
  const qkv::capi::report_clock clock;
  // The settings are read once: by the tiny path, or else for the general one.
  if (!qkv::ops::sgemm_tiny(qkv::dispatch::active_if_decided(), at, bt, M, N, K, alpha, A, lda, B, ldb, beta, C,
                            ldc)) {
    const qkv::ops::exec x = qkv::ops::current_exec();
    qkv::ops::sgemm_general(x, at, bt, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr, 0);
    if (clock.on()) report_sgemm(clock, "sgemm", x, ta, tb, M, N, K);
  } else if (clock.on()) {
    report_sgemm(clock, "sgemm", qkv::ops::plain_exec(qkv::dispatch::active(), 1), ta, tb, M, N, K);
  }
  return QKV_OK;
}

qkv_status qkv_sgemm_workspace_size(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, int threads,
                                    size_t* bytes) {
  if (!valid_trans(ta) || !valid_trans(tb) || threads < 1) return QKV_ERR_BAD_ARGUMENT;
  if (!bytes) return QKV_ERR_NULL_POINTER;
  // Packed blocks are clipped to the table's cache blocks, so only the
  // thread count can make the size large: bound it before multiplying.
  const qkv_isa isa = qkv::dispatch::active();
  const std::size_t one = qkv::ops::sgemm_workspace_bytes(isa, ta == QKV_TRANS, tb == QKV_TRANS, M, N, K, 1);
  const std::size_t two = qkv::ops::sgemm_workspace_bytes(isa, ta == QKV_TRANS, tb == QKV_TRANS, M, N, K, 2);
  const std::size_t per_thread = two - one;
  if (per_thread && static_cast<std::size_t>(threads - 1) > (SIZE_MAX - one) / per_thread)
    return QKV_ERR_SIZE_OVERFLOW;
  *bytes = one + static_cast<std::size_t>(threads - 1) * per_thread;
  return QKV_OK;
}

qkv_status qkv_sgemm_ws(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha, const float* A,
                        size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc, void* workspace,
                        size_t workspace_bytes) {
  const qkv_status s = check(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
  if (s != QKV_OK) return s;
  // Only the packed path (not empty, not small, alpha != 0) uses the workspace.
  const bool packs = M && N && K && alpha != 0.f && !qkv::ops::sgemm_is_small(M, N, K);
  // An unpacked call runs on one thread: it needs the ISA alone.
  const qkv::ops::exec x = packs ? qkv::ops::current_exec() : qkv::ops::plain_exec(qkv::dispatch::active(), 1);
  const std::size_t need =
      packs ? qkv::ops::sgemm_workspace_bytes(x.isa, ta == QKV_TRANS, tb == QKV_TRANS, M, N, K, 1) : 0;
  if (const qkv_status w = qkv::capi::check_workspace(workspace, workspace_bytes, need); w != QKV_OK) return w;
  const qkv::capi::report_clock clock;
  qkv::ops::sgemm(x, ta == QKV_TRANS, tb == QKV_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                  need ? workspace : nullptr, workspace_bytes);
  if (clock.on()) report_sgemm(clock, "sgemm_ws", x, ta, tb, M, N, K);
  return QKV_OK;
}

}  // extern "C"

qkv_status qkv_get_gemm_blocking(qkv_gemm_blocking* out) {
  if (!out) return QKV_ERR_NULL_POINTER;
  *out = qkv::ops::describe_gemm_blocking(qkv::ops::current_exec().isa);
  return QKV_OK;
}
