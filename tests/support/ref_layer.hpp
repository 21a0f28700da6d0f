// ref_layer - a double-precision oracle of the multi-head attention layer of
// include/qkv/layer.h: plain loops, the same parameter layout, the same
// dropout stream. Used directly, and through central differences as the
// oracle for every gradient.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "ops/dropout_rng.hpp"
#include "qkv/layer.h"

namespace qkv_test {

struct ref_layer {
  qkv_mha_desc d;
  qkv_mha_layout p;
  std::size_t B, T;

  // y[B*T][d_out] from x[B*T][d_in] and params (both double).
  std::vector<double> forward(const std::vector<double>& prm, const std::vector<double>& x, bool training) const {
    const std::size_t R = B * T, Do = d.d_out, Di = d.d_in, H = d.num_heads, dh = Do / H;
    auto proj = [&](std::size_t w, std::size_t b, std::size_t din, const std::vector<double>& in) {
      std::vector<double> out(R * Do, 0.0);
      for (std::size_t r = 0; r < R; ++r)
        for (std::size_t j = 0; j < Do; ++j) {
          double s = b == SIZE_MAX ? 0.0 : prm[b + j];
          for (std::size_t i = 0; i < din; ++i) s += in[r * din + i] * prm[w + i * Do + j];
          out[r * Do + j] = s;
        }
      return out;
    };
    const auto Q = proj(p.w_q, p.b_q, Di, x), K = proj(p.w_k, p.b_k, Di, x), V = proj(p.w_v, p.b_v, Di, x);
    std::vector<double> A(R * Do, 0.0), s(T);
    const double scale = 1.0 / std::sqrt(double(dh));
    const float drop_p = training ? d.dropout_p : 0.f;
    namespace dr = qkv::ops::dropout;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h)
        for (std::size_t i = 0; i < T; ++i) {
          double m = -std::numeric_limits<double>::infinity();
          const std::size_t jmax = d.causal ? i + 1 : T;
          for (std::size_t j = 0; j < jmax; ++j) {
            double dot = 0;
            for (std::size_t f = 0; f < dh; ++f) dot += Q[(b * T + i) * Do + h * dh + f] * K[(b * T + j) * Do + h * dh + f];
            s[j] = dot * scale;
            m = std::max(m, s[j]);
          }
          double sum = 0;
          for (std::size_t j = 0; j < jmax; ++j) sum += std::exp(s[j] - m);
          const auto row = dr::row_key(d.dropout_seed, b, h, i);
          for (std::size_t j = 0; j < jmax; ++j) {
            double w = std::exp(s[j] - m) / sum;
            if (drop_p > 0.f) w = dr::keep(row, j, dr::threshold(drop_p)) ? w / (1.0 - double(drop_p)) : 0.0;
            for (std::size_t f = 0; f < dh; ++f) A[(b * T + i) * Do + h * dh + f] += w * V[(b * T + j) * Do + h * dh + f];
          }
        }
    if (!d.out_proj) return A;
    return proj(p.w_o, p.b_o, Do, A);
  }
};

}  // namespace qkv_test
