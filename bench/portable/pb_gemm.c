/* SPDX-License-Identifier: MIT */
/* GEMM area: qkv_sgemm (2 M N K flops), cubes and attention's Q.K^T shape
 * (T x T x d) with B transposed, as in bench/bench_gemm.cpp. */
#include <stdio.h>

#include "pbench.h"

typedef struct {
  size_t M, N, K;
  qkv_trans tb;
  const float *A, *B;
  float* C;
} gemm_ctx;

static qkv_status run_sgemm(void* p) {
  const gemm_ctx* c = (const gemm_ctx*)p;
  return qkv_sgemm(QKV_NO_TRANS, c->tb, c->M, c->N, c->K, 1.0f, c->A, c->K, c->B, c->tb == QKV_TRANS ? c->K : c->N,
                   0.0f, c->C, c->N);
}

void qkv_pb_gemm(void) {
  static const size_t big[][4] = {{64, 64, 64, 0}, {256, 256, 256, 0}, {1024, 1024, 1024, 0}, {1024, 1024, 64, 1}};
  static const size_t small[][4] = {{16, 16, 16, 0}, {32, 32, 32, 0}, {64, 64, 64, 0}, {64, 64, 16, 1}};
  const size_t(*shapes)[4] = qkv_pb_small() ? small : big;
  size_t k;
  for (k = 0; k < 4; ++k) {
    gemm_ctx c;
    char shape[48];
    float *A, *B, *C;
    c.M = shapes[k][0];
    c.N = shapes[k][1];
    c.K = shapes[k][2];
    c.tb = shapes[k][3] ? QKV_TRANS : QKV_NO_TRANS;
    A = qkv_pb_alloc(c.M * c.K);
    B = qkv_pb_alloc(c.K * c.N);
    C = qkv_pb_alloc(c.M * c.N);
    if (!A || !B || !C) return;
    qkv_pb_fill(A, c.M * c.K, -1.0f, 1.0f, 1);
    qkv_pb_fill(B, c.K * c.N, -1.0f, 1.0f, 2);
    c.A = A;
    c.B = B;
    c.C = C;
    sprintf(shape, "%lux%lux%lu%s", (unsigned long)c.M, (unsigned long)c.N, (unsigned long)c.K,
            c.tb == QKV_TRANS ? " B^T" : "");
    qkv_pb_time("sgemm", shape, 2.0 * (double)c.M * (double)c.N * (double)c.K, run_sgemm, &c);
  }
}
