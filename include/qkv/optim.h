/* SPDX-License-Identifier: MIT */
/** @file qkv/optim.h
 * @brief Optimizers over flat fp32 parameter buffers: SGD with
 * momentum and AdamW, with PyTorch's update rules (torch.optim.SGD and
 * torch.optim.AdamW, amsgrad=False, maximize=False).
 *
 * One call updates n parameters in place from their gradients. The state
 * (momentum buffer, Adam moments) lives in a caller-owned float buffer whose
 * length the *_state_floats() query gives; the step counter t is the caller's
 * (1 for the first update, then 2, 3, ...). At t == 1 the previous contents
 * of the state are ignored (PyTorch starts from an empty/zero state), so the
 * state need not be cleared before training starts.
 *
 * Results are elementwise: bitwise identical for any thread count, and for a
 * buffer updated whole or in pieces. Different ISAs may differ in the last
 * bit (fused multiply-add, vector square root). params, grads and state must
 * not overlap each other. Thread-safety: reentrant. */
#ifndef QKV_OPTIM_H
#define QKV_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "qkv/export.h"
#include "qkv/status.h"

/** SGD hyper-parameters (torch.optim.SGD). Per step t, for each element:
 *    g = grad + weight_decay * param
 *    if momentum != 0:
 *      buf = (t == 1) ? g : momentum * buf + (1 - dampening) * g
 *      g   = nesterov ? g + momentum * buf : buf
 *    param = param - lr * g */
typedef struct qkv_sgd_config {
  float lr;           /**< learning rate, finite and >= 0 */
  float momentum;     /**< finite and >= 0; 0 means plain SGD and no state */
  float dampening;    /**< finite; PyTorch's default is 0 */
  float weight_decay; /**< L2 penalty added to the gradient, finite and >= 0 */
  int nesterov;       /**< 0 or 1; 1 requires momentum > 0 and dampening == 0 */
} qkv_sgd_config;

/** AdamW hyper-parameters (torch.optim.AdamW). Per step t, for each element:
 *    param = param * (1 - lr * weight_decay)          (decoupled weight decay)
 *    m = beta1 * m + (1 - beta1) * grad
 *    v = beta2 * v + (1 - beta2) * grad^2
 *    param = param - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *  eps == 0 with a zero (or underflowing) gradient divides 0 by 0 and gives NaN,
 *  as PyTorch does: keep eps > 0 unless the gradients are known to be nonzero.
 *  The bias corrections are computed in double from t. PyTorch's defaults:
 *  lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 1e-2. */
typedef struct qkv_adamw_config {
  float lr;           /**< learning rate, finite and >= 0 */
  float beta1;        /**< in [0, 1) */
  float beta2;        /**< in [0, 1) */
  float eps;          /**< finite and >= 0; added outside the square root */
  float weight_decay; /**< finite and >= 0 */
} qkv_adamw_config;

QKV_EXTERN_C_BEGIN

/** Length of the SGD state for n parameters: n when cfg->momentum != 0, else 0.
 *  @param[in]  cfg     hyper-parameters (validated as by qkv_sgd_step()).
 *  @param[in]  n       number of parameters.
 *  @param[out] floats  number of floats the state buffer must hold.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (bad cfg);
 *          QKV_ERR_SIZE_OVERFLOW (n floats do not fit in memory). */
QKV_API qkv_status qkv_sgd_state_floats(const qkv_sgd_config* cfg, size_t n, size_t* floats);

/** One SGD step over n parameters, in place.
 *  @param[in]     cfg     hyper-parameters.
 *  @param[in]     t       step number, >= 1; t == 1 initializes the momentum buffer to g.
 *  @param[in]     n       number of parameters; 0 is a no-op.
 *  @param[in,out] params  n floats, updated.
 *  @param[in]     grads   n floats.
 *  @param[in,out] state   qkv_sgd_state_floats() floats (the momentum buffer);
 *                         may be NULL when that is 0.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (bad cfg, t == 0);
 *          QKV_ERR_SIZE_OVERFLOW. Nothing is written on error. */
QKV_API qkv_status qkv_sgd_step(const qkv_sgd_config* cfg, uint64_t t, size_t n, float* params,
                                const float* grads, float* state);

/** Length of the AdamW state for n parameters: 2n floats, the first moment m
 *  at state[0, n) and the second moment v at state[n, 2n).
 *  @param[in]  n       number of parameters.
 *  @param[out] floats  2n.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_adamw_state_floats(size_t n, size_t* floats);

/** One AdamW step over n parameters, in place.
 *  @param[in]     cfg     hyper-parameters.
 *  @param[in]     t       step number, >= 1 (bias correction uses it; t == 1 starts from m = v = 0).
 *  @param[in]     n       number of parameters; 0 is a no-op.
 *  @param[in,out] params  n floats, updated.
 *  @param[in]     grads   n floats.
 *  @param[in,out] state   2n floats: m then v (see qkv_adamw_state_floats()).
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (bad cfg, t == 0);
 *          QKV_ERR_SIZE_OVERFLOW. Nothing is written on error. */
QKV_API qkv_status qkv_adamw_step(const qkv_adamw_config* cfg, uint64_t t, size_t n, float* params,
                                  const float* grads, float* state);

/** Scales the gradient down to a global L2 norm of at most max_norm, as
 *  torch.nn.utils.clip_grad_norm_ (norm_type 2) does:
 *    norm = sqrt(sum_i grads[i]^2)            (fp32 partial sums added in double)
 *    grads[i] *= min(1, max_norm / (norm + 1e-6))
 *  The norm's summation order depends on n only: bitwise identical for any
 *  thread count. As in PyTorch, a non-finite gradient is not an error: an
 *  infinite norm scales by 0 (finite entries become 0, infinite ones NaN) and
 *  a NaN norm makes every entry NaN.
 *  @param[in,out] grads     n floats; left untouched when no clipping is needed.
 *  @param[in]     n         number of elements; 0 gives norm 0.
 *  @param[in]     max_norm  finite and > 0.
 *  @param[out]    norm      optional (may be NULL): the norm before clipping.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (max_norm);
 *          QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_clip_grad_norm(float* grads, size_t n, float max_norm, float* norm);

/* ---- A training step's optimizer in one pass over the gradients (since 0.9) ----
 * qkv_clip_grad_norm() then qkv_adamw_step() then zeroing the gradients reads
 * the gradients three times and writes them twice (GPT-2 small: 0.5 GB each
 * time). The two calls below give the same parameters and state, bit for bit,
 * with two reads and one write: the clip factor computed without scaling,
 * and AdamW taking it and zeroing each gradient as it reads it:
 *
 *   qkv_grad_clip_scale(grads, n, max_norm, &norm, &scale);
 *   qkv_adamw_step_ex(&cfg, t, scale, 1, n, params, grads, state);
 *
 * equals qkv_clip_grad_norm(grads, n, max_norm, &norm); qkv_adamw_step(&cfg,
 * t, n, params, grads, state); and setting grads to zero. (The clip factor is
 * computed over the whole gradient, so a model stepped range by range, e.g.
 * with and without weight decay, takes one qkv_grad_clip_scale() and one
 * qkv_adamw_step_ex() per range with the same scale.) Hosted builds only: on
 * bare metal both return QKV_ERR_UNSUPPORTED (code size; the calls above
 * remain). */

/** The norm and the factor qkv_clip_grad_norm() would compute, without
 *  touching the gradient: *scale = min(1, max_norm / (norm + 1e-6)) rounded
 *  to float, exactly 1 when no clipping is needed (NaN for a NaN norm, 0 for
 *  an infinite one, as qkv_clip_grad_norm() scales by).
 *  @param[in]  grads     n floats.
 *  @param[in]  n         number of elements; 0 gives norm 0, scale 1.
 *  @param[in]  max_norm  finite and > 0.
 *  @param[out] norm      optional (may be NULL): the norm.
 *  @param[out] scale     the factor.
 *  @return QKV_OK; QKV_ERR_NULL_POINTER (scale, or grads with n > 0);
 *          QKV_ERR_BAD_ARGUMENT (max_norm); QKV_ERR_SIZE_OVERFLOW;
 *          QKV_ERR_UNSUPPORTED (bare metal). Nothing is written on error. */
QKV_API qkv_status qkv_grad_clip_scale(const float* grads, size_t n, float max_norm, float* norm, float* scale);

/** qkv_adamw_step() on the gradient grad_scale * grads (each product rounded
 *  once, as qkv_clip_grad_norm()'s in-place scaling rounds it, but kept in
 *  registers: grads is not rewritten with it), then, when zero_grads is 1,
 *  grads set to +0 (else grads is left untouched). Any grad_scale is taken
 *  as it is (a clip factor, 1 / a loss scale; NaN and infinities multiply as
 *  IEEE says). params and state are bitwise those of the separate passes,
 *  for any thread count and any split of the buffer.
 *  @param[in]     cfg         hyper-parameters (as qkv_adamw_step()).
 *  @param[in]     t           step number, >= 1.
 *  @param[in]     grad_scale  the factor on the gradient.
 *  @param[in]     zero_grads  0 or 1.
 *  @param[in]     n           number of parameters; 0 is a no-op.
 *  @param[in,out] params      n floats, updated.
 *  @param[in,out] grads       n floats: read; zeroed with zero_grads.
 *  @param[in,out] state       2n floats: m then v (qkv_adamw_state_floats()).
 *  @return QKV_OK; QKV_ERR_NULL_POINTER; QKV_ERR_BAD_ARGUMENT (bad cfg, t == 0,
 *          zero_grads neither 0 nor 1); QKV_ERR_SIZE_OVERFLOW;
 *          QKV_ERR_UNSUPPORTED (bare metal). Nothing is written on error. */
QKV_API qkv_status qkv_adamw_step_ex(const qkv_adamw_config* cfg, uint64_t t, float grad_scale, int zero_grads,
                                     size_t n, float* params, float* grads, float* state);

/** qkv_adamw_step_ex() that also writes the updated params rounded to bf16
 *  (round to nearest even, NaN kept NaN: qkv_convert()'s bits) into
 *  @p params_bf16, while each piece of params is still in cache: the mirror
 *  that bf16 mixed-precision layers read (qkv_mha_forward_mirror(),
 *  qkv/layer.h). params, grads and state are bitwise those of
 *  qkv_adamw_step_ex(), for any thread count.
 *  @param[in]     cfg         hyper-parameters (as qkv_adamw_step()).
 *  @param[in]     t           step number, >= 1.
 *  @param[in]     grad_scale  the factor on the gradient.
 *  @param[in]     zero_grads  0 or 1.
 *  @param[in]     n           number of parameters; 0 is a no-op.
 *  @param[in,out] params      n floats, updated.
 *  @param[in,out] grads       n floats: read; zeroed with zero_grads.
 *  @param[in,out] state       2n floats: m then v (qkv_adamw_state_floats()).
 *  @param[out]    params_bf16 n bf16 bit patterns; must not overlap params,
 *                             grads or state.
 *  @return as qkv_adamw_step_ex(); params_bf16 NULL (n > 0) is
 *          QKV_ERR_NULL_POINTER, params_bf16 overlapping params, grads or
 *          state QKV_ERR_BAD_ARGUMENT (after zero_grads' check);
 *          QKV_ERR_UNSUPPORTED (bare metal). Nothing is written on error. */
QKV_API qkv_status qkv_adamw_step_mirror(const qkv_adamw_config* cfg, uint64_t t, float grad_scale, int zero_grads,
                                         size_t n, float* params, float* grads, float* state, uint16_t* params_bf16);

QKV_EXTERN_C_END

#endif /* QKV_OPTIM_H */
