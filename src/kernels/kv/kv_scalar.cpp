// SPDX-License-Identifier: MIT
// Scalar kv kernels: the fallback on every CPU and the only set on Cortex-M.
// A head's part is widened 32 elements at a time (one q8_0 block) by the
// scalar convert table into a stack chunk, then used in fp32: the least
// code for four formats (the Cortex-M4 build's 64 KiB budget).
#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "kernels/kv/kv.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kChunk = QKV_Q8_0_BLOCK;

// Elements [c, c + n) of a cached part (n <= kChunk; Q8_0: c % 32 == 0,
// n == 32) to t, widened exactly.
const float* widen_chunk(qkv_kv_format f, const unsigned char* part, std::size_t c, std::size_t n, float* t) {
  const auto* h = reinterpret_cast<const std::uint16_t*>(part) + c;
  switch (f) {
    case QKV_KV_BF16: convert_scalar.bf16_to_f32(n, h, t); return t;
    case QKV_KV_F16: convert_scalar.f16_to_f32(n, h, t); return t;
    case QKV_KV_Q8_0:
      convert_scalar.dequantize_q8_0(1, reinterpret_cast<const qkv_block_q8_0*>(part) + c / kChunk, t);
      return t;
    default: return reinterpret_cast<const float*>(part) + c;
  }
}

void kv_walk(qkv_kv_format f, const kv_heads& hs, std::size_t n, std::size_t d, const float* w, std::size_t lds,
             const void* rows, std::size_t stride, float scale, float* s, float* out) {
  float t[kChunk];
  for (std::size_t j = 0; j < n; ++j)
    for (std::size_t u = 0; u < hs.nh; ++u) {
      const auto* part = static_cast<const unsigned char*>(rows) + j * stride + (u + hs.skew) / hs.group * hs.part;
      float acc = 0.f;
      for (std::size_t c = 0; c < d; c += kChunk) {
        const std::size_t m = d - c < kChunk ? d - c : kChunk;
        const float* x = widen_chunk(f, part, c, m, t);
        for (std::size_t i = 0; i < m; ++i) {
          if (s)
            acc += w[u * d + c + i] * x[i];
          else
            out[u * d + c + i] += w[u * lds + j] * x[i];
        }
      }
      if (s) s[u * lds + j] = scale * acc;
    }
}

}  // namespace

const kv_kernels kv_scalar = {kv_walk};

}  // namespace qkv::kern
