// SPDX-License-Identifier: MIT
#include "ops/norm.hpp"

// Hosted builds only for now: the norms do not fit the Cortex-M4 .text
// budget (qkv/norm.h); bare-metal builds define neither function.
#ifdef QKV_HOSTED

#include <cstdint>

#include "kernels/norm/norm.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {
namespace {

// Rows are cut into at most kBlocks contiguous blocks (rows are independent,
// so the cut changes nothing but who computes a row).
constexpr std::size_t kBlocks = 64;

// The parameter gradients' columns are split in cache lines of floats.
constexpr std::size_t kLine = 16;

// Per element: about three passes of a few operations each.
constexpr float kFlopsForward = 8.0f, kFlopsBackward = 10.0f, kFlopsParams = 4.0f;

}  // namespace

void norm_forward(const exec& xc, norm_kind kind, std::size_t rows, std::size_t n, float eps, const float* x,
                  std::size_t ldx, const float* res, std::size_t ldr, float* s_out, std::size_t lds,
                  const float* gamma, const float* beta, float* y, std::size_t ldy, float* mean, float* rstd) {
  if (rows == 0 || n == 0) return;
  const auto& k = kern::norm_for(xc.isa);
  const bool center = kind == norm_kind::layer;
  const std::size_t blocks = rows < kBlocks ? rows : kBlocks;
  parallel_for_blocks(xc, blocks, kFlopsForward * static_cast<float>(rows) * static_cast<float>(n),
                      [&](std::size_t b) {
                        for (std::size_t r = b * rows / blocks; r < (b + 1) * rows / blocks; ++r)
                          k.row_forward_f32(n, center, eps, x + r * ldx, res ? res + r * ldr : nullptr,
                                            s_out && res ? s_out + r * lds : nullptr, gamma, beta, y + r * ldy,
                                            center && mean ? mean + r : nullptr, rstd ? rstd + r : nullptr);
                      });
}

void norm_backward(const exec& xc, norm_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                   const float* gamma, const float* mean, const float* rstd, const float* dy, std::size_t ldy,
                   float* dx, std::size_t lddx, bool accumulate, float* dgamma, float* dbeta) {
  if (rows == 0 || n == 0) return;
  const auto& k = kern::norm_for(xc.isa);
  const bool center = kind == norm_kind::layer;
  auto mu = [&](std::size_t r) { return center && mean ? mean[r] : 0.f; };
  // Row r's terms of dgamma/dbeta, columns [j0, j1); row r's dx.
  auto add_params = [&](std::size_t r, std::size_t j0, std::size_t j1) {
    k.cols_accumulate_f32(j1 - j0, x + r * ldx + j0, mu(r), rstd[r], dy + r * ldy + j0,
                          dgamma ? dgamma + j0 : nullptr, dbeta ? dbeta + j0 : nullptr);
  };
  auto dx_row = [&](std::size_t r) {
    k.row_backward_f32(n, center, x + r * ldx, mu(r), rstd[r], gamma, dy + r * ldy, dx + r * lddx, accumulate);
  };
  // Parameter gradients first: dx may overwrite dy. Each column is added
  // onto dgamma/dbeta row after row, whoever computes it, so the split (one
  // contiguous range of columns per thread, in cache lines) changes nothing.
  if (dgamma || dbeta) {
    const std::size_t lines = (n + kLine - 1) / kLine;
    const int t = threads_for(xc, kFlopsParams * static_cast<float>(rows) * static_cast<float>(n), lines);
    if (t <= 1) {  // one thread: both passes row by row, the second on the row the first left in L1
      for (std::size_t r = 0; r < rows; ++r) {
        add_params(r, 0, n);
        dx_row(r);
      }
      return;
    }
    // Boundaries on dgamma's (else dbeta's) cache lines, not on multiples
    // of 16 floats from its start: a line written by two members would
    // travel between their cores on every row (bench/README.md, session 27).
    const auto addr = reinterpret_cast<std::uintptr_t>(dgamma ? dgamma : dbeta);
    const std::size_t head = (kLine - addr / sizeof(float) % kLine) % kLine;  // floats to the first line start
    const std::size_t parts = static_cast<std::size_t>(t);
    auto boundary = [&](std::size_t c) {
      if (c == 0) return std::size_t{0};
      if (c == parts) return n;
      const std::size_t j = head + lines * c / parts * kLine;
      return j < n ? j : n;
    };
    parallel_for_static(xc, t, parts, [&](std::size_t c) {
      const std::size_t j0 = boundary(c), j1 = boundary(c + 1);
      if (j0 >= j1) return;
      for (std::size_t r = 0; r < rows; ++r) add_params(r, j0, j1);
    });
  }
  const std::size_t blocks = rows < kBlocks ? rows : kBlocks;
  parallel_for_blocks(xc, blocks, kFlopsBackward * static_cast<float>(rows) * static_cast<float>(n),
                      [&](std::size_t b) {
                        for (std::size_t r = b * rows / blocks; r < (b + 1) * rows / blocks; ++r) dx_row(r);
                      });
}

}  // namespace qkv::ops

#endif  // QKV_HOSTED
