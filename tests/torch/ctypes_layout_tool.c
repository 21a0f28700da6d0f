/* SPDX-License-Identifier: MIT */
/* ctypes_layout_tool - prints the compiler's layout of the structs that
 * bench/qkv_ctypes.py mirrors: "struct <name> <sizeof>" then
 * "field <name> <offsetof>" for each field, in declaration order
 * (ctypes_layout.py compares them with the mirrors). */
#include <stddef.h>
#include <stdio.h>

#include <qkv/qkv.h>

#define STRUCT(T) printf("struct %s %zu\n", #T, sizeof(T))
#define FIELD(T, f) printf("field %s %zu\n", #f, offsetof(T, f))

int main(void) {
  STRUCT(qkv_mha_desc);
  FIELD(qkv_mha_desc, d_in); FIELD(qkv_mha_desc, d_out); FIELD(qkv_mha_desc, num_heads);
  FIELD(qkv_mha_desc, causal); FIELD(qkv_mha_desc, qkv_bias); FIELD(qkv_mha_desc, out_proj);
  FIELD(qkv_mha_desc, dropout_p); FIELD(qkv_mha_desc, dropout_seed); FIELD(qkv_mha_desc, compute_type);
  FIELD(qkv_mha_desc, num_kv_heads); FIELD(qkv_mha_desc, window); FIELD(qkv_mha_desc, rope);
  FIELD(qkv_mha_desc, rope_layout); FIELD(qkv_mha_desc, rope_dim); FIELD(qkv_mha_desc, rope_theta);
  FIELD(qkv_mha_desc, softcap);
  STRUCT(qkv_mha_layout);
  FIELD(qkv_mha_layout, w_q); FIELD(qkv_mha_layout, w_k); FIELD(qkv_mha_layout, w_v);
  FIELD(qkv_mha_layout, b_q); FIELD(qkv_mha_layout, b_k); FIELD(qkv_mha_layout, b_v);
  FIELD(qkv_mha_layout, w_o); FIELD(qkv_mha_layout, b_o); FIELD(qkv_mha_layout, count);
  STRUCT(qkv_sdpa_strides);
  FIELD(qkv_sdpa_strides, batch); FIELD(qkv_sdpa_strides, head); FIELD(qkv_sdpa_strides, token);
  STRUCT(qkv_sdpa_desc);
  FIELD(qkv_sdpa_desc, batch); FIELD(qkv_sdpa_desc, heads); FIELD(qkv_sdpa_desc, q_len);
  FIELD(qkv_sdpa_desc, kv_len); FIELD(qkv_sdpa_desc, head_dim); FIELD(qkv_sdpa_desc, v_dim);
  FIELD(qkv_sdpa_desc, q); FIELD(qkv_sdpa_desc, k); FIELD(qkv_sdpa_desc, v); FIELD(qkv_sdpa_desc, o);
  FIELD(qkv_sdpa_desc, scale); FIELD(qkv_sdpa_desc, causal); FIELD(qkv_sdpa_desc, dropout_p);
  FIELD(qkv_sdpa_desc, dropout_seed); FIELD(qkv_sdpa_desc, algo); FIELD(qkv_sdpa_desc, kv_heads);
  FIELD(qkv_sdpa_desc, window); FIELD(qkv_sdpa_desc, kv_lens); FIELD(qkv_sdpa_desc, q_lens);
  FIELD(qkv_sdpa_desc, mask); FIELD(qkv_sdpa_desc, mask_strides); FIELD(qkv_sdpa_desc, softcap);
  return 0;
}
