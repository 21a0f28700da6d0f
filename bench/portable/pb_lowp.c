/* SPDX-License-Identifier: MIT */
/* Reduced-precision GEMM area: qkv_gemm_ex with both operands fp16 (fp32
 * accumulation and C) and both int8 (int32 sums, exact: an I32 C), square
 * shapes, 2 M N K flops. */
#include <stdint.h>
#include <stdio.h>

#include "pbench.h"

typedef struct {
  qkv_gemm_ex_desc d;
  const void *A, *B;
  void* C;
  void* ws;
  size_t ws_bytes;
} ex_ctx;

static qkv_status run_ex(void* p) {
  ex_ctx* c = (ex_ctx*)p;
  return qkv_gemm_ex(&c->d, c->A, c->B, c->C, c->ws, c->ws_bytes);
}

/* Deterministic 16-bit patterns of fp16 values in [-1, 1) and int8 codes. */
static void fill_f16(uint16_t* x, size_t n, unsigned seed) {
  size_t i;
  for (i = 0; i < n; ++i) x[i] = (uint16_t)(0x3800u + ((i * 2654435761u + seed) >> 7) % 0x400u) | (i & 1 ? 0x8000u : 0u);
}
static void fill_i8(int8_t* x, size_t n, unsigned seed) {
  size_t i;
  for (i = 0; i < n; ++i) x[i] = (int8_t)((int)((i * 2654435761u + seed) >> 9) % 255 - 127);
}

void qkv_pb_lowp(void) {
  static const size_t big[] = {256, 1024};
  static const size_t small[] = {16, 64};
  const size_t* sizes = qkv_pb_small() ? small : big;
  size_t s;
  int kind;
  for (s = 0; s < 2; ++s)
    for (kind = 0; kind < 2; ++kind) {
      const size_t n = sizes[s];
      ex_ctx c;
      char shape[48];
      qkv_gemm_ex_desc d = {0};
      /* Operands as floats from the arena: 2 bytes (fp16) or 1 (int8) each. */
      float *A = qkv_pb_alloc(n * n / 2 + 1), *B = qkv_pb_alloc(n * n / 2 + 1), *C = qkv_pb_alloc(n * n);
      if (!A || !B || !C) return;
      d.ta = d.tb = QKV_NO_TRANS;
      d.M = d.N = d.K = n;
      d.a_type = d.b_type = kind == 0 ? QKV_DTYPE_F16 : QKV_DTYPE_I8;
      d.c_type = kind == 0 ? QKV_DTYPE_F32 : QKV_DTYPE_I32;
      d.lda = d.ldb = d.ldc = n;
      d.alpha = 1.0f;
      d.beta = 0.0f;
      if (kind == 0) {
        fill_f16((uint16_t*)(void*)A, n * n, 1u);
        fill_f16((uint16_t*)(void*)B, n * n, 2u);
      } else {
        fill_i8((int8_t*)(void*)A, n * n, 1u);
        fill_i8((int8_t*)(void*)B, n * n, 2u);
      }
      if (qkv_gemm_ex_workspace_size(&d, 1, &c.ws_bytes) != QKV_OK) return;
      c.ws = c.ws_bytes ? qkv_pb_alloc(c.ws_bytes / sizeof(float) + 1) : NULL;
      if (c.ws_bytes && !c.ws) return;
      c.d = d;
      c.A = A;
      c.B = B;
      c.C = C;
      sprintf(shape, "%lux%lux%lu", (unsigned long)n, (unsigned long)n, (unsigned long)n);
      qkv_pb_time(kind == 0 ? "gemm_ex f16" : "gemm_ex i8", shape, 2.0 * (double)n * (double)n * (double)n, run_ex,
                  &c);
    }
}
