// SPDX-License-Identifier: MIT
// ref_attention - the C++ face of the attention oracle (tests/ref/
// ref_attention.h, where the arithmetic is): vectors out, and the library's
// dropout stream (src/ops/dropout_rng.hpp) plugged in.
#pragma once

#include <cstddef>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/dropout_rng.hpp"
#include "ops/exec.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_plan.hpp"
#include "qkv/attention.h"
#include "ref/ref_attention.h"

namespace qkv_test {

// The multiplier of weight (b, h, i, j) under the library's dropout: 0 or 1/(1-p).
inline double ref_dropout(std::uint64_t seed, float p, std::size_t b, std::size_t h, std::size_t i, std::size_t j) {
  namespace dr = qkv::ops::dropout;
  return dr::keep(dr::row_key(seed, b, h, i), j, dr::threshold(p)) ? 1.0 / (1.0 - double(p)) : 0.0;
}

// KVH: heads of K, V, dK and dV (d.kv_heads, or H when 0).
struct ref_dims {
  std::size_t B, H, KVH, Tq, Tk, D, Dv;
  double scale;
  explicit ref_dims(const qkv_sdpa_desc& d)
      : B(d.batch), H(d.heads), KVH(qkv_ref_sdpa_kv_heads(&d)), Tq(d.q_len), Tk(d.kv_len), D(d.head_dim),
        Dv(qkv_ref_sdpa_v_dim(&d)), scale(qkv_ref_sdpa_scale(&d)) {}
};

// out: [B][H][Tq][Dv], lse: [B][H][Tq]
inline void ref_sdpa_forward(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                             std::vector<double>& out, std::vector<double>& lse) {
  const ref_dims n(d);
  out.assign(n.B * n.H * n.Tq * n.Dv, 0.0);
  lse.assign(n.B * n.H * n.Tq, 0.0);
  std::vector<double> scratch(n.Tk);
  qkv_ref_sdpa_forward(&d, q, k, v, ref_dropout, out.data(), lse.data(), nullptr, scratch.data());
}

// Gradients for dO given in layout d.o. dq: [B][H][Tq][D], dk: [B][KVH][Tk][D], dv: [B][KVH][Tk][Dv].
inline void ref_sdpa_backward(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                              const float* dout, std::vector<double>& dq, std::vector<double>& dk,
                              std::vector<double>& dv) {
  const ref_dims n(d);
  dq.resize(n.B * n.H * n.Tq * n.D);
  dk.resize(n.B * n.KVH * n.Tk * n.D);
  dv.resize(n.B * n.KVH * n.Tk * n.Dv);
  std::vector<double> scratch(3 * n.Tk);
  qkv_ref_sdpa_backward(&d, q, k, v, dout, ref_dropout, dq.data(), dk.data(), dv.data(), nullptr, scratch.data());
}

// Whether qkv_sdpa_backward_ex() on `type` runs the fused backward's bf16
// mode here (BF16 with the fused tile path on a CPU with fast bf16 dot
// products, the forward's choice): it then rounds P and dS to bf16 too and
// is checked within a bound, not bit for bit against the fp32 backward.
// (bf16 dot products, or AMX tiles: sdpa_amx_forward).
inline bool sdpa_ex_backward_in_bf16(const qkv_sdpa_desc& d, qkv_dtype type) {
  const qkv::ops::sdpa_plan p = qkv::ops::resolve_sdpa(d, qkv::ops::current_exec());
  return type == QKV_DTYPE_BF16 && (qkv::ops::sdpa_amx_forward(p, type) || qkv::ops::sdpa_bf16_dot_usable(p));
}

// Whether qkv_sdpa_forward_ex ran its products on AMX tiles.
inline bool sdpa_ex_on_amx(const qkv_sdpa_desc& d, qkv_dtype type) {
  return qkv::ops::sdpa_amx_forward(qkv::ops::resolve_sdpa(d, qkv::ops::current_exec()), type);
}

// ||got - ref|| / ||ref|| over the elements `in` marks.
template <class Widen>
double sdpa_rel_error(const std::vector<float>& ref, const std::vector<std::uint16_t>& got, const std::vector<bool>& in,
                      Widen widen) {
  double num = 0, den = 0;
  for (std::size_t e = 0; e < got.size(); ++e)
    if (in[e]) {
      const double g = widen(got[e]), r = ref[e];
      num += (g - r) * (g - r);
      den += r * r;
    }
  return std::sqrt(num / (den + 1e-300));
}

}  // namespace qkv_test
