/* SPDX-License-Identifier: MIT */
/* Attention area: qkv_sdpa_forward (output and log-sum-exp) and
 * qkv_sdpa_backward against the double-precision reference and its error
 * scales (tests/ref/ref_attention.h), on small shapes (one batch, two heads,
 * 1 to 17 tokens, d 5, v_dim 2, 3 or 5), causal and not, q_len equal to, shorter and
 * longer than kv_len (causal rows that see no key), mixed layouts ([B,T,H,d]
 * queries, [B,H,T,d] keys, padded values), default and explicit scale, every
 * algorithm, multi-query (head stride 0) in the forward, logit soft-capping
 * (one case whose scores saturate the cap), and the workspace contract,
 * under every runnable ISA. No dropout: the stream is C++ only. */
#include <math.h>

#include "check.h"
#include "ref/ref_attention.h"

#define B 1
#define H 2
#define TMAX 17
#define DMAX 5
#define BUF 256 /* floats per tensor buffer: >= B*H*TMAX*(DMAX+1) */
#define WS_FLOATS 24576 /* 96 KiB of workspace, checked against the queries */

static size_t at(const qkv_sdpa_strides* s, size_t b, size_t h, size_t t) {
  return b * s->batch + h * s->head + t * s->token;
}

typedef struct ref_buffers {
  double *o, *lse, *dq, *dk, *dv; /* the reference, dense [B][H][T][f] */
  double* o_mag;                  /* sums of magnitudes: the error scale */
  qkv_ref_sdpa_grad_mag grad_mag;
  double* scratch; /* 3 * TMAX */
} ref_buffers;

static void reference(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v, const float* dout,
                      const ref_buffers* r) {
  qkv_ref_sdpa_forward(d, q, k, v, NULL, r->o, r->lse, r->o_mag, r->scratch);
  qkv_ref_sdpa_backward(d, q, k, v, dout, NULL, r->dq, r->dk, r->dv, &r->grad_mag, r->scratch);
}

static double max_of(const double* x, size_t n) {
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; ++i)
    if (x[i] > m) m = x[i];
  return m;
}

/* Tensor x [B][H][T][F] in layout s, copied to dense. take != 0 also zeroes
 * its positions in x: what stays nonzero was written outside the layout. */
static void gather(float* x, const qkv_sdpa_desc* d, const qkv_sdpa_strides* s, size_t T, size_t F, float* dense,
                   int take) {
  size_t b, h, t, c, n = 0;
  for (b = 0; b < d->batch; ++b)
    for (h = 0; h < d->heads; ++h)
      for (t = 0; t < T; ++t)
        for (c = 0; c < F; ++c) {
          dense[n++] = x[at(s, b, h, t) + c];
          if (take) x[at(s, b, h, t) + c] = 0.0f;
        }
}

/* One gradient: its layout positions vs the reference, then 0 elsewhere. */
static int check_grad(const char* what, float* g, const qkv_sdpa_desc* d, const qkv_sdpa_strides* s, size_t T,
                      size_t F, const double* want, const double* mag, double tol) {
  float dense[BUF];
  const size_t n = d->batch * d->heads * T * F;
  size_t i, stray = 0;
  int ok;
  gather(g, d, s, T, F, dense, 1);
  ok = qkv_check_close(what, dense, want, n, tol, max_of(mag, n) + 1e-30);
  for (i = 0; i < BUF; ++i) stray += g[i] != 0.0f;
  return QKV_CHECK(stray == 0) && ok;
}

/* The lse check: -INFINITY exactly where the reference has it. */
static void check_lse(const float* got, const double* want, size_t n, double tol) {
  size_t i;
  for (i = 0; i < n; ++i) {
    if (want[i] == -INFINITY) {
      QKV_CHECK(got[i] == -INFINITY);
    } else {
      /* Absolute error of a few ulps of |lse| (m + log l, with m's
       * rounding scale d |q||k| u): scale 1 + |lse|. */
      qkv_check_close("sdpa_forward lse", got + i, want + i, 1, tol, 1.0 + fabs(want[i]));
    }
  }
}

static size_t max_ws_fwd = 0, max_ws_bwd = 0;

static void run_case(qkv_sdpa_desc* d, float* q, float* k, float* v, float* dout, float* o, float* lse, float* dq,
                     float* dk, float* dvv, float* ws, const ref_buffers* r, int backward) {
  const size_t dvd = d->v_dim ? d->v_dim : d->head_dim;
  const size_t nlse = d->batch * d->heads * d->q_len;
  /* Forward: P carries a relative error of about (d + kv_len + 8) u (the
   * scores' d-term dot products, exp within 2 ulp, the kv_len-term sum, the
   * online rescalings of the fused kernel); O_i = sum_j P_ij v_j adds
   * kv_len u. So |dO| <= 4 (d + dv + kv_len + 8) u * sum_j P_ij |v_j|
   * (o_mag, at most max |v|). The backward's gradients are sums of products
   * of such terms; their scale is the same expression taken in absolute
   * values throughout (the reference's magnitude sums), with twice the factor. Observed:
   * within 3 u of the scale on x86 (every ISA) and Cortex-M4, so the bound is loose by
   * 10x or more, yet any real defect (a wrong mask, scale or row) is O(1). */
  const double tol = 4.0 * (double)(d->head_dim + dvd + d->kv_len + 8) * QKV_CHECK_FLT_U;
  size_t bytes = 0, i;
  qkv_status st;
  reference(d, q, k, v, dout, r);

  QKV_CHECK_STATUS(qkv_sdpa_workspace_size(d, 1, &bytes), QKV_OK);
  if (bytes > max_ws_fwd) max_ws_fwd = bytes;
  if (!QKV_CHECK(bytes <= WS_FLOATS * sizeof(float))) return;
  for (i = 0; i < BUF; ++i) o[i] = lse[i] = 0.0f;
  /* The size includes slack for 64-byte alignment, so a slightly short
   * workspace may still hold one thread's share at an aligned address; half
   * of it never does: refused, nothing written. */
  if (bytes > 0)
    QKV_CHECK_STATUS(qkv_sdpa_forward(d, q, k, v, o, lse, ws, bytes / 2), QKV_ERR_WORKSPACE_TOO_SMALL);
  for (i = 0; i < BUF; ++i) QKV_CHECK(o[i] == 0.0f);
  st = qkv_sdpa_forward(d, q, k, v, o, lse, bytes ? ws : NULL, bytes);
  if (!QKV_CHECK_STATUS(st, QKV_OK)) return;
  {
    float oo[BUF];
    const size_t n = d->batch * d->heads * d->q_len * dvd;
    gather(o, d, &d->o, d->q_len, dvd, oo, 0);
    if (!qkv_check_close("sdpa_forward out", oo, r->o, n, tol, max_of(r->o_mag, n) + 1e-30))
      printf("    Tq=%lu Tk=%lu d=%lu dv=%lu causal=%d algo=%d\n", (unsigned long)d->q_len, (unsigned long)d->kv_len,
             (unsigned long)d->head_dim, (unsigned long)dvd, d->causal, (int)d->algo);
  }
  check_lse(lse, r->lse, nlse, tol);
  /* Without lse: the same output, bitwise. */
  {
    float o2[BUF];
    for (i = 0; i < BUF; ++i) o2[i] = 0.0f;
    QKV_CHECK_STATUS(qkv_sdpa_forward(d, q, k, v, o2, NULL, bytes ? ws : NULL, bytes), QKV_OK);
    for (i = 0; i < BUF; ++i) QKV_CHECK(o2[i] == o[i]);
  }
  if (!backward) return;

  QKV_CHECK_STATUS(qkv_sdpa_backward_workspace_size(d, 1, &bytes), QKV_OK);
  if (bytes > max_ws_bwd) max_ws_bwd = bytes;
  if (!QKV_CHECK(bytes <= WS_FLOATS * sizeof(float))) return;
  for (i = 0; i < BUF; ++i) dq[i] = dk[i] = dvv[i] = 0.0f;
  if (bytes > 0)
    QKV_CHECK_STATUS(qkv_sdpa_backward(d, q, k, v, o, lse, dout, dq, dk, dvv, ws, bytes / 2),
                     QKV_ERR_WORKSPACE_TOO_SMALL);
  st = qkv_sdpa_backward(d, q, k, v, o, lse, dout, dq, dk, dvv, bytes ? ws : NULL, bytes);
  if (!QKV_CHECK_STATUS(st, QKV_OK)) return;
  {
    int ok = 1;
    ok &= check_grad("sdpa_backward dq", dq, d, &d->q, d->q_len, d->head_dim, r->dq, r->grad_mag.dq, 2.0 * tol);
    ok &= check_grad("sdpa_backward dk", dk, d, &d->k, d->kv_len, d->head_dim, r->dk, r->grad_mag.dk, 2.0 * tol);
    ok &= check_grad("sdpa_backward dv", dvv, d, &d->v, d->kv_len, dvd, r->dv, r->grad_mag.dv, 2.0 * tol);
    if (!ok)
      printf("    Tq=%lu Tk=%lu d=%lu dv=%lu causal=%d algo=%d\n", (unsigned long)d->q_len, (unsigned long)d->kv_len,
             (unsigned long)d->head_dim, (unsigned long)dvd, d->causal, (int)d->algo);
  }
}

void qkv_check_attention(void) {
  /* Odd sizes around the kernels' tiles and vectors (Helium: 3 keys or
   * features x 8 queries, 4 lanes), q_len above and below kv_len. */
  static const size_t lens[][2] = {{5, 5}, {3, 6}, {6, 3}, {1, 4}, {13, 17}, {17, 7}};
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  float* q = qkv_check_alloc(BUF);
  float* k = qkv_check_alloc(BUF);
  float* v = qkv_check_alloc(BUF);
  float* dout = qkv_check_alloc(BUF);
  float* o = qkv_check_alloc(BUF);
  float* lse = qkv_check_alloc(BUF);
  float* dq = qkv_check_alloc(BUF);
  float* dk = qkv_check_alloc(BUF);
  float* dvv = qkv_check_alloc(BUF);
  float* ws = qkv_check_alloc(WS_FLOATS);
  ref_buffers r;
  int kk, causal, algo;
  size_t li;
  r.o = qkv_check_alloc_double(BUF);
  r.lse = qkv_check_alloc_double(BUF);
  r.dq = qkv_check_alloc_double(BUF);
  r.dk = qkv_check_alloc_double(BUF);
  r.dv = qkv_check_alloc_double(BUF);
  r.o_mag = qkv_check_alloc_double(BUF);
  r.grad_mag.dq = qkv_check_alloc_double(BUF);
  r.grad_mag.dk = qkv_check_alloc_double(BUF);
  r.grad_mag.dv = qkv_check_alloc_double(BUF);
  r.scratch = qkv_check_alloc_double(3 * TMAX);
  if (!q || !k || !v || !dout || !o || !lse || !dq || !dk || !dvv || !ws || !r.o || !r.lse || !r.dq || !r.dk ||
      !r.dv || !r.o_mag || !r.grad_mag.dq || !r.grad_mag.dk || !r.grad_mag.dv || !r.scratch)
    return;
  qkv_check_fill(q, BUF, -1.0f, 1.0f, 41);
  qkv_check_fill(k, BUF, -1.0f, 1.0f, 42);
  qkv_check_fill(v, BUF, -1.0f, 1.0f, 43);
  qkv_check_fill(dout, BUF, -1.0f, 1.0f, 44);

  for (kk = 0; kk < nisa; ++kk) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[kk]), QKV_OK);
    for (li = 0; li < sizeof lens / sizeof lens[0]; ++li)
      for (causal = 0; causal < 2; ++causal)
        for (algo = 0; algo < 3; ++algo) {
          qkv_sdpa_desc d = {0};
          const size_t tq = lens[li][0], tk = lens[li][1], hd = DMAX, vd = li == 1 ? 3 : li == 4 ? 2 : 0;
          const size_t vdim = vd ? vd : hd;
          d.batch = B;
          d.heads = H;
          d.q_len = tq;
          d.kv_len = tk;
          d.head_dim = hd;
          d.v_dim = vd;
          d.q.token = H * hd; /* [B,T,H,d]: heads interleaved */
          d.q.head = hd;
          d.q.batch = tq * H * hd;
          d.k.token = hd; /* [B,H,T,d] */
          d.k.head = tk * hd;
          d.k.batch = H * tk * hd;
          d.v.token = vdim + 1; /* [B,H,T,dv] with a padded token stride */
          d.v.head = tk * (vdim + 1);
          d.v.batch = H * tk * (vdim + 1);
          d.o.token = vdim;
          d.o.head = tq * vdim;
          d.o.batch = H * tq * vdim;
          d.scale = (li & 1) ? 0.7f : 0.0f;
          d.causal = causal;
          d.algo = (qkv_sdpa_algo)algo;
          run_case(&d, q, k, v, dout, o, lse, dq, dk, dvv, ws, &r, 1);
          /* Multi-query: K and V shared by the heads (head stride 0), forward only. */
          d.k.head = 0;
          d.v.head = 0;
          run_case(&d, q, k, v, dout, o, lse, dq, dk, dvv, ws, &r, 0);
        }
    {
      /* Soft-capping: scale 3 puts scores up to ~12 against a cap of 0.5
       * (tanh from linear to saturated); causal, [B,H,T,d] everywhere. */
      qkv_sdpa_desc d = {0};
      d.batch = B;
      d.heads = H;
      d.q_len = d.kv_len = 5;
      d.head_dim = DMAX;
      d.q.token = d.k.token = d.v.token = d.o.token = DMAX;
      d.q.head = d.k.head = d.v.head = d.o.head = 5 * DMAX;
      d.q.batch = d.k.batch = d.v.batch = d.o.batch = H * 5 * DMAX;
      d.scale = 3.0f;
      d.causal = 1;
      d.softcap = 0.5f;
      run_case(&d, q, k, v, dout, o, lse, dq, dk, dvv, ws, &r, 1);
    }
  }
  printf("  sdpa workspace (1 thread, d %d): forward %lu bytes, backward %lu bytes\n", DMAX,
         (unsigned long)max_ws_fwd, (unsigned long)max_ws_bwd);

  /* Bad arguments: a status, nothing written. */
  {
    qkv_sdpa_desc d = {0};
    size_t bytes = 0;
    d.batch = 1;
    d.heads = 2;
    d.q_len = 2;
    d.kv_len = 2;
    d.head_dim = 4;
    d.q.token = d.k.token = d.v.token = d.o.token = 4;
    d.q.head = d.k.head = d.v.head = d.o.head = 8;
    d.q.batch = d.k.batch = d.v.batch = d.o.batch = 16;
    o[0] = 9.0f;
    QKV_CHECK_STATUS(qkv_sdpa_workspace_size(&d, 0, &bytes), QKV_ERR_BAD_ARGUMENT);
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, NULL, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_NULL_POINTER);
    d.causal = 2;
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_BAD_ARGUMENT);
    d.causal = 0;
    d.softcap = -1.0f;
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_BAD_ARGUMENT);
    d.softcap = NAN;
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_BAD_ARGUMENT);
    d.softcap = 0.0f;
    d.q.token = 3;
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_BAD_STRIDE);
    d.q.token = 4;
    d.kv_len = 0;
    QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, NULL, ws, WS_FLOATS * sizeof(float)), QKV_ERR_BAD_SHAPE);
    d.kv_len = 2;
    d.k.head = 0; /* the backward refuses a shared (head stride 0) gradient layout */
    QKV_CHECK_STATUS(qkv_sdpa_backward(&d, q, k, v, o, lse, dout, dq, dk, dvv, ws, WS_FLOATS * sizeof(float)),
                     QKV_ERR_BAD_STRIDE);
    QKV_CHECK(o[0] == 9.0f);
  }
}
