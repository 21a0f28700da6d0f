// SPDX-License-Identifier: MIT
// norm - row kernels of LayerNorm and RMSNorm (ops/norm.hpp): the forward of
// one row (residual add, statistics, affine output), the backward of one row
// from its saved statistics, and one row's share of the parameter gradients.
// Contract: contiguous rows of n >= 1 floats, no allocation, no threads; every
// sum runs in an order that depends only on n (deterministic for a given ISA).
#pragma once

#include <cstddef>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

struct norm_kernels {
  // s = res ? x + res : x (stored to s_out when res and s_out are not null,
  // else to y when res is not null); center (LayerNorm): mu = mean(s), else
  // (RMSNorm) mu = 0; var = mean((s - mu)^2); *rstd = 1 / sqrt(var + eps),
  // *mean = mu; y = (s - mu) * rstd * gamma + beta (gamma null: 1, beta
  // null: 0). eps > 0. s_out may be x or res, y may be x; y must not be res
  // (nor s_out). Statistics are scaled by a power of two when max|s| > 2^40,
  // so any finite s with |s| < 2^126 gives finite results.
  void (*row_forward_f32)(std::size_t n, bool center, float eps, const float* x, const float* res, float* s_out,
                          const float* gamma, const float* beta, float* y, float* mean, float* rstd);
  // xhat = (x - mu) * rstd, g = dy * gamma (gamma null: 1);
  // t = rstd * (g - (center ? mean(g) : 0) - xhat * mean(g * xhat));
  // dx = accumulate ? dx + t : t. dx may be dy (not x).
  void (*row_backward_f32)(std::size_t n, bool center, const float* x, float mu, float rstd, const float* gamma,
                           const float* dy, float* dx, bool accumulate);
  // For j < n: sg[j] += dy[j] * ((x[j] - mu) * rstd) (sg not null); sb[j] += dy[j] (sb not null).
  void (*cols_accumulate_f32)(std::size_t n, const float* x, float mu, float rstd, const float* dy, float* sg,
                              float* sb);
};

QKV_DECLARE_KERNEL_TABLES(norm_kernels, norm)

}  // namespace qkv::kern
