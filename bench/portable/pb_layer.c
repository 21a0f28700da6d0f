/* SPDX-License-Identifier: MIT */
/* Layer area: qkv_mha_forward in inference (causal, biases, output
 * projection), one sequence of T tokens, d_in = d_out = d, then the same
 * layer in int8 (qkv_mha_int8_forward on a synthetic int8 buffer). Work:
 * the four projections (4 T d^2 multiply-adds) and the attention (2 d per
 * visible query-key pair, summed over heads: T (T + 1) / 2 * 2 d). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* An int8 layer buffer for c's description with deterministic codes and
 * plausible multipliers (calibration is a host step, absent on the boards;
 * the work per call does not depend on the values): projections scaled by
 * 1/(8 sqrt(in)), a softmax multiplier that keeps rows neither one-hot nor
 * flat, x quantized with scale 1/64. */
static int make_int8_layer(const qkv_mha_desc* d, const qkv_mha_int8_layout* l, unsigned char* q) {
  qkv_mha_int8_header* h = (qkv_mha_int8_header*)q;
  const size_t dh = d->d_out / d->num_heads, d_kv = d->num_kv_heads ? d->num_kv_heads * dh : d->d_out;
  const size_t ins[4] = {d->d_in, d->d_in, d->d_in, d->d_out};
  const size_t outs[4] = {d->d_out, d_kv, d_kv, d->d_out};
  uint32_t r = 2463534242u;
  size_t i, c;
  int k;
  memset(q, 0, l->bytes);
  h->magic = QKV_MHA_INT8_MAGIC, h->version = QKV_MHA_INT8_VERSION;
  h->d_in = (uint32_t)d->d_in, h->d_out = (uint32_t)d->d_out, h->num_heads = (uint32_t)d->num_heads;
  h->d_kv = (uint32_t)d_kv, h->flags = (d->causal ? 1u : 0u) | (d->out_proj ? 2u : 0u);
  h->x.scale = 1.0f / 64.0f, h->x.zero_point = 0, h->y.scale = 1.0f / 32.0f, h->y.zero_point = 0;
  h->s_q = h->s_k = h->s_v = h->s_a = 1.0f / 32.0f;
  if (qkv_quantize_multiplier(256.0f / 0.6931472f / 1024.0f / sqrtf((float)dh), &h->score) != QKV_OK ||
      qkv_quantize_multiplier(1.0f / 32768.0f, &h->attn) != QKV_OK)
    return 0;
  for (k = 0; k < (d->out_proj ? 4 : 3); ++k) {
    int8_t* w = (int8_t*)(q + l->w[k]);
    int32_t* b = (int32_t*)(q + l->b[k]);
    qkv_qmul* m = (qkv_qmul*)(q + l->m[k]);
    for (i = 0; i < ins[k] * outs[k]; ++i) r ^= r << 13, r ^= r >> 17, r ^= r << 5, w[i] = (int8_t)((int)(r % 255u) - 127);
    for (c = 0; c < outs[k]; ++c) {
      b[c] = (int32_t)(c % 64) - 32;
      if (qkv_quantize_multiplier(1.0f / (8.0f * sqrtf((float)ins[k])) / 64.0f, &m[c]) != QKV_OK) return 0;
    }
  }
  return 1;
}

/* Times the int8 forward of c's layer on its input quantized to codes. */
static void time_int8(layer_ctx* c, const char* shape, double flops) {
  qkv_mha_int8_layout l;
  size_t fwd = 0;
  float* q;
  unsigned char* qa;
  if (qkv_mha_int8_param_layout(&c->d, &l) != QKV_OK ||
      qkv_mha_int8_forward_workspace_size(&c->d, 1, c->T, 1, &fwd) != QKV_OK)
    return;
  q = qkv_pb_alloc(l.bytes / sizeof(float) + 17);
  if (c->ws_bytes < fwd) { /* else the fp32 layer's workspace serves */
    c->ws = qkv_pb_alloc(fwd / sizeof(float) + 1);
    c->ws_bytes = fwd;
  }
  c->xq = (const int8_t*)qkv_pb_alloc(c->T * c->d.d_in / sizeof(float) + 1);
  c->yq = (int8_t*)qkv_pb_alloc(c->T * c->d.d_out / sizeof(float) + 1);
  if (!q || !c->ws || !c->xq || !c->yq) return;
  qa = (unsigned char*)q + (64u - (uintptr_t)q % 64u) % 64u;
  if (!make_int8_layer(&c->d, &l, qa) ||
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
