/* SPDX-License-Identifier: MIT */
/* gpt.h - a GPT-2 style byte-level language model on qkv's public C API,
 * header-only C99, shared by train_gpt.c and tests/torch/gpt_tool.c.
 *
 * Model (pre-LN GPT-2; B sequences of T tokens, d = d_model, V = vocab):
 *   x_0   = wte[ids] + wpe[0..T)                 qkv_embedding_forward
 *   x_l+1 = block_l(x_l), l = 0 .. L-1           qkv_block_forward (qkv/block.h)
 *   h     = LayerNorm_f(x_L)                     qkv_layernorm_forward (qkv/norm.h)
 *   logits = h wte^T                             tied head: qkv_sgemm_ws, B transposed
 *                                                (bf16 compute: qkv_gemm_ex on bf16 h, wte)
 *   loss  = cross_entropy(logits, targets)       qkv_cross_entropy_forward_backward
 *
 * Parameters: ONE flat float buffer, gradients and AdamW moments alike:
 *   [ wte V x d | wpe T x d | block 0 | ... | block L-1 | lnf_g d | lnf_b d ]
 * each block in qkv_block_param_layout() order. The head has no weights of
 * its own: its gradient h^T dlogits accumulates into wte's, before the
 * embedding's scatter-add does.
 *
 * Initialisation (GPT-2 / nanoGPT): every weight matrix and both embeddings
 * N(0, 0.02), the residual projections (W_o, W_down) N(0, 0.02 / sqrt(2 L)),
 * biases 0, norms gamma 1 beta 0. The normal values come from Box-Muller over
 * a counter-based generator (gpt_normal: a hash of (seed, tensor, index)), so
 * they are the same bits on every platform and thread count.
 *
 * AdamW weight decay (GPT-2 / nanoGPT: every 2-D tensor, i.e. the weight
 * matrices AND the two embedding tables; no biases, no norm parameters):
 * gpt_param_ranges() cuts the buffer into contiguous ranges of one kind and
 * gpt_adamw_step() calls qkv_adamw_step_ex() (scale 1, no zeroing: AdamW's
 * plain update) once per range, the decayed ones with the configured
 * weight_decay, the others with 0. The moments of the
 * range at offset o with n floats live at state[2o, 2o + 2n) (m then v).
 * gpt_optimizer_step() is a training step's whole optimizer part in one pass
 * over the gradients: the global clip factor (qkv_grad_clip_scale), then
 * qkv_adamw_step_ex() per range with it, zeroing each gradient it has used,
 * the same bits as qkv_clip_grad_norm + gpt_adamw_step + qkv_zero.
 * gpt_optimizer_step_mirror() also writes the updated params rounded to bf16
 * (qkv_adamw_step_mirror per range): with compute_type BF16 and
 * gpt_acts::mirror pointing there, the blocks (qkv_block_forward_mirror) and
 * the tied head read their bf16 weights from it instead of rounding them on
 * every call, with the same bits.
 *
 * Checkpoint (gpt_save / gpt_load), little-endian host order (the format is
 * not portable to big-endian hosts, which qkv's examples do not target):
 *   "QKVGPT\0\0"  8 bytes magic
 *   u32 version (1), u32 header words (13)
 *   u32 vocab, seq_len, d_model, layers, heads, d_ff, norm, ffn, pre_norm, bias,
 *       has_optimizer (0/1), reserved (0), reserved (0)
 *   u64 param count, u64 step, u64 FNV-1a hash of every following byte
 *   f32 params[count], then (has_optimizer) f32 adam[2 count]
 * A file of another configuration, a short or corrupt one, is refused with a
 * message saying why. */
#ifndef QKV_EXAMPLE_GPT_H
#define QKV_EXAMPLE_GPT_H

#include <qkv/qkv.h>
#include <qkv/block.h>
#include <qkv/gemm_ex.h>
#include <qkv/norm.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "example_try.h"

#define GPT_NORM_EPS 1e-5f /* every norm's, as PyTorch's LayerNorm */

/* Returns the status of a failing call from the enclosing function. */
#define GPT_CHECK(call)             \
  do {                              \
    qkv_status st_ = (call);        \
    if (st_ != QKV_OK) return st_;  \
  } while (0)

typedef struct gpt_config {
  size_t vocab;      /* 256 for bytes */
  size_t seq_len;    /* T: context length, rows of wpe */
  size_t d_model;
  size_t layers;
  size_t heads;
  size_t d_ff;       /* 4 d_model in GPT-2 */
  qkv_norm_type norm; /* every norm: the blocks' and the final one */
  qkv_ffn_type ffn;
  float dropout;     /* attention and residual dropout in training (0: none) */
  qkv_dtype compute_type; /* QKV_DTYPE_F32 or QKV_DTYPE_BF16: the blocks' GEMMs
                             (qkv_block_desc) and the tied head's (gpt_head_bf16);
                             the embeddings and the final norm stay fp32 */
} gpt_config;

/* GPT-2's shape at a given size: pre-LN, LayerNorm, GELU (tanh), biases. */
static inline gpt_config gpt_config_default(size_t vocab, size_t seq_len, size_t d_model, size_t layers,
                                            size_t heads) {
  gpt_config c;
  memset(&c, 0, sizeof c);
  c.vocab = vocab, c.seq_len = seq_len, c.d_model = d_model, c.layers = layers, c.heads = heads;
  c.d_ff = 4 * d_model, c.norm = QKV_NORM_LAYER, c.ffn = QKV_FFN_GELU_TANH, c.dropout = 0.0f;
  return c;
}

typedef struct gpt_model {
  gpt_config cfg;
  qkv_embedding_desc emb;
  qkv_block_desc block; /* every block's description (dropout_seed set per step) */
  qkv_block_layout lay; /* offsets inside one block */
  size_t off_wte, off_wpe, off_blocks, block_floats, off_lnf_g, off_lnf_b, count;
} gpt_model;

static inline qkv_status gpt_setup(gpt_model* m, const gpt_config* c) {
  qkv_block_desc* b = &m->block;
  memset(m, 0, sizeof *m);
  m->cfg = *c;
  if (c->vocab == 0 || c->seq_len == 0 || c->layers == 0) return QKV_ERR_BAD_SHAPE;
  m->emb.vocab = c->vocab, m->emb.dim = c->d_model, m->emb.max_positions = c->seq_len;
  b->d_model = c->d_model, b->num_heads = c->heads, b->d_ff = c->d_ff;
  b->norm = c->norm, b->norm_eps = GPT_NORM_EPS, b->ffn = c->ffn;
  b->pre_norm = 1, b->bias = 1, b->causal = 1;
  b->attn_dropout = c->dropout, b->resid_dropout = c->dropout;
  b->compute_type = c->compute_type;
  GPT_CHECK(qkv_block_param_layout(b, &m->lay));
  m->block_floats = m->lay.count;
  m->off_wte = 0;
  m->off_wpe = c->vocab * c->d_model;
  m->off_blocks = m->off_wpe + c->seq_len * c->d_model;
  m->off_lnf_g = m->off_blocks + c->layers * m->block_floats;
  m->off_lnf_b = m->off_lnf_g + c->d_model;
  m->count = m->off_lnf_b + (c->norm == QKV_NORM_LAYER ? c->d_model : 0);
  return QKV_OK;
}

static inline float* gpt_block(const gpt_model* m, float* buf, size_t l) {
  return buf + m->off_blocks + l * m->block_floats;
}

/* ---- Deterministic random numbers --------------------------------------- */

/* splitmix64's finaliser: a counter-based generator is hash(seed + counter). */
static inline uint64_t gpt_hash(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1): the top 53 bits of a hash, offset by half a step. */
static inline double gpt_uniform(uint64_t h) { return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

/* N(0, 1) for counter i of stream s: Box-Muller (the cosine branch) over two hashes. */
static inline float gpt_normal(uint64_t s, uint64_t i) {
  const double u1 = gpt_uniform(gpt_hash(s ^ gpt_hash(2 * i))), u2 = gpt_uniform(gpt_hash(s ^ gpt_hash(2 * i + 1)));
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static inline void gpt_fill_normal(float* p, size_t n, float stddev, uint64_t stream) {
  size_t i;
  for (i = 0; i < n; ++i) p[i] = stddev * gpt_normal(stream, i);
}

/* GPT-2 initialisation (file comment); every tensor gets its own stream. */
static inline void gpt_init(const gpt_model* m, float* params, uint64_t seed) {
  const gpt_config* c = &m->cfg;
  const size_t d = c->d_model;
  const float std = 0.02f, resid_std = 0.02f / sqrtf(2.0f * (float)c->layers);
  size_t l, i;
  uint64_t s = gpt_hash(seed);
  memset(params, 0, m->count * sizeof(float)); /* biases and betas */
  gpt_fill_normal(params + m->off_wte, c->vocab * d, std, s + 1);
  gpt_fill_normal(params + m->off_wpe, c->seq_len * d, std, s + 2);
  for (l = 0; l < c->layers; ++l) {
    float* p = gpt_block(m, params, l);
    const qkv_block_layout* y = &m->lay;
    const uint64_t t = s + 16 * (l + 1);
    gpt_fill_normal(p + y->w_q, d * d, std, t + 0);
    gpt_fill_normal(p + y->w_k, d * d, std, t + 1);
    gpt_fill_normal(p + y->w_v, d * d, std, t + 2);
    gpt_fill_normal(p + y->w_o, d * d, resid_std, t + 3);
    if (y->w_gate != SIZE_MAX) gpt_fill_normal(p + y->w_gate, d * c->d_ff, std, t + 4);
    gpt_fill_normal(p + y->w_up, d * c->d_ff, std, t + 5);
    gpt_fill_normal(p + y->w_down, c->d_ff * d, resid_std, t + 6);
    for (i = 0; i < d; ++i) {
      p[y->norm1_g + i] = 1.0f;
      p[y->norm2_g + i] = 1.0f;
    }
  }
  for (i = 0; i < d; ++i) params[m->off_lnf_g + i] = 1.0f;
}

/* ---- Weight decay ranges and AdamW -------------------------------------- */

typedef struct gpt_range {
  size_t off, n;
  int decay; /* 1: a 2-D tensor (weight matrix or embedding table) */
} gpt_range;

#define GPT_MAX_RANGES 512

/* Appends [off, off + n) of kind decay, merging it with the previous range
 * when they touch and are of the same kind. */
static inline void gpt_range_add(gpt_range* r, size_t* count, size_t off, size_t n, int decay) {
  if (n == 0 || off == SIZE_MAX) return;
  if (*count && r[*count - 1].decay == decay && r[*count - 1].off + r[*count - 1].n == off) {
    r[*count - 1].n += n;
  } else {
    r[*count].off = off, r[*count].n = n, r[*count].decay = decay;
    ++*count;
  }
}

/* The buffer as ranges of decayed / not decayed parameters, in buffer order,
 * covering all of it. Returns the number of ranges (about 8 per layer), or 0
 * when cap is too small. */
static inline size_t gpt_param_ranges(const gpt_model* m, gpt_range* r, size_t cap) {
  typedef struct piece {
    size_t off, n;
    int decay;
  } piece;
  const qkv_block_layout* y = &m->lay;
  const size_t d = m->cfg.d_model, H = m->cfg.d_ff;
  piece p[18];
  size_t count = 0, l, i, j, np;
  gpt_range_add(r, &count, m->off_wte, m->cfg.vocab * d, 1);
  gpt_range_add(r, &count, m->off_wpe, m->cfg.seq_len * d, 1);
  for (l = 0; l < m->cfg.layers; ++l) {
    const size_t base = m->off_blocks + l * m->block_floats;
    /* Every tensor of the layout with its size and kind, then in offset order. */
    const size_t offs[18] = {y->norm1_g, y->norm1_b, y->w_q, y->w_k, y->w_v, y->b_q, y->b_k, y->b_v, y->w_o,
                             y->b_o, y->norm2_g, y->norm2_b, y->w_gate, y->b_gate, y->w_up, y->b_up, y->w_down,
                             y->b_down};
    const size_t ns[18] = {d, d, d * d, d * d, d * d, d, d, d, d * d, d, d, d, d * H, H, d * H, H, H * d, d};
    const int decays[18] = {0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0};
    if (count + 18 > cap) return 0;
    for (np = 0, i = 0; i < 18; ++i)
      if (offs[i] != SIZE_MAX) p[np].off = offs[i], p[np].n = ns[i], p[np].decay = decays[i], ++np;
    for (i = 1; i < np; ++i) /* insertion sort by offset */
      for (j = i; j > 0 && p[j - 1].off > p[j].off; --j) {
        piece t = p[j];
        p[j] = p[j - 1], p[j - 1] = t;
      }
    for (i = 0; i < np; ++i) gpt_range_add(r, &count, base + p[i].off, p[i].n, p[i].decay);
  }
  gpt_range_add(r, &count, m->off_lnf_g, m->count - m->off_lnf_g, 0);
  return count;
}

/* AdamW range by range on grad_scale * grads, the gradients zeroed after use
 * when zero_grads is 1 (qkv_adamw_step_ex per range). */
static inline qkv_status gpt_adamw_step_mirror(const gpt_model* m, const qkv_adamw_config* cfg, uint64_t t,
                                               float grad_scale, int zero_grads, float* params, float* grads,
                                               float* state, uint16_t* mirror) {
  gpt_range r[GPT_MAX_RANGES];
  const size_t n = gpt_param_ranges(m, r, GPT_MAX_RANGES);
  size_t i, covered = 0;
  if (n == 0) return QKV_ERR_BAD_SHAPE;
  for (i = 0; i < n; ++i) {
    qkv_adamw_config c = *cfg;
    float* p = params + r[i].off;
    if (!r[i].decay) c.weight_decay = 0.0f;
    if (mirror)
      GPT_CHECK(qkv_adamw_step_mirror(&c, t, grad_scale, zero_grads, r[i].n, p, grads + r[i].off,
                                      state + 2 * r[i].off, mirror + r[i].off));
    else
      GPT_CHECK(qkv_adamw_step_ex(&c, t, grad_scale, zero_grads, r[i].n, p, grads + r[i].off, state + 2 * r[i].off));
    covered += r[i].n;
  }
  return covered == m->count ? QKV_OK : QKV_ERR_BAD_SHAPE;
}

/* gpt_adamw_step_mirror without a mirror. */
static inline qkv_status gpt_adamw_step_ex(const gpt_model* m, const qkv_adamw_config* cfg, uint64_t t,
                                           float grad_scale, int zero_grads, float* params, float* grads,
                                           float* state) {
  return gpt_adamw_step_mirror(m, cfg, t, grad_scale, zero_grads, params, grads, state, NULL);
}

/* One AdamW step over the whole buffer: weight decay on the 2-D tensors only
 * (gpt_adamw_step_ex with scale 1 and no zeroing: qkv_adamw_step's bits;
 * grads is only read). */
static inline qkv_status gpt_adamw_step(const gpt_model* m, const qkv_adamw_config* cfg, uint64_t t, float* params,
                                        const float* grads, float* state) {
  return gpt_adamw_step_ex(m, cfg, t, 1.0f, 0, params, (float*)grads, state);
}

/* Clipping to a global norm of max_norm (torch's clip_grad_norm_), AdamW as
 * gpt_adamw_step, and the gradients zeroed for the next backward, in one pass
 * over them; *norm: the norm before clipping (NULL: not wanted). */
static inline qkv_status gpt_optimizer_step(const gpt_model* m, const qkv_adamw_config* cfg, uint64_t t,
                                            float max_norm, float* params, float* grads, float* state,
                                            float* norm) {
  float scale;
  GPT_CHECK(qkv_grad_clip_scale(grads, m->count, max_norm, norm, &scale));
  return gpt_adamw_step_ex(m, cfg, t, scale, 1, params, grads, state);
}

/* gpt_optimizer_step that also writes the updated params rounded to bf16
 * into mirror (m->count values, the params' layout): bf16 compute then reads
 * its weights from there (gpt_acts::mirror) instead of rounding them per
 * call. The same params, grads and state bits as gpt_optimizer_step. */
static inline qkv_status gpt_optimizer_step_mirror(const gpt_model* m, const qkv_adamw_config* cfg, uint64_t t,
                                                   float max_norm, float* params, float* grads, float* state,
                                                   float* norm, uint16_t* mirror) {
  float scale;
  GPT_CHECK(qkv_grad_clip_scale(grads, m->count, max_norm, norm, &scale));
  return gpt_adamw_step_mirror(m, cfg, t, scale, 1, params, grads, state, mirror);
}

/* ---- The final norm (qkv/norm.h) ----------------------------------------- */

/* y[r] = norm(x[r]) with gain g (and shift b: LayerNorm) over rows of d;
 * mean (LayerNorm) and rstd [rows] saved for the backward. */
static inline qkv_status gpt_norm_forward(const gpt_model* m, size_t rows, const float* x, const float* g,
                                          const float* b, float* y, float* mean, float* rstd) {
  const size_t d = m->cfg.d_model;
  if (m->cfg.norm == QKV_NORM_RMS) return qkv_rmsnorm_forward(rows, d, GPT_NORM_EPS, x, d, g, y, d, rstd);
  return qkv_layernorm_forward(rows, d, GPT_NORM_EPS, x, d, g, b, y, d, mean, rstd);
}

/* dx = the norm's input gradient (overwritten); dg, db accumulated (db: LayerNorm only). */
static inline qkv_status gpt_norm_backward(const gpt_model* m, size_t rows, const float* x, const float* g,
                                           const float* mean, const float* rstd, const float* dy, float* dx,
                                           float* dg, float* db) {
  const size_t d = m->cfg.d_model;
  if (m->cfg.norm == QKV_NORM_RMS) return qkv_rmsnorm_backward(rows, d, x, d, g, rstd, dy, d, dx, d, 0, dg);
  return qkv_layernorm_backward(rows, d, x, d, g, mean, rstd, dy, d, dx, d, 0, dg, db);
}

/* ---- Training forward and backward -------------------------------------- */

/* 64-byte aligned memory (the block caches must be), C99 without posix_memalign:
 * the raw pointer is kept just before the aligned one. */
static inline void* gpt_alloc64(size_t bytes) {
  unsigned char* raw = (unsigned char*)malloc(bytes + 64 + sizeof(void*));
  uintptr_t a;
  if (!raw) return NULL;
  a = ((uintptr_t)(raw + sizeof(void*)) + 63) & ~(uintptr_t)63;
  ((void**)a)[-1] = raw;
  return (void*)a;
}
static inline void gpt_free64(void* p) {
  if (p) free(((void**)p)[-1]);
}

/* The tied head's products in bf16 compute: C (fp32, ldc N) = beta C +
 * op(A) op(B) on bf16 operands (qkv_gemm_ex, fp32 accumulation), row-major
 * with the leading dimensions of the stored operands. */
static inline qkv_gemm_ex_desc gpt_head_desc(int ta, int tb, size_t M, size_t N, size_t K, float beta) {
  qkv_gemm_ex_desc g;
  memset(&g, 0, sizeof g);
  g.ta = ta ? QKV_TRANS : QKV_NO_TRANS, g.tb = tb ? QKV_TRANS : QKV_NO_TRANS;
  g.M = M, g.N = N, g.K = K;
  g.a_type = g.b_type = QKV_DTYPE_BF16, g.c_type = QKV_DTYPE_F32;
  g.lda = ta ? M : K, g.ldb = tb ? K : N, g.ldc = N;
  g.alpha = 1.0f, g.beta = beta;
  return g;
}

/* Everything a forward/backward over B x T tokens needs. */
typedef struct gpt_acts {
  size_t B, T;
  int32_t *ids, *targets; /* [B][T] */
  float* res;             /* L + 1 residual streams x_0 .. x_L, each [B*T][d] */
  float *h, *mean, *rstd; /* final norm output [B*T][d], its statistics [B*T] */
  float* logits;          /* [B*T][V]; the backward's dlogits in place */
  float *dx, *dh;         /* [B*T][d] */
  uint16_t *h16, *wte16;  /* bf16 compute: h [B*T][d] and wte [V][d] rounded for the head */
  uint16_t* g16;          /* bf16 compute, training: dlogits rounded [B*T][V] */
  const uint16_t* mirror; /* bf16 compute: the params rounded to bf16, their layout (set by the
                             caller, kept current by gpt_optimizer_step_mirror), or NULL:
                             the weights are rounded on every call */
  void** cache;           /* per block, cache_bytes each (training only) */
  size_t cache_bytes;
  void* ws;
  size_t ws_bytes;
  uint64_t dropout_seed;  /* of the last training forward */
} gpt_acts;

/* training 0 leaves out the backward's buffers and caches. */
static inline qkv_status gpt_acts_alloc(const gpt_model* m, gpt_acts* a, size_t B, size_t T, int training,
                                        int threads) {
  const size_t d = m->cfg.d_model, V = m->cfg.vocab, N = B * T, L = m->cfg.layers;
  size_t bytes = 0, l;
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T;
  GPT_CHECK(qkv_block_forward_workspace_size(&m->block, B, T, threads, &a->ws_bytes));
  if (training) {
    GPT_CHECK(qkv_block_backward_workspace_size(&m->block, B, T, threads, &bytes));
    if (bytes > a->ws_bytes) a->ws_bytes = bytes;
    GPT_CHECK(qkv_sgemm_workspace_size(QKV_TRANS, QKV_NO_TRANS, V, d, N, threads, &bytes));
    if (bytes > a->ws_bytes) a->ws_bytes = bytes;
    GPT_CHECK(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, N, d, V, threads, &bytes));
    if (bytes > a->ws_bytes) a->ws_bytes = bytes;
    GPT_CHECK(qkv_block_cache_size(&m->block, B, T, &a->cache_bytes));
  }
  GPT_CHECK(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, N, V, d, threads, &bytes));
  if (bytes > a->ws_bytes) a->ws_bytes = bytes;
  if (m->cfg.compute_type == QKV_DTYPE_BF16) {
    const qkv_gemm_ex_desc g[3] = {gpt_head_desc(0, 1, N, V, d, 0.0f), gpt_head_desc(1, 0, V, d, N, 1.0f),
                                   gpt_head_desc(0, 0, N, d, V, 0.0f)};
    for (l = 0; l < (training ? 3u : 1u); ++l) {
      GPT_CHECK(qkv_gemm_ex_workspace_size(&g[l], threads, &bytes));
      if (bytes > a->ws_bytes) a->ws_bytes = bytes;
    }
    a->h16 = (uint16_t*)malloc(N * d * sizeof(uint16_t));
    a->wte16 = (uint16_t*)malloc(V * d * sizeof(uint16_t));
    if (training) a->g16 = (uint16_t*)malloc(N * V * sizeof(uint16_t));
    if (!a->h16 || !a->wte16 || (training && !a->g16)) return QKV_ERR_NULL_POINTER;
  }
  a->ids = (int32_t*)malloc(N * sizeof(int32_t));
  a->targets = (int32_t*)malloc(N * sizeof(int32_t));
  a->res = (float*)malloc((L + 1) * N * d * sizeof(float));
  a->h = (float*)malloc(N * d * sizeof(float));
  a->mean = (float*)malloc(N * sizeof(float));
  a->rstd = (float*)malloc(N * sizeof(float));
  a->logits = (float*)malloc(N * V * sizeof(float));
  a->ws = malloc(a->ws_bytes ? a->ws_bytes : 1);
  if (!a->ids || !a->targets || !a->res || !a->h || !a->mean || !a->rstd || !a->logits || !a->ws)
    return QKV_ERR_NULL_POINTER;
  if (training) {
    a->dx = (float*)malloc(N * d * sizeof(float));
    a->dh = (float*)malloc(N * d * sizeof(float));
    a->cache = (void**)calloc(L, sizeof(void*));
    if (!a->dx || !a->dh || !a->cache) return QKV_ERR_NULL_POINTER;
    for (l = 0; l < L; ++l)
      if (!(a->cache[l] = gpt_alloc64(a->cache_bytes))) return QKV_ERR_NULL_POINTER;
  }
  return QKV_OK;
}

static inline void gpt_acts_free(const gpt_model* m, gpt_acts* a) {
  size_t l;
  if (a->cache)
    for (l = 0; l < m->cfg.layers; ++l) gpt_free64(a->cache[l]);
  free(a->cache), free(a->ids), free(a->targets), free(a->res), free(a->h), free(a->mean), free(a->rstd);
  free(a->logits), free(a->dx), free(a->dh), free(a->ws), free(a->h16), free(a->wte16), free(a->g16);
  memset(a, 0, sizeof *a);
}

/* Block l's description for a step: its own dropout seed (distinct per layer). */
static inline qkv_block_desc gpt_block_desc(const gpt_model* m, uint64_t dropout_seed, size_t l) {
  qkv_block_desc b = m->block;
  b.dropout_seed = gpt_hash(dropout_seed ^ gpt_hash(l + 1));
  return b;
}

/* Logits [B*T][V] of a->ids. training 1 fills the caches for gpt_backward()
 * and applies dropout with masks from dropout_seed. */
static inline qkv_status gpt_forward(const gpt_model* m, const float* params, gpt_acts* a, int training,
                                     uint64_t dropout_seed) {
  const size_t d = m->cfg.d_model, V = m->cfg.vocab, N = a->B * a->T;
  size_t l, bad = 0;
  a->dropout_seed = dropout_seed;
  GPT_CHECK(qkv_embedding_forward(&m->emb, a->B, a->T, 0, a->ids, params + m->off_wte, params + m->off_wpe, a->res,
                                  d, &bad));
  for (l = 0; l < m->cfg.layers; ++l) {
    const qkv_block_desc b = gpt_block_desc(m, dropout_seed, l);
    const float* bp = gpt_block(m, (float*)params, l);
    if (a->mirror && m->cfg.compute_type == QKV_DTYPE_BF16)
      GPT_CHECK(qkv_block_forward_mirror(&b, bp, a->mirror + (size_t)(bp - params), a->B, a->T, a->res + l * N * d,
                                         a->res + (l + 1) * N * d, training, training ? a->cache[l] : NULL,
                                         training ? a->cache_bytes : 0, a->ws, a->ws_bytes));
    else
      GPT_CHECK(qkv_block_forward(&b, bp, a->B, a->T, a->res + l * N * d, a->res + (l + 1) * N * d, training,
                                  training ? a->cache[l] : NULL, training ? a->cache_bytes : 0, a->ws, a->ws_bytes));
  }
  GPT_CHECK(gpt_norm_forward(m, N, a->res + m->cfg.layers * N * d, params + m->off_lnf_g, params + m->off_lnf_b, a->h,
                             a->mean, a->rstd));
  if (m->cfg.compute_type == QKV_DTYPE_BF16) { /* the head on bf16 h and wte, as the blocks' GEMMs */
    const qkv_gemm_ex_desc g = gpt_head_desc(0, 1, N, V, d, 0.0f);
    GPT_CHECK(qkv_convert(N * d, QKV_DTYPE_F32, a->h, QKV_DTYPE_BF16, a->h16));
    if (!a->mirror) GPT_CHECK(qkv_convert(V * d, QKV_DTYPE_F32, params + m->off_wte, QKV_DTYPE_BF16, a->wte16));
    return qkv_gemm_ex(&g, a->h16, a->mirror ? a->mirror + m->off_wte : a->wte16, a->logits, a->ws, a->ws_bytes);
  }
  return qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, N, V, d, 1.0f, a->h, d, params + m->off_wte, d, 0.0f, a->logits, V,
                      a->ws, a->ws_bytes);
}

/* Mean cross-entropy of the logits against a->targets (no gradient). */
static inline qkv_status gpt_loss(const gpt_model* m, const gpt_acts* a, float* loss) {
  return qkv_cross_entropy_forward(a->B * a->T, m->cfg.vocab, a->logits, m->cfg.vocab, a->targets, -1, loss);
}

/* After a training gpt_forward(): the loss, and every parameter's gradient
 * ACCUMULATED into grads (zero them first). The logits become dlogits. */
static inline qkv_status gpt_backward(const gpt_model* m, const float* params, gpt_acts* a, float* grads,
                                      float* loss) {
  const size_t d = m->cfg.d_model, V = m->cfg.vocab, N = a->B * a->T;
  size_t l, bad = 0;
  GPT_CHECK(qkv_cross_entropy_forward_backward(N, V, a->logits, V, a->targets, -1, 1.0f, loss, a->logits, V));
  /* Tied head: dwte += dlogits^T h, dh = dlogits wte (bf16 compute: on
   * the rounded dlogits and the forward's rounded h and wte). */
  if (m->cfg.compute_type == QKV_DTYPE_BF16) {
    const qkv_gemm_ex_desc gw = gpt_head_desc(1, 0, V, d, N, 1.0f), gh = gpt_head_desc(0, 0, N, d, V, 0.0f);
    GPT_CHECK(qkv_convert(N * V, QKV_DTYPE_F32, a->logits, QKV_DTYPE_BF16, a->g16));
    GPT_CHECK(qkv_gemm_ex(&gw, a->g16, a->h16, grads + m->off_wte, a->ws, a->ws_bytes));
    GPT_CHECK(qkv_gemm_ex(&gh, a->g16, a->mirror ? a->mirror + m->off_wte : a->wte16, a->dh, a->ws, a->ws_bytes));
  } else {
    GPT_CHECK(qkv_sgemm_ws(QKV_TRANS, QKV_NO_TRANS, V, d, N, 1.0f, a->logits, V, a->h, d, 1.0f, grads + m->off_wte,
                           d, a->ws, a->ws_bytes));
    GPT_CHECK(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, N, d, V, 1.0f, a->logits, V, params + m->off_wte, d, 0.0f,
                           a->dh, d, a->ws, a->ws_bytes));
  }
  GPT_CHECK(gpt_norm_backward(m, N, a->res + m->cfg.layers * N * d, params + m->off_lnf_g, a->mean, a->rstd, a->dh,
                              a->dx, grads + m->off_lnf_g, grads + m->off_lnf_b));
  for (l = m->cfg.layers; l-- > 0;) { /* dx in place: dL/dx_l+1 -> dL/dx_l */
    const qkv_block_desc b = gpt_block_desc(m, a->dropout_seed, l);
    const float* bp = gpt_block(m, (float*)params, l);
    if (a->mirror && m->cfg.compute_type == QKV_DTYPE_BF16)
      GPT_CHECK(qkv_block_backward_mirror(&b, bp, a->mirror + (size_t)(bp - params), a->B, a->T, a->res + l * N * d,
                                          a->cache[l], a->cache_bytes, a->dx, a->dx, gpt_block(m, grads, l), a->ws,
                                          a->ws_bytes));
    else
      GPT_CHECK(qkv_block_backward(&b, bp, a->B, a->T, a->res + l * N * d, a->cache[l], a->cache_bytes, a->dx, a->dx,
                                   gpt_block(m, grads, l), a->ws, a->ws_bytes));
  }
  return qkv_embedding_backward(&m->emb, a->B, a->T, 0, a->ids, a->dx, d, grads + m->off_wte, grads + m->off_wpe,
                                &bad);
}

/* ---- Generation with the blocks' KV caches ------------------------------- */

typedef struct gpt_decoder {
  qkv_mha_kv_state* kv; /* per block */
  void** kv_buf;
  size_t kv_bytes, ws_bytes, len; /* len: tokens cached */
  float *x, *y, *h, *logits;      /* [T][d], [T][d], [d], [V] */
  void* ws;
} gpt_decoder;

static inline qkv_status gpt_decoder_alloc(const gpt_model* m, gpt_decoder* g) {
  const size_t L = m->cfg.layers, T = m->cfg.seq_len, d = m->cfg.d_model;
  size_t l;
  memset(g, 0, sizeof *g);
  GPT_CHECK(qkv_block_kv_cache_size(&m->block, 1, T, QKV_KV_F32, &g->kv_bytes));
  g->kv = (qkv_mha_kv_state*)calloc(L, sizeof *g->kv);
  g->kv_buf = (void**)calloc(L, sizeof(void*));
  g->x = (float*)malloc(T * d * sizeof(float));
  g->y = (float*)malloc(T * d * sizeof(float));
  g->h = (float*)malloc(d * sizeof(float));
  g->logits = (float*)malloc(m->cfg.vocab * sizeof(float));
  if (!g->kv || !g->kv_buf || !g->x || !g->y || !g->h || !g->logits) return QKV_ERR_NULL_POINTER;
  for (l = 0; l < L; ++l) {
    if (!(g->kv_buf[l] = malloc(g->kv_bytes))) return QKV_ERR_NULL_POINTER;
    GPT_CHECK(qkv_mha_kv_cache_init_ex(&g->kv[l], 1, T, QKV_KV_F32));
  }
  return QKV_OK;
}

static inline void gpt_decoder_free(const gpt_model* m, gpt_decoder* g) {
  size_t l;
  if (g->kv_buf)
    for (l = 0; l < m->cfg.layers; ++l) free(g->kv_buf[l]);
  free(g->kv), free(g->kv_buf), free(g->x), free(g->y), free(g->h), free(g->logits), free(g->ws);
  memset(g, 0, sizeof *g);
}

static inline void gpt_decoder_reset(const gpt_model* m, gpt_decoder* g) {
  size_t l;
  for (l = 0; l < m->cfg.layers; ++l) g->kv[l].length = 0;
  g->len = 0;
}

static inline qkv_status gpt_grow_ws(gpt_decoder* g, size_t bytes) {
  if (bytes <= g->ws_bytes) return QKV_OK;
  free(g->ws);
  g->ws = malloc(bytes);
  g->ws_bytes = g->ws ? bytes : 0;
  return g->ws ? QKV_OK : QKV_ERR_NULL_POINTER;
}

/* The final norm and the tied head on one row: g->logits. */
static inline qkv_status gpt_head_row(const gpt_model* m, const float* params, gpt_decoder* g, const float* row) {
  float mean, rstd;
  GPT_CHECK(gpt_norm_forward(m, 1, row, params + m->off_lnf_g, params + m->off_lnf_b, g->h, &mean, &rstd));
  return qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, 1, m->cfg.vocab, m->cfg.d_model, 1.0f, g->h, m->cfg.d_model,
                   params + m->off_wte, m->cfg.d_model, 0.0f, g->logits, m->cfg.vocab);
}

/* Appends n tokens (n >= 1, len + n <= T) through every block's KV cache;
 * g->logits then holds the next-token logits after the last of them. */
static inline qkv_status gpt_decode(const gpt_model* m, const float* params, gpt_decoder* g, const int32_t* ids,
                                    size_t n) {
  const size_t d = m->cfg.d_model;
  size_t l, bad = 0, bytes = 0;
  GPT_CHECK(qkv_embedding_forward(&m->emb, 1, n, g->len, ids, params + m->off_wte, params + m->off_wpe, g->x, d,
                                  &bad));
  for (l = 0; l < m->cfg.layers; ++l) {
    GPT_CHECK(qkv_block_decode_workspace_size(&m->block, &g->kv[l], n, 1, &bytes));
    GPT_CHECK(gpt_grow_ws(g, bytes));
    GPT_CHECK(qkv_block_decode(&m->block, gpt_block(m, (float*)params, l), &g->kv[l], g->kv_buf[l], g->kv_bytes, n,
                               g->x, g->x, g->ws, g->ws_bytes));
  }
  g->len += n;
  return gpt_head_row(m, params, g, g->x + (n - 1) * d);
}

/* Without a cache: the inference forward over the last n <= T tokens (used
 * once the context is full, where the cache has no room). */
static inline qkv_status gpt_recompute(const gpt_model* m, const float* params, gpt_decoder* g, const int32_t* ids,
                                       size_t n) {
  const size_t d = m->cfg.d_model;
  size_t l, bad = 0, bytes = 0;
  GPT_CHECK(qkv_embedding_forward(&m->emb, 1, n, 0, ids, params + m->off_wte, params + m->off_wpe, g->x, d, &bad));
  GPT_CHECK(qkv_block_forward_workspace_size(&m->block, 1, n, 1, &bytes));
  GPT_CHECK(gpt_grow_ws(g, bytes));
  for (l = 0; l < m->cfg.layers; ++l)
    GPT_CHECK(qkv_block_forward(&m->block, gpt_block(m, (float*)params, l), 1, n, g->x, g->x, 0, NULL, 0, g->ws,
                                g->ws_bytes));
  return gpt_head_row(m, params, g, g->x + (n - 1) * d);
}

/* ---- Checkpoints --------------------------------------------------------- */

#define GPT_MAGIC "QKVGPT\0\0"
#define GPT_VERSION 1u
#define GPT_HEADER_WORDS 13u

static inline uint64_t gpt_fnv1a(uint64_t h, const void* p, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  size_t i;
  for (i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

static inline void gpt_header_words(const gpt_model* m, int has_opt, uint32_t* w) {
  const gpt_config* c = &m->cfg;
  w[0] = (uint32_t)c->vocab, w[1] = (uint32_t)c->seq_len, w[2] = (uint32_t)c->d_model, w[3] = (uint32_t)c->layers;
  w[4] = (uint32_t)c->heads, w[5] = (uint32_t)c->d_ff, w[6] = (uint32_t)c->norm, w[7] = (uint32_t)c->ffn;
  w[8] = (uint32_t)m->block.pre_norm, w[9] = (uint32_t)m->block.bias, w[10] = (uint32_t)has_opt, w[11] = 0, w[12] = 0;
}

/* Writes params (and adam, 2 count floats, when not NULL) and the step. Returns 1 on success. */
static inline int gpt_save(const gpt_model* m, const char* path, const float* params, const float* adam,
                           uint64_t step) {
  uint32_t head[2 + GPT_HEADER_WORDS];
  uint64_t tail[3];
  FILE* f = fopen(path, "wb");
  int ok;
  head[0] = GPT_VERSION, head[1] = GPT_HEADER_WORDS;
  gpt_header_words(m, adam != NULL, head + 2);
  tail[0] = m->count, tail[1] = step;
  tail[2] = gpt_fnv1a(0xCBF29CE484222325ull, params, m->count * sizeof(float));
  if (adam) tail[2] = gpt_fnv1a(tail[2], adam, 2 * m->count * sizeof(float));
  ok = f && fwrite(GPT_MAGIC, 1, 8, f) == 8 && fwrite(head, sizeof head, 1, f) == 1 &&
       fwrite(tail, sizeof tail, 1, f) == 1 && fwrite(params, sizeof(float), m->count, f) == m->count &&
       (!adam || fwrite(adam, sizeof(float), 2 * m->count, f) == 2 * m->count);
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "gpt: cannot write %s\n", path);
  return ok;
}

static const char* const gpt_header_names[GPT_HEADER_WORDS] = {
    "vocab", "seq_len", "d_model", "layers", "heads", "d_ff", "norm", "ffn", "pre_norm", "bias", "has_optimizer",
    "reserved", "reserved"};

/* Reads a checkpoint of THIS model into params (and adam when the file has
 * the optimizer state and adam is not NULL; *has_adam says which). Refuses,
 * with a message on stderr and 0, a file of another configuration or a
 * damaged one. */
static inline int gpt_load(const gpt_model* m, const char* path, float* params, float* adam, int* has_adam,
                           uint64_t* step) {
  uint32_t head[2 + GPT_HEADER_WORDS], want[GPT_HEADER_WORDS];
  uint64_t tail[3], h;
  char magic[8];
  size_t i, extra;
  int ok = 0, opt;
  float* tmp = NULL;
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "gpt: cannot open %s\n", path);
    return 0;
  }
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, GPT_MAGIC, 8) != 0) {
    fprintf(stderr, "gpt: %s is not a QKVGPT checkpoint (bad magic)\n", path);
    goto done;
  }
  if (fread(head, sizeof head, 1, f) != 1 || fread(tail, sizeof tail, 1, f) != 1) {
    fprintf(stderr, "gpt: %s: truncated header\n", path);
    goto done;
  }
  if (head[0] != GPT_VERSION || head[1] != GPT_HEADER_WORDS) {
    fprintf(stderr, "gpt: %s: format version %u (%u header words); this program reads version %u\n", path, head[0],
            head[1], GPT_VERSION);
    goto done;
  }
  opt = head[2 + 10] == 1;
  gpt_header_words(m, opt, want);
  for (i = 0; i < GPT_HEADER_WORDS; ++i)
    if (head[2 + i] != want[i]) {
      fprintf(stderr, "gpt: %s holds another model: %s is %u in the file, %u here (refused)\n", path,
              gpt_header_names[i], head[2 + i], want[i]);
      goto done;
    }
  if (tail[0] != m->count) {
    fprintf(stderr, "gpt: %s: %lu parameters in the file, %lu here (refused)\n", path, (unsigned long)tail[0],
            (unsigned long)m->count);
    goto done;
  }
  extra = opt ? 2 * m->count : 0;
  tmp = (float*)malloc((m->count + extra) * sizeof(float));
  if (!tmp || fread(tmp, sizeof(float), m->count + extra, f) != m->count + extra || fgetc(f) != EOF) {
    fprintf(stderr, "gpt: %s: wrong size (truncated or trailing bytes)\n", path);
    goto done;
  }
  h = gpt_fnv1a(0xCBF29CE484222325ull, tmp, (m->count + extra) * sizeof(float));
  if (h != tail[2]) {
    fprintf(stderr, "gpt: %s: checksum mismatch (corrupt file)\n", path);
    goto done;
  }
  memcpy(params, tmp, m->count * sizeof(float));
  if (adam && opt) memcpy(adam, tmp + m->count, extra * sizeof(float));
  if (has_adam) *has_adam = opt && adam;
  if (step) *step = tail[1];
  ok = 1;
done:
  free(tmp);
  fclose(f);
  return ok;
}

#endif /* QKV_EXAMPLE_GPT_H */
