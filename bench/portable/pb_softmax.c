/* SPDX-License-Identifier: MIT */
/* Softmax area: qkv_softmax over rows x cols (counted as 5 flops and one
 * element each: max, subtract, exp, sum, scale). */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  size_t rows, cols;
  const float* x;
  float* y;
} softmax_ctx;

static qkv_status run_softmax(void* p) {
  const softmax_ctx* c = (const softmax_ctx*)p;
  return qkv_softmax(c->rows, c->cols, 1.0f, c->x, c->cols, c->y, c->cols);
}

void qkv_pb_softmax(void) {
  static const size_t big[][2] = {{64, 1024}, {1024, 1024}};
  static const size_t small[][2] = {{16, 16}, {64, 256}};
  const size_t(*shapes)[2] = qkv_pb_small() ? small : big;
  size_t s;
  for (s = 0; s < 2; ++s) {
    softmax_ctx c;
    char shape[48];
    const size_t n = shapes[s][0] * shapes[s][1];
    float *x = qkv_pb_alloc(n), *y = qkv_pb_alloc(n);
    if (!x || !y) return;
    qkv_pb_fill(x, n, -4.0f, 4.0f, 21);
    c.rows = shapes[s][0];
    c.cols = shapes[s][1];
    c.x = x;
    c.y = y;
    sprintf(shape, "%lux%lu", (unsigned long)c.rows, (unsigned long)c.cols);
    qkv_pb_time_ex("softmax", shape, 5.0 * (double)n, (double)n, "element", run_softmax, &c);
  }
}
