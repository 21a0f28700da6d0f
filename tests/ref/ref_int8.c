/* SPDX-License-Identifier: MIT */
#include "ref/ref_int8.h"

#include <math.h>

static int32_t sat32(int64_t v) { return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v; }

static int8_t clamp8(int32_t v) { return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v); }

int32_t qkv_ref_requant(int32_t acc, qkv_qmul m) {
  int left = m.shift > 0 ? m.shift : 0, right = m.shift > 0 ? 0 : -m.shift;
  int64_t a = sat32((int64_t)acc * ((int64_t)1 << left));
  int64_t ab = a * (int64_t)m.multiplier, nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  int32_t x;
  if (a == INT32_MIN && m.multiplier == INT32_MIN)
    x = INT32_MAX;
  else
    x = (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C99 division truncates toward zero */
  {
    /* x / 2^right, nearest, ties away from zero */
    int64_t d = (int64_t)1 << right, q = x / d, r = x % d; /* truncated quotient and remainder */
    if (2 * (r < 0 ? -r : r) >= d && right > 0) q += x < 0 ? -1 : 1;
    return (int32_t)q;
  }
}

uint32_t qkv_ref_exp2_q15(int f) { return (uint32_t)floor(32768.0 * exp2(-f / 256.0) + 0.5); }

void qkv_ref_int8_softmax(const int32_t* s, size_t n, qkv_qmul score, uint32_t* e, int16_t* p) {
  int32_t mx = s[0];
  uint64_t sum = 0;
  size_t u;
  for (u = 1; u < n; ++u)
    if (s[u] > mx) mx = s[u];
  for (u = 0; u < n; ++u) {
    int32_t t = qkv_ref_requant(mx - s[u], score);
    if (t > 4096) t = 4096;
    e[u] = qkv_ref_exp2_q15(t % 256) >> (t / 256);
    sum += e[u];
  }
  for (u = 0; u < n; ++u) {
    uint64_t w = ((uint64_t)e[u] * 32768 + sum / 2) / sum;
    p[u] = (int16_t)(w < 32767 ? w : 32767);
  }
}

/* out[r][c] = clamp(z + requant(sat(sum_i in[r][i] w[c][i] + b[c]), m[c])) */
static void linear(const int8_t* in, size_t rows, size_t n_in, const char* base, size_t w_off, size_t b_off,
                   size_t m_off, size_t n_out, int32_t z, int8_t* out) {
  const int8_t* w = (const int8_t*)(base + w_off);
  const int32_t* b = (const int32_t*)(base + b_off);
  const qkv_qmul* m = (const qkv_qmul*)(base + m_off);
  size_t r, c, i;
  for (r = 0; r < rows; ++r)
    for (c = 0; c < n_out; ++c) {
      int64_t acc = b[c];
      for (i = 0; i < n_in; ++i) acc += (int32_t)in[r * n_in + i] * w[c * n_in + i];
      out[r * n_out + c] = clamp8(z + qkv_ref_requant(sat32(acc), m[c]));
    }
}

size_t qkv_ref_mha_int8_scratch(const qkv_mha_desc* d, size_t batch, size_t seq_len) {
  size_t dh = d->d_out / d->num_heads, dkv = d->num_kv_heads ? d->num_kv_heads * dh : d->d_out;
  size_t rows = batch * seq_len;
  /* int8 Q, K, V, A (as int32 slots, rounded up), scores */
  return (rows * (2 * d->d_out + 2 * dkv) + 3) / 4 + 4 + 3 * seq_len;
}

void qkv_ref_mha_int8_forward(const qkv_mha_desc* d, const void* qlayer, size_t batch, size_t seq_len,
                              const int8_t* x, int8_t* y, int32_t* scratch) {
  const char* base = (const char*)qlayer;
  const qkv_mha_int8_header* h = (const qkv_mha_int8_header*)qlayer;
  qkv_mha_int8_layout l;
  size_t H = d->num_heads, dh = d->d_out / H, Hkv = d->num_kv_heads ? d->num_kv_heads : H, dkv = Hkv * dh;
  size_t rows = batch * seq_len, b, hh, t, u, c;
  int8_t* q = (int8_t*)scratch;
  int8_t* k = q + rows * d->d_out;
  int8_t* v = k + rows * dkv;
  int8_t* a = v + rows * dkv;
  int32_t* s = scratch + (rows * (2 * d->d_out + 2 * dkv) + 3) / 4 + 4;
  uint32_t* e = (uint32_t*)(s + seq_len);
  int16_t* p = (int16_t*)(s + 2 * seq_len);
  qkv_mha_int8_param_layout(d, &l);
  linear(x, rows, d->d_in, base, l.w[0], l.b[0], l.m[0], d->d_out, 0, q);
  linear(x, rows, d->d_in, base, l.w[1], l.b[1], l.m[1], dkv, 0, k);
  linear(x, rows, d->d_in, base, l.w[2], l.b[2], l.m[2], dkv, 0, v);
  for (b = 0; b < batch; ++b)
    for (hh = 0; hh < H; ++hh)
      for (t = 0; t < seq_len; ++t) {
        size_t g = hh / (H / Hkv), n = 0, first = seq_len;
        for (u = 0; u < seq_len; ++u) {
          int visible = (!d->causal || u <= t) && (!d->window || u + d->window > t);
          int32_t dot = 0;
          if (!visible) continue;
          if (first == seq_len) first = u;
          for (c = 0; c < dh; ++c)
            dot += (int32_t)q[(b * seq_len + t) * d->d_out + hh * dh + c] * k[(b * seq_len + u) * dkv + g * dh + c];
          s[n++] = dot;
        }
        qkv_ref_int8_softmax(s, n, h->score, e, p);
        for (c = 0; c < dh; ++c) {
          int64_t acc = 0;
          for (u = 0; u < n; ++u) acc += (int32_t)p[u] * v[(b * seq_len + first + u) * dkv + g * dh + c];
          a[(b * seq_len + t) * d->d_out + hh * dh + c] = clamp8(qkv_ref_requant(sat32(acc), h->attn));
        }
      }
  if (d->out_proj)
    linear(a, rows, d->d_out, base, l.w[3], l.b[3], l.m[3], d->d_out, h->y.zero_point, y);
  else
    for (u = 0; u < rows * d->d_out; ++u) y[u] = a[u];
}
