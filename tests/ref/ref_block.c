/* SPDX-License-Identifier: MIT */
/* ref_block - see ref_block.h. */
#include "ref/ref_block.h"

#include <math.h>
#include <stdint.h>

#include "ref/ref_layer.h"

size_t qkv_ref_block_scratch_doubles(const qkv_block_desc* d, size_t B, size_t T) {
  const size_t R = B * T;
  qkv_mha_desc a;
  qkv_block_attention_desc(d, &a);
  return 5 * R * d->d_model + 3 * R * d->d_ff + qkv_ref_mha_scratch_doubles(&a, B, T);
}

static double at(const double* p, size_t off, size_t j) { return off == SIZE_MAX ? 0.0 : p[off + j]; }

static void norm(const qkv_block_desc* d, const double* p, size_t g, size_t b, const double* in, size_t R,
                 double* out) {
  const size_t D = d->d_model;
  const double eps = d->norm_eps > 0.f ? (double)d->norm_eps : 1e-5;
  size_t r, j;
  for (r = 0; r < R; ++r) {
    const double* x = in + r * D;
    double mean = 0, var = 0;
    if (d->norm == QKV_NORM_LAYER) {
      for (j = 0; j < D; ++j) mean += x[j];
      mean /= (double)D;
    }
    for (j = 0; j < D; ++j) var += (x[j] - mean) * (x[j] - mean);
    var /= (double)D;
    for (j = 0; j < D; ++j) out[r * D + j] = (x[j] - mean) / sqrt(var + eps) * p[g + j] + at(p, b, j);
  }
}

/* out [R][n] = in [R][k] W [k][n] + bias [n] (bias SIZE_MAX: none). */
static void linear(const double* p, size_t w, size_t bias, const double* in, size_t R, size_t k, size_t n,
                   double* out) {
  size_t r, j, i;
  for (r = 0; r < R; ++r)
    for (j = 0; j < n; ++j) {
      double s = at(p, bias, j);
      for (i = 0; i < k; ++i) s += in[r * k + i] * p[w + i * n + j];
      out[r * n + j] = s;
    }
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

static double act(qkv_ffn_type f, double x) {
  switch (f) {
    case QKV_FFN_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case QKV_FFN_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case QKV_FFN_RELU: return x > 0 ? x : 0.0;
    default: return silu(x);
  }
}

/* out = base + drop(branch) over [R][D]; branch holds the branch output. */
static void residual(const qkv_block_desc* d, int training, qkv_ref_dropout_fn dropout, size_t branch_id,
                     const double* base, const double* branch, size_t R, double* out) {
  const size_t D = d->d_model;
  const int drop = training && d->resid_dropout > 0.f && dropout;
  size_t r, j;
  for (r = 0; r < R; ++r)
    for (j = 0; j < D; ++j) {
      const double m = drop ? dropout(d->dropout_seed ^ QKV_REF_RESID_SALT, d->resid_dropout, 0, branch_id, r, j) : 1.0;
      out[r * D + j] = base[r * D + j] + m * branch[r * D + j];
    }
}

void qkv_ref_block_forward(const qkv_block_desc* d, const qkv_block_layout* lay, size_t B, size_t T,
                           const double* params, const double* x, int training, qkv_ref_dropout_fn dropout,
                           double* y, double* scratch) {
  const size_t R = B * T, D = d->d_model, F = d->d_ff;
  double *n = scratch, *att = n + R * D, *br = att + R * D, *r1 = br + R * D, *s = r1 + R * D;
  double *g = s + R * D, *u = g + R * F, *h = u + R * F, *mha = h + R * F;
  qkv_mha_desc a;
  qkv_mha_layout al;
  size_t i;
  qkv_block_attention_desc(d, &a);
  qkv_mha_param_layout(&a, &al);
  /* attention input, the attention, its projection and residual */
  if (d->pre_norm) norm(d, params, lay->norm1_g, lay->norm1_b, x, R, n);
  qkv_ref_mha_forward(&a, &al, B, T, params + lay->w_q, d->pre_norm ? n : x, training, dropout, att, mha);
  linear(params, lay->w_o, lay->b_o, att, R, D, D, br);
  residual(d, training, dropout, 1, x, br, R, d->pre_norm ? r1 : s);
  if (!d->pre_norm) norm(d, params, lay->norm1_g, lay->norm1_b, s, R, r1);
  /* the feed-forward network on norm2(R) (pre) or R (post) */
  if (d->pre_norm) norm(d, params, lay->norm2_g, lay->norm2_b, r1, R, n);
  {
    const double* z = d->pre_norm ? n : r1;
    linear(params, lay->w_up, lay->b_up, z, R, D, F, u);
    if (d->ffn == QKV_FFN_SWIGLU) {
      linear(params, lay->w_gate, lay->b_gate, z, R, D, F, g);
      for (i = 0; i < R * F; ++i) h[i] = silu(g[i]) * u[i];
    } else {
      for (i = 0; i < R * F; ++i) h[i] = act(d->ffn, u[i]);
    }
  }
  linear(params, lay->w_down, lay->b_down, h, R, F, D, br);
  residual(d, training, dropout, 2, r1, br, R, d->pre_norm ? y : s);
  if (!d->pre_norm) norm(d, params, lay->norm2_g, lay->norm2_b, s, R, y);
}
