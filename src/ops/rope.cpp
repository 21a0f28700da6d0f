// SPDX-License-Identifier: MIT
#include "ops/rope.hpp"

#include <cmath>
#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "ops/threads.hpp"
#include "ops/wide.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
namespace {

// Pairs whose cos/sin one stack chunk holds (head_dim 128 is one chunk):
// 64 wide + 256 floats, 1.5 KiB.
constexpr std::size_t kChunk = 64;

// threads_for's units: a rotated element costs a few flops of memory
// traffic; each pair's cos/sin costs ~ a hundred.
constexpr float kFlopsPerElem = 8.0f, kFlopsPerPair = 100.0f;

// Pairs [0, n) of one row, pair k = (in[k * Step], in[k * Step + off]):
// Step 1, off = rotary_dim/2 (half layout) or Step 2, off = 1 (interleaved).
// Both elements of a pair are read before either is written (in place).
template <std::size_t Step>
void rotate(const float* in, float* out, std::size_t off, const float* c, const float* s, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) {
    const float a = in[k * Step], b = in[k * Step + off];
    out[k * Step] = a * c[k] - b * s[k];
    out[k * Step + off] = a * s[k] + b * c[k];
  }
}

}  // namespace

void rope_apply(const exec& x, const qkv_rope_desc& d, qkv_dtype type, const void* in_v, void* out_v,
                bool inverse) noexcept {
  const bool wide16 = type != QKV_DTYPE_F32, bf16 = type == QKV_DTYPE_BF16;
  const float* in = static_cast<const float*>(in_v);
  float* out = static_cast<float*>(out_v);
  const std::uint16_t* in16 = static_cast<const std::uint16_t*>(in_v);
  std::uint16_t* out16 = static_cast<std::uint16_t*>(out_v);
  // bf16/fp16 <-> fp32 (qkv/dtype.h's rules: exact widening, one rounding to
  // nearest even; the same bits on every ISA).
  const kern::convert_kernels& cv = kern::convert_for(x.isa);
  const auto widen = bf16 ? cv.bf16_to_f32 : cv.f16_to_f32;
  const auto narrow = bf16 ? cv.f32_to_bf16 : cv.f32_to_f16;
  const std::size_t dim = d.head_dim, rot = d.rotary_dim ? d.rotary_dim : dim, half = rot / 2;  // half >= 1
  const bool interleaved = d.layout == QKV_ROPE_INTERLEAVED;
  // Shared positions: a task is a token, its cos/sin serve every sequence;
  // else a task is one (b, t) row.
  const bool shared = !d.positions || d.positions_batch_stride == 0;
  const std::size_t tasks = shared ? d.tokens : d.batch * d.tokens;
  const std::size_t per_task = shared ? d.batch : 1;
  const float flops = static_cast<float>(tasks) * (kFlopsPerPair * static_cast<float>(half) +
                                                   kFlopsPerElem * static_cast<float>(per_task * d.heads * dim));
  const wide theta = d.theta != 0.f ? d.theta : 10000.f, r = static_cast<wide>(rot);
  const float sign = inverse ? -1.f : 1.f;

  run_team(x, threads_for(x, flops, tasks), [&](int member, int team) {
    const std::size_t n = static_cast<std::size_t>(team), m = static_cast<std::size_t>(member);
    wide inv_freq[kChunk];
    float c[kChunk], s[kChunk], pair[2 * kChunk];  // pair: bf16/fp16 only
    for (std::size_t k0 = 0; k0 < half; k0 += kChunk) {
      const std::size_t len = half - k0 < kChunk ? half - k0 : kChunk;
      for (std::size_t k = 0; k < len; ++k) inv_freq[k] = std::pow(theta, -static_cast<wide>(2 * (k0 + k)) / r);
      for (std::size_t task = tasks * m / n; task < tasks * (m + 1) / n; ++task) {
        const std::size_t b0 = shared ? 0 : task / d.tokens, t = shared ? task : task % d.tokens;
        const std::size_t pos = d.positions ? d.positions[b0 * d.positions_batch_stride + t] : d.pos_offset + t;
        for (std::size_t k = 0; k < len; ++k) {
          const wide angle = static_cast<wide>(pos) * inv_freq[k];
          c[k] = static_cast<float>(std::cos(angle));
          s[k] = sign * static_cast<float>(std::sin(angle));  // -sin: the transpose
        }
        for (std::size_t b = b0; b < b0 + per_task; ++b)
          for (std::size_t h = 0; h < d.heads; ++h) {
            const std::size_t row = b * d.x.batch + h * d.x.head + t * d.x.token;
            if (wide16) {  // the chunk's pairs widened (exact), rotated in fp32, rounded once
              if (k0 == 0 && in_v != out_v)
                util::copy_bytes(out16 + row + rot, in16 + row + rot, (dim - rot) * sizeof(std::uint16_t));
              if (interleaved) {
                widen(2 * len, in16 + row + 2 * k0, pair);
                rotate<2>(pair, pair, 1, c, s, len);
                narrow(2 * len, pair, out16 + row + 2 * k0);
              } else {
                widen(len, in16 + row + k0, pair);
                widen(len, in16 + row + half + k0, pair + len);
                rotate<1>(pair, pair, len, c, s, len);
                narrow(len, pair, out16 + row + k0);
                narrow(len, pair + len, out16 + row + half + k0);
              }
              continue;
            }
            if (k0 == 0 && in != out) util::copy_floats(out + row + rot, in + row + rot, dim - rot);  // pass through
            if (interleaved)
              rotate<2>(in + row + 2 * k0, out + row + 2 * k0, 1, c, s, len);
            else
              rotate<1>(in + row + k0, out + row + k0, half, c, s, len);
          }
      }
    }
  });
}

}  // namespace qkv::ops
