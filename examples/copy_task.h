/* SPDX-License-Identifier: MIT */
/* copy_task.h - the tiny decoder shared by train_copy.c and decode_copy.c
 * (header-only C99, public qkv headers only).
 *
 * Task: a random sentence of L words, the separator "|", then the same words
 * again. Only the copied half is scored, and it cannot be predicted without
 * attention: the word at position p >= L is the word at position p - L.
 *
 * Model: token embedding + learned positional embedding -> one causal
 * multi-head attention layer -> linear head over the vocabulary. All
 * parameters live in one flat buffer, so one AdamW call updates them all:
 *   [ tok (V x d) | pos (2L x d) | attention layer | W_head (d x V) | b_head (V) ]
 *
 * Checkpoint: a safetensors file (qkv/safetensors.h; PyTorch reads it with
 * safetensors.torch.load_file) with one tensor per part, named and shaped as
 * copy_model_views() says, and the configuration in its metadata
 * ("qkv.model", copy_model_config()), so a loader can refuse another model. */
#ifndef QKV_EXAMPLE_COPY_TASK_H
#define QKV_EXAMPLE_COPY_TASK_H

#include <qkv/qkv.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "example_try.h"

#define COPY_L 8                  /* words per sentence */
#define COPY_T (2 * COPY_L)       /* tokens the model reads: sentence, "|", sentence minus last word */
#define COPY_WORDS 16
#define COPY_SEP COPY_WORDS       /* id of "|" */
#define COPY_V (COPY_WORDS + 1)   /* vocabulary */
#define COPY_D 64                 /* model width */
#define COPY_HEADS 4
#define COPY_IGNORE (-1)

/* Seconds on a monotonic clock (POSIX: the including file defines
 * _POSIX_C_SOURCE before any include). */
static double copy_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char* const copy_vocab[COPY_V] = {"red",  "green", "blue", "cat",   "dog",  "bird",
                                               "sun",  "moon",  "tree", "river", "stone", "fire",
                                               "wind", "rain",  "snow", "star",  "|"};

/* Word-level tokenizer of the example (the library only sees ids). Returns
 * the number of ids written, or -1 for an unknown word. */
static int copy_tokenize(const char* text, int32_t* ids, int max_ids) {
  int n = 0;
  while (*text) {
    char word[16];
    int len = 0, v;
    while (*text == ' ') ++text;
    if (!*text) break;
    while (*text && *text != ' ' && len < 15) word[len++] = *text++;
    word[len] = '\0';
    for (v = 0; v < COPY_V && strcmp(word, copy_vocab[v]) != 0; ++v) {
    }
    if (v == COPY_V || n == max_ids) return -1;
    ids[n++] = v;
  }
  return n;
}

static void copy_detokenize(const int32_t* ids, int n, char* out, size_t cap) {
  int i;
  size_t used = 0;
  out[0] = '\0';
  for (i = 0; i < n && used + 8 < cap; ++i)
    used += (size_t)sprintf(out + used, "%s%s", i ? " " : "", copy_vocab[ids[i]]);
}

/* Deterministic generator (the same data on every platform). */
static uint64_t copy_rng_next(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* A random sentence as text: "w1 w2 ... wL | w1 w2 ... wL". */
static void copy_make_text(uint64_t* rng, char* text, size_t cap) {
  int32_t ids[2 * COPY_L + 1];
  int i;
  for (i = 0; i < COPY_L; ++i) ids[i] = ids[COPY_L + 1 + i] = (int32_t)(copy_rng_next(rng) % COPY_WORDS);
  ids[COPY_L] = COPY_SEP;
  copy_detokenize(ids, 2 * COPY_L + 1, text, cap);
}

typedef struct copy_model {
  qkv_embedding_desc emb;
  qkv_mha_desc attn;
  size_t off_tok, off_pos, off_attn, off_head_w, off_head_b, count;
  float* params;
} copy_model;

static qkv_status copy_model_setup(copy_model* m) {
  size_t attn_count = 0;
  qkv_status st;
  memset(m, 0, sizeof *m);
  m->emb.vocab = COPY_V;
  m->emb.dim = COPY_D;
  m->emb.max_positions = COPY_T;
  m->attn.d_in = COPY_D;
  m->attn.d_out = COPY_D;
  m->attn.num_heads = COPY_HEADS;
  m->attn.causal = 1;
  m->attn.qkv_bias = 1;
  m->attn.out_proj = 1;
  if ((st = qkv_mha_param_count(&m->attn, &attn_count)) != QKV_OK) return st;
  m->off_tok = 0;
  m->off_pos = m->off_tok + COPY_V * COPY_D;
  m->off_attn = m->off_pos + COPY_T * COPY_D;
  m->off_head_w = m->off_attn + attn_count;
  m->off_head_b = m->off_head_w + COPY_D * COPY_V;
  m->count = m->off_head_b + COPY_V;
  m->params = (float*)calloc(m->count, sizeof(float));
  return m->params ? QKV_OK : QKV_ERR_NULL_POINTER;
}

/* Logits [rows][V] = H [rows][d] W_head + b_head. */
static qkv_status copy_head_forward(const copy_model* m, size_t rows, const float* h, float* logits) {
  size_t r;
  for (r = 0; r < rows; ++r) memcpy(logits + r * COPY_V, m->params + m->off_head_b, COPY_V * sizeof(float));
  return qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, rows, COPY_V, COPY_D, 1.0f, h, COPY_D, m->params + m->off_head_w,
                   COPY_V, 1.0f, logits, COPY_V);
}

/* One F32 view of rows x cols floats (cols 0: a vector of rows). */
static void copy_view(qkv_tensor_view* v, const char* name, const float* data, size_t rows, size_t cols) {
  memset(v, 0, sizeof *v);
  strcpy(v->name, name);
  v->dtype = QKV_DTYPE_F32;
  v->rank = cols ? 2 : 1;
  v->shape[0] = rows;
  v->shape[1] = cols;
  v->data = data;
  v->bytes = rows * (cols ? cols : 1) * sizeof(float);
}

#define COPY_MAX_TENSORS 12

/* The model's tensors as views of its flat buffer, in buffer order:
 *   tok_emb [V, d], pos_emb [2L, d], attn.w_q ... attn.b_o (the layer's
 *   names and shapes, qkv/safetensors.h), head.w [d, V], head.b [V]. */
static qkv_status copy_model_views(const copy_model* m, qkv_tensor_view* v, size_t* n) {
  size_t attn = 0;
  qkv_status st;
  copy_view(&v[0], "tok_emb", m->params + m->off_tok, COPY_V, COPY_D);
  copy_view(&v[1], "pos_emb", m->params + m->off_pos, COPY_T, COPY_D);
  st = qkv_mha_param_views(&m->attn, m->params + m->off_attn, "attn.", v + 2, COPY_MAX_TENSORS - 4, &attn);
  if (st != QKV_OK) return st;
  copy_view(&v[2 + attn], "head.w", m->params + m->off_head_w, COPY_D, COPY_V);
  copy_view(&v[3 + attn], "head.b", m->params + m->off_head_b, COPY_V, 0);
  *n = attn + 4;
  return QKV_OK;
}

/* The configuration as one line, stored as the file's "qkv.model" metadata:
 * what the shapes alone do not say (heads, causal) is checked through it. */
static void copy_model_config(const copy_model* m, char* out, size_t cap) {
  snprintf(out, cap, "copy_task vocab=%d d=%d positions=%d heads=%lu causal=%d qkv_bias=%d out_proj=%d", COPY_V,
           COPY_D, COPY_T, (unsigned long)m->attn.num_heads, m->attn.causal, m->attn.qkv_bias, m->attn.out_proj);
}

static int32_t copy_argmax(const float* logits) {
  int32_t best = 0, j;
  for (j = 1; j < COPY_V; ++j)
    if (logits[j] > logits[best]) best = j;
  return best;
}

#endif /* QKV_EXAMPLE_COPY_TASK_H */
