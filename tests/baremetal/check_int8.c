/* SPDX-License-Identifier: MIT */
/* The int8 attention layer (qkv/layer_int8.h), under every runnable ISA:
 *  - the book's example (6 tokens of 3 features, batch 2, d_out 2, 2 heads,
 *    causal, out_proj) from its int8 buffer as a firmware holds it (a const
 *    array calibrated on the host, int8_book_layer.h): bit for bit the
 *    integer oracle (tests/ref/ref_int8.c), and within 2 units of the
 *    output's scale of the fp32 layer run on the board (docs/layer_int8.md:
 *    1.44 measured); hosted builds also calibrate afresh and check the same
 *    (bare-metal libraries leave calibration out: QKV_ERR_UNSUPPORTED);
 *  - an odd grouped-query shape with a window (d_in 19, d_out 12, 3 heads
 *    on 1 K/V head, T 7) with random codes, biases and multipliers that
 *    reach every branch of the requantization (left shifts, saturated sums,
 *    zero multipliers): bit for bit the oracle, through the int8 GEMM tiles'
 *    edges and k padding (SMLAD, VMLADAVA) and the vector epilogues
 *    (VQSHL/VQRDMULH/VRSHL on the M55). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "int8_book_layer.h"
#include "ref/ref_int8.h"

static const float kBook[36] = {0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                                0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f,
                                0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                                0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f};

/* Runs the int8 layer q on x's codes (quantized with q's x parameters when
 * xf is given, else xq as it is): bit for bit the oracle, and (xf) within
 * tol units of Y's scale of the fp32 layer with params. */
static void run(const qkv_mha_desc* d, size_t batch, size_t seq, const unsigned char* q, size_t q_bytes,
                const float* params, const float* xf, int8_t* xq, double tol) {
  const size_t rows = batch * seq;
  const qkv_mha_int8_header* h = (const qkv_mha_int8_header*)q;
  size_t ws_bytes = 0, wf = 0, i, bad = 0;
  float *ws, *y32 = NULL, *y8 = NULL;
  int8_t *yq, *yr;
  int32_t* scratch;
  double err = 0.0;
  QKV_CHECK_STATUS(qkv_mha_int8_forward_workspace_size(d, batch, seq, 1, &ws_bytes), QKV_OK);
  if (xf) QKV_CHECK_STATUS(qkv_mha_forward_workspace_size(d, batch, seq, 1, &wf), QKV_OK);
  if (wf > ws_bytes) ws_bytes = wf;
  ws = qkv_check_alloc(ws_bytes / 4 + 1);
  yq = (int8_t*)qkv_check_alloc(rows * d->d_out / 4 + 1);
  yr = (int8_t*)qkv_check_alloc(rows * d->d_out / 4 + 1);
  scratch = (int32_t*)qkv_check_alloc(qkv_ref_mha_int8_scratch(d, batch, seq));
  if (xf) y32 = qkv_check_alloc(rows * d->d_out), y8 = qkv_check_alloc(rows * d->d_out);
  if (!ws || !yq || !yr || !scratch || (xf && (!y32 || !y8))) return;
  if (xf) QKV_CHECK_STATUS(qkv_quantize_affine_s8(rows * d->d_in, xf, h->x, xq), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_int8_forward(d, q, q_bytes, batch, seq, xq, yq, ws, ws_bytes), QKV_OK);
  qkv_ref_mha_int8_forward(d, q, batch, seq, xq, yr, scratch);
  for (i = 0; i < rows * d->d_out; ++i) bad += yq[i] != yr[i];
  QKV_CHECK(bad == 0);
  if (!xf) return;
  QKV_CHECK_STATUS(qkv_dequantize_affine_s8(rows * d->d_out, yq, h->y, y8), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_forward(d, params, batch, seq, xf, y32, 0, NULL, 0, ws, ws_bytes), QKV_OK);
  for (i = 0; i < rows * d->d_out; ++i) {
    double e = fabs((double)y8[i] - y32[i]) / h->y.scale;
    if (e > err) err = e;
  }
  if (!QKV_CHECK(err <= tol)) printf("  int8 book example: %.3f units of Y's scale\n", err);
}

static unsigned char* align64(float* p) {
  return p ? (unsigned char*)p + (64u - (uintptr_t)p % 64u) % 64u : NULL;
}

static void check_book(void) {
  qkv_mha_desc d;
  qkv_mha_int8_layout l;
  size_t count = 0, ws_bytes = 0;
  float *params, *ws;
  unsigned char* q;
  int8_t* xq;
  qkv_status st;
  memset(&d, 0, sizeof d);
  d.d_in = 3, d.d_out = 2, d.num_heads = 2, d.causal = 1, d.out_proj = 1;
  QKV_CHECK_STATUS(qkv_mha_int8_param_layout(&d, &l), QKV_OK);
  QKV_CHECK(l.bytes == QKV_INT8_BOOK_LAYER_BYTES);
  QKV_CHECK_STATUS(qkv_mha_param_count(&d, &count), QKV_OK);
  params = qkv_check_alloc(count);
  xq = (int8_t*)qkv_check_alloc(9);
  if (!params || !xq || l.bytes != QKV_INT8_BOOK_LAYER_BYTES) return;
  QKV_CHECK_STATUS(qkv_mha_init(&d, params, 123), QKV_OK);
  run(&d, 2, 6, (const unsigned char*)qkv_int8_book_layer, l.bytes, params, kBook, xq, 2.0);
  /* Calibration afresh: hosted builds only. */
  st = qkv_mha_int8_calibrate_workspace_size(&d, 2, 6, 1, &ws_bytes);
  if (st == QKV_ERR_UNSUPPORTED) {
    QKV_CHECK_STATUS(qkv_mha_int8_calibrate(&d, params, 2, 6, kBook, xq, 64, NULL, 0), QKV_ERR_UNSUPPORTED);
    return;
  }
  QKV_CHECK_STATUS(st, QKV_OK);
  ws = qkv_check_alloc(ws_bytes / 4 + 1);
  q = align64(qkv_check_alloc(l.bytes / 4 + 17));
  if (!ws || !q) return;
  QKV_CHECK_STATUS(qkv_mha_int8_calibrate(&d, params, 2, 6, kBook, q, l.bytes, ws, ws_bytes), QKV_OK);
  run(&d, 2, 6, q, l.bytes, params, kBook, xq, 2.0);
}

/* A random int8 layer for d in q (layout l): codes, biases and multipliers
 * from an LCG, with the requantization's edge cases on every few features. */
static void random_layer(const qkv_mha_desc* d, const qkv_mha_int8_layout* l, unsigned char* q) {
  qkv_mha_int8_header* h = (qkv_mha_int8_header*)q;
  const size_t dh = d->d_out / d->num_heads, d_kv = d->num_kv_heads ? d->num_kv_heads * dh : d->d_out;
  const size_t ins[4] = {d->d_in, d->d_in, d->d_in, d->d_out};
  const size_t outs[4] = {d->d_out, d_kv, d_kv, d->d_out};
  uint32_t r = 12345u;
  size_t i, c;
  int k;
  memset(q, 0, l->bytes);
  h->magic = QKV_MHA_INT8_MAGIC, h->version = QKV_MHA_INT8_VERSION;
  h->d_in = (uint32_t)d->d_in, h->d_out = (uint32_t)d->d_out, h->num_heads = (uint32_t)d->num_heads;
  h->d_kv = (uint32_t)d_kv, h->flags = (d->causal ? 1u : 0u) | (d->out_proj ? 2u : 0u);
  h->window = (uint32_t)d->window;
  h->x.scale = h->y.scale = 0.05f, h->x.zero_point = -7, h->y.zero_point = 11;
  h->s_q = h->s_k = h->s_v = h->s_a = 0.02f;
  QKV_CHECK_STATUS(qkv_quantize_multiplier(0.002f, &h->score), QKV_OK);
  QKV_CHECK_STATUS(qkv_quantize_multiplier(1.0f / 32768.0f, &h->attn), QKV_OK);
  for (k = 0; k < (d->out_proj ? 4 : 3); ++k) {
    int8_t* w = (int8_t*)(q + l->w[k]);
    int32_t* b = (int32_t*)(q + l->b[k]);
    qkv_qmul* m = (qkv_qmul*)(q + l->m[k]);
    for (i = 0; i < ins[k] * outs[k]; ++i) r = r * 1664525u + 1013904223u, w[i] = (int8_t)((int)(r >> 24) % 255 - 127);
    for (c = 0; c < outs[k]; ++c) {
      r = r * 1664525u + 1013904223u;
      b[c] = (int32_t)(r >> 18) - 8192;
      QKV_CHECK_STATUS(qkv_quantize_multiplier(0.001f + (float)(r % 1000u) * 1e-5f, &m[c]), QKV_OK);
      if (c % 3 == 0) m[c].shift = 5 + (int32_t)(c % 20);             /* left shifts, some saturating */
      if (c % 4 == 1) b[c] = c % 8 == 1 ? INT32_MAX - 3 : INT32_MIN + 3; /* saturated sums */
      if (c % 11 == 7) m[c].multiplier = 0, m[c].shift = 0;
    }
  }
}

static void check_random(void) {
  qkv_mha_desc d;
  qkv_mha_int8_layout l;
  unsigned char* q;
  int8_t* xq;
  size_t i;
  memset(&d, 0, sizeof d);
  d.d_in = 19, d.d_out = 12, d.num_heads = 3, d.num_kv_heads = 1, d.causal = 1, d.window = 4;
  d.qkv_bias = 1, d.out_proj = 1;
  QKV_CHECK_STATUS(qkv_mha_int8_param_layout(&d, &l), QKV_OK);
  q = align64(qkv_check_alloc(l.bytes / 4 + 17));
  xq = (int8_t*)qkv_check_alloc(7 * 19 / 4 + 1);
  if (!q || !xq) return;
  random_layer(&d, &l, q);
  for (i = 0; i < 7 * 19; ++i) xq[i] = (int8_t)((int)(i * 97u % 256u) - 128);
  run(&d, 1, 7, q, l.bytes, NULL, NULL, xq, 0.0);
}

void qkv_check_int8(void) {
  qkv_isa isas[QKV_ISA_COUNT];
  int n = qkv_check_isas(isas), k;
  for (k = 0; k < n; ++k) {
    qkv_set_isa(isas[k]);
    check_book();
    check_random();
  }
}
