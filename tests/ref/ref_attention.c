/* SPDX-License-Identifier: MIT */
/* ref_attention - see ref_attention.h. Row by row: each query's scores
 * (plus the mask's bias), softmax, dropout, then its output or its gradient
 * contributions (dK, dV into the query head's K/V head). */
#include "ref/ref_attention.h"

#include <math.h>

#include "ref/ref_softmax.h"

/* Element (b, h, t, f) of a tensor stored in layout s. */
static double at(const float* x, const qkv_sdpa_strides* s, size_t b, size_t h, size_t t, size_t f) {
  return (double)x[b * s->batch + h * s->head + t * s->token + f];
}

double qkv_ref_sdpa_scale(const qkv_sdpa_desc* d) {
  return d->scale != 0.0f ? (double)d->scale : 1.0 / sqrt((double)d->head_dim);
}

size_t qkv_ref_sdpa_v_dim(const qkv_sdpa_desc* d) { return d->v_dim ? d->v_dim : d->head_dim; }

size_t qkv_ref_sdpa_kv_heads(const qkv_sdpa_desc* d) { return d->kv_heads ? d->kv_heads : d->heads; }

size_t qkv_ref_sdpa_kv_head(const qkv_sdpa_desc* d, size_t h) { return h / (d->heads / qkv_ref_sdpa_kv_heads(d)); }

size_t qkv_ref_sdpa_q_len_of(const qkv_sdpa_desc* d, size_t b) { return d->q_lens ? d->q_lens[b] : d->q_len; }

size_t qkv_ref_sdpa_kv_len_of(const qkv_sdpa_desc* d, size_t b) { return d->kv_lens ? d->kv_lens[b] : d->kv_len; }

double qkv_ref_sdpa_mask(const qkv_sdpa_desc* d, size_t b, size_t h, size_t i, size_t j) {
  const qkv_sdpa_strides* s = &d->mask_strides;
  return d->mask ? (double)d->mask[b * s->batch + h * s->head + i * s->token + j] : 0.0;
}

/* In unsigned arithmetic: j <= i + k_b - q_b is j + q_b <= i + k_b, and
 * j > i + k_b - q_b - w is w > (i + k_b) - (j + q_b) when that difference
 * is >= 0 (always true otherwise); w may be as large as SIZE_MAX. */
int qkv_ref_sdpa_visible(const qkv_sdpa_desc* d, size_t b, size_t h, size_t i, size_t j) {
  const size_t qb = qkv_ref_sdpa_q_len_of(d, b), kb = qkv_ref_sdpa_kv_len_of(d, b);
  if (i >= qb || j >= kb) return 0;
  if (d->causal && j + qb > i + kb) return 0;
  if (d->window && i + kb >= j + qb && d->window <= (i + kb) - (j + qb)) return 0;
  return !d->mask || qkv_ref_sdpa_mask(d, b, h, i, j) != -INFINITY;
}

double qkv_ref_sdpa_raw_score(const qkv_sdpa_desc* d, const float* q, const float* k, size_t b, size_t h, size_t i,
                              size_t j) {
  const size_t kh = qkv_ref_sdpa_kv_head(d, h);
  double s = 0.0;
  size_t f;
  for (f = 0; f < d->head_dim; ++f) s += at(q, &d->q, b, h, i, f) * at(k, &d->k, b, kh, j, f);
  return qkv_ref_sdpa_scale(d) * s;
}

double qkv_ref_sdpa_cap(const qkv_sdpa_desc* d, double s) {
  return d->softcap != 0.0f ? (double)d->softcap * tanh(s / (double)d->softcap) : s;
}

double qkv_ref_sdpa_cap_slope(const qkv_sdpa_desc* d, double s) {
  double t;
  if (d->softcap == 0.0f) return 1.0;
  t = tanh(s / (double)d->softcap);
  return 1.0 - t * t;
}

double qkv_ref_sdpa_probs_row(const qkv_sdpa_desc* d, const float* q, const float* k, size_t b, size_t h, size_t i,
                              double* p) {
  size_t j;
  for (j = 0; j < d->kv_len; ++j) {
    if (!qkv_ref_sdpa_visible(d, b, h, i, j)) {
      p[j] = -INFINITY;
      continue;
    }
    p[j] = qkv_ref_sdpa_cap(d, qkv_ref_sdpa_raw_score(d, q, k, b, h, i, j)) + qkv_ref_sdpa_mask(d, b, h, i, j);
  }
  return qkv_ref_softmax_inplace(p, d->kv_len);
}

static double multiplier(const qkv_sdpa_desc* d, qkv_ref_dropout_fn dropout, size_t b, size_t h, size_t i,
                         size_t j) {
  return d->dropout_p > 0.0f && dropout ? dropout(d->dropout_seed, d->dropout_p, b, h, i, j) : 1.0;
}

void qkv_ref_sdpa_forward(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v,
                          qkv_ref_dropout_fn dropout, double* out, double* lse, double* out_mag, double* scratch) {
  const size_t H = d->heads, Tq = d->q_len, Tk = d->kv_len, Dv = qkv_ref_sdpa_v_dim(d);
  double* p = scratch; /* [Tk]: the row's weights after dropout */
  size_t b, h, i, j, f;
  for (b = 0; b < d->batch; ++b)
    for (h = 0; h < H; ++h)
      for (i = 0; i < Tq; ++i) {
        const size_t row = (b * H + h) * Tq + i, kh = qkv_ref_sdpa_kv_head(d, h);
        lse[row] = qkv_ref_sdpa_probs_row(d, q, k, b, h, i, p);
        for (j = 0; j < Tk; ++j) p[j] *= multiplier(d, dropout, b, h, i, j);
        for (f = 0; f < Dv; ++f) {
          double acc = 0.0, mag = 0.0;
          for (j = 0; j < Tk; ++j) {
            const double vj = at(v, &d->v, b, kh, j, f);
            acc += p[j] * vj;
            mag += p[j] * fabs(vj);
          }
          out[row * Dv + f] = acc;
          if (out_mag) out_mag[row * Dv + f] = mag;
        }
      }
}

static void zero(double* x, size_t n) {
  size_t e;
  if (x)
    for (e = 0; e < n; ++e) x[e] = 0.0;
}

void qkv_ref_sdpa_backward(const qkv_sdpa_desc* d, const float* q, const float* k, const float* v, const float* dout,
                           qkv_ref_dropout_fn dropout, double* dq, double* dk, double* dv,
                           const qkv_ref_sdpa_grad_mag* mag, double* scratch) {
  const size_t H = d->heads, Tq = d->q_len, Tk = d->kv_len, D = d->head_dim, Dv = qkv_ref_sdpa_v_dim(d);
  const size_t KVH = qkv_ref_sdpa_kv_heads(d), BH = d->batch * H, BKV = d->batch * KVH;
  const double scale = qkv_ref_sdpa_scale(d);
  double* p = scratch;               /* [Tk] softmax weights of the row */
  double* dp = scratch + Tk;         /* [Tk] dL/dP */
  double* dp_abs = scratch + 2 * Tk; /* [Tk] the same in magnitudes */
  size_t b, h, i, j, f;
  zero(dq, BH * Tq * D);
  zero(dk, BKV * Tk * D);
  zero(dv, BKV * Tk * Dv);
  if (mag) {
    zero(mag->dq, BH * Tq * D);
    zero(mag->dk, BKV * Tk * D);
    zero(mag->dv, BKV * Tk * Dv);
  }
  for (b = 0; b < d->batch; ++b)
    for (h = 0; h < H; ++h)
      for (i = 0; i < Tq; ++i) {
        const size_t bh = b * H + h, kh = qkv_ref_sdpa_kv_head(d, h), bkh = b * KVH + kh;
        double di = 0.0, di_abs = 0.0; /* sum_j P_ij dP_ij: the softmax backward's shift */
        qkv_ref_sdpa_probs_row(d, q, k, b, h, i, p);
        for (j = 0; j < Tk; ++j) {
          const double m = multiplier(d, dropout, b, h, i, j), w = p[j] * m;
          double g = 0.0, g_abs = 0.0; /* dL/d(dropped weight) = dO_i . V_j */
          dp[j] = dp_abs[j] = 0.0;
          if (p[j] == 0.0) continue; /* masked or underflowed: contributes nothing */
          for (f = 0; f < Dv; ++f) {
            const double o = at(dout, &d->o, b, h, i, f), vj = at(v, &d->v, b, kh, j, f);
            g += o * vj;
            g_abs += fabs(o * vj);
            dv[(bkh * Tk + j) * Dv + f] += w * o;
            if (mag) mag->dv[(bkh * Tk + j) * Dv + f] += w * fabs(o);
          }
          dp[j] = g * m;
          dp_abs[j] = g_abs * m;
          di += p[j] * dp[j];
          di_abs += p[j] * dp_abs[j];
        }
        for (j = 0; j < Tk; ++j) {
          double ds, ds_abs, slope;
          if (p[j] == 0.0) continue;
          slope = d->softcap != 0.0f ? qkv_ref_sdpa_cap_slope(d, qkv_ref_sdpa_raw_score(d, q, k, b, h, i, j)) : 1.0;
          ds = scale * p[j] * (dp[j] - di) * slope;
          ds_abs = scale * p[j] * (dp_abs[j] + di_abs) * slope;
          for (f = 0; f < D; ++f) {
            const double kj = at(k, &d->k, b, kh, j, f), qi = at(q, &d->q, b, h, i, f);
            dq[(bh * Tq + i) * D + f] += ds * kj;
            dk[(bkh * Tk + j) * D + f] += ds * qi;
            if (mag) {
              mag->dq[(bh * Tq + i) * D + f] += ds_abs * fabs(kj);
              mag->dk[(bkh * Tk + j) * D + f] += ds_abs * fabs(qi);
            }
          }
        }
      }
}
