/* SPDX-License-Identifier: MIT */
/* Dtype area: qkv_convert on values whose bf16 / fp16 bits are known (ties,
 * the fp16 overflow threshold, subnormals, NaN), round trips, and q8_0
 * quantization within |x - q d| <= d/2, under every runnable ISA; a NaN is
 * QKV_ERR_NOT_FINITE with nothing written; every fp16/bf16 value and 65536
 * fp32 patterns through each ISA against the scalar table's bits. Kept small
 * for emulated runs. */
#include <stdint.h>
#include <string.h>

#include "check.h"

#define NV 19 /* past one 16-wide vector block, so vector and tail both run */

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* The contract of the conversions is the scalar table's bits (util/half.hpp):
 * every fp16 and bf16 value, and 65536 fp32 patterns spread over every sign,
 * exponent and the low mantissa bits (ties, subnormals, NaN payloads), through
 * each ISA against scalar, in chunks of CH. */
#define CH 1024
static void sweep(const qkv_isa* isas, int nisa, float* f, float* f_ref, uint16_t* h, uint16_t* h_ref) {
  unsigned c, i;
  int k;
  size_t bad = 0;
  for (c = 0; c < 65536u / CH; ++c) {
    for (i = 0; i < CH; ++i) {
      const uint32_t j = c * CH + i;
      const uint32_t u = (j << 16) | ((j * 7919u) & 0xffffu);
      h_ref[i] = (uint16_t)j;
      memcpy(&f_ref[i], &u, sizeof u);
    }
    for (k = 0; k < nisa; ++k) {
      int t;
      for (t = 0; t < 2; ++t) { /* fp16, then bf16 */
        const qkv_dtype dt = t ? QKV_DTYPE_BF16 : QKV_DTYPE_F16;
        float want_f[CH];
        uint16_t want_h[CH];
        QKV_CHECK_STATUS(qkv_set_isa(QKV_ISA_SCALAR), QKV_OK);
        QKV_CHECK_STATUS(qkv_convert(CH, dt, h_ref, QKV_DTYPE_F32, want_f), QKV_OK);
        QKV_CHECK_STATUS(qkv_convert(CH, QKV_DTYPE_F32, f_ref, dt, want_h), QKV_OK);
        QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
        /* Odd lengths from odd offsets: tails and unaligned starts too. */
        QKV_CHECK_STATUS(qkv_convert(CH - 1, dt, h_ref + 1, QKV_DTYPE_F32, f + 1), QKV_OK);
        QKV_CHECK_STATUS(qkv_convert(1, dt, h_ref, QKV_DTYPE_F32, f), QKV_OK);
        QKV_CHECK_STATUS(qkv_convert(CH - 3, QKV_DTYPE_F32, f_ref + 3, dt, h + 3), QKV_OK);
        QKV_CHECK_STATUS(qkv_convert(3, QKV_DTYPE_F32, f_ref, dt, h), QKV_OK);
        bad += memcmp(f, want_f, sizeof want_f) != 0;
        bad += memcmp(h, want_h, sizeof want_h) != 0;
      }
    }
  }
  QKV_CHECK(bad == 0);
}

void qkv_check_dtype(void) {
  /* fp32 bits, then the expected bf16 and fp16 bits. */
  static const uint32_t in[NV] = {0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f801000u, 0x3f803000u,
                                  0x477fefffu, 0x477ff000u, 0x33000000u, 0x33000001u, 0x80000000u,
                                  0x7f800000u, 0x7f802000u, 0xffc00001u, 0x00000001u, 0x7f7fffffu,
                                  0xc0490fdbu, 0x387fe000u, 0x42f6e979u, 0x3eaaaaabu};
  static const uint16_t bf16[NV] = {0x3f80, 0x3f80, 0x3f82, 0x3f80, 0x3f80, 0x4780, 0x4780, 0x3300, 0x3300, 0x8000,
                                    0x7f80, 0x7fc0, 0xffc0, 0x0000, 0x7f80, 0xc049, 0x3880, 0x42f7, 0x3eab};
  static const uint16_t f16[NV] = {0x3c00, 0x3c04, 0x3c0c, 0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x8000,
                                   0x7c00, 0x7e01, 0xfe00, 0x0000, 0x7c00, 0xc248, 0x0400, 0x57b7, 0x3555};
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* x = qkv_check_alloc(64);
  float* back = qkv_check_alloc(64);
  qkv_block_q8_0 blocks[2];
  uint16_t h[NV], h2[NV];
  int k;
  size_t i, bad;
  if (!x || !back) return;
  for (i = 0; i < NV; ++i) x[i] = from_bits(in[i]);

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    QKV_CHECK_STATUS(qkv_convert(NV, QKV_DTYPE_F32, x, QKV_DTYPE_BF16, h), QKV_OK);
    for (bad = 0, i = 0; i < NV; ++i) bad += h[i] != bf16[i];
    QKV_CHECK(bad == 0);
    QKV_CHECK_STATUS(qkv_convert(NV, QKV_DTYPE_F32, x, QKV_DTYPE_F16, h), QKV_OK);
    for (bad = 0, i = 0; i < NV; ++i) bad += h[i] != f16[i];
    QKV_CHECK(bad == 0);
    /* fp16 -> fp32 -> fp16 and fp16 -> bf16 -> ... are exact for these. */
    QKV_CHECK_STATUS(qkv_convert(NV, QKV_DTYPE_F16, h, QKV_DTYPE_F32, back), QKV_OK);
    QKV_CHECK_STATUS(qkv_convert(NV, QKV_DTYPE_F32, back, QKV_DTYPE_F16, h2), QKV_OK);
    for (bad = 0, i = 0; i < NV; ++i) bad += h2[i] != f16[i];
    QKV_CHECK(bad == 0);
    QKV_CHECK_STATUS(qkv_convert(NV, QKV_DTYPE_BF16, bf16, QKV_DTYPE_F16, h2), QKV_OK);
    QKV_CHECK(h2[0] == 0x3c00 && h2[5] == 0x7c00 && h2[11] == 0x7e00 && h2[15] == 0xc248);

    /* q8_0: two blocks of values in (-2, 2), then back. */
    qkv_check_fill(back, 64, -2.0f, 2.0f, 3);
    QKV_CHECK_STATUS(qkv_quantize_q8_0(64, back, blocks), QKV_OK);
    QKV_CHECK_STATUS(qkv_dequantize_q8_0(64, blocks, x), QKV_OK);
    for (bad = 0, i = 0; i < 64; ++i) {
      float d;
      uint16_t dh = blocks[i / 32].d;
      QKV_CHECK_STATUS(qkv_convert(1, QKV_DTYPE_F16, &dh, QKV_DTYPE_F32, &d), QKV_OK);
      bad += blocks[i / 32].qs[i % 32] < -127 || (back[i] - x[i] > d / 2 || x[i] - back[i] > d / 2);
    }
    QKV_CHECK(bad == 0);
    back[40] = from_bits(0x7fc00000u);
    memset(blocks, 0x5a, sizeof blocks);
    QKV_CHECK_STATUS(qkv_quantize_q8_0(64, back, blocks), QKV_ERR_NOT_FINITE);
    QKV_CHECK(blocks[0].d == 0x5a5a && blocks[0].qs[0] == 0x5a);
    for (i = 0; i < NV; ++i) x[i] = from_bits(in[i]);
  }
  {
    float* f = qkv_check_alloc(CH);
    float* f_ref = qkv_check_alloc(CH);
    uint16_t* hh = (uint16_t*)(void*)qkv_check_alloc(CH / 2);
    uint16_t* hh_ref = (uint16_t*)(void*)qkv_check_alloc(CH / 2);
    if (f && f_ref && hh && hh_ref) sweep(isas, nisa, f, f_ref, hh, hh_ref);
  }
  QKV_CHECK_STATUS(qkv_convert(1, QKV_DTYPE_I8, x, QKV_DTYPE_F32, back), QKV_ERR_BAD_DTYPE);
  QKV_CHECK_STATUS(qkv_quantize_q8_0(31, back, blocks), QKV_ERR_BAD_SHAPE);
}
