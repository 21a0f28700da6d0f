/* SPDX-License-Identifier: MIT */
/* Layer area: qkv_mha_forward in inference (causal, biases, output
 * projection), one sequence of T tokens, d_in = d_out = d, then the same
 * layer in int8 (qkv_mha_int8_forward, calibrated on the same input). Work:
 * the four projections (4 T d^2 multiply-adds) and the attention (2 d per
 * visible query-key pair, summed over heads: T (T + 1) / 2 * 2 d). */
#include <stdint.h>
#include <stdio.h>

#include "pbench.h"

typedef struct {
  qkv_mha_desc d;
  size_t T;
  const float *params, *x;
  float* y;
  void* ws;
  size_t ws_bytes;
  const void* q; /* the int8 layer */
  size_t q_bytes;
  const int8_t* xq;
  int8_t* yq;
} layer_ctx;

static qkv_status run_layer(void* p) {
  layer_ctx* c = (layer_ctx*)p;
  return qkv_mha_forward(&c->d, c->params, 1, c->T, c->x, c->y, 0, NULL, 0, c->ws, c->ws_bytes);
}

static qkv_status run_layer_int8(void* p) {
  layer_ctx* c = (layer_ctx*)p;
  return qkv_mha_int8_forward(&c->d, c->q, c->q_bytes, 1, c->T, c->xq, c->yq, c->ws, c->ws_bytes);
}

/* Calibrates c's layer on its input's first (up to) 16 tokens, which keeps
 * the calibration's fp32 buffers within a board's arena, and times the int8
 * forward on all of them. */
static void time_int8(layer_ctx* c, const char* shape, double flops) {
  qkv_mha_int8_layout l;
  const size_t cal_T = c->T < 16 ? c->T : 16;
  size_t cal = 0, fwd = 0;
  float* q;
  unsigned char* qa;
  if (qkv_mha_int8_param_layout(&c->d, &l) != QKV_OK ||
      qkv_mha_int8_calibrate_workspace_size(&c->d, 1, cal_T, 1, &cal) != QKV_OK ||
      qkv_mha_int8_forward_workspace_size(&c->d, 1, c->T, 1, &fwd) != QKV_OK)
    return;
  q = qkv_pb_alloc(l.bytes / sizeof(float) + 17);
  if (fwd < cal) fwd = cal;
  if (c->ws_bytes < fwd) { /* else the fp32 layer's workspace serves */
    c->ws = qkv_pb_alloc(fwd / sizeof(float) + 1);
    c->ws_bytes = fwd;
  }
  c->xq = (const int8_t*)qkv_pb_alloc(c->T * c->d.d_in / sizeof(float) + 1);
  c->yq = (int8_t*)qkv_pb_alloc(c->T * c->d.d_out / sizeof(float) + 1);
  if (!q || !c->ws || !c->xq || !c->yq) return;
  qa = (unsigned char*)q + (64u - (uintptr_t)q % 64u) % 64u;
  if (qkv_mha_int8_calibrate(&c->d, c->params, 1, cal_T, c->x, qa, l.bytes, c->ws, c->ws_bytes) != QKV_OK ||
      qkv_quantize_affine_s8(c->T * c->d.d_in, c->x, ((const qkv_mha_int8_header*)qa)->x, (int8_t*)c->xq) != QKV_OK)
    return;
  c->q = qa;
  c->q_bytes = l.bytes;
  qkv_pb_time("mha_int8_forward", shape, flops, run_layer_int8, c);
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
    qkv_pb_reset_arena(); /* each shape on its own: the 256 KiB boards hold one at a time */
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
    time_int8(&c, shape, 2.0 * (4.0 * (double)T * (double)D * (double)D + (double)T * (double)(T + 1) * (double)D));
  }
}
