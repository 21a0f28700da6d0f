/* SPDX-License-Identifier: MIT */
/* ref_optim - the double-precision oracles of the optimizers (qkv/optim.h):
 * PyTorch's update rules (torch.optim.SGD, torch.optim.AdamW with amsgrad
 * off) evaluated in double, elementwise. Plain C99 (host, bare metal, C++ via
 * extern "C"); no allocation.
 *
 * Shapes: p [n] (the parameters, in double, updated in place), g [n] (the
 * gradients as the library gets them, floats), the state in double, updated
 * in place: buf [n] (SGD's momentum buffer), m [n] and v [n] (AdamW's
 * moments). t >= 1 is the step; at t == 1 the state's previous contents are
 * ignored (NaN there does not matter), as the library does.
 *
 * SGD, per element:
 *   g' = g + weight_decay * p
 *   if momentum != 0: buf = (t == 1) ? g' : momentum * buf + (1 - dampening) * g'
 *                     g'  = nesterov ? g' + momentum * buf : buf
 *   p  = p - lr * g'
 * AdamW, per element, with bc1 = 1 - beta1^t and bc2 = 1 - beta2^t:
 *   p  = p * (1 - lr * weight_decay)                  (decoupled weight decay)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g^2
 *   u  = (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  p = p - u */
#ifndef QKV_TESTS_REF_OPTIM_H
#define QKV_TESTS_REF_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/optim.h>

#ifdef __cplusplus
extern "C" {
#endif

/* buf may be NULL when c->momentum == 0. dir [n] (NULL to skip): the final
 * g' of each element, the direction p moved by -lr * g'. */
void qkv_ref_sgd_step(const qkv_sgd_config* c, uint64_t t, size_t n, double* p, const float* g, double* buf,
                      double* dir);

/* update [n] (NULL to skip): u of each element. update_mag [n] (NULL to
 * skip): u with |beta1 m_prev| + |(1 - beta1) g| in place of m, the scale of
 * u's rounding error when the two terms of m cancel. */
void qkv_ref_adamw_step(const qkv_adamw_config* c, uint64_t t, size_t n, double* p, const float* g, double* m,
                        double* v, double* update, double* update_mag);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_OPTIM_H */
