/* SPDX-License-Identifier: MIT */
/* ref_int8 - the exact integer oracle of the int8 layer (qkv/layer_int8.h):
 * the fixed-point rules written once more from the header's text, plainly
 * (64-bit arithmetic, no tricks), and the layer forward over a buffer in the
 * header's layout. Plain C99, no allocation; the bare-metal checks run it
 * too. */
#ifndef QKV_TESTS_REF_INT8_H
#define QKV_TESTS_REF_INT8_H

#include <stddef.h>
#include <stdint.h>

#include <qkv/layer_int8.h>

#ifdef __cplusplus
extern "C" {
#endif

/* requant(acc, m) of the header. */
int32_t qkv_ref_requant(int32_t acc, qkv_qmul m);

/* EXP2[f] = round(2^15 * 2^(-f/256)), computed with exp2() (double). */
uint32_t qkv_ref_exp2_q15(int f);

/* The integer softmax of n scores s into p (Q15); e: n values of scratch. */
void qkv_ref_int8_softmax(const int32_t* s, size_t n, qkv_qmul score, uint32_t* e, int16_t* p);

/* The int8 layer forward: x [B*T][d_in] codes, y [B*T][d_out] codes, the
 * buffer qlayer laid out as qkv_mha_int8_param_layout() says for desc.
 * Scratch: qkv_ref_mha_int8_scratch() int32 values. */
size_t qkv_ref_mha_int8_scratch(const qkv_mha_desc* desc, size_t batch, size_t seq_len);
void qkv_ref_mha_int8_forward(const qkv_mha_desc* desc, const void* qlayer, size_t batch, size_t seq_len,
                              const int8_t* x, int8_t* y, int32_t* scratch);

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_REF_INT8_H */
