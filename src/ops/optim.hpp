// SPDX-License-Identifier: MIT
// optim - drivers of the optimizer steps: split a flat buffer into fixed
// chunks and run the active ISA's elementwise kernel on them, in parallel
// when the buffer is large. Arguments are validated by the C boundary.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/optim/optim.hpp"
#include "ops/exec.hpp"
#include "ops/wide.hpp"

namespace qkv::ops {

void sgd_step(const exec& x, const kern::sgd_args& a, std::size_t n, float* p, const float* g, float* buf) noexcept;

void adamw_step(const exec& x, const kern::adamw_args& a, std::size_t n, float* p, const float* g, float* m,
                float* v) noexcept;

#ifdef QKV_HOSTED
// adamw_step on g * grad_scale (the product in registers: g is not written
// with it), g zeroed as it is read when zero_grads: one read of g, and one
// write only to zero it. mirror (nullptr: none): the new p rounded to bf16,
// written piece by piece while p is in cache.
void adamw_step_ex(const exec& x, const kern::adamw_args& a, float grad_scale, bool zero_grads, std::size_t n, float* p,
                   float* g, float* m, float* v, std::uint16_t* mirror = nullptr) noexcept;
#endif

// sum_i g[i]^2 in an order that depends on n only (not on the thread count).
wide sum_squares(const exec& x, std::size_t n, const float* g) noexcept;

// g[i] *= c.
void scale(const exec& x, std::size_t n, float c, float* g) noexcept;

}  // namespace qkv::ops
