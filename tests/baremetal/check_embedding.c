/* SPDX-License-Identifier: MIT */
/* Embedding area: qkv_embedding_forward and qkv_embedding_backward (token +
 * learned position tables) against the reference (tests/ref/ref_embedding.h):
 * repeated ids, a position offset, ld > dim, no position table, accumulation
 * into non-zero gradients, and the errors (a bad id reported with its flat
 * index, positions past the table), under every runnable ISA. */
#include <math.h>

#include "check.h"
#include "ref/ref_embedding.h"

#define VOCAB 7
#define DIM 5
#define MAXPOS 6
#define BATCH 2
#define SEQ 3
#define OFFSET 2
#define LD (DIM + 2)
#define ROWS (BATCH * SEQ)

void qkv_check_embedding(void) {
  static const int32_t ids0[ROWS] = {3, 0, 3, 6, 3, 1}; /* 3 repeats: the scatter-add sums */
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* tok = qkv_check_alloc(VOCAB * DIM);
  float* pos = qkv_check_alloc(MAXPOS * DIM);
  float* out = qkv_check_alloc(ROWS * LD);
  float* dout = qkv_check_alloc(ROWS * LD);
  float* dtok = qkv_check_alloc(VOCAB * DIM);
  float* dpos = qkv_check_alloc(MAXPOS * DIM);
  double* want = qkv_check_alloc_double(ROWS * DIM);
  double* want_tok = qkv_check_alloc_double(VOCAB * DIM);
  double* want_pos = qkv_check_alloc_double(MAXPOS * DIM);
  double* mag_tok = qkv_check_alloc_double(VOCAB * DIM);
  double* mag_pos = qkv_check_alloc_double(MAXPOS * DIM);
  qkv_embedding_desc desc;
  qkv_ref_embedding_grads grads = {NULL, NULL, NULL, NULL, NULL, NULL};
  int32_t ids[ROWS];
  int k, with_pos;
  size_t r, j, bad;
  if (!tok || !pos || !out || !dout || !dtok || !dpos || !want || !want_tok || !want_pos || !mag_tok || !mag_pos)
    return;
  qkv_check_fill(tok, VOCAB * DIM, -1.0f, 1.0f, 61);
  qkv_check_fill(pos, MAXPOS * DIM, -1.0f, 1.0f, 62);
  qkv_check_fill(dout, ROWS * LD, -1.0f, 1.0f, 63);
  for (r = 0; r < ROWS; ++r) ids[r] = ids0[r];
  desc.vocab = VOCAB;
  desc.dim = DIM;
  grads.tok = want_tok; /* the reference's sums in double and of magnitudes */
  grads.pos = want_pos;
  grads.tok_mag = mag_tok;
  grads.pos_mag = mag_pos;

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (with_pos = 0; with_pos < 2; ++with_pos) {
      const size_t offset = with_pos ? OFFSET : 0;
      desc.max_positions = with_pos ? MAXPOS : 0;
      /* Forward: one float addition per element, correctly rounded, so the
       * result equals the double sum rounded to float exactly. */
      for (r = 0; r < ROWS * LD; ++r) out[r] = NAN;
      QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, offset, ids, tok, with_pos ? pos : NULL, out, LD,
                                             NULL),
                       QKV_OK);
      qkv_ref_embedding_forward(&desc, BATCH, SEQ, offset, ids, tok, pos, want);
      for (r = 0; r < ROWS; ++r)
        for (j = 0; j < DIM; ++j) QKV_CHECK(out[r * LD + j] == (float)want[r * DIM + j]);
      for (r = 0; r < ROWS; ++r) /* padding untouched */
        for (j = DIM; j < LD; ++j) QKV_CHECK(out[r * LD + j] != out[r * LD + j]);

      /* Backward accumulates into what is there already (0.25 everywhere). */
      for (r = 0; r < VOCAB * DIM; ++r) {
        dtok[r] = 0.25f;
        want_tok[r] = 0.25;
        mag_tok[r] = 0.25;
      }
      for (r = 0; r < MAXPOS * DIM; ++r) {
        dpos[r] = 0.25f;
        want_pos[r] = 0.25;
        mag_pos[r] = 0.25;
      }
      qkv_ref_embedding_backward(&desc, BATCH, SEQ, offset, ids, dout, LD, &grads);
      QKV_CHECK_STATUS(qkv_embedding_backward(&desc, BATCH, SEQ, offset, ids, dout, LD, dtok, with_pos ? dpos : NULL,
                                              NULL),
                       QKV_OK);
      /* Each gradient entry is a sum of at most ROWS + 1 terms added in
       * float: error <= (ROWS + 1) u sum |terms| (mag_*), elementwise. */
      for (r = 0; r < VOCAB * DIM; ++r)
        qkv_check_close("embedding_backward dtok", dtok + r, want_tok + r, 1, (double)(ROWS + 1) * QKV_CHECK_FLT_U,
                        mag_tok[r]);
      for (r = 0; r < MAXPOS * DIM; ++r)
        qkv_check_close("embedding_backward dpos", dpos + r, want_pos + r, 1, (double)(ROWS + 1) * QKV_CHECK_FLT_U,
                        mag_pos[r]);
      /* A NULL token-gradient table skips it: dpos alone accumulates again. */
      QKV_CHECK_STATUS(qkv_embedding_backward(&desc, BATCH, SEQ, offset, ids, dout, LD, NULL, with_pos ? dpos : NULL,
                                              NULL),
                       QKV_OK);
    }
  }

  /* Errors: nothing written; the bad id's flat index reported. */
  desc.max_positions = MAXPOS;
  for (r = 0; r < ROWS * LD; ++r) out[r] = 1.5f;
  for (r = 0; r < VOCAB * DIM; ++r) dtok[r] = 0.5f;
  ids[4] = VOCAB; /* b 1, t 1 */
  bad = 99;
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, 0, ids, tok, pos, out, LD, &bad), QKV_ERR_BAD_TOKEN);
  QKV_CHECK(bad == 4);
  ids[2] = -1; /* an earlier bad id is the one reported */
  bad = 99;
  QKV_CHECK_STATUS(qkv_embedding_backward(&desc, BATCH, SEQ, 0, ids, dout, LD, dtok, dpos, &bad), QKV_ERR_BAD_TOKEN);
  QKV_CHECK(bad == 2);
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, 0, ids, tok, pos, out, LD, NULL), QKV_ERR_BAD_TOKEN);
  for (r = 0; r < ROWS; ++r) ids[r] = ids0[r];
  bad = 99;
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, MAXPOS - SEQ + 1, ids, tok, pos, out, LD, &bad),
                   QKV_ERR_BAD_SHAPE);
  QKV_CHECK(bad == 99);
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, 0, ids, tok, pos, out, DIM - 1, NULL), QKV_ERR_BAD_STRIDE);
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, BATCH, SEQ, 0, NULL, tok, pos, out, LD, NULL), QKV_ERR_NULL_POINTER);
  for (r = 0; r < ROWS * LD; ++r) QKV_CHECK(out[r] == 1.5f);
  for (r = 0; r < VOCAB * DIM; ++r) QKV_CHECK(dtok[r] == 0.5f);
  /* Zero tokens: a no-op that accepts NULL buffers. */
  QKV_CHECK_STATUS(qkv_embedding_forward(&desc, 0, SEQ, 0, NULL, NULL, NULL, NULL, LD, NULL), QKV_OK);
}
