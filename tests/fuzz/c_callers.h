/* SPDX-License-Identifier: MIT */
/* c_callers.h - calls that pass arbitrary ints as enum arguments, made from
 * C (c_callers.c) because that is where such callers live: C converts any
 * int to an enum, while C++ code cannot even hold an out-of-range enum value
 * without undefined behaviour. */
#ifndef QKV_FUZZ_C_CALLERS_H
#define QKV_FUZZ_C_CALLERS_H

#include "qkv/qkv.h"

QKV_EXTERN_C_BEGIN
const char* fuzz_c_status_string(int status);
const char* fuzz_c_isa_name(int isa);
qkv_status fuzz_c_isa_query(int isa, int* compiled, int* supported);
qkv_status fuzz_c_set_isa(int isa);
/* Stores v into desc->algo as C would. */
void fuzz_c_set_algo(qkv_sdpa_desc* desc, int v);
/* The typed attention entry points with the element type passed as an int. */
qkv_status fuzz_c_sdpa_workspace_size_ex(const qkv_sdpa_desc* desc, int type, int threads, size_t* bytes);
qkv_status fuzz_c_sdpa_forward_ex(const qkv_sdpa_desc* desc, int type, const void* q, const void* k, const void* v,
                                  void* out, float* lse, void* workspace, size_t workspace_bytes);
qkv_status fuzz_c_sdpa_backward_workspace_size_ex(const qkv_sdpa_desc* desc, int type, int threads, size_t* bytes);
qkv_status fuzz_c_sdpa_backward_ex(const qkv_sdpa_desc* desc, int type, const void* q, const void* k, const void* v,
                                   const void* out, const float* lse, const void* dout, void* dq, void* dk, void* dv,
                                   void* workspace, size_t workspace_bytes);
#ifdef QKV_GEMM_H
qkv_status fuzz_c_sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                        const float* B, size_t ldb, float beta, float* C, size_t ldc);
qkv_status fuzz_c_sgemm_workspace_size(int ta, int tb, size_t M, size_t N, size_t K, int threads, size_t* bytes);
qkv_status fuzz_c_sgemm_ws(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                           const float* B, size_t ldb, float beta, float* C, size_t ldc, void* ws, size_t ws_bytes);
#endif
#ifdef QKV_ACTIVATION_H
qkv_status fuzz_c_activation_forward(int kind, size_t rows, size_t n, const float* x, size_t ldx, float* y, size_t ldy);
qkv_status fuzz_c_activation_backward(int kind, size_t rows, size_t n, const float* x, size_t ldx, const float* dy,
                                      size_t ldy, float* dx, size_t lddx);
qkv_status fuzz_c_sgemm_bias_act_workspace_size(int ta, int tb, size_t M, size_t N, size_t K, int threads,
                                                size_t* bytes);
qkv_status fuzz_c_sgemm_bias_act(int ta, int tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
                                 const float* B, size_t ldb, const float* bias, int kind, float* pre, size_t ldp,
                                 float* C, size_t ldc, void* ws, size_t ws_bytes);
#endif
QKV_EXTERN_C_END

#endif
