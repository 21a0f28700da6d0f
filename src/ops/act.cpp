// SPDX-License-Identifier: MIT
// Hosted builds only: on bare metal the C API returns QKV_ERR_UNSUPPORTED
// (the Cortex-M4 .text budget; qkv/activation.h).
#include "ops/act.hpp"

#ifdef QKV_HOSTED

#include "kernels/act/act.hpp"
#include "ops/gemm.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {
namespace {

static_assert(static_cast<int>(act_kind::gelu_tanh) == kern::kActGeluTanh &&
                  static_cast<int>(act_kind::gelu_erf) == kern::kActGeluErf &&
                  static_cast<int>(act_kind::silu) == kern::kActSilu &&
                  static_cast<int>(act_kind::relu) == kern::kActRelu,
              "act_kind indexes the kernel table's slots");

// threads_for's units per element: the gelu and silu forms cost an exp, a
// division and ~20 flops (two exps backward); relu is a select.
float flops_per_elem(act_kind k, bool backward) noexcept {
  if (k == act_kind::relu) return 1.0f;
  return backward ? 60.0f : 40.0f;
}

float elems(std::size_t rows, std::size_t n) noexcept { return static_cast<float>(rows) * static_cast<float>(n); }

}  // namespace

void act_forward(const exec& xc, act_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                 float* y, std::size_t ldy) {
  if (rows == 0 || n == 0) return;
  const auto f = kern::act_for(xc.isa).forward[static_cast<int>(kind)];
  parallel_for_blocks(xc, rows, flops_per_elem(kind, false) * elems(rows, n),
                      [&](std::size_t r) { f(n, x + r * ldx, y + r * ldy); });
}

void act_backward(const exec& xc, act_kind kind, std::size_t rows, std::size_t n, const float* x, std::size_t ldx,
                  const float* dy, std::size_t ldy, float* dx, std::size_t lddx) {
  if (rows == 0 || n == 0) return;
  const auto f = kern::act_for(xc.isa).backward[static_cast<int>(kind)];
  parallel_for_blocks(xc, rows, flops_per_elem(kind, true) * elems(rows, n),
                      [&](std::size_t r) { f(n, x + r * ldx, dy + r * ldy, dx + r * lddx); });
}

void swiglu_forward(const exec& xc, std::size_t rows, std::size_t n, const float* g, std::size_t ldg, const float* u,
                    std::size_t ldu, float* y, std::size_t ldy) {
  if (rows == 0 || n == 0) return;
  const auto f = kern::act_for(xc.isa).swiglu_forward;
  parallel_for_blocks(xc, rows, flops_per_elem(act_kind::silu, false) * elems(rows, n),
                      [&](std::size_t r) { f(n, g + r * ldg, u + r * ldu, y + r * ldy); });
}

void swiglu_backward(const exec& xc, std::size_t rows, std::size_t n, const float* g, std::size_t ldg,
                     const float* u, std::size_t ldu, const float* dy, std::size_t ldy, float* dg, std::size_t lddg,
                     float* du, std::size_t lddu) {
  if (rows == 0 || n == 0) return;
  const auto f = kern::act_for(xc.isa).swiglu_backward;
  parallel_for_blocks(xc, rows, flops_per_elem(act_kind::silu, true) * elems(rows, n), [&](std::size_t r) {
    f(n, g + r * ldg, u + r * ldu, dy + r * ldy, dg + r * lddg, du + r * lddu);
  });
}

std::size_t sgemm_bias_act_workspace_bytes(qkv_isa isa, bool ta, bool tb, std::size_t M, std::size_t N,
                                           std::size_t K, int threads) {
  return sgemm_workspace_bytes(isa, ta, tb, M, N, K, threads);
}

void sgemm_bias_act(const exec& xc, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                    std::size_t lda, const float* B, std::size_t ldb, const float* bias, act_kind kind, float* pre,
                    std::size_t ldp, float* C, std::size_t ldc, void* ws, std::size_t ws_bytes) {
  // Two passes: the product (with its bias) into pre, or into C itself, then
  // the activation over it. An epilogue applying the activation to each C
  // tile (or row band) inside the GEMM while it is in cache gave the same
  // bits but measured no faster on the GPT-2 MLP shape (1024 x 3072 x 768,
  // 1 and 2 threads: the pass it saves is ~2% of the product, and the
  // per-tile calls cost about that), so the GEMM stays as it is.
  float* out = pre ? pre : C;
  const std::size_t ldo = pre ? ldp : ldc;
  if (bias)
    sgemm_bias(xc, ta, tb, M, N, K, A, lda, B, ldb, bias, out, ldo, ws, ws_bytes);
  else
    sgemm(xc, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, out, ldo, ws, ws_bytes);
  act_forward(xc, kind, M, N, out, ldo, C, ldc);
}

}  // namespace qkv::ops

#endif  // QKV_HOSTED
