/* SPDX-License-Identifier: MIT */
/* Layer area: qkv_mha_forward in inference (causal, biases, output
 * projection), one sequence of T tokens, d_in = d_out = d. Work: the four
 * projections (4 T d^2 multiply-adds) and the attention (2 d per visible
 * query-key pair, summed over heads: T (T + 1) / 2 * 2 d). */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  qkv_mha_desc d;
  size_t T;
  const float *params, *x;
  float* y;
  void* ws;
  size_t ws_bytes;
} layer_ctx;

static qkv_status run_layer(void* p) {
  layer_ctx* c = (layer_ctx*)p;
  return qkv_mha_forward(&c->d, c->params, 1, c->T, c->x, c->y, 0, NULL, 0, c->ws, c->ws_bytes);
}

void qkv_pb_layer(void) {
  static const size_t big[][3] = {{256, 256, 4}, {1024, 768, 12}}; /* T, d, heads */
  static const size_t small[][3] = {{16, 32, 2}, {64, 64, 4}};
  const size_t(*shapes)[3] = qkv_pb_small() ? small : big;
  size_t s;
  for (s = 0; s < 2; ++s) {
    const size_t T = shapes[s][0], D = shapes[s][1];
    layer_ctx c;
    char shape[48];
    size_t np = 0;
    float *params, *x, *y;
    qkv_mha_desc d = {0};
    d.d_in = d.d_out = D;
    d.num_heads = shapes[s][2];
    d.causal = 1;
    d.qkv_bias = 1;
    d.out_proj = 1;
    if (qkv_mha_param_count(&d, &np) != QKV_OK || qkv_mha_forward_workspace_size(&d, 1, T, 1, &c.ws_bytes) != QKV_OK)
      return;
    params = qkv_pb_alloc(np);
    x = qkv_pb_alloc(T * D);
    y = qkv_pb_alloc(T * D);
    c.ws = qkv_pb_alloc(c.ws_bytes / sizeof(float) + 1);
    if (!params || !x || !y || !c.ws || qkv_mha_init(&d, params, 7u) != QKV_OK) return;
    qkv_pb_fill(x, T * D, -1.0f, 1.0f, 41);
    c.d = d;
    c.T = T;
    c.params = params;
    c.x = x;
    c.y = y;
    sprintf(shape, "T%lu d%lu H%lu", (unsigned long)T, (unsigned long)D, (unsigned long)d.num_heads);
    qkv_pb_time("mha_forward", shape,
                2.0 * (4.0 * (double)T * (double)D * (double)D + (double)T * (double)(T + 1) * (double)D), run_layer,
                &c);
  }
}
