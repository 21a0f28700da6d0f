// SPDX-License-Identifier: MIT
// C boundary: LayerNorm and RMSNorm (qkv/norm.h), the checks in the header's
// order, then ops::norm_forward / ops::norm_backward. Bare-metal builds have
// only stubs that return QKV_ERR_UNSUPPORTED: the norms do not fit the
// Cortex-M4 .text budget yet.
#include "qkv/norm.h"

#ifdef QKV_HOSTED
#include <cmath>
#include <cstdint>

#include "capi/checked.hpp"
#include "ops/norm.hpp"

namespace {

using qkv::ops::norm_kind;

// A buffer of the call: its first element and how many floats it spans
// (0: absent).
struct span {
  const float* p;
  std::size_t elems;
};

bool overlap(const span& a, const span& b) noexcept {
  if (!a.p || !b.p || a.elems == 0 || b.elems == 0) return false;
  const auto a0 = reinterpret_cast<std::uintptr_t>(a.p), b0 = reinterpret_cast<std::uintptr_t>(b.p);
  return a0 < b0 + b.elems * sizeof(float) && b0 < a0 + a.elems * sizeof(float);
}

// An in-place pair: the same pointer needs the same leading dimension.
bool same_but_strided(const float* a, std::size_t lda, const float* b, std::size_t ldb) noexcept {
  return a && a == b && lda != ldb;
}
// Otherwise the two must not overlap.
bool clash_unless_same(const span& a, const span& b) noexcept { return a.p != b.p && overlap(a, b); }

// Matrix span, or false on overflow (step 5).
bool mspan(std::size_t rows, std::size_t n, const float* p, std::size_t ld, span* out) noexcept {
  std::size_t e = 0;
  if (p && !qkv::capi::matrix_extent(rows, n, ld, &e)) return false;
  *out = span{p, p ? e : 0};
  return true;
}

qkv_status forward(norm_kind kind, bool fused, std::size_t rows, std::size_t n, float eps, const float* x,
                   std::size_t ldx, const float* res, std::size_t ldr, float* s, std::size_t lds, const float* gamma,
                   const float* beta, float* y, std::size_t ldy, float* mean, float* rstd) noexcept {
  if (!x || !y || (fused && !res)) return QKV_ERR_NULL_POINTER;
  if (rows == 0 || n == 0) return QKV_ERR_BAD_SHAPE;
  if (ldx < n || ldy < n || (fused && ldr < n) || (s && lds < n)) return QKV_ERR_BAD_STRIDE;
  if (!(std::isfinite(eps) && eps > 0.f)) return QKV_ERR_BAD_ARGUMENT;
  span sx, sr{nullptr, 0}, ss{nullptr, 0}, sy;
  if (!mspan(rows, n, x, ldx, &sx) || !mspan(rows, n, y, ldy, &sy) || (fused && !mspan(rows, n, res, ldr, &sr)) ||
      (s && !mspan(rows, n, s, lds, &ss)))
    return QKV_ERR_SIZE_OVERFLOW;
  if (same_but_strided(y, ldy, x, ldx) || same_but_strided(s, lds, x, ldx) || same_but_strided(s, lds, res, ldr))
    return QKV_ERR_BAD_STRIDE;
  const span sg{gamma, n}, sb{beta, n}, sm{mean, rows}, sd{rstd, rows};
  // y: in place over x only; s: in place over x or res; the statistics: alone.
  bool clash = clash_unless_same(sy, sx) || overlap(sy, sr) || overlap(sy, ss) || clash_unless_same(ss, sx) ||
               clash_unless_same(ss, sr);
  const span outs[] = {sy, ss}, stats[] = {sm, sd};
  for (const span& o : outs) clash = clash || overlap(o, sg) || overlap(o, sb) || overlap(o, sm) || overlap(o, sd);
  for (const span& o : stats) clash = clash || overlap(o, sx) || overlap(o, sr) || overlap(o, sg) || overlap(o, sb);
  if (clash || overlap(sm, sd)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::norm_forward(qkv::ops::current_exec(), kind, rows, n, eps, x, ldx, fused ? res : nullptr, ldr, s, lds,
                         gamma, beta, y, ldy, mean, rstd);
  return QKV_OK;
}

qkv_status backward(norm_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                    const float* gamma, const float* mean, const float* rstd, const float* dy, std::size_t ldy,
                    float* dx, std::size_t lddx, int accumulate, float* dgamma, float* dbeta) noexcept {
  if (!x || !dy || !dx || !rstd || (kind == norm_kind::layer && !mean)) return QKV_ERR_NULL_POINTER;
  if (rows == 0 || n == 0) return QKV_ERR_BAD_SHAPE;
  if (ldx < n || ldy < n || lddx < n) return QKV_ERR_BAD_STRIDE;
  if (accumulate != 0 && accumulate != 1) return QKV_ERR_BAD_ARGUMENT;
  span sx, sdy, sdx;
  if (!mspan(rows, n, x, ldx, &sx) || !mspan(rows, n, dy, ldy, &sdy) || !mspan(rows, n, dx, lddx, &sdx))
    return QKV_ERR_SIZE_OVERFLOW;
  if (same_but_strided(dx, lddx, dy, ldy)) return QKV_ERR_BAD_STRIDE;
  const span sg{gamma, n}, sm{kind == norm_kind::layer ? mean : nullptr, rows}, sr{rstd, rows}, sdg{dgamma, n},
      sdb{dbeta, n};
  bool clash = clash_unless_same(sdx, sdy) || overlap(sdg, sdb);
  const span outs[] = {sdx, sdg, sdb};
  for (const span& o : outs)
    clash = clash || overlap(o, sx) || overlap(o, sg) || overlap(o, sm) || overlap(o, sr);
  clash = clash || overlap(sdx, sdg) || overlap(sdx, sdb) || overlap(sdg, sdy) || overlap(sdb, sdy);
  if (clash) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::norm_backward(qkv::ops::current_exec(), kind, rows, n, x, ldx, gamma, sm.p, rstd, dy, ldy, dx, lddx,
                          accumulate == 1, dgamma, dbeta);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_layernorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx, const float* gamma,
                                 const float* beta, float* y, size_t ldy, float* mean, float* rstd) {
  return forward(norm_kind::layer, false, rows, n, eps, x, ldx, nullptr, 0, nullptr, 0, gamma, beta, y, ldy, mean,
                 rstd);
}

qkv_status qkv_add_layernorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx, const float* res,
                                     size_t ldr, float* s, size_t lds, const float* gamma, const float* beta,
                                     float* y, size_t ldy, float* mean, float* rstd) {
  return forward(norm_kind::layer, true, rows, n, eps, x, ldx, res, ldr, s, lds, gamma, beta, y, ldy, mean, rstd);
}

qkv_status qkv_layernorm_backward(size_t rows, size_t n, const float* x, size_t ldx, const float* gamma,
                                  const float* mean, const float* rstd, const float* dy, size_t ldy, float* dx,
                                  size_t lddx, int accumulate, float* dgamma, float* dbeta) {
  return backward(norm_kind::layer, rows, n, x, ldx, gamma, mean, rstd, dy, ldy, dx, lddx, accumulate, dgamma,
                  dbeta);
}

qkv_status qkv_rmsnorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx, const float* gamma,
                               float* y, size_t ldy, float* rstd) {
  return forward(norm_kind::rms, false, rows, n, eps, x, ldx, nullptr, 0, nullptr, 0, gamma, nullptr, y, ldy,
                 nullptr, rstd);
}

qkv_status qkv_add_rmsnorm_forward(size_t rows, size_t n, float eps, const float* x, size_t ldx, const float* res,
                                   size_t ldr, float* s, size_t lds, const float* gamma, float* y, size_t ldy,
                                   float* rstd) {
  return forward(norm_kind::rms, true, rows, n, eps, x, ldx, res, ldr, s, lds, gamma, nullptr, y, ldy, nullptr,
                 rstd);
}

qkv_status qkv_rmsnorm_backward(size_t rows, size_t n, const float* x, size_t ldx, const float* gamma,
                                const float* rstd, const float* dy, size_t ldy, float* dx, size_t lddx,
                                int accumulate, float* dgamma) {
  return backward(norm_kind::rms, rows, n, x, ldx, gamma, nullptr, rstd, dy, ldy, dx, lddx, accumulate, dgamma,
                  nullptr);
}

}  // extern "C"

#else  // !QKV_HOSTED

extern "C" {

qkv_status qkv_layernorm_forward(size_t, size_t, float, const float*, size_t, const float*, const float*, float*,
                                 size_t, float*, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_add_layernorm_forward(size_t, size_t, float, const float*, size_t, const float*, size_t, float*,
                                     size_t, const float*, const float*, float*, size_t, float*, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_layernorm_backward(size_t, size_t, const float*, size_t, const float*, const float*, const float*,
                                  const float*, size_t, float*, size_t, int, float*, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_rmsnorm_forward(size_t, size_t, float, const float*, size_t, const float*, float*, size_t, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_add_rmsnorm_forward(size_t, size_t, float, const float*, size_t, const float*, size_t, float*, size_t,
                                   const float*, float*, size_t, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_rmsnorm_backward(size_t, size_t, const float*, size_t, const float*, const float*, const float*,
                                size_t, float*, size_t, int, float*) {
  return QKV_ERR_UNSUPPORTED;
}

}  // extern "C"

#endif  // QKV_HOSTED
