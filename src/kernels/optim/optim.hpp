// SPDX-License-Identifier: MIT
// optim - elementwise optimizer updates over flat fp32 buffers (SGD with
// momentum, AdamW). Contract: n elements, no allocation, no threads. Each
// element's result depends only on that element's inputs and is computed by
// the same instruction sequence wherever it sits in the buffer (the SIMD
// kernels run their tail through the vector body too), so any split of a
// buffer into chunks gives the same bits.
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// SGD, torch.optim.SGD semantics; the C boundary resolves the flags.
struct sgd_args {
  float lr;
  float weight_decay;  // 0 skips the decay term (as PyTorch does)
  float momentum;      // used when use_momentum
  float damp_keep;     // 1 - dampening
  bool use_momentum;   // momentum != 0: buf is read/written
  bool nesterov;
  bool first;  // step 1: buf = g, its previous contents are not read
};

// AdamW, torch.optim.AdamW semantics with the bias corrections folded into
// step_size = lr / (1 - beta1^t) and inv_bc2_sqrt = 1 / sqrt(1 - beta2^t).
struct adamw_args {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;
  float inv_bc2_sqrt;
  float eps;
  bool first;  // step 1: m and v start from 0, their contents are not read
#ifdef QKV_HOSTED
  // qkv_adamw_step_ex: each gradient is multiplied by grad_scale before use
  // (one rounding; exact at 1, so always applied) and +0 is stored over it
  // afterwards when zero_grads. Hosted builds only: that entry point refuses
  // on bare metal (code size), whose kernels never see these.
  float grad_scale = 1.f;
  bool zero_grads = false;
#endif
};

struct optim_kernels {
  // p[i] -= lr * update(g[i]); buf: the momentum buffer (unused without momentum).
  void (*sgd_f32)(std::size_t n, const sgd_args& a, float* p, const float* g, float* buf);
  // AdamW over p, g and the moments m, v; g is written only when a.zero_grads.
  void (*adamw_f32)(std::size_t n, const adamw_args& a, float* p, float* g, float* m, float* v);
};

QKV_DECLARE_KERNEL_TABLES_MVE(optim_kernels, optim)

}  // namespace qkv::kern
