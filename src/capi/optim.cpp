// SPDX-License-Identifier: MIT
// C boundary: SGD and AdamW steps.
#include <cmath>

#include "capi/checked.hpp"
#include "ops/optim.hpp"
#include "qkv/optim.h"

namespace {

using qkv::capi::kMaxElems;

bool finite_nonneg(float x) { return std::isfinite(x) && x >= 0.f; }

bool sgd_valid(const qkv_sgd_config& c) {
  if (!finite_nonneg(c.lr) || !finite_nonneg(c.momentum) || !finite_nonneg(c.weight_decay)) return false;
  if (!std::isfinite(c.dampening)) return false;
  if (c.nesterov != 0 && c.nesterov != 1) return false;
  // PyTorch: "Nesterov momentum requires a momentum and zero dampening".
  return !c.nesterov || (c.momentum > 0.f && c.dampening == 0.f);
}

bool adamw_valid(const qkv_adamw_config& c) {
  auto beta_ok = [](float b) { return b >= 0.f && b < 1.f; };  // false for NaN
  return finite_nonneg(c.lr) && beta_ok(c.beta1) && beta_ok(c.beta2) && finite_nonneg(c.eps) &&
         finite_nonneg(c.weight_decay);
}

#ifdef QKV_HOSTED
// qkv_adamw_step's statuses, in its order (qkv_adamw_step_ex's first ones).
qkv_status adamw_check(const qkv_adamw_config* cfg, uint64_t t, size_t n, const float* params, const float* grads,
                       const float* state) {
  if (!cfg) return QKV_ERR_NULL_POINTER;
  if (n && (!params || !grads || !state)) return QKV_ERR_NULL_POINTER;
  if (!adamw_valid(*cfg) || t == 0) return QKV_ERR_BAD_ARGUMENT;
  size_t two_n;
  if (!qkv::capi::mul_ok(n, 2, &two_n) || two_n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  return QKV_OK;
}
#endif

// *a (value-initialized by the caller) for cfg at step t.
void adamw_args_for(const qkv_adamw_config& cfg, uint64_t t, qkv::kern::adamw_args& a) {
  // Scalars in `wide` (double where the FPU has it), as PyTorch computes them
  // in Python floats. 1 - beta^t as -expm1(t * log1p(beta - 1)): beta - 1 is
  // exact and no cancellation happens, so it stays accurate in float too
  // (1 - powf(0.999f, 1) would lose 4 digits). beta^t -> 0 for large t and
  // beta = 0 gives log1p(-1) = -inf, bias 1: both the right limits.
  // t is capped at 2^32 - 1 (a 32-bit conversion, native on every FPU):
  // 1 - beta^t is already 1 there for every float beta < 1.
  constexpr uint32_t kStepCap = 0xFFFFFFFFu;
  using qkv::ops::wide;
  const wide lr = cfg.lr, b1 = cfg.beta1, b2 = cfg.beta2;
  const wide td = static_cast<wide>(static_cast<uint32_t>(t < kStepCap ? t : kStepCap));
  const wide bc1 = -std::expm1(td * std::log1p(b1 - 1)), bc2 = -std::expm1(td * std::log1p(b2 - 1));
  a.decay = static_cast<float>(1 - lr * static_cast<wide>(cfg.weight_decay));
  a.beta1 = cfg.beta1;
  a.one_minus_beta1 = static_cast<float>(1 - b1);
  a.beta2 = cfg.beta2;
  a.one_minus_beta2 = static_cast<float>(1 - b2);
  a.step_size = static_cast<float>(lr / bc1);
  a.inv_bc2_sqrt = static_cast<float>(1 / std::sqrt(bc2));
  a.eps = cfg.eps;
  a.first = t == 1;
}

// qkv_clip_grad_norm's factor for a norm: PyTorch's clip_coef = max_norm /
// (total_norm + 1e-6), clamped to 1. A NaN norm compares false and gives NaN.
qkv::ops::wide clip_coef(float max_norm, qkv::ops::wide total) {
  using qkv::ops::wide;
  return static_cast<wide>(max_norm) / (total + static_cast<wide>(1e-6));
}

// qkv_clip_grad_norm's and qkv_grad_clip_scale's checks after their pointer
// checks, and the global L2 norm of grads (sum of squares in `wide`).
qkv_status grad_norm(const float* grads, size_t n, float max_norm, const qkv::ops::exec& x, qkv::ops::wide* total) {
  if (!std::isfinite(max_norm) || !(max_norm > 0.f)) return QKV_ERR_BAD_ARGUMENT;
  if (n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  *total = n ? std::sqrt(qkv::ops::sum_squares(x, n, grads)) : qkv::ops::wide(0);
  return QKV_OK;
}

}  // namespace

extern "C" {

qkv_status qkv_sgd_state_floats(const qkv_sgd_config* cfg, size_t n, size_t* floats) {
  if (!cfg || !floats) return QKV_ERR_NULL_POINTER;
  if (!sgd_valid(*cfg)) return QKV_ERR_BAD_ARGUMENT;
  if (n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  *floats = cfg->momentum != 0.f ? n : 0;
  return QKV_OK;
}

qkv_status qkv_sgd_step(const qkv_sgd_config* cfg, uint64_t t, size_t n, float* params, const float* grads,
                        float* state) {
  if (!cfg) return QKV_ERR_NULL_POINTER;
  const bool use_momentum = cfg->momentum != 0.f;
  if (n && (!params || !grads || (use_momentum && !state))) return QKV_ERR_NULL_POINTER;
  if (!sgd_valid(*cfg) || t == 0) return QKV_ERR_BAD_ARGUMENT;
  if (n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (n == 0) return QKV_OK;
  qkv::kern::sgd_args a{};
  a.lr = cfg->lr;
  a.weight_decay = cfg->weight_decay;
  a.momentum = cfg->momentum;
  a.damp_keep = 1.0f - cfg->dampening;  // one correctly rounded float operation, as in double before
  a.use_momentum = use_momentum;
  a.nesterov = cfg->nesterov != 0;
  a.first = t == 1;
  qkv::ops::sgd_step(qkv::ops::current_exec(), a, n, params, grads, state);
  return QKV_OK;
}

qkv_status qkv_adamw_state_floats(size_t n, size_t* floats) {
  if (!floats) return QKV_ERR_NULL_POINTER;
  size_t two_n;
  if (!qkv::capi::mul_ok(n, 2, &two_n) || two_n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  *floats = two_n;
  return QKV_OK;
}

qkv_status qkv_adamw_step(const qkv_adamw_config* cfg, uint64_t t, size_t n, float* params, const float* grads,
                          float* state) {
  if (!cfg) return QKV_ERR_NULL_POINTER;
  if (n && (!params || !grads || !state)) return QKV_ERR_NULL_POINTER;
  if (!adamw_valid(*cfg) || t == 0) return QKV_ERR_BAD_ARGUMENT;
  size_t two_n;
  if (!qkv::capi::mul_ok(n, 2, &two_n) || two_n > kMaxElems) return QKV_ERR_SIZE_OVERFLOW;
  if (n == 0) return QKV_OK;
  qkv::kern::adamw_args a{};
  adamw_args_for(*cfg, t, a);
  qkv::ops::adamw_step(qkv::ops::current_exec(), a, n, params, grads, state, state + n);
  return QKV_OK;
}

qkv_status qkv_clip_grad_norm(float* grads, size_t n, float max_norm, float* norm) {
  if (n && !grads) return QKV_ERR_NULL_POINTER;
  using qkv::ops::wide;
  const qkv::ops::exec x = qkv::ops::current_exec();  // one setting for both passes
  wide total;
  if (const qkv_status st = grad_norm(grads, n, max_norm, x, &total)) return st;
  // A NaN norm scales by NaN, as PyTorch's multiply would.
  const wide coef = clip_coef(max_norm, total);
  if (!(coef >= 1)) qkv::ops::scale(x, n, static_cast<float>(coef), grads);
  if (norm) *norm = static_cast<float>(total);
  return QKV_OK;
}

#ifdef QKV_HOSTED

qkv_status qkv_grad_clip_scale(const float* grads, size_t n, float max_norm, float* norm, float* scale) {
  if ((n && !grads) || !scale) return QKV_ERR_NULL_POINTER;
  using qkv::ops::wide;
  wide total;
  if (const qkv_status st = grad_norm(grads, n, max_norm, qkv::ops::current_exec(), &total)) return st;
  const wide coef = clip_coef(max_norm, total);
  *scale = coef >= 1 ? 1.0f : static_cast<float>(coef);  // NaN stays NaN
  if (norm) *norm = static_cast<float>(total);
  return QKV_OK;
}

qkv_status qkv_adamw_step_ex(const qkv_adamw_config* cfg, uint64_t t, float grad_scale, int zero_grads, size_t n,
                             float* params, float* grads, float* state) {
  if (const qkv_status st = adamw_check(cfg, t, n, params, grads, state)) return st;
  if (zero_grads != 0 && zero_grads != 1) return QKV_ERR_BAD_ARGUMENT;
  if (n == 0) return QKV_OK;
  qkv::kern::adamw_args a{};
  adamw_args_for(*cfg, t, a);
  qkv::ops::adamw_step_ex(qkv::ops::current_exec(), a, grad_scale, zero_grads == 1, n, params,
                          grads, state, state + n);
  return QKV_OK;
}

qkv_status qkv_adamw_step_mirror(const qkv_adamw_config* cfg, uint64_t t, float grad_scale, int zero_grads, size_t n,
                                 float* params, float* grads, float* state, uint16_t* params_bf16) {
  if (const qkv_status st = adamw_check(cfg, t, n, params, grads, state)) return st;
  if (n && !params_bf16) return QKV_ERR_NULL_POINTER;
  if (zero_grads != 0 && zero_grads != 1) return QKV_ERR_BAD_ARGUMENT;
  if (n == 0) return QKV_OK;
  // The mirror's bytes against params, grads and state (n, n and 2n floats;
  // adamw_check bounded 2n): compared as addresses, as the kernels would touch them.
  const auto at = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  const std::uintptr_t m0 = at(params_bf16), m1 = m0 + n * sizeof(uint16_t);
  const auto hits = [&](const float* p, size_t count) { return at(p) < m1 && m0 < at(p) + count * sizeof(float); };
  if (hits(params, n) || hits(grads, n) || hits(state, 2 * n)) return QKV_ERR_BAD_ARGUMENT;
  qkv::kern::adamw_args a{};
  adamw_args_for(*cfg, t, a);
  qkv::ops::adamw_step_ex(qkv::ops::current_exec(), a, grad_scale, zero_grads == 1, n, params, grads, state,
                          state + n, params_bf16);
  return QKV_OK;
}

#else  // !QKV_HOSTED: code size (qkv/optim.h)

qkv_status qkv_grad_clip_scale(const float*, size_t, float, float*, float*) { return QKV_ERR_UNSUPPORTED; }

qkv_status qkv_adamw_step_ex(const qkv_adamw_config*, uint64_t, float, int, size_t, float*, float*, float*) {
  return QKV_ERR_UNSUPPORTED;
}

qkv_status qkv_adamw_step_mirror(const qkv_adamw_config*, uint64_t, float, int, size_t, float*, float*, float*,
                                 uint16_t*) {
  return QKV_ERR_UNSUPPORTED;
}

#endif  // QKV_HOSTED

}  // extern "C"
