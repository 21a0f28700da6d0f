/* SPDX-License-Identifier: MIT */
/* Vector area: sdot (2n flops) and saxpy (2n flops), in L1 and beyond. */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  size_t n;
  const float* x;
  float* y;
  float out;
} vec_ctx;

static qkv_status run_sdot(void* p) {
  vec_ctx* c = (vec_ctx*)p;
  return qkv_sdot(c->n, c->x, c->y, &c->out);
}

static qkv_status run_saxpy(void* p) {
  vec_ctx* c = (vec_ctx*)p;
  /* alpha = 0 keeps y bounded over millions of calls; the work is the same. */
  return qkv_saxpy(c->n, 0.0f, c->x, c->y);
}

void qkv_pb_vector(void) {
  static const size_t big[] = {1024, 4096, 262144};
  static const size_t small[] = {256, 1024};
  const size_t* sizes = qkv_pb_small() ? small : big;
  const size_t count = qkv_pb_small() ? sizeof small / sizeof small[0] : sizeof big / sizeof big[0];
  size_t k;
  for (k = 0; k < count; ++k) {
    vec_ctx c;
    char shape[32];
    float* x = qkv_pb_alloc(sizes[k]);
    float* y = qkv_pb_alloc(sizes[k]);
    if (!x || !y) return;
    qkv_pb_fill(x, sizes[k], -1.0f, 1.0f, 1);
    qkv_pb_fill(y, sizes[k], -1.0f, 1.0f, 2);
    c.n = sizes[k];
    c.x = x;
    c.y = y;
    c.out = 0.0f;
    sprintf(shape, "n=%lu", (unsigned long)sizes[k]);
    qkv_pb_time("sdot", shape, 2.0 * (double)sizes[k], run_sdot, &c);
    qkv_pb_time("saxpy", shape, 2.0 * (double)sizes[k], run_saxpy, &c);
  }
}
