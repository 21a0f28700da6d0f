/* SPDX-License-Identifier: MIT */
/* c_callers.c - see c_callers.h. */
#include "c_callers.h"

const char* fuzz_c_status_string(int status) { return qkv_status_string((qkv_status)status); }
const char* fuzz_c_isa_name(int isa) { return qkv_isa_name((qkv_isa)isa); }
qkv_status fuzz_c_isa_query(int isa, int* compiled, int* supported) {
  return qkv_isa_query((qkv_isa)isa, compiled, supported);
}
qkv_status fuzz_c_set_isa(int isa) { return qkv_set_isa((qkv_isa)isa); }
void fuzz_c_set_algo(qkv_sdpa_desc* desc, int v) { desc->algo = (qkv_sdpa_algo)v; }
qkv_status fuzz_c_sdpa_workspace_size_ex(const qkv_sdpa_desc* desc, int type, int threads, size_t* bytes) {
  return qkv_sdpa_workspace_size_ex(desc, (qkv_dtype)type, threads, bytes);
}
qkv_status fuzz_c_sdpa_forward_ex(const qkv_sdpa_desc* desc, int type, const void* q, const void* k, const void* v,
                                  void* out, float* lse, void* workspace, size_t workspace_bytes) {
  return qkv_sdpa_forward_ex(desc, (qkv_dtype)type, q, k, v, out, lse, workspace, workspace_bytes);
}
qkv_status fuzz_c_sdpa_backward_workspace_size_ex(const qkv_sdpa_desc* desc, int type, int threads, size_t* bytes) {
  return qkv_sdpa_backward_workspace_size_ex(desc, (qkv_dtype)type, threads, bytes);
}
qkv_status fuzz_c_sdpa_backward_ex(const qkv_sdpa_desc* desc, int type, const void* q, const void* k, const void* v,
                                   const void* out, const float* lse, const void* dout, void* dq, void* dk, void* dv,
                                   void* workspace, size_t workspace_bytes) {
  return qkv_sdpa_backward_ex(desc, (qkv_dtype)type, q, k, v, out, lse, dout, dq, dk, dv, workspace, workspace_bytes);
}

#ifdef QKV_GEMM_H
qkv_status fuzz_c_sgemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                        const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  return qkv_sgemm((qkv_trans)ta, (qkv_trans)tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
qkv_status fuzz_c_sgemm_workspace_size(int ta, int tb, size_t M, size_t N, size_t K, int threads, size_t* bytes) {
  return qkv_sgemm_workspace_size((qkv_trans)ta, (qkv_trans)tb, M, N, K, threads, bytes);
}
qkv_status fuzz_c_sgemm_ws(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                           const float* B, size_t ldb, float beta, float* C, size_t ldc, void* ws, size_t ws_bytes) {
  return qkv_sgemm_ws((qkv_trans)ta, (qkv_trans)tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws, ws_bytes);
}
#endif

#ifdef QKV_ACTIVATION_H
qkv_status fuzz_c_activation_forward(int kind, size_t rows, size_t n, const float* x, size_t ldx, float* y, size_t ldy) {
  return qkv_activation_forward((qkv_activation)kind, rows, n, x, ldx, y, ldy);
}
qkv_status fuzz_c_activation_backward(int kind, size_t rows, size_t n, const float* x, size_t ldx, const float* dy,
                                      size_t ldy, float* dx, size_t lddx) {
  return qkv_activation_backward((qkv_activation)kind, rows, n, x, ldx, dy, ldy, dx, lddx);
}
qkv_status fuzz_c_sgemm_bias_act_workspace_size(int ta, int tb, size_t M, size_t N, size_t K, int threads,
                                                size_t* bytes) {
  return qkv_sgemm_bias_act_workspace_size((qkv_trans)ta, (qkv_trans)tb, M, N, K, threads, bytes);
}
qkv_status fuzz_c_sgemm_bias_act(int ta, int tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
                                 const float* B, size_t ldb, const float* bias, int kind, float* pre, size_t ldp,
                                 float* C, size_t ldc, void* ws, size_t ws_bytes) {
  return qkv_sgemm_bias_act((qkv_trans)ta, (qkv_trans)tb, M, N, K, A, lda, B, ldb, bias, (qkv_activation)kind, pre,
                            ldp, C, ldc, ws, ws_bytes);
}
#endif
