/* SPDX-License-Identifier: MIT */
/* ref_layer - see ref_layer.h. Projections, RoPE, then attention row by row. */
#include "ref/ref_layer.h"

#include <math.h>
#include <stdint.h>

#include "ref/ref_softmax.h"

size_t qkv_ref_mha_scratch_doubles(const qkv_mha_desc* d, size_t B, size_t T) { return 4 * B * T * d->d_out + T; }

/* out [R][n] = in [R][din] W [din][n] (+ bias [n] unless SIZE_MAX); W, bias
 * at offsets w, bias of params. */
static void project(const double* params, size_t w, size_t bias, const double* in, size_t R, size_t din, size_t n,
                    double* out) {
  size_t r, j, i;
  for (r = 0; r < R; ++r)
    for (j = 0; j < n; ++j) {
      double s = bias == SIZE_MAX ? 0.0 : params[bias + j];
      for (i = 0; i < din; ++i) s += in[r * din + i] * params[w + i * n + j];
      out[r * n + j] = s;
    }
}

void qkv_ref_mha_rope(const qkv_mha_desc* d, size_t R, size_t T, size_t heads, size_t dh, double* rows, int inverse) {
  const size_t r = d->rope_dim ? d->rope_dim : dh, half = r / 2, width = heads * dh;
  const double theta = d->rope_theta != 0.f ? (double)d->rope_theta : 10000.0;
  const int interleaved = d->rope_layout == QKV_ROPE_INTERLEAVED;
  size_t row, h, k;
  for (row = 0; row < R; ++row) {
    const double pos = (double)(row % T);
    for (k = 0; k < half; ++k) {
      /* qkv/rope.h: inv_freq_k = theta^(-2k/r), angle = p * inv_freq_k. */
      const double angle = pos * pow(theta, -(double)(2 * k) / (double)r);
      const double c = cos(angle), s = inverse ? -sin(angle) : sin(angle);
      const size_t i1 = interleaved ? 2 * k : k, i2 = interleaved ? 2 * k + 1 : k + half;
      for (h = 0; h < heads; ++h) {
        double* v = rows + row * width + h * dh;
        const double x1 = v[i1], x2 = v[i2];
        v[i1] = x1 * c - x2 * s;
        v[i2] = x1 * s + x2 * c;
      }
    }
  }
}

void qkv_ref_mha_forward(const qkv_mha_desc* d, const qkv_mha_layout* lay, size_t B, size_t T, const double* params,
                         const double* x, int training, qkv_ref_dropout_fn dropout, double* y, double* scratch) {
  const size_t R = B * T, Do = d->d_out, H = d->num_heads, dh = Do / H;
  const size_t Hkv = d->num_kv_heads ? d->num_kv_heads : H, Dkv = Hkv * dh, group = H / Hkv;
  const double scale = 1.0 / sqrt((double)dh);
  const int drop = training && d->dropout_p > 0.0f && dropout;
  /* K and V are [R][Dkv], Dkv <= Do: the pieces keep the R * Do spacing. */
  double *Q = scratch, *K = Q + R * Do, *V = K + R * Do, *A = V + R * Do, *s = A + R * Do; /* s: [T] */
  size_t b, h, i, j, f;
  project(params, lay->w_q, lay->b_q, x, R, d->d_in, Do, Q);
  project(params, lay->w_k, lay->b_k, x, R, d->d_in, Dkv, K);
  project(params, lay->w_v, lay->b_v, x, R, d->d_in, Dkv, V);
  if (d->rope) {
    qkv_ref_mha_rope(d, R, T, H, dh, Q, 0);
    qkv_ref_mha_rope(d, R, T, Hkv, dh, K, 0);
  }
  for (b = 0; b < B; ++b)
    for (h = 0; h < H; ++h)
      for (i = 0; i < T; ++i) {
        const size_t g = h / group;
        /* visible keys: [j0, j1) */
        const size_t j1 = d->causal ? i + 1 : T;
        const size_t j0 = d->window && i + 1 > d->window ? i + 1 - d->window : 0;
        const size_t nj = j1 - j0;
        const double* qi = Q + (b * T + i) * Do + h * dh;
        double* ai = A + (b * T + i) * Do + h * dh;
        for (j = j0; j < j1; ++j) {
          const double* kj = K + (b * T + j) * Dkv + g * dh;
          double dot = 0.0;
          for (f = 0; f < dh; ++f) dot += qi[f] * kj[f];
          s[j] = scale * dot;
          if (d->softcap != 0.0f) s[j] = (double)d->softcap * tanh(s[j] / (double)d->softcap); /* qkv/layer.h */
        }
        qkv_ref_softmax_inplace(s + j0, nj);
        if (drop)
          for (j = j0; j < j1; ++j) s[j] *= dropout(d->dropout_seed, d->dropout_p, b, h, i, j);
        for (f = 0; f < dh; ++f) {
          double o = 0.0;
          for (j = j0; j < j1; ++j) o += s[j] * V[(b * T + j) * Dkv + g * dh + f];
          ai[f] = o;
        }
      }
  if (d->out_proj) {
    project(params, lay->w_o, lay->b_o, A, R, Do, Do, y);
  } else {
    for (i = 0; i < R * Do; ++i) y[i] = A[i];
  }
}
