// SPDX-License-Identifier: MIT
// vec - level-1 kernels: fp32, and the int8 layer's two integer ones.
// Contract: contiguous arrays of n elements, no allocation, no threads;
// deterministic summation order per ISA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa_select.hpp"
#include "qkv/dtype.h"

namespace qkv::kern {

struct vec_kernels {
  float (*dot)(std::size_t n, const float* x, const float* y);
  void (*axpy)(std::size_t n, float alpha, const float* x, float* y);
  // y[i] = dot(n, x + i*ldx, v) for i < m: each row summed in dot's order
  // (its partial sums, then the tail), v loaded once for a group of rows
  // (the skinny gemm_ex's transposed B: m rows of A against one column).
  void (*dot_rows)(std::size_t m, std::size_t n, const float* x, std::size_t ldx, const float* v, float* y);
  // The int8 attention's rows (ops/mha_int8), on int8 codes: y[i] =
  // sum_c x[i*ldx + c] v[c] for i < m (a query against m keys), and y[c] +=
  // sum_i w[i] x[i*ldx + c] for c < n (Q15 weights times m value rows).
  // Exact integer arithmetic (the caller keeps the sums in range), so every
  // ISA and order gives the same bits.
  void (*dot_rows_s8)(std::size_t m, std::size_t n, const std::int8_t* x, std::size_t ldx, const std::int8_t* v,
                      std::int32_t* y);
  void (*axpy_rows_s8)(std::size_t m, std::size_t n, const std::int16_t* w, const std::int8_t* x, std::size_t ldx,
                       std::int32_t* y);
  // The int8 projections' epilogue for n output features: out[c] =
  // clamp(zp + requant(sat(acc[c] + bias[c]), (qm[2c], qm[2c+1])), -128, 127)
  // (util/requant.hpp; qm holds qkv_qmul pairs), bit for bit on every ISA.
  void (*requant_s8)(std::size_t n, const std::int32_t* acc, const std::int32_t* bias, const std::int32_t* qm,
                     std::int32_t zp, std::int8_t* out);
#ifdef QKV_HOSTED
  // dot_rows against v of type vt (BF16, F16, or I8 codes taken as their
  // integer values), each element widened to fp32 as it is loaded: the bits
  // of dot_rows on the widened v (the skinny gemm_ex's transposed B, read
  // in place). Hosted builds only (the skinny path's).
  void (*dot_rows_lowp)(qkv_dtype vt, std::size_t m, std::size_t n, const float* x, std::size_t ldx, const void* v,
                        float* y);
  // y[i*ldy + c] = sum_j x[i*ldx + j] v[j*ldv + c] for i < m <= 8, c < n,
  // j < k, v of type vt (BF16, F16, I8 codes) widened to fp32 as it is
  // loaded, once per j for all m rows: each element summed in j order, one
  // multiply-add at a time (the ISA's vector one, fused where it has FMA),
  // so its bits do not depend on m, n or its place. The skinny gemm_ex's B
  // as stored ([K][N]), read in place. Hosted builds only.
  void (*rows_times_lowp)(qkv_dtype vt, std::size_t m, std::size_t k, std::size_t n, const float* x, std::size_t ldx,
                          const void* v, std::size_t ldv, float* y, std::size_t ldy);
#endif
};

QKV_DECLARE_KERNEL_TABLES_MVE(vec_kernels, vec)

}  // namespace qkv::kern
