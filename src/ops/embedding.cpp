// SPDX-License-Identifier: MIT
#include "ops/embedding.hpp"


#include "kernels/vec/vec.hpp"
#include "ops/threads.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
namespace {

// The backward splits the columns among threads in multiples of 16 floats
// (one 64-byte cache line), so no two threads write the same line.
constexpr std::size_t kColQuantum = 16;

// Work per element in threads_for's flop units (~1/100 ns on an AVX-512
// core): these loops are bound by memory traffic (~12-16 bytes an element),
// which costs several flops' time; 8 starts a second thread from ~250 K elements.
constexpr float kFlopsPerElem = 8.0f;

}  // namespace

void embedding_forward(const exec& x, const embedding_shape& s, const std::int32_t* ids, const float* tok,
                       const float* pos, float* out, std::size_t ld_out) noexcept {
  const auto& k = kern::vec_for(x.isa);
  auto row = [&](std::size_t r) {
    float* y = out + r * ld_out;
    util::copy_floats(y, tok + static_cast<std::size_t>(ids[r]) * s.dim, s.dim);
    // y += 1 * p is exactly y + p (one rounding), the same on every path.
    if (pos) k.axpy(s.dim, 1.f, pos + (s.pos_offset + r % s.seq_len) * s.dim, y);
  };
  parallel_for_blocks(x, s.rows, kFlopsPerElem * static_cast<float>(s.rows * s.dim), row);
}

void embedding_backward(const exec& x, const embedding_shape& s, const std::int32_t* ids, const float* dout,
                        std::size_t ld_dout, float* dtok, float* dpos) noexcept {
  const auto& k = kern::vec_for(x.isa);
  // Columns [c0, c1) of every gradient row, contributions in token order.
  // Each element's sum is a fixed sequence of fp32 adds (axpy with alpha 1
  // rounds exactly like +), so the column split cannot change any bit.
  auto columns = [&](std::size_t c0, std::size_t c1) {
    const std::size_t w = c1 - c0;
    for (std::size_t r = 0; r < s.rows; ++r) {
      const float* g = dout + r * ld_dout + c0;
      if (dtok) k.axpy(w, 1.f, g, dtok + static_cast<std::size_t>(ids[r]) * s.dim + c0);
      if (dpos) k.axpy(w, 1.f, g, dpos + (s.pos_offset + r % s.seq_len) * s.dim + c0);
    }
  };
  const std::size_t quanta = (s.dim + kColQuantum - 1) / kColQuantum;
  const int nt = threads_for(x, kFlopsPerElem * static_cast<float>(s.rows * s.dim), quanta);
  run_team(x, nt, [&](int thread, int team) {
    const auto t = static_cast<std::size_t>(thread), n = static_cast<std::size_t>(team);
    const std::size_t c0 = quanta * t / n * kColQuantum, c1 = quanta * (t + 1) / n * kColQuantum;
    if (c0 < s.dim) columns(c0, c1 < s.dim ? c1 : s.dim);
  });
}

}  // namespace qkv::ops
