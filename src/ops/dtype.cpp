// SPDX-License-Identifier: MIT
#include "ops/dtype.hpp"

#include "util/copy.hpp"
#include "util/half.hpp"

namespace qkv::ops {
namespace {

using u16 = std::uint16_t;

void copy_u16(u16* dst, const u16* src, std::size_t n) noexcept {
#ifdef QKV_HOSTED
  std::memcpy(dst, src, n * sizeof(u16));
#else
  for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
#endif
}

// fp32 bits of max|x| above this: an Inf or a NaN (kernels/convert/convert.hpp).
constexpr std::uint32_t kMaxFiniteBits = 0x7f7fffffu;

// `v` rounded to float. A no-op wherever float arithmetic is fp32; on i686's
// x87 it drops excess precision (range too: a scale that underflows to 0 in
// fp32 must be 0 here, as on every other target) by a trip through memory.
float as_float(float v) noexcept { return util::f32_from_bits(util::f32_bits(v)); }

// max|x| / 127 (fp32), the scale of a group whose max|x| has bits `amax_bits`.
float scale_of(std::uint32_t amax_bits) noexcept { return as_float(util::f32_from_bits(amax_bits) / 127.0f); }

void zero_s8(std::int8_t* q, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) q[i] = 0;
}

}  // namespace

void convert(const kern::convert_kernels& k, std::size_t n, qkv_dtype src_type, const void* src, qkv_dtype dst_type,
             void* dst) noexcept {
  if (src_type == dst_type) {
    if (src_type == QKV_DTYPE_F32)
      util::copy_floats(static_cast<float*>(dst), static_cast<const float*>(src), n);
    else
      copy_u16(static_cast<u16*>(dst), static_cast<const u16*>(src), n);
    return;
  }
  // One side is fp32: a single kernel call.
  if (src_type == QKV_DTYPE_F32) {
    auto* f = dst_type == QKV_DTYPE_BF16 ? k.f32_to_bf16 : k.f32_to_f16;
    f(n, static_cast<const float*>(src), static_cast<u16*>(dst));
    return;
  }
  if (dst_type == QKV_DTYPE_F32) {
    auto* f = src_type == QKV_DTYPE_BF16 ? k.bf16_to_f32 : k.f16_to_f32;
    f(n, static_cast<const u16*>(src), static_cast<float*>(dst));
    return;
  }
  // bf16 <-> fp16: widening is exact, so going through fp32 rounds once.
  // Chunks of 256 floats (1 KiB of stack; small enough for a Cortex-M).
  auto* widen = src_type == QKV_DTYPE_BF16 ? k.bf16_to_f32 : k.f16_to_f32;
  auto* narrow = dst_type == QKV_DTYPE_BF16 ? k.f32_to_bf16 : k.f32_to_f16;
  const u16* s = static_cast<const u16*>(src);
  u16* d = static_cast<u16*>(dst);
  float buf[256];
  for (std::size_t i = 0; i < n; i += 256) {
    const std::size_t c = n - i < 256 ? n - i : 256;
    widen(c, s + i, buf);
    narrow(c, buf, d + i);
  }
}

// Pass 1 checks every row (nothing is written before it ends); pass 2
// recomputes each row's max|x|, then quantizes the row while it is in cache.
bool quantize_rows_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const float* x,
                      std::size_t ldx, std::int8_t* q, std::size_t ldq, float* scales) noexcept {
  for (std::size_t r = 0; r < rows; ++r)
    if (k.abs_max_bits(cols, x + r * ldx) > kMaxFiniteBits) return false;
  for (std::size_t r = 0; r < rows; ++r) {
    const float s = scale_of(k.abs_max_bits(cols, x + r * ldx));
    scales[r] = s;
    if (s == 0.0f)
      zero_s8(q + r * ldq, cols);
    else
      k.quantize_s8(cols, x + r * ldx, s, q + r * ldq);
  }
  return true;
}

// A column at a time through a stack chunk: its max|x| over the chunks (a
// max of maxes is the max), then its codes chunk by chunk with the same
// kernel, so the bits are those of the row format of x^T.
bool quantize_cols_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const float* x,
                      std::size_t ldx, std::int8_t* q, std::size_t ldq, float* scales) noexcept {
  for (std::size_t r = 0; r < rows; ++r)
    if (k.abs_max_bits(cols, x + r * ldx) > kMaxFiniteBits) return false;
  constexpr std::size_t kChunk = 256;
  float buf[kChunk];
  auto gather = [&](std::size_t c, std::size_t r0, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) buf[i] = x[(r0 + i) * ldx + c];
  };
  for (std::size_t c = 0; c < cols; ++c) {
    std::uint32_t bits = 0;
    for (std::size_t r = 0; r < rows; r += kChunk) {
      const std::size_t n = rows - r < kChunk ? rows - r : kChunk;
      gather(c, r, n);
      const std::uint32_t b = k.abs_max_bits(n, buf);
      bits = b > bits ? b : bits;
    }
    const float s = scale_of(bits);
    scales[c] = s;
    if (s == 0.0f) {
      zero_s8(q + c * ldq, rows);
      continue;
    }
    for (std::size_t r = 0; r < rows; r += kChunk) {
      const std::size_t n = rows - r < kChunk ? rows - r : kChunk;
      gather(c, r, n);
      k.quantize_s8(n, buf, s, q + c * ldq + r);
    }
  }
  return true;
}

void dequantize_rows_s8(const kern::convert_kernels& k, std::size_t rows, std::size_t cols, const std::int8_t* q,
                        std::size_t ldq, const float* scales, float* x, std::size_t ldx) noexcept {
  for (std::size_t r = 0; r < rows; ++r) k.dequantize_s8(cols, q + r * ldq, scales[r], x + r * ldx);
}

// The largest max|x| whose scale fits fp16: 65504 * 127 = 8319008, exact in
// fp32, and max|x| / 127 <= 65504 exactly when max|x| <= it (the division is
// monotone and exact there).
bool q8_0_storable(const kern::convert_kernels& k, std::size_t n, const float* x) noexcept {
  return k.abs_max_bits(n, x) <= util::f32_bits(8319008.0f);  // also NaN and Inf
}

bool quantize_q8_0(const kern::convert_kernels& k, std::size_t blocks, const float* x, qkv_block_q8_0* y) noexcept {
  if (!q8_0_storable(k, blocks * QKV_Q8_0_BLOCK, x)) return false;
  k.quantize_q8_0(blocks, x, y);
  return true;
}

void dequantize_q8_0(const kern::convert_kernels& k, std::size_t blocks, const qkv_block_q8_0* x, float* y) noexcept {
  k.dequantize_q8_0(blocks, x, y);
}

}  // namespace qkv::ops
