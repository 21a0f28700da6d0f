/* SPDX-License-Identifier: MIT */
/* Layer area: the multi-head attention layer (qkv/layer.h) and one AdamW
 * step (qkv/optim.h), on small shapes, against the double-precision layer
 * (tests/ref/ref_layer.h):
 *   - init: deterministic, within +-1/sqrt(fan_in);
 *   - forward (training with cache, and inference) vs the double layer
 *     (projections with bias, per-head softmax attention, output projection);
 *   - backward: dX and every parameter gradient vs central finite
 *     differences of the double layer (in double: truncation ~h^2, roundoff
 *     ~1e-16/h, both far below float rounding), and accumulation (+=);
 *   - qkv_adamw_step at steps 1, 2, 1000 and 2^40 vs PyTorch's AdamW formula
 *     in double (tests/ref/ref_optim.h), and qkv_clip_grad_norm vs the double
 *     norm (tests/ref/ref_vector.h);
 *   - KV-cache decoding in chunks of 1, 2, 1 tokens vs the full forward, the
 *     capacity error and the non-causal refusal;
 * for MultiHeadAttention (2 heads, biases, output projection; causal and
 * not) and SelfAttention_v2 (1 head, no bias, no projection), under every
 * runnable ISA. Dropout is 0: its stream is C++ only (src/ops/dropout_rng.hpp). */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "ref/ref_layer.h"
#include "ref/ref_optim.h"
#include "ref/ref_vector.h"

#define BATCH 2
#define T 4
#define DIN_MAX 6
#define DOUT_MAX 8
#define PMAX 256 /* >= the parameter count of the largest layer (240) */
#define WS_FLOATS 16384 /* 64 KiB of workspace, checked against every query */
#define CACHE_FLOATS 4096 /* 16 KiB for the training cache and the KV cache */

#define REF_SCRATCH (4 * BATCH * T * DOUT_MAX + T) /* qkv_ref_mha_scratch_doubles at the largest layer */

/* Loss of the double layer (tests/ref/ref_layer.h): sum(dy * Y) for
 * Y = layer(X); Y also written unless NULL. */
static double layer_ref(const qkv_mha_desc* d, const qkv_mha_layout* lay, const double* p, const double* x,
                        const float* dy, double* y) {
  double out[BATCH * T * DOUT_MAX], scratch[REF_SCRATCH], loss = 0.0;
  size_t r;
  if (!QKV_CHECK(qkv_ref_mha_scratch_doubles(d, BATCH, T) <= REF_SCRATCH)) return 0.0;
  qkv_ref_mha_forward(d, lay, BATCH, T, p, x, 0, NULL, out, scratch);
  for (r = 0; r < BATCH * T * d->d_out; ++r) {
    if (y) y[r] = out[r];
    loss += (double)dy[r] * out[r];
  }
  return loss;
}

typedef struct bufs {
  float *params, *params2, *grads, *grads2, *x, *y, *y2, *dy, *dx, *state, *xn, *yn;
  void *cache, *ws;
  double *pd, *xd, *yd, *want, *want_p;
} bufs;

/* Central difference of the double loss in one coordinate. */
static double fd(const qkv_mha_desc* d, const qkv_mha_layout* lay, double* p, double* x, double* coord,
                 const float* dy) {
  const double h = 1e-5, keep = *coord;
  double lp, lm;
  *coord = keep + h;
  lp = layer_ref(d, lay, p, x, dy, NULL);
  *coord = keep - h;
  lm = layer_ref(d, lay, p, x, dy, NULL);
  *coord = keep;
  return (lp - lm) / (2.0 * h);
}

static size_t max_ws_fwd = 0, max_ws_bwd = 0, max_ws_dec = 0, max_cache = 0, max_kv = 0;

static void check_adamw(const bufs* s, size_t n) {
  qkv_adamw_config cfg;
  /* Steps 1 and 2 from the start, then two far-off steps (on the same state)
   * where beta^t is tiny or 0: the bias correction must stay accurate in the
   * library's set-up precision (float on a Cortex-M4F) and past 2^32. */
  static const uint64_t steps[] = {1, 2, 1000, (uint64_t)1 << 40};
  size_t floats = 0, i, si;
  cfg.lr = 1e-2f;
  cfg.beta1 = 0.9f;
  cfg.beta2 = 0.999f;
  cfg.eps = 1e-8f;
  cfg.weight_decay = 1e-2f;
  QKV_CHECK_STATUS(qkv_adamw_state_floats(n, &floats), QKV_OK);
  QKV_CHECK(floats == 2 * n);
  for (i = 0; i < 2 * n; ++i) s->state[i] = NAN; /* ignored at t == 1 */
  for (i = 0; i < n; ++i) s->params2[i] = s->params[i];
  for (si = 0; si < sizeof steps / sizeof steps[0]; ++si) {
    const uint64_t t = steps[si];
    /* PyTorch's AdamW in double (tests/ref/ref_optim.h) from this step's
     * float inputs. */
    double* wp = s->want_p;     /* n params */
    double* wm = s->want_p + n; /* n first moments */
    double* wv = s->want_p + 2 * n;
    for (i = 0; i < n; ++i) {
      wp[i] = s->params2[i];
      wm[i] = s->state[i];
      wv[i] = s->state[n + i];
    }
    qkv_ref_adamw_step(&cfg, t, n, wp, s->grads, wm, wv, NULL, NULL);
    QKV_CHECK_STATUS(qkv_adamw_step(&cfg, t, n, s->params2, s->grads, s->state), QKV_OK);
    /* Elementwise: a handful of roundings of each term. The parameter moves
     * by at most about lr (|m / sqrt(v)| <= 1-ish per step) from |p|, so the
     * error scale is max|p| + lr; the moments are within a few ulps of
     * themselves (scale max|m|, max|v|). */
    qkv_check_close("adamw params", s->params2, wp, n, 16.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(wp, n) + (double)cfg.lr);
    qkv_check_close("adamw m", s->state, wm, n, 8.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(wm, n));
    qkv_check_close("adamw v", s->state + n, wv, n, 8.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(wv, n));
  }
  QKV_CHECK_STATUS(qkv_adamw_step(&cfg, 0, n, s->params2, s->grads, s->state), QKV_ERR_BAD_ARGUMENT);
  cfg.beta1 = 1.0f;
  QKV_CHECK_STATUS(qkv_adamw_step(&cfg, 3, n, s->params2, s->grads, s->state), QKV_ERR_BAD_ARGUMENT);
}

/* Clipping to half the norm: the reported norm and the scaled gradient vs a
 * double sum of squares (n float squares summed: n u relative at worst). */
static void check_clip(const bufs* s, size_t n) {
  const double sq = qkv_ref_sdot(n, s->grads, s->grads, NULL); /* tests/ref/ref_vector.h */
  double coef, want_norm;
  float norm = -1.0f;
  size_t i;
  for (i = 0; i < n; ++i) s->params2[i] = s->grads[i];
  QKV_CHECK_STATUS(qkv_clip_grad_norm(s->params2, n, (float)(0.5 * sqrt(sq)), &norm), QKV_OK);
  want_norm = sqrt(sq);
  qkv_check_close("clip_grad_norm norm", &norm, &want_norm, 1, (double)(n + 4) * QKV_CHECK_FLT_U, want_norm);
  coef = (double)(float)(0.5 * sqrt(sq)) / ((double)norm + 1e-6);
  for (i = 0; i < n; ++i) s->want_p[i] = coef * (double)s->grads[i];
  qkv_check_close("clip_grad_norm grads", s->params2, s->want_p, n, 4.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(s->want_p, n));
}

static void check_decode(const qkv_mha_desc* d, const bufs* s, double tol) {
  static const size_t chunks[] = {1, 2, 1};
  qkv_mha_kv_state st;
  size_t kv_bytes = 0, ws_bytes = 0, ci, b, i, t0 = 0;
  const size_t din = d->d_in, dout = d->d_out;
  QKV_CHECK_STATUS(qkv_mha_kv_cache_size(d, BATCH, T, &kv_bytes), QKV_OK);
  if (kv_bytes > max_kv) max_kv = kv_bytes;
  if (!QKV_CHECK(kv_bytes <= CACHE_FLOATS * sizeof(float))) return;
  QKV_CHECK_STATUS(qkv_mha_kv_cache_init(&st, BATCH, T), QKV_OK);
  QKV_CHECK(st.length == 0);
  for (ci = 0; ci < sizeof chunks / sizeof chunks[0]; ++ci) {
    const size_t n = chunks[ci];
    QKV_CHECK_STATUS(qkv_mha_decode_workspace_size(d, &st, n, 1, &ws_bytes), QKV_OK);
    if (ws_bytes > max_ws_dec) max_ws_dec = ws_bytes;
    if (!QKV_CHECK(ws_bytes <= WS_FLOATS * sizeof(float))) return;
    for (b = 0; b < BATCH; ++b)
      for (i = 0; i < n * din; ++i) s->xn[b * n * din + i] = s->x[(b * T + t0) * din + i];
    if (!QKV_CHECK_STATUS(qkv_mha_decode(d, s->params, &st, s->cache, kv_bytes, n, s->xn, s->yn, s->ws, ws_bytes),
                          QKV_OK))
      return;
    QKV_CHECK(st.length == t0 + n);
    /* Token by token equal to the full (inference) forward, to fp32 rounding. */
    for (b = 0; b < BATCH; ++b)
      for (i = 0; i < n * dout; ++i) s->yd[b * n * dout + i] = s->y2[(b * T + t0) * dout + i];
    qkv_check_close("mha_decode vs forward", s->yn, s->yd, BATCH * n * dout, tol, qkv_check_max_abs(s->yd, BATCH * n * dout));
    t0 += n;
  }
  QKV_CHECK_STATUS(qkv_mha_decode(d, s->params, &st, s->cache, kv_bytes, 1, s->xn, s->yn, s->ws, WS_FLOATS * 4),
                   QKV_ERR_CAPACITY);
  QKV_CHECK(st.length == T);
}

static void check_layer(const qkv_mha_desc* d, const bufs* s) {
  qkv_mha_layout lay;
  size_t n = 0, cache_bytes = 0, fws = 0, bws = 0, i;
  const size_t nx = BATCH * T * d->d_in, ny = BATCH * T * d->d_out;
  /* Every output is a chain of three sums (projection over d_in, attention
   * over T with a d_head dot product and softmax, output projection over
   * d_out), each adding its length in units of roundoff relative to the
   * magnitudes involved, which are those of the result (weights and inputs
   * O(1), no cancellation by construction of the random data); 4x that
   * sum covers the ISA-dependent orderings and FMA (observed: within 5 u of
   * the scale on x86, every ISA, and Cortex-M4). Gradients go through the same chains
   * twice: 8x. */
  const double tol = 4.0 * (double)(d->d_in + d->d_out + T + 8) * QKV_CHECK_FLT_U;
  double mag;
  QKV_CHECK_STATUS(qkv_mha_validate(d), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_param_count(d, &n), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_param_layout(d, &lay), QKV_OK);
  QKV_CHECK(lay.count == n);
  if (!QKV_CHECK(n <= PMAX)) return;
  QKV_CHECK((lay.b_q == SIZE_MAX) == !d->qkv_bias);
  QKV_CHECK((lay.w_o == SIZE_MAX) == !d->out_proj);

  /* Init: deterministic and within +-1/sqrt(fan_in). */
  QKV_CHECK_STATUS(qkv_mha_init(d, s->params, 1234), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_init(d, s->params2, 1234), QKV_OK);
  for (i = 0; i < n; ++i) {
    const int proj = d->out_proj && i >= lay.w_o;
    const double bound = 1.0 / sqrt((double)(proj ? d->d_out : d->d_in));
    QKV_CHECK(s->params[i] == s->params2[i]);
    QKV_CHECK(fabs((double)s->params[i]) <= bound);
  }
  QKV_CHECK(s->params[0] != s->params[1]);
  for (i = 0; i < n; ++i) s->pd[i] = s->params[i];
  for (i = 0; i < nx; ++i) s->xd[i] = s->x[i];

  QKV_CHECK_STATUS(qkv_mha_cache_size(d, BATCH, T, &cache_bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_forward_workspace_size(d, BATCH, T, 1, &fws), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_backward_workspace_size(d, BATCH, T, 1, &bws), QKV_OK);
  if (cache_bytes > max_cache) max_cache = cache_bytes;
  if (fws > max_ws_fwd) max_ws_fwd = fws;
  if (bws > max_ws_bwd) max_ws_bwd = bws;
  if (!QKV_CHECK(cache_bytes <= CACHE_FLOATS * sizeof(float)) || !QKV_CHECK(fws <= WS_FLOATS * sizeof(float)) ||
      !QKV_CHECK(bws <= WS_FLOATS * sizeof(float)))
    return;

  /* Forward, training with cache, vs the double layer. */
  layer_ref(d, &lay, s->pd, s->xd, s->dy, s->want);
  mag = qkv_check_max_abs(s->want, ny);
  if (!QKV_CHECK_STATUS(qkv_mha_forward(d, s->params, BATCH, T, s->x, s->y, 1, s->cache, cache_bytes, s->ws, fws),
                        QKV_OK))
    return;
  qkv_check_close("mha_forward (training)", s->y, s->want, ny, tol, mag);
  /* Inference (no cache) gives the same values without dropout. */
  QKV_CHECK_STATUS(qkv_mha_forward(d, s->params, BATCH, T, s->x, s->y2, 0, NULL, 0, s->ws, fws), QKV_OK);
  qkv_check_close("mha_forward (inference)", s->y2, s->want, ny, tol, mag);
  if (fws > 0)
    QKV_CHECK_STATUS(qkv_mha_forward(d, s->params, BATCH, T, s->x, s->y2, 0, NULL, 0, s->ws, fws / 2),
                     QKV_ERR_WORKSPACE_TOO_SMALL);

  /* Backward vs central differences of the double loss sum(dy * Y). */
  QKV_CHECK_STATUS(qkv_mha_zero_grads(d, s->grads), QKV_OK);
  for (i = 0; i < nx; ++i) s->dx[i] = NAN; /* overwritten */
  if (!QKV_CHECK_STATUS(qkv_mha_backward(d, s->params, BATCH, T, s->x, s->cache, cache_bytes, s->dy, s->dx, s->grads,
                                         s->ws, bws),
                        QKV_OK))
    return;
  for (i = 0; i < nx; ++i) s->want[i] = fd(d, &lay, s->pd, s->xd, s->xd + i, s->dy);
  qkv_check_close("mha_backward dx", s->dx, s->want, nx, 2.0 * tol, qkv_check_max_abs(s->want, nx));
  for (i = 0; i < n; ++i) s->want_p[i] = fd(d, &lay, s->pd, s->xd, s->pd + i, s->dy);
  {
    /* Tensor by tensor: each against its own magnitude. */
    const size_t offs[] = {lay.w_q, lay.w_k, lay.w_v, lay.b_q, lay.b_k, lay.b_v, lay.w_o, lay.b_o};
    static const char* names[] = {"mha_backward dW_q", "mha_backward dW_k", "mha_backward dW_v",
                                  "mha_backward db_q", "mha_backward db_k", "mha_backward db_v",
                                  "mha_backward dW_o", "mha_backward db_o"};
    size_t ti;
    for (ti = 0; ti < 8; ++ti) {
      const size_t len = ti < 3 ? d->d_in * d->d_out : ti == 6 ? d->d_out * d->d_out : d->d_out;
      if (offs[ti] == SIZE_MAX) continue;
      /* db_k is 0 in exact arithmetic (softmax is shift-invariant): its
       * scale is that of dW_k's entries. */
      qkv_check_close(names[ti], s->grads + offs[ti], s->want_p + offs[ti], len, 2.0 * tol,
                      qkv_check_max_abs(s->want_p + (ti == 4 ? lay.w_k : offs[ti]), ti == 4 ? d->d_in * d->d_out : len));
    }
  }
  /* Accumulation: a second backward adds the same (deterministic) values. */
  for (i = 0; i < n; ++i) s->params2[i] = s->grads[i];
  QKV_CHECK_STATUS(qkv_mha_backward(d, s->params, BATCH, T, s->x, s->cache, cache_bytes, s->dy, NULL, s->grads, s->ws,
                                    bws),
                   QKV_OK);
  for (i = 0; i < n; ++i) QKV_CHECK(s->grads[i] == 2.0f * s->params2[i]);
  for (i = 0; i < n; ++i) s->grads[i] = s->params2[i];

  check_adamw(s, n);
  check_clip(s, n);
  if (d->causal) {
    check_decode(d, s, tol);
  } else {
    qkv_mha_kv_state st;
    size_t kvb = 0;
    QKV_CHECK_STATUS(qkv_mha_kv_cache_size(d, BATCH, T, &kvb), QKV_OK);
    QKV_CHECK_STATUS(qkv_mha_kv_cache_init(&st, BATCH, T), QKV_OK);
    if (kvb <= CACHE_FLOATS * sizeof(float))
      QKV_CHECK_STATUS(qkv_mha_decode(d, s->params, &st, s->cache, kvb, 1, s->x, s->yn, s->ws, WS_FLOATS * 4),
                       QKV_ERR_BAD_ARGUMENT);
  }
}

/* Workspace sizes (1 thread) of three layers, printed as a table (README
 * "Sizes"; scripts/size-table.sh reads it): the book's chapter 3 layer
 * (T 6, d_in 3, d_out 2, 1 head), a 2-head d 8 layer at T 16 and GPT-2
 * small's (d 768, 12 heads, biases, output projection) at T 1024. Decode:
 * one token after T - 1 cached (fp32 cache). Every term of the sizes shrinks
 * with the problem (qkv/layer.h): the book's forward and decode need at most
 * BOOK_WS_BOUND bytes, and sizes grow with T. */
#define BOOK_WS_BOUND 5120

static void layer_sizes(const qkv_mha_desc* d, size_t t, size_t* fws, size_t* bws, size_t* dws) {
  qkv_mha_kv_state st;
  *fws = *bws = *dws = 0;
  QKV_CHECK_STATUS(qkv_mha_forward_workspace_size(d, 1, t, 1, fws), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_backward_workspace_size(d, 1, t, 1, bws), QKV_OK);
  QKV_CHECK_STATUS(qkv_mha_kv_cache_init(&st, 1, t), QKV_OK);
  st.length = t - 1;
  QKV_CHECK_STATUS(qkv_mha_decode_workspace_size(d, &st, 1, 1, dws), QKV_OK);
}

static void check_size_table(void) {
  static const char* const names[3] = {"book 6x3 (T 6, d_in 3, d_out 2)", "2 heads, d 8, T 16",
                                       "GPT-2 small (d 768, 12 heads), T 1024"};
  static const size_t dims[3][4] = {{6, 3, 2, 1}, {16, 8, 8, 2}, {1024, 768, 768, 12}}; /* T, d_in, d_out, heads */
  size_t f[3], b[3], dec[3], f_long, b_long, d_long;
  int i;
  for (i = 0; i < 3; ++i) {
    qkv_mha_desc d = {0};
    d.d_in = dims[i][1];
    d.d_out = dims[i][2];
    d.num_heads = dims[i][3];
    d.causal = 1;
    d.qkv_bias = d.out_proj = i > 0;
    layer_sizes(&d, dims[i][0], &f[i], &b[i], &dec[i]);
    if (i == 0) {
      layer_sizes(&d, 64, &f_long, &b_long, &d_long); /* the book's layer over 64 tokens */
      QKV_CHECK(f[0] <= BOOK_WS_BOUND && dec[0] <= BOOK_WS_BOUND);
      QKV_CHECK(f_long > f[0] && d_long > dec[0] && b_long > b[0]);
    }
  }
  QKV_CHECK(f[1] > f[0] && f[2] > f[1] && dec[2] > dec[1]);
  printf("  workspace bytes, 1 thread, B 1 (forward / backward / decode of token T):\n");
  for (i = 0; i < 3; ++i)
    printf("    | %-38s | %9lu | %9lu | %9lu |\n", names[i], (unsigned long)f[i], (unsigned long)b[i],
           (unsigned long)dec[i]);
}

void qkv_check_layer(void) {
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  bufs s;
  int k, causal;
  s.params = qkv_check_alloc(PMAX);
  s.params2 = qkv_check_alloc(PMAX);
  s.grads = qkv_check_alloc(PMAX);
  s.grads2 = qkv_check_alloc(PMAX);
  s.state = qkv_check_alloc(2 * PMAX);
  s.x = qkv_check_alloc(BATCH * T * DIN_MAX);
  s.y = qkv_check_alloc(BATCH * T * DOUT_MAX);
  s.y2 = qkv_check_alloc(BATCH * T * DOUT_MAX);
  s.dy = qkv_check_alloc(BATCH * T * DOUT_MAX);
  s.dx = qkv_check_alloc(BATCH * T * DIN_MAX);
  s.xn = qkv_check_alloc(BATCH * T * DIN_MAX);
  s.yn = qkv_check_alloc(BATCH * T * DOUT_MAX);
  s.cache = qkv_check_alloc(CACHE_FLOATS);
  s.ws = qkv_check_alloc(WS_FLOATS);
  s.pd = qkv_check_alloc_double(PMAX);
  s.xd = qkv_check_alloc_double(BATCH * T * DIN_MAX);
  s.yd = qkv_check_alloc_double(BATCH * T * DOUT_MAX);
  s.want = qkv_check_alloc_double(BATCH * T * (DIN_MAX > DOUT_MAX ? DIN_MAX : DOUT_MAX));
  s.want_p = qkv_check_alloc_double(3 * PMAX);
  if (!s.params || !s.params2 || !s.grads || !s.grads2 || !s.state || !s.x || !s.y || !s.y2 || !s.dy || !s.dx ||
      !s.xn || !s.yn || !s.cache || !s.ws || !s.pd || !s.xd || !s.yd || !s.want || !s.want_p)
    return;
  qkv_check_fill(s.x, BATCH * T * DIN_MAX, -1.0f, 1.0f, 51);
  qkv_check_fill(s.dy, BATCH * T * DOUT_MAX, -1.0f, 1.0f, 52);

  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (causal = 0; causal < 2; ++causal) {
      /* MultiHeadAttention: 2 heads of 4, biases, output projection. */
      qkv_mha_desc d = {0};
      d.d_in = DIN_MAX;
      d.d_out = DOUT_MAX;
      d.num_heads = 2;
      d.causal = causal;
      d.qkv_bias = 1;
      d.out_proj = 1;
      check_layer(&d, &s);
      /* SelfAttention_v2 (causal: CausalAttention without dropout). */
      d.d_in = 5;
      d.d_out = 4;
      d.num_heads = 1;
      d.qkv_bias = 0;
      d.out_proj = 0;
      check_layer(&d, &s);
    }
  }
  check_size_table();
  printf("  mha (B %d T %d d_in %d d_out %d, 1 thread): cache %lu, kv cache %lu, workspace forward %lu, backward %lu,"
         " decode %lu bytes\n",
         BATCH, T, DIN_MAX, DOUT_MAX, (unsigned long)max_cache, (unsigned long)max_kv, (unsigned long)max_ws_fwd,
         (unsigned long)max_ws_bwd, (unsigned long)max_ws_dec);

  /* Bad descriptions. */
  {
    qkv_mha_desc d = {0};
    size_t n = 0;
    d.d_in = 4;
    d.d_out = 6;
    d.num_heads = 4;
    QKV_CHECK_STATUS(qkv_mha_param_count(&d, &n), QKV_ERR_BAD_SHAPE);
    d.num_heads = 2;
    d.causal = 2;
    QKV_CHECK_STATUS(qkv_mha_validate(&d), QKV_ERR_BAD_ARGUMENT);
    d.causal = 0;
    d.dropout_p = 1.0f;
    QKV_CHECK_STATUS(qkv_mha_validate(&d), QKV_ERR_BAD_ARGUMENT);
    QKV_CHECK_STATUS(qkv_mha_validate(NULL), QKV_ERR_NULL_POINTER);
  }
}
