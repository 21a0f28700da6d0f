// ref_attention - the double-precision oracle for scaled dot-product
// attention, forward and backward: plain loops straight from the math, with
// the same mask and dropout stream as the library. Results are dense doubles
// indexed [b][h][t][f]; inputs are read through the descriptor's strides.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "ops/dropout_rng.hpp"
#include "qkv/attention.h"

namespace qkv_test {

struct ref_dims {
  std::size_t B, H, Tq, Tk, D, Dv;
  double scale;
  explicit ref_dims(const qkv_sdpa_desc& d)
      : B(d.batch), H(d.heads), Tq(d.q_len), Tk(d.kv_len), D(d.head_dim),
        Dv(d.v_dim ? d.v_dim : d.head_dim),
        scale(d.scale != 0.f ? double(d.scale) : 1.0 / std::sqrt(double(d.head_dim))) {}
};

inline double at(const float* p, const qkv_sdpa_strides& s, std::size_t b, std::size_t h, std::size_t t,
                 std::size_t f) {
  return p[b * s.batch + h * s.head + t * s.token + f];
}

inline bool ref_visible(const qkv_sdpa_desc& d, std::size_t i, std::size_t j) {
  return !d.causal || double(j) <= double(i) + double(d.kv_len) - double(d.q_len);
}

// Dropout multiplier of weight (b,h,i,j): 0 or 1/(1-p) (1 without dropout).
inline double ref_dropout(const qkv_sdpa_desc& d, std::size_t b, std::size_t h, std::size_t i, std::size_t j) {
  if (d.dropout_p <= 0.f) return 1.0;
  namespace dr = qkv::ops::dropout;
  const bool keep = dr::keep(dr::row_key(d.dropout_seed, b, h, i), j, dr::threshold(d.dropout_p));
  return keep ? 1.0 / (1.0 - double(d.dropout_p)) : 0.0;
}

// Softmax probabilities P[i][j] (before dropout) and lse of one (b, h).
inline void ref_probs(const qkv_sdpa_desc& d, const float* q, const float* k, std::size_t b, std::size_t h,
                      std::vector<double>& P, std::vector<double>& lse_row) {
  const ref_dims n(d);
  P.assign(n.Tq * n.Tk, 0.0);
  lse_row.assign(n.Tq, -std::numeric_limits<double>::infinity());
  for (std::size_t i = 0; i < n.Tq; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < n.Tk; ++j) {
      if (!ref_visible(d, i, j)) continue;
      double s = 0;
      for (std::size_t f = 0; f < n.D; ++f) s += at(q, d.q, b, h, i, f) * at(k, d.k, b, h, j, f);
      P[i * n.Tk + j] = s * n.scale;
      m = std::max(m, s * n.scale);
    }
    if (m == -std::numeric_limits<double>::infinity()) continue;  // sees nothing
    double sum = 0;
    for (std::size_t j = 0; j < n.Tk; ++j)
      if (ref_visible(d, i, j)) sum += std::exp(P[i * n.Tk + j] - m);
    for (std::size_t j = 0; j < n.Tk; ++j)
      P[i * n.Tk + j] = ref_visible(d, i, j) ? std::exp(P[i * n.Tk + j] - m) / sum : 0.0;
    lse_row[i] = m + std::log(sum);
  }
}

// out: [B][H][Tq][Dv], lse: [B][H][Tq]
inline void ref_sdpa_forward(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                             std::vector<double>& out, std::vector<double>& lse) {
  const ref_dims n(d);
  out.assign(n.B * n.H * n.Tq * n.Dv, 0.0);
  lse.assign(n.B * n.H * n.Tq, 0.0);
  std::vector<double> P, lrow;
  for (std::size_t b = 0; b < n.B; ++b)
    for (std::size_t h = 0; h < n.H; ++h) {
      ref_probs(d, q, k, b, h, P, lrow);
      for (std::size_t i = 0; i < n.Tq; ++i) {
        lse[(b * n.H + h) * n.Tq + i] = lrow[i];
        for (std::size_t f = 0; f < n.Dv; ++f) {
          double acc = 0;
          for (std::size_t j = 0; j < n.Tk; ++j)
            acc += P[i * n.Tk + j] * ref_dropout(d, b, h, i, j) * at(v, d.v, b, h, j, f);
          out[((b * n.H + h) * n.Tq + i) * n.Dv + f] = acc;
        }
      }
    }
}

// Gradients for dO given in layout d.o. dq: [B][H][Tq][D], dk: [B][H][Tk][D], dv: [B][H][Tk][Dv].
inline void ref_sdpa_backward(const qkv_sdpa_desc& d, const float* q, const float* k, const float* v,
                              const float* dout, std::vector<double>& dq, std::vector<double>& dk,
                              std::vector<double>& dv) {
  const ref_dims n(d);
  dq.assign(n.B * n.H * n.Tq * n.D, 0.0);
  dk.assign(n.B * n.H * n.Tk * n.D, 0.0);
  dv.assign(n.B * n.H * n.Tk * n.Dv, 0.0);
  std::vector<double> P, lrow, dP(n.Tq * n.Tk);
  for (std::size_t b = 0; b < n.B; ++b)
    for (std::size_t h = 0; h < n.H; ++h) {
      ref_probs(d, q, k, b, h, P, lrow);
      const std::size_t bh = b * n.H + h;
      for (std::size_t i = 0; i < n.Tq; ++i)
        for (std::size_t j = 0; j < n.Tk; ++j) {
          const double drop = ref_dropout(d, b, h, i, j);
          double g = 0;  // dL/d(dropped weight) = dO_i . V_j
          for (std::size_t f = 0; f < n.Dv; ++f) {
            g += at(dout, d.o, b, h, i, f) * at(v, d.v, b, h, j, f);
            dv[(bh * n.Tk + j) * n.Dv + f] += P[i * n.Tk + j] * drop * at(dout, d.o, b, h, i, f);
          }
          dP[i * n.Tk + j] = g * drop;  // dL/dP
        }
      for (std::size_t i = 0; i < n.Tq; ++i) {
        double Di = 0;  // softmax backward: dS = P * (dP - sum_j P dP)
        for (std::size_t j = 0; j < n.Tk; ++j) Di += P[i * n.Tk + j] * dP[i * n.Tk + j];
        for (std::size_t j = 0; j < n.Tk; ++j) {
          const double dS = P[i * n.Tk + j] * (dP[i * n.Tk + j] - Di) * n.scale;
          if (dS == 0.0) continue;
          for (std::size_t f = 0; f < n.D; ++f) {
            dq[(bh * n.Tq + i) * n.D + f] += dS * at(k, d.k, b, h, j, f);
            dk[(bh * n.Tk + j) * n.D + f] += dS * at(q, d.q, b, h, i, f);
          }
        }
      }
    }
}

}  // namespace qkv_test
