/* Attention area: qkv_sdpa_forward (output and log-sum-exp) and
 * qkv_sdpa_backward against a double-precision loop, on small shapes (one
 * batch, two heads, a handful of tokens, d 4), causal and not, q_len equal to,
 * shorter and longer than kv_len (causal rows that see no key), mixed
 * layouts ([B,T,H,d] queries, [B,H,T,d] keys, padded values), default and
 * explicit scale, every algorithm, multi-query (head stride 0) in the
 * forward, and the workspace contract, under every runnable ISA.
 *
 * Reference, per (b, h, i):
 *   s_j = scale q_i . k_j (j visible), P = softmax(s), lse = log sum exp s,
 *   O_i = sum_j P_ij v_j;
 *   backward: dV_j = sum_i P_ij dO_i, dP_ij = dO_i . v_j,
 *   dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij'), dQ_i = scale sum_j dS_ij k_j,
 *   dK_j = scale sum_i dS_ij q_i. */
#include <math.h>

#include "check.h"

#define B 1
#define H 2
#define TMAX 6
#define DMAX 4
#define BUF 256 /* floats per tensor buffer: >= B*H*TMAX*(DMAX+1) */
#define WS_FLOATS 24576 /* 96 KiB of workspace, checked against the queries */

static size_t at(const qkv_sdpa_strides* s, size_t b, size_t h, size_t t) {
  return b * s->batch + h * s->head + t * s->token;
}

typedef struct ref_buffers {
  double *o, *lse, *dq, *dk, *dv;             /* the reference */
  double *o_mag, *dq_mag, *dk_mag, *dv_mag;   /* sums of magnitudes: the error scale */
} ref_buffers;

/* Fills the reference outputs (at the positions of each layout; other
 * entries 0). Q/K/V/dO are read at their layouts. */
static void reference(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v, const float* dout,
                      const ref_buffers* r) {
  const size_t dv_ = d->v_dim ? d->v_dim : d->head_dim;
  const double scale = d->scale != 0.0f ? (double)d->scale : 1.0 / sqrt((double)d->head_dim);
  size_t b, h, i, j, c;
  double p[TMAX], dp[TMAX], dpabs[TMAX];
  for (i = 0; i < BUF; ++i) {
    r->o[i] = r->dq[i] = r->dk[i] = r->dv[i] = 0.0;
    r->o_mag[i] = r->dq_mag[i] = r->dk_mag[i] = r->dv_mag[i] = 0.0;
  }
  for (b = 0; b < d->batch; ++b)
    for (h = 0; h < d->heads; ++h)
      for (i = 0; i < d->q_len; ++i) {
        const float* qi = q + at(&d->q, b, h, i);
        const float* doi = dout + at(&d->o, b, h, i);
        double m = -INFINITY, l = 0.0, dsum = 0.0, dsum_abs = 0.0;
        for (j = 0; j < d->kv_len; ++j) {
          const int visible = !d->causal || j + d->q_len <= i + d->kv_len;
          double s = 0.0;
          for (c = 0; c < d->head_dim; ++c) s += (double)qi[c] * (double)k[at(&d->k, b, h, j) + c];
          p[j] = visible ? scale * s : -INFINITY;
          if (p[j] > m) m = p[j];
        }
        if (m == -INFINITY) { /* sees no key: O = 0, lse = -inf, no gradient */
          r->lse[(b * d->heads + h) * d->q_len + i] = -INFINITY;
          continue;
        }
        for (j = 0; j < d->kv_len; ++j) l += p[j] = exp(p[j] - m);
        for (j = 0; j < d->kv_len; ++j) p[j] /= l;
        r->lse[(b * d->heads + h) * d->q_len + i] = m + log(l);
        for (j = 0; j < d->kv_len; ++j) {
          const float* vj = v + at(&d->v, b, h, j);
          dp[j] = dpabs[j] = 0.0;
          for (c = 0; c < dv_; ++c) {
            r->o[at(&d->o, b, h, i) + c] += p[j] * (double)vj[c];
            r->o_mag[at(&d->o, b, h, i) + c] += p[j] * fabs((double)vj[c]);
            r->dv[at(&d->v, b, h, j) + c] += p[j] * (double)doi[c];
            r->dv_mag[at(&d->v, b, h, j) + c] += p[j] * fabs((double)doi[c]);
            dp[j] += (double)doi[c] * (double)vj[c];
            dpabs[j] += fabs((double)doi[c] * (double)vj[c]);
          }
          dsum += p[j] * dp[j];
          dsum_abs += p[j] * dpabs[j];
        }
        for (j = 0; j < d->kv_len; ++j) {
          const double ds = p[j] * (dp[j] - dsum), ds_abs = p[j] * (dpabs[j] + dsum_abs);
          const float* kj = k + at(&d->k, b, h, j);
          for (c = 0; c < d->head_dim; ++c) {
            r->dq[at(&d->q, b, h, i) + c] += scale * ds * (double)kj[c];
            r->dq_mag[at(&d->q, b, h, i) + c] += scale * ds_abs * fabs((double)kj[c]);
            r->dk[at(&d->k, b, h, j) + c] += scale * ds * (double)qi[c];
            r->dk_mag[at(&d->k, b, h, j) + c] += scale * ds_abs * fabs((double)qi[c]);
          }
        }
      }
}

static double max_of(const double* x, size_t n) {
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; ++i)
    if (x[i] > m) m = x[i];
  return m;
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
   * values throughout (the *_mag buffers), with twice the factor. Observed:
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
    double ow[BUF];
    size_t b, h, t, c, n = 0;
    double mag = max_of(r->o_mag, BUF) + 1e-30;
    for (b = 0; b < d->batch; ++b)
      for (h = 0; h < d->heads; ++h)
        for (t = 0; t < d->q_len; ++t)
          for (c = 0; c < dvd; ++c) {
            oo[n] = o[at(&d->o, b, h, t) + c];
            ow[n++] = r->o[at(&d->o, b, h, t) + c];
          }
    if (!qkv_check_close("sdpa_forward out", oo, ow, n, tol, mag))
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
    /* Only the layout positions: compare whole buffers, where the reference
     * is 0 off-layout and the outputs must be too (they were cleared). */
    int ok = 1;
    ok &= qkv_check_close("sdpa_backward dq", dq, r->dq, BUF, 2.0 * tol, max_of(r->dq_mag, BUF) + 1e-30);
    ok &= qkv_check_close("sdpa_backward dk", dk, r->dk, BUF, 2.0 * tol, max_of(r->dk_mag, BUF) + 1e-30);
    ok &= qkv_check_close("sdpa_backward dv", dvv, r->dv, BUF, 2.0 * tol, max_of(r->dv_mag, BUF) + 1e-30);
    if (!ok)
      printf("    Tq=%lu Tk=%lu d=%lu dv=%lu causal=%d algo=%d\n", (unsigned long)d->q_len, (unsigned long)d->kv_len,
             (unsigned long)d->head_dim, (unsigned long)dvd, d->causal, (int)d->algo);
  }
}

void qkv_check_attention(void) {
  static const size_t lens[][2] = {{5, 5}, {3, 6}, {6, 3}, {1, 4}};
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
  r.dq_mag = qkv_check_alloc_double(BUF);
  r.dk_mag = qkv_check_alloc_double(BUF);
  r.dv_mag = qkv_check_alloc_double(BUF);
  if (!q || !k || !v || !dout || !o || !lse || !dq || !dk || !dvv || !ws || !r.o || !r.lse || !r.dq || !r.dk ||
      !r.dv || !r.o_mag || !r.dq_mag || !r.dk_mag || !r.dv_mag)
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
          const size_t tq = lens[li][0], tk = lens[li][1], hd = DMAX, vd = li == 1 ? 3 : 0;
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
