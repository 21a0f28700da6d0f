// SPDX-License-Identifier: MIT
// The int8 layer's post-training calibration (rules: qkv/layer_int8.h):
// the fp32 layer runs once in training mode, whose cache holds Q, K, V and
// A; each tensor's range gives its quantization; then the weights, biases
// and multipliers. Everything is checked before the buffer is written.
// Hosted builds only: a firmware stores the buffer calibrated on the host,
// and the Cortex-M library keeps its 64 KiB .text budget without it.
#ifdef QKV_HOSTED
#include <cmath>

#include "kernels/convert/convert.hpp"
#include "ops/dtype.hpp"
#include "ops/int8_fixed.hpp"
#include "ops/mha_int8.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
namespace {

// Lowest and highest of n floats; false if one is NaN or infinite.
bool range_of(const float* x, std::size_t n, float* lo, float* hi) {
  float a = 0.0f, b = 0.0f;  // 0 is in every range the quantization uses
  for (std::size_t i = 0; i < n; ++i) {
    if (!(std::fabs(x[i]) <= 3.402823466e38f)) return false;
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a, *hi = b;
  return true;
}

qkv_qparam asymmetric(float lo, float hi) {
  qkv_qparam p;
  p.scale = (hi - lo) / 255.0f;
  if (!(p.scale > 0.0f)) p.scale = 1.0f;
  const float z = std::nearbyint(-128.0f - lo / p.scale);
  p.zero_point = z > 127.0f ? 127 : z < -128.0f ? -128 : static_cast<std::int32_t>(z);
  return p;
}

float symmetric(float lo, float hi) {
  const float s = (-lo > hi ? -lo : hi) / 127.0f;
  return s > 0.0f ? s : 1.0f;
}

// max |w| / 127 of column c of W [n_in][n_out] (1 for a zero column, whose
// codes are all 0): the scale quantize_cols_s8 gives it.
float weight_scale(const float* w, std::size_t n_in, std::size_t n_out, std::size_t c) {
  float m = 0.0f;
  for (std::size_t i = 0; i < n_in; ++i) m = std::fabs(w[i * n_out + c]) > m ? std::fabs(w[i * n_out + c]) : m;
  const float s = m / 127.0f;
  return s > 0.0f ? s : 1.0f;
}

struct proj {
  const float *w, *b;  // W [n_in][n_out] (x*W layout), b [n_out] or null
  std::size_t n_in, n_out;
  float s_in, s_out;
  std::int32_t z_in;
};

bool multipliers_ok(const proj& p) {
  qkv_qmul m;
  for (std::size_t c = 0; c < p.n_out; ++c)
    if (!quantize_multiplier(p.s_in * weight_scale(p.w, p.n_in, p.n_out, c) / p.s_out, &m)) return false;
  return true;
}

// Codes, folded biases and multipliers of one projection into the buffer.
void write_proj(const kern::convert_kernels& k, const proj& p, char* base, const qkv_mha_int8_layout& l, int i,
                float* scales) {
  auto* w = reinterpret_cast<std::int8_t*>(base + l.w[i]);
  auto* b = reinterpret_cast<std::int32_t*>(base + l.b[i]);
  auto* m = reinterpret_cast<qkv_qmul*>(base + l.m[i]);
  quantize_cols_s8(k, p.n_in, p.n_out, p.w, p.n_out, w, p.n_in, scales);  // finite: checked
  for (std::size_t c = 0; c < p.n_out; ++c) {
    const float sw = scales[c] > 0.0f ? scales[c] : 1.0f;
    quantize_multiplier(p.s_in * sw / p.s_out, &m[c]);
    std::int64_t sum = 0;
    for (std::size_t i2 = 0; i2 < p.n_in; ++i2) sum += w[c * p.n_in + i2];
    float r = p.b ? std::nearbyint(p.b[c] / (p.s_in * sw)) : 0.0f;
    r = r > 1073741824.0f ? 1073741824.0f : r < -1073741824.0f ? -1073741824.0f : r;  // saturate at 2^30
    const std::int64_t folded = static_cast<std::int64_t>(static_cast<std::int32_t>(r)) - p.z_in * sum;
    b[c] = folded > INT32_MAX ? INT32_MAX : folded < INT32_MIN ? INT32_MIN : static_cast<std::int32_t>(folded);
  }
}

// Projection i (Q, K, V, O) of the parameters; s_out its output's scale.
proj proj_of(const mha_dims& n, const qkv_mha_layout& pl, const float* params, int i,
             qkv_qparam xq, float sa, float s_out) {
  proj p;
  const std::size_t w[4] = {pl.w_q, pl.w_k, pl.w_v, pl.w_o}, b[4] = {pl.b_q, pl.b_k, pl.b_v, pl.b_o};
  p.w = params + w[i];
  p.b = b[i] != SIZE_MAX ? params + b[i] : nullptr;
  p.n_in = i == 3 ? n.d_out : n.d_in;
  p.n_out = i == 1 || i == 2 ? n.d_kv : n.d_out;
  p.s_in = i == 3 ? sa : xq.scale;
  p.z_in = i == 3 ? 0 : xq.zero_point;
  p.s_out = s_out;
  return p;
}

// The description the fp32 run uses: no dropout, fp32 compute.
qkv_mha_desc fp32_desc(const qkv_mha_desc& d) {
  qkv_mha_desc f;
  util::copy_bytes(&f, &d, sizeof f);  // no struct copy: bare metal would call memcpy
  f.dropout_p = 0.0f;
  f.compute_type = QKV_DTYPE_F32;
  return f;
}

}  // namespace

std::size_t mha_int8_calibrate_workspace_bytes(qkv_isa isa, const qkv_mha_desc& d, const mha_dims& n, int threads) {
  const qkv_mha_desc f = fp32_desc(d);
  return mha_cache_layout_for(f, n).floats * sizeof(float) + 4 * (n.rows * n.d_out + 64) +
         4 * (n.d_out > n.d_kv ? n.d_out : n.d_kv) + 3 * ws_carver::kAlign +
         mha_forward_workspace_bytes(isa, f, QKV_DTYPE_F32, n, threads);
}

qkv_status mha_int8_calibrate(const exec& xc, const qkv_mha_desc& d, const mha_dims& n, const qkv_mha_layout& pl,
                              const float* params,
                              const float* x, void* qlayer, void* ws, std::size_t ws_bytes) {
  const qkv_mha_desc f = fp32_desc(d);
  float lo, hi;
  for (std::size_t i = 0; i < pl.count; i += 4096)
    if (!range_of(params + i, pl.count - i < 4096 ? pl.count - i : 4096, &lo, &hi)) return QKV_ERR_NOT_FINITE;
  float xlo, xhi;
  if (!range_of(x, n.rows * n.d_in, &xlo, &xhi)) return QKV_ERR_NOT_FINITE;

  char* base = align_workspace(ws, &ws_bytes);
  ws_carver c(base);
  const mha_cache_layout cl = mha_cache_layout_for(f, n);
  float* cache = c.take<float>(cl.floats);
  float* y = c.take<float>(n.rows * n.d_out);
  float* scales = c.take<float>(n.d_out > n.d_kv ? n.d_out : n.d_kv);
  std::size_t rest_bytes = 0;
  void* rest = c.rest(ws_bytes, &rest_bytes);
  mha_weights wts;  // field by field: a braced init is a memset call on bare metal
  wts.wtype = QKV_DTYPE_F32, wts.params = params, wts.layout = &pl, wts.packed = nullptr;
  mha_forward(xc, f, n, wts, x, y, true, cache, rest, rest_bytes);

  float r[5][2];  // Q, K, V, A, Y
  for (int i = 0; i < 5; ++i) {
    const bool kv = i == 1 || i == 2;
    const float* t = i == 4 ? y : cache + (i == 0 ? cl.q : i == 1 ? cl.k : i == 2 ? cl.v : cl.a);
    if (!range_of(t, n.rows * (kv ? n.d_kv : n.d_out), &r[i][0], &r[i][1])) return QKV_ERR_NOT_FINITE;
  }
  const qkv_qparam xq = asymmetric(xlo, xhi);
  const float sq = symmetric(r[0][0], r[0][1]), sk = symmetric(r[1][0], r[1][1]), sv = symmetric(r[2][0], r[2][1]),
              sa = symmetric(r[3][0], r[3][1]);
  qkv_qparam yq;
  if (d.out_proj) {
    yq = asymmetric(r[4][0], r[4][1]);
  } else {
    yq.scale = sa, yq.zero_point = 0;
  }
  qkv_qmul score, attn;
  if (!quantize_multiplier(sq * sk / std::sqrt(static_cast<float>(n.d_head)) * 369.329930467f, &score) ||
      !quantize_multiplier(sv / (32768.0f * sa), &attn))  // 369.33 = 256 / ln 2
    return QKV_ERR_UNSUPPORTED;
  const float s_out[4] = {sq, sk, sv, yq.scale};
  const int projections = d.out_proj ? 4 : 3;
  for (int i = 0; i < projections; ++i)
    if (!multipliers_ok(proj_of(n, pl, params, i, xq, sa, s_out[i]))) return QKV_ERR_UNSUPPORTED;

  // Checked: write.
  char* out = static_cast<char*>(qlayer);
  const qkv_mha_int8_layout l = mha_int8_layout_for(d);
  const kern::convert_kernels& k = kern::convert_for(xc.isa);
  for (std::size_t i = 0; i < l.bytes; ++i) out[i] = 0;  // padding too: equal inputs, equal buffers
  for (int i = 0; i < projections; ++i) write_proj(k, proj_of(n, pl, params, i, xq, sa, s_out[i]), out, l, i, scales);
  auto* h = static_cast<qkv_mha_int8_header*>(qlayer);
  h->magic = QKV_MHA_INT8_MAGIC, h->version = QKV_MHA_INT8_VERSION;
  h->d_in = static_cast<std::uint32_t>(n.d_in), h->d_out = static_cast<std::uint32_t>(n.d_out);
  h->num_heads = static_cast<std::uint32_t>(n.heads), h->d_kv = static_cast<std::uint32_t>(n.d_kv);
  h->flags = (d.causal ? 1u : 0u) | (d.out_proj ? 2u : 0u), h->window = static_cast<std::uint32_t>(d.window);
  h->x.scale = xq.scale, h->x.zero_point = xq.zero_point;
  h->y.scale = yq.scale, h->y.zero_point = yq.zero_point;
  h->s_q = sq, h->s_k = sk, h->s_v = sv, h->s_a = sa;
  h->score.multiplier = score.multiplier, h->score.shift = score.shift;
  h->attn.multiplier = attn.multiplier, h->attn.shift = attn.shift;
  return QKV_OK;
}

}  // namespace qkv::ops

#endif  // QKV_HOSTED
