/* SPDX-License-Identifier: MIT */
/* Every public header, compiled as strict C99 and C11 (-pedantic -Werror),
 * linked against the library and called: the C contract holds for C users. */
#include <qkv/qkv.h>
#include <qkv/attention.h>
#include <qkv/embedding.h>
#include <qkv/export.h>
#include <qkv/gemm.h>
#include <qkv/init.h>
#include <qkv/loss.h>
#include <qkv/optim.h>
#include <qkv/runtime.h>
#include <qkv/status.h>
#include <qkv/vector.h>
#include <qkv/layer.h>
#include <qkv/version.h>
#include <qkv/softmax.h>
#include <qkv/attention.h>
#include <qkv/safetensors.h>
#include <qkv/rope.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  qkv_isa isa;
  int threads = 0, i;
  float x[5] = {1, 2, 3, 4, 5}, dot = 0.0f;
  if (qkv_version_number() != QKV_VERSION_NUMBER) return 1;
  if (qkv_get_isa(&isa) != QKV_OK) return 2;
  if (qkv_get_num_threads(&threads) != QKV_OK || threads < 1) return 3;
  if (qkv_sdot(5, x, x, &dot) != QKV_OK || dot != 55.0f) return 4;
  if (qkv_sdot(5, NULL, x, &dot) != QKV_ERR_NULL_POINTER) return 5;
  if (strcmp(qkv_status_string(QKV_ERR_BAD_SHAPE), "bad shape") != 0) return 6;
  for (i = 0; i < QKV_ISA_COUNT; ++i) {
    int compiled = 0, supported = 0;
    if (qkv_isa_query((qkv_isa)i, &compiled, &supported) != QKV_OK) return 7;
  }
  /* C lets any int reach an enum parameter: out-of-range values are refused. */
  if (qkv_set_isa((qkv_isa)-3) != QKV_ERR_BAD_ARGUMENT || qkv_set_isa((qkv_isa)1000) != QKV_ERR_BAD_ARGUMENT) return 8;
  if (strcmp(qkv_isa_name((qkv_isa)-1), "unknown") != 0) return 9;
  if (strcmp(qkv_status_string((qkv_status)-1000), "unknown status") != 0) return 10;
  if (qkv_isa_query((qkv_isa)-1, NULL, NULL) != QKV_ERR_BAD_ARGUMENT) return 11;
  {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {0, 0, 0, 0};
    if (qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) != QKV_OK) return 12;
    if (c[0] != 4.0f || c[1] != 5.0f || c[2] != 10.0f || c[3] != 11.0f) return 13;
    if (qkv_sgemm((qkv_trans)2, QKV_NO_TRANS, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) != QKV_ERR_BAD_ARGUMENT) return 14;
    /* Training blocks: embed, score, step. */
    qkv_embedding_desc ed = {4, 2, 3};
    qkv_adamw_config ac = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
    qkv_sgd_config sc = {0.1f, 0.0f, 0.0f, 0.0f, 0};
    int32_t ids[2] = {3, 1}, targets[2] = {1, -100};
    float tables[14], emb[4], grads[4], state[8], loss = -1.0f;
    size_t bad = 0, floats = 0;
    if (qkv_init_uniform(tables, 14, 0.5f, 42u) != QKV_OK || qkv_zero(grads, 4) != QKV_OK) return 22;
    if (qkv_embedding_forward(&ed, 1, 2, 0, ids, tables, tables + 8, emb, 2, &bad) != QKV_OK) return 23;
    ids[1] = 4;
    if (qkv_embedding_forward(&ed, 1, 2, 0, ids, tables, tables + 8, emb, 2, &bad) != QKV_ERR_BAD_TOKEN ||
        bad != 1) return 24;
    if (qkv_cross_entropy_forward(2, 2, emb, 2, targets, -100, &loss) != QKV_OK || !(loss > 0.0f)) return 25;
    if (qkv_cross_entropy_backward(2, 2, emb, 2, targets, -100, 1.0f, grads, 2) != QKV_OK) return 26;
    if (qkv_adamw_state_floats(4, &floats) != QKV_OK || floats != 8) return 27;
    if (qkv_adamw_step(&ac, 1, 4, emb, grads, state) != QKV_OK) return 28;
    if (qkv_sgd_state_floats(&sc, 4, &floats) != QKV_OK || floats != 0) return 29;
    if (qkv_sgd_step(&sc, 1, 4, emb, grads, NULL) != QKV_OK) return 30;
  }
  {
    float w[5];
    qkv_sdpa_desc d;
    size_t bytes = 0;
    if (qkv_softmax(1, 5, 1.0f, x, 5, w, 5) != QKV_OK || w[4] <= w[0]) return 40;
    memset(&d, 0, sizeof d);
    d.batch = d.heads = d.q_len = d.kv_len = 1;
    d.head_dim = 5;
    d.q.token = d.k.token = d.v.token = d.o.token = 5;
    if (qkv_sdpa_workspace_size(&d, 1, &bytes) != QKV_OK || bytes == 0) return 41;
  }
  { /* Attention backward, one query and one key: P = 1, so dV = dO and dQ = dK = 0. */
    qkv_sdpa_desc sd;
    float q1[2] = {1, 2}, k1[2] = {3, 4}, v1[2] = {5, 6}, lse1 = 11.0f, do1[2] = {1, -1}, dq1[2], dk1[2], dv1[2];
    size_t need = 0;
    void* ws;
    memset(&sd, 0, sizeof sd);
    sd.batch = sd.heads = sd.q_len = sd.kv_len = 1;
    sd.head_dim = 2;
    sd.scale = 1.0f;
    if (qkv_sdpa_backward_workspace_size(&sd, 1, &need) != QKV_OK || !(ws = malloc(need))) return 50;
    if (qkv_sdpa_backward(&sd, q1, k1, v1, v1, &lse1, do1, dq1, dk1, dv1, ws, need) != QKV_OK) return 51;
    free(ws);
    if (dv1[0] != 1.0f || dv1[1] != -1.0f || dq1[0] != 0.0f || dk1[1] != 0.0f) return 52;
  }
  { /* A checkpoint: one tensor written to memory and read back; any int as a dtype. */
    static const float w[3] = {1.0f, 2.0f, 3.0f};
    qkv_tensor_view t, back;
    unsigned char file[128];
    size_t bytes = 0, count = 0, ws = 0, es = 0;
    float got[3] = {0, 0, 0};
    memset(&t, 0, sizeof t);
    strcpy(t.name, "w");
    t.dtype = QKV_DTYPE_F32;
    t.rank = 1;
    t.shape[0] = 3;
    t.data = w;
    t.bytes = sizeof w;
    if (qkv_safetensors_write(&t, 1, NULL, 0, file, sizeof file, &bytes) != QKV_OK || bytes != 76) return 60;
    if (qkv_safetensors_read_size(file, bytes, &count, &ws, NULL) != QKV_OK || count != 1 || ws == 0) return 61;
    {
      void* work = malloc(ws);
      qkv_status st = qkv_safetensors_read(file, bytes, &back, 1, &count, work, ws, NULL);
      free(work);
      if (st != QKV_OK || qkv_safetensors_copy_f32(&back, 1, t.shape, got) != QKV_OK || got[2] != 3.0f) return 62;
    }
    if (qkv_dtype_size((qkv_dtype)-1, &es) != QKV_ERR_BAD_DTYPE || qkv_dtype_size((qkv_dtype)99, &es) != QKV_ERR_BAD_DTYPE)
      return 63;
    if (strcmp(qkv_dtype_name((qkv_dtype)-1), "unknown") != 0 || strcmp(qkv_dtype_name(QKV_DTYPE_BF16), "BF16") != 0)
      return 64;
    t.dtype = (qkv_dtype)1000;
    if (qkv_safetensors_write(&t, 1, NULL, 0, NULL, 0, &bytes) != QKV_ERR_BAD_DTYPE) return 65;
    if (strcmp(qkv_status_string(QKV_ERR_BAD_FORMAT), "malformed file") != 0) return 66;
  }
  printf("C%ld: qkv %s, isa %s, %d threads\n", (long)__STDC_VERSION__, qkv_version_string(),
         qkv_isa_name(isa), threads);
  return 0;
}
