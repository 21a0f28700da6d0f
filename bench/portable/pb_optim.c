/* SPDX-License-Identifier: MIT */
/* Optimizer area: one qkv_adamw_step over n parameters (about 12 flops and
 * one parameter each). */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  qkv_adamw_config cfg;
  size_t n;
  float *params, *state;
  const float* grads;
} adamw_ctx;

static qkv_status run_adamw(void* p) {
  adamw_ctx* c = (adamw_ctx*)p;
  /* Step 1000 every call: the same work each time (bias correction included). */
  return qkv_adamw_step(&c->cfg, 1000u, c->n, c->params, c->grads, c->state);
}

void qkv_pb_optim(void) {
  static const size_t big[] = {4096, 1048576};
  static const size_t small[] = {1024, 8192};
  const size_t* sizes = qkv_pb_small() ? small : big;
  size_t s;
  for (s = 0; s < 2; ++s) {
    adamw_ctx c;
    char shape[32];
    const size_t n = sizes[s];
    float *params = qkv_pb_alloc(n), *grads = qkv_pb_alloc(n), *state = qkv_pb_alloc(2 * n);
    if (!params || !grads || !state) return;
    qkv_pb_fill(params, n, -1.0f, 1.0f, 31);
    qkv_pb_fill(grads, n, -1e-3f, 1e-3f, 32);
    c.cfg.lr = 1e-3f;
    c.cfg.beta1 = 0.9f;
    c.cfg.beta2 = 0.999f;
    c.cfg.eps = 1e-8f;
    c.cfg.weight_decay = 0.01f;
    c.n = n;
    c.params = params;
    c.grads = grads;
    c.state = state;
    sprintf(shape, "n=%lu", (unsigned long)n);
    qkv_pb_time_ex("adamw_step", shape, 12.0 * (double)n, (double)n, "param", run_adamw, &c);
  }
}
