/* SPDX-License-Identifier: MIT */
/* Loss area: cross-entropy forward, backward and the fused call against the
 * double-precision reference (tests/ref/ref_loss.h), with an ignored row,
 * ld/ldd > classes and class counts around the vector widths, under every
 * runnable ISA. */
#include "check.h"
#include "ref/ref_loss.h"

#define ROWS 5
#define CMAX 37
#define PAD 3

void qkv_check_loss(void) {
  static const size_t class_counts[] = {1, 2, 7, 8, 9, 16, 17, 31, 37};
  const size_t ld = CMAX + PAD;
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* logits = qkv_check_alloc(ROWS * ld);
  float* grad = qkv_check_alloc(ROWS * ld);
  float* grad2 = qkv_check_alloc(ROWS * ld);
  double* want = qkv_check_alloc_double(ROWS * ld);
  int32_t targets[ROWS];
  int k;
  size_t ci, r, j;
  if (!logits || !grad || !grad2 || !want) return;
  qkv_check_fill(logits, ROWS * ld, -6.0f, 6.0f, 21);
  logits[2 * ld] = 80.0f; /* a large logit: the log-sum-exp must stay finite */

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (ci = 0; ci < sizeof class_counts / sizeof class_counts[0]; ++ci) {
      const size_t V = class_counts[ci];
      const float dloss = 0.5f;
      double want_loss;
      float loss = -1.0f, loss2 = -1.0f;
      size_t count = 0;
      for (r = 0; r < ROWS; ++r) targets[r] = (int32_t)((r * 7 + 3) % V);
      targets[3] = -100; /* ignored */
      for (r = 0; r < ROWS; ++r) count += targets[r] != -100;
      want_loss = qkv_ref_cross_entropy_forward(ROWS, V, logits, ld, targets, -100, NULL);
      qkv_ref_cross_entropy_backward(ROWS, V, logits, ld, targets, -100, (double)dloss, want, ld);

      QKV_CHECK_STATUS(qkv_cross_entropy_forward(ROWS, V, logits, ld, targets, -100, &loss), QKV_OK);
      /* exp/log in float: a few ulps of each term, relative to the loss size
       * (|lse| is at most max|logit| + log V). */
      qkv_check_close("cross_entropy_forward", &loss, &want_loss, 1, 64.0 * QKV_CHECK_FLT_U, 90.0);
      QKV_CHECK_STATUS(qkv_cross_entropy_backward(ROWS, V, logits, ld, targets, -100, dloss, grad, ld), QKV_OK);
      /* Gradients are probabilities times dloss/count: absolute error of a
       * few ulps of 1 (softmax terms), scaled by dloss/count. */
      for (r = 0; r < ROWS; ++r)
        qkv_check_close("cross_entropy_backward", grad + r * ld, want + r * ld, V, 64.0 * QKV_CHECK_FLT_U,
                        (double)dloss / (double)count);
      QKV_CHECK_STATUS(qkv_cross_entropy_forward_backward(ROWS, V, logits, ld, targets, -100, dloss, &loss2, grad2, ld),
                       QKV_OK);
      QKV_CHECK(loss2 == loss); /* documented: bitwise the separate calls */
      for (r = 0; r < ROWS; ++r)
        for (j = 0; j < V; ++j) QKV_CHECK(grad2[r * ld + j] == grad[r * ld + j]);
    }
  }

  /* A target out of range is an error and writes nothing. */
  {
    float loss = 3.0f;
    targets[0] = 99;
    QKV_CHECK_STATUS(qkv_cross_entropy_forward(ROWS, 8, logits, ld, targets, -100, &loss), QKV_ERR_BAD_TOKEN);
    QKV_CHECK(loss == 3.0f);
    QKV_CHECK_STATUS(qkv_cross_entropy_forward(ROWS, 8, logits, 4, targets, -100, &loss), QKV_ERR_BAD_STRIDE);
  }
}
