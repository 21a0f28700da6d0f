// SPDX-License-Identifier: MIT
#include "ops/optim.hpp"

#include "kernels/convert/convert.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/threads.hpp"

namespace qkv::ops {
namespace {

// 16 Ki floats: 64 KiB per array, large enough that a thread's start-up and
// per-chunk call cost vanish, small enough to balance two threads on the
// parameter counts of small models. The kernels give the same bits for any
// split, so the chunk size only matters for speed.
constexpr std::size_t kChunk = std::size_t{1} << 14;

// Calls body(begin, count) over [0, n) in kChunk pieces; `flops_per_elem`
// sizes the thread team.
template <class Body>
void for_chunks(const exec& x, std::size_t n, float flops_per_elem, const Body& body) noexcept {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  const int nt = threads_for(x, static_cast<float>(n) * flops_per_elem, chunks);
  if (nt <= 1) {
    body(std::size_t{0}, n);
    return;
  }
  parallel_for_static(x, nt, chunks, [&](std::size_t c) {
    const std::size_t begin = c * kChunk;
    body(begin, n - begin < kChunk ? n - begin : kChunk);
  });
}

// sum_squares: [0, n) is cut into at most kNormBlocks blocks by a rule that
// depends on n only; a block adds fp32 dot products of kNormPiece floats in
// `wide`, and the blocks are added in order.
constexpr std::size_t kNormBlocks = 64;
constexpr std::size_t kNormPiece = 4096;

}  // namespace

wide sum_squares(const exec& x, std::size_t n, const float* g) noexcept {
  const auto& k = kern::vec_for(x.isa);
  const std::size_t blocks = n < kNormBlocks ? n : kNormBlocks;
  wide partial[kNormBlocks];
  auto block = [&](std::size_t b) {
    const std::size_t i0 = b * n / blocks, i1 = (b + 1) * n / blocks;
    wide_sum s;
    for (std::size_t i = i0; i < i1; i += kNormPiece) {
      const std::size_t len = i1 - i < kNormPiece ? i1 - i : kNormPiece;
      s.add(static_cast<wide>(k.dot(len, g + i, g + i)));
    }
    partial[b] = s.value();
  };
  parallel_for_blocks(x, blocks, 2.0f * static_cast<float>(n), block);
  wide_sum total;
  for (std::size_t b = 0; b < blocks; ++b) total.add(partial[b]);
  return total.value();
}

void scale(const exec& x, std::size_t n, float c, float* g) noexcept {
  for_chunks(x, n, 4.0f, [&](std::size_t i, std::size_t len) {
    for (std::size_t j = i; j < i + len; ++j) g[j] *= c;
  });
}

void sgd_step(const exec& x, const kern::sgd_args& a, std::size_t n, float* p, const float* g, float* buf) noexcept {
  const auto& k = kern::optim_for(x.isa);
  for_chunks(x, n, 6.0f, [&](std::size_t i, std::size_t len) {
    k.sgd_f32(len, a, p + i, g + i, a.use_momentum ? buf + i : nullptr);
  });
}

void adamw_step(const exec& x, const kern::adamw_args& a, std::size_t n, float* p, const float* g, float* m,
                float* v) noexcept {
  const auto& k = kern::optim_for(x.isa);
  // ~12 flops plus a square root and a division (counted as 10 each).
  // The kernel writes g only when a.zero_grads (qkv_adamw_step_ex), never here.
  for_chunks(x, n, 32.0f, [&](std::size_t i, std::size_t len) {
    k.adamw_f32(len, a, p + i, const_cast<float*>(g) + i, m + i, v + i);
  });
}

#ifdef QKV_HOSTED
void adamw_step_ex(const exec& x, const kern::adamw_args& a, float grad_scale, bool zero_grads, std::size_t n, float* p,
                   float* g, float* m, float* v, std::uint16_t* mirror) noexcept {
  kern::adamw_args b = a;
  b.grad_scale = grad_scale;
  b.zero_grads = zero_grads;
  const auto& k = kern::optim_for(x.isa);
  const auto& c = kern::convert_for(x.isa);
  // The mirror is rounded chunk by chunk, right after the update, from
  // params still in L1/L2 (a later pass would read them from memory).
  for_chunks(x, n, 32.0f, [&](std::size_t i, std::size_t len) {
    k.adamw_f32(len, b, p + i, g + i, m + i, v + i);
    if (mirror) c.f32_to_bf16(len, p + i, mirror + i);
  });
}
#endif

}  // namespace qkv::ops
