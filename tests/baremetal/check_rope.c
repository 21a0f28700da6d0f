/* SPDX-License-Identifier: MIT */
/* RoPE area: qkv_rope_forward and qkv_rope_backward against the reference
 * (tests/ref/ref_rope.h), both layouts, a partial rotary dim, a padded
 * [B,T,H,d] layout, in place, bf16, and two of the checks, under every runnable
 * ISA. Tolerance 32u of the pair's |x1| + |x2| (<= 2): the library's fp32
 * rotation is within 4u with double angles; on a single-precision FPU
 * (Cortex-M4F) its angle math is float, off by a few u times the position
 * (<= 7 here). */
#include "check.h"
#include "ref/ref_rope.h"

#define B 2
#define H 2
#define T 5
#define D 6
#define ROW (H * (D + 2)) /* token stride: two floats of padding per head */
#define N (B * T * ROW)

void qkv_check_rope(void) {
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* x = qkv_check_alloc(N);
  float* y = qkv_check_alloc(N);
  float* dense = qkv_check_alloc(B * H * T * D);
  float* xw = qkv_check_alloc(N); /* bf16 inputs widened */
  double* want = qkv_check_alloc_double(B * H * T * D);
  qkv_rope_desc d;
  int k, layout, inverse;
  size_t b, h, t, f, i;
  if (!x || !y || !dense || !xw || !want) return;
  qkv_check_fill(x, N, -1.0f, 1.0f, 71);
  d.batch = B;
  d.heads = H;
  d.tokens = T;
  d.head_dim = D;
  d.x.batch = T * ROW;
  d.x.head = D + 2;
  d.x.token = ROW;
  d.rotary_dim = 4;
  d.theta = 0.0f;
  d.pos_offset = 3;
  d.positions = NULL;
  d.positions_batch_stride = 0;
  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (layout = 0; layout < 2; ++layout)
      for (inverse = 0; inverse < 2; ++inverse) {
        d.layout = layout ? QKV_ROPE_INTERLEAVED : QKV_ROPE_HALF;
        for (i = 0; i < N; ++i) y[i] = x[i];
        QKV_CHECK_STATUS(inverse ? qkv_rope_backward(&d, y, y) : qkv_rope_forward(&d, y, y), QKV_OK);
        qkv_ref_rope(&d, x, inverse, want, NULL);
        i = 0;
        for (b = 0; b < B; ++b)
          for (h = 0; h < H; ++h)
            for (t = 0; t < T; ++t)
              for (f = 0; f < D; ++f) dense[i++] = y[b * d.x.batch + h * d.x.head + t * d.x.token + f];
        qkv_check_close("rope", dense, want, B * H * T * D, 32 * QKV_CHECK_FLT_U, 2.0);
      }
    { /* bf16 in place: the fp32 result rounded once (2^-8 of |x1| + |x2| more) */
      uint16_t* bits = (uint16_t*)(void*)y; /* N floats hold N bf16 values */
      d.layout = QKV_ROPE_HALF;
      QKV_CHECK_STATUS(qkv_convert(N, QKV_DTYPE_F32, x, QKV_DTYPE_BF16, bits), QKV_OK);
      QKV_CHECK_STATUS(qkv_convert(N, QKV_DTYPE_BF16, bits, QKV_DTYPE_F32, xw), QKV_OK);
      QKV_CHECK_STATUS(qkv_rope_forward_ex(&d, QKV_DTYPE_BF16, bits, bits), QKV_OK);
      qkv_ref_rope(&d, xw, 0, want, NULL);
      i = 0;
      for (b = 0; b < B; ++b)
        for (h = 0; h < H; ++h)
          for (t = 0; t < T; ++t)
            for (f = 0; f < D; ++f) {
              const size_t o = b * d.x.batch + h * d.x.head + t * d.x.token + f;
              QKV_CHECK_STATUS(qkv_convert(1, QKV_DTYPE_BF16, &bits[o], QKV_DTYPE_F32, &dense[i++]), QKV_OK);
            }
      qkv_check_close("rope bf16", dense, want, B * H * T * D, 32 * QKV_CHECK_FLT_U + 1.0 / 256, 2.0);
    }
    d.rotary_dim = 5; /* odd */
    QKV_CHECK_STATUS(qkv_rope_forward(&d, x, y), QKV_ERR_BAD_SHAPE);
    d.rotary_dim = 4;
    d.theta = -1.0f;
    QKV_CHECK_STATUS(qkv_rope_backward(&d, x, y), QKV_ERR_BAD_ARGUMENT);
    d.theta = 0.0f;
  }
}
