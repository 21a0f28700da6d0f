// SPDX-License-Identifier: MIT
// norm - LayerNorm and RMSNorm over rows, with an optional fused residual
// add, forward and backward. Rows are split over threads; each row runs the
// same kernel operations whatever the split, and the parameter gradients are
// column sums in row order, so results are bitwise identical for any thread
// count. No workspace, no allocation. Arguments are validated by the C
// boundary (qkv/norm.h). Hosted builds only for now (the Cortex-M4 .text
// budget): bare-metal builds define neither function.
#pragma once

#include <cstddef>

#include "ops/exec.hpp"

namespace qkv::ops {

enum class norm_kind { layer, rms };

// For each row r < rows of n features:
//   s = x[r] + res[r]  when res != nullptr (then written to s_out[r]; s_out may alias x or res), else s = x[r]
//   layer: mu = mean(s), var = mean((s - mu)^2); rms: mu = 0, var = mean(s^2)
//   rstd = 1 / sqrt(var + eps)
//   y[r][j] = (s[j] - mu) * rstd * gamma[j] + beta[j]   (gamma nullptr: 1; beta nullptr: 0)
//   mean[r] = mu (layer only; may be nullptr), rstd_out[r] = rstd (may be nullptr)
// y may alias x (not res). Statistics accumulate in a fixed order that depends only on n.
// (Beyond the contract: s_out may be nullptr with res, then y holds s until
// it is overwritten; y must not alias s_out then. eps > 0.)
void norm_forward(const exec& xc, norm_kind kind, std::size_t rows, std::size_t n, float eps,
                  const float* x, std::size_t ldx, const float* res, std::size_t ldr, float* s_out, std::size_t lds,
                  const float* gamma, const float* beta, float* y, std::size_t ldy, float* mean, float* rstd);

// Backward from the saved statistics; x is the normalised input s of the forward, mean may be nullptr for rms.
//   xhat = (x - mu) * rstd, g = dy * gamma
//   layer: dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat))
//   rms:   dx = rstd * (g - xhat * mean_j(g * xhat))
//   accumulate: dx += that, else dx = that. dx may alias dy (not x).
//   dgamma[j] += sum_r dy[r][j] * xhat[r][j];  dbeta[j] += sum_r dy[r][j]   (each nullable)
// The column sums run first (threads split the columns; each column is added
// onto dgamma/dbeta row after row), then the rows (which may overwrite dy):
// bitwise identical for any thread count.
void norm_backward(const exec& xc, norm_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                   const float* gamma, const float* mean, const float* rstd, const float* dy, std::size_t ldy,
                   float* dx, std::size_t lddx, bool accumulate, float* dgamma, float* dbeta);

}  // namespace qkv::ops
