/* SPDX-License-Identifier: MIT */
/* Attention area: the fused qkv_sdpa_forward and qkv_sdpa_backward, causal,
 * [T][H][d] rows. Work counted per visible (query, key) pair: the forward
 * multiplies-adds d for Q.K and d for P.V, the backward 3d + 2d (S again,
 * dP = dO.V, dV, dK, dQ); GFLOP/s and instructions per MAC use those. */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  qkv_sdpa_desc d;
  const float *q, *k, *v, *o, *lse, *dout;
  float *out, *lse_out, *dq, *dk, *dv;
  void* ws;
  size_t ws_bytes;
} attn_ctx;

static qkv_status run_forward(void* p) {
  attn_ctx* c = (attn_ctx*)p;
  return qkv_sdpa_forward(&c->d, c->q, c->k, c->v, c->out, c->lse_out, c->ws, c->ws_bytes);
}

static qkv_status run_backward(void* p) {
  attn_ctx* c = (attn_ctx*)p;
  return qkv_sdpa_backward(&c->d, c->q, c->k, c->v, c->o, c->lse, c->dout, c->dq, c->dk, c->dv, c->ws, c->ws_bytes);
}

void qkv_pb_attention(void) {
  static const size_t big[][3] = {{256, 4, 64}, {1024, 4, 64}}; /* T, heads, head_dim */
  static const size_t small[][3] = {{16, 1, 8}, {64, 2, 16}};
  const size_t(*shapes)[3] = qkv_pb_small() ? small : big;
  size_t s;
  for (s = 0; s < 2; ++s) {
    const size_t T = shapes[s][0], H = shapes[s][1], D = shapes[s][2], n = T * H * D;
    const double pairs = (double)H * (double)T * (double)(T + 1) / 2.0; /* causal */
    attn_ctx c;
    char shape[48];
    size_t fwd = 0, bwd = 0;
    float *q = qkv_pb_alloc(n), *k = qkv_pb_alloc(n), *v = qkv_pb_alloc(n), *o = qkv_pb_alloc(n);
    float *dout = qkv_pb_alloc(n), *dq = qkv_pb_alloc(n), *dk = qkv_pb_alloc(n), *dv = qkv_pb_alloc(n);
    float* lse = qkv_pb_alloc(H * T);
    qkv_sdpa_desc d = {0};
    if (!q || !k || !v || !o || !dout || !dq || !dk || !dv || !lse) return;
    d.batch = 1;
    d.heads = H;
    d.q_len = d.kv_len = T;
    d.head_dim = D;
    d.q.batch = d.k.batch = d.v.batch = d.o.batch = n;
    d.q.head = d.k.head = d.v.head = d.o.head = D;
    d.q.token = d.k.token = d.v.token = d.o.token = H * D;
    d.causal = 1;
    if (qkv_sdpa_workspace_size(&d, 1, &fwd) != QKV_OK || qkv_sdpa_backward_workspace_size(&d, 1, &bwd) != QKV_OK)
      return;
    c.ws_bytes = fwd > bwd ? fwd : bwd;
    c.ws = qkv_pb_alloc(c.ws_bytes / sizeof(float) + 1);
    if (!c.ws) return;
    qkv_pb_fill(q, n, -1.0f, 1.0f, 11);
    qkv_pb_fill(k, n, -1.0f, 1.0f, 12);
    qkv_pb_fill(v, n, -1.0f, 1.0f, 13);
    qkv_pb_fill(dout, n, -1.0f, 1.0f, 14);
    c.d = d;
    c.q = q;
    c.k = k;
    c.v = v;
    c.o = o;
    c.lse = lse;
    c.dout = dout;
    c.out = o;
    c.lse_out = lse;
    c.dq = dq;
    c.dk = dk;
    c.dv = dv;
    sprintf(shape, "T%lu H%lu d%lu causal", (unsigned long)T, (unsigned long)H, (unsigned long)D);
    qkv_pb_time("sdpa_forward", shape, 2.0 * pairs * (double)(2 * D), run_forward, &c);
    qkv_pb_time("sdpa_backward", shape, 2.0 * pairs * (double)(5 * D), run_backward, &c);
  }
}
