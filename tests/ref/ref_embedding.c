/* SPDX-License-Identifier: MIT */
/* ref_embedding - see ref_embedding.h. */
#include "ref/ref_embedding.h"

#include <math.h>

void qkv_ref_embedding_forward(const qkv_embedding_desc* d, size_t B, size_t T, size_t pos_offset,
                               const int32_t* ids, const float* tok, const float* pos, double* out) {
  const size_t C = d->dim;
  size_t r, j;
  for (r = 0; r < B * T; ++r) {
    const float* wte = tok + (size_t)ids[r] * C;
    const float* wpe = d->max_positions ? pos + (pos_offset + r % T) * C : NULL;
    for (j = 0; j < C; ++j) {
      out[r * C + j] = (double)wte[j];
      if (wpe) out[r * C + j] += (double)wpe[j];
    }
  }
}

void qkv_ref_embedding_backward(const qkv_embedding_desc* d, size_t B, size_t T, size_t pos_offset,
                                const int32_t* ids, const float* dout, size_t ld, const qkv_ref_embedding_grads* g) {
  const size_t C = d->dim;
  const int use_pos = d->max_positions != 0;
  size_t r, j;
  for (r = 0; r < B * T; ++r) {
    const size_t it = (size_t)ids[r] * C, ip = use_pos ? (pos_offset + r % T) * C : 0;
    for (j = 0; j < C; ++j) {
      const float x = dout[r * ld + j];
      if (g->tok) g->tok[it + j] += (double)x;
      if (g->tok_mag) g->tok_mag[it + j] += fabs((double)x);
      if (g->tok_f32) g->tok_f32[it + j] += x;
      if (!use_pos) continue;
      if (g->pos) g->pos[ip + j] += (double)x;
      if (g->pos_mag) g->pos_mag[ip + j] += fabs((double)x);
      if (g->pos_f32) g->pos_f32[ip + j] += x;
    }
  }
}
