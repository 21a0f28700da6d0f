/* SPDX-License-Identifier: MIT */
/* The int8 attention layer (qkv/layer_int8.h), under every runnable ISA:
 *  - the book's example (6 tokens of 3 features, batch 2, d_out 2, 2 heads,
 *    causal, out_proj) calibrated on the board from the fp32 parameters, run
 *    in int8: bit for bit the integer oracle (tests/ref/ref_int8.c), and
 *    within 2 units of the output's scale of the fp32 layer
 *    (docs/layer_int8.md: 1.44 measured);
 *  - an odd grouped-query shape with a window (d_in 19, d_out 12, 3 heads
 *    on 1 K/V head, T 7): bit for bit the oracle, which drives the int8 GEMM
 *    tiles' edges and k padding (SMLAD, VMLADAVA) in the projections, with
 *    the Q projection's multipliers and biases edited to reach every branch
 *    of the requantization (left shifts, saturated sums, 0 multipliers) in
 *    the vector epilogues (VQSHL/VQRDMULH/VRSHL on the M55). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "ref/ref_int8.h"

static unsigned char* align64(float* p) {
  uintptr_t a = (uintptr_t)p;
  return (unsigned char*)p + (64u - a % 64u) % 64u;
}

/* Calibrates d on x, then checks the int8 forward against the oracle and
 * (tol > 0) against the fp32 layer within tol units of Y's scale. */
static void run(const qkv_mha_desc* d, size_t batch, size_t seq, const float* x, double tol) {
  const size_t rows = batch * seq;
  qkv_mha_int8_layout l;
  size_t count = 0, ws_bytes = 0, wf = 0, i, bad = 0;
  float *params, *ws, *xf, *y32, *y8;
  unsigned char* q;
  int8_t *xq, *yq, *yr;
  int32_t* scratch;
  const qkv_mha_int8_header* h;
  double err = 0.0;
  QKV_CHECK_STATUS(qkv_mha_int8_param_layout(d, &l), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_param_count(d, &count), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_int8_calibrate_workspace_size(d, batch, seq, 1, &ws_bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_forward_workspace_size(d, batch, seq, 1, &wf), QKV_OK);
  if (wf > ws_bytes) ws_bytes = wf;
  QKV_CHECK_STATUS(qkv_mha_int8_forward_workspace_size(d, batch, seq, 1, &wf), QKV_OK);
  if (wf > ws_bytes) ws_bytes = wf;
  params = qkv_check_alloc(count);
  ws = qkv_check_alloc(ws_bytes / 4 + 1);
  xf = qkv_check_alloc(rows * d->d_in);
  y32 = qkv_check_alloc(rows * d->d_out);
  y8 = qkv_check_alloc(rows * d->d_out);
  q = align64(qkv_check_alloc(l.bytes / 4 + 17));
  xq = (int8_t*)qkv_check_alloc(rows * d->d_in / 4 + 1);
  yq = (int8_t*)qkv_check_alloc(rows * d->d_out / 4 + 1);
  yr = (int8_t*)qkv_check_alloc(rows * d->d_out / 4 + 1);
  scratch = (int32_t*)qkv_check_alloc(qkv_ref_mha_int8_scratch(d, batch, seq));
  if (!params || !ws || !xf || !y32 || !y8 || !xq || !yq || !yr || !scratch) return;
  QKV_CHECK_STATUS(qkv_mha_init(d, params, 123), QKV_OK);
  if (x)
    memcpy(xf, x, rows * d->d_in * sizeof(float));
  else
    qkv_check_fill(xf, rows * d->d_in, -1.0f, 1.0f, 5u);
  QKV_CHECK_STATUS(qkv_mha_int8_calibrate(d, params, batch, seq, xf, q, l.bytes, ws, ws_bytes), QKV_OK);
  h = (const qkv_mha_int8_header*)q;
  if (tol <= 0.0) { /* requantization edges on Q's features */
    int32_t* b = (int32_t*)(q + l.b[0]);
    qkv_qmul* m = (qkv_qmul*)(q + l.m[0]);
    for (i = 0; i < d->d_out; ++i) {
      if (i % 3 == 0) m[i].shift = 5 + (int32_t)(i % 20);          /* left shifts, some saturating */
      if (i % 4 == 1) b[i] = i % 8 == 1 ? INT32_MAX - 3 : INT32_MIN + 3; /* saturated sums */
      if (i % 11 == 7) m[i].multiplier = 0, m[i].shift = 0;
    }
  }
  QKV_CHECK_STATUS(qkv_quantize_affine_s8(rows * d->d_in, xf, h->x, xq), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_int8_forward(d, q, l.bytes, batch, seq, xq, yq, ws, ws_bytes), QKV_OK);
  qkv_ref_mha_int8_forward(d, q, batch, seq, xq, yr, scratch);
  for (i = 0; i < rows * d->d_out; ++i) bad += yq[i] != yr[i];
  QKV_CHECK(bad == 0);
  if (tol <= 0.0) return;
  QKV_CHECK_STATUS(qkv_dequantize_affine_s8(rows * d->d_out, yq, h->y, y8), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_forward(d, params, batch, seq, xf, y32, 0, NULL, 0, ws, ws_bytes), QKV_OK);
  for (i = 0; i < rows * d->d_out; ++i) {
    double e = fabs((double)y8[i] - y32[i]) / h->y.scale;
    if (e > err) err = e;
  }
  if (!QKV_CHECK(err <= tol)) printf("  int8 book example: %.3f units of Y's scale\n", err);
}

void qkv_check_int8(void) {
  static const float book[36] = {0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                                 0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f,
                                 0.43f, 0.15f, 0.89f, 0.55f, 0.87f, 0.66f, 0.57f, 0.85f, 0.64f,
                                 0.22f, 0.58f, 0.33f, 0.77f, 0.25f, 0.10f, 0.05f, 0.80f, 0.55f};
  qkv_isa isas[QKV_ISA_COUNT];
  int n = qkv_check_isas(isas), k;
  qkv_mha_desc d;
  for (k = 0; k < n; ++k) {
    qkv_set_isa(isas[k]);
    memset(&d, 0, sizeof d);
    d.d_in = 3, d.d_out = 2, d.num_heads = 2, d.causal = 1, d.out_proj = 1;
    run(&d, 2, 6, book, 2.0);
    memset(&d, 0, sizeof d);
    d.d_in = 19, d.d_out = 12, d.num_heads = 3, d.num_kv_heads = 1, d.causal = 1, d.window = 4;
    d.qkv_bias = 1, d.out_proj = 1;
    run(&d, 1, 7, NULL, 0.0);
  }
}
