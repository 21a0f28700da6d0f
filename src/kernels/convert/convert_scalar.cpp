// SPDX-License-Identifier: MIT
// Scalar conversions and quantization: the fallback on every CPU, the only
// set on Cortex-M, and the tails of the vector kernels (which call this
// table rather than share inline code with it: kernels/convert/convert-inl.hpp).
#include "kernels/convert/convert.hpp"
#include "util/half.hpp"

namespace qkv::kern {
namespace {

// Elements move as bit patterns (never through an FPU register, where i686's
// x87 would quiet a signaling NaN that a bf16 widening must keep).
std::uint32_t load_bits(const float* p) {
  std::uint32_t u;
  __builtin_memcpy(&u, p, sizeof u);
  return u;
}
void store_bits(float* p, std::uint32_t u) { __builtin_memcpy(p, &u, sizeof u); }

void f32_to_bf16_scalar(std::size_t n, const float* x, std::uint16_t* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = util::f32_bits_to_bf16(load_bits(x + i));
}
void bf16_to_f32_scalar(std::size_t n, const std::uint16_t* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) store_bits(y + i, util::bf16_to_f32_bits(x[i]));
}
void f32_to_f16_scalar(std::size_t n, const float* x, std::uint16_t* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = util::f32_bits_to_f16(load_bits(x + i));
}
void f16_to_f32_scalar(std::size_t n, const std::uint16_t* x, float* y) {
  for (std::size_t i = 0; i < n; ++i) store_bits(y + i, util::f16_to_f32_bits(x[i]));
}

std::uint32_t abs_max_bits_scalar(std::size_t n, const float* x) {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = load_bits(x + i) & 0x7fffffffu;
    m = a > m ? a : m;
  }
  return m;
}

// Clamp first (equivalent to saturating after rounding, as 127 is an
// integer), then round to an integer by adding and subtracting 1.5 * 2^23,
// which rounds at the units place in the current (nearest-even) mode for
// |v| <= 2^22. Named temporaries: every assignment rounds to float, also
// under i686's x87 with -ffloat-store (src/CMakeLists.txt).
void quantize_s8_scalar(std::size_t n, const float* x, float s, std::int8_t* q) {
  for (std::size_t i = 0; i < n; ++i) {
    float v = x[i] / s;
    v = v < -127.0f ? -127.0f : v;
    v = v > 127.0f ? 127.0f : v;
    const float t = v + 12582912.0f;
    const float r = t - 12582912.0f;
    q[i] = static_cast<std::int8_t>(static_cast<int>(r));
  }
}

void dequantize_s8_scalar(std::size_t n, const std::int8_t* q, float s, float* x) {
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(q[i]) * s;
}

void quantize_q8_0_scalar(std::size_t blocks, const float* x, qkv_block_q8_0* y) {
  constexpr std::size_t B = QKV_Q8_0_BLOCK;
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* xb = x + b * B;
    const float amax = util::f32_from_bits(abs_max_bits_scalar(B, xb));
    const float scale = amax / 127.0f;  // rounded to float here, also on i686 (-ffloat-store)
    const std::uint16_t d = util::f32_to_f16(scale);
    const float s = util::f16_to_f32(d);
    y[b].d = d;
    if (s == 0.0f) {
      for (std::size_t j = 0; j < B; ++j) y[b].qs[j] = 0;
    } else {
      quantize_s8_scalar(B, xb, s, y[b].qs);
    }
  }
}

void dequantize_q8_0_scalar(std::size_t blocks, const qkv_block_q8_0* x, float* y) {
  constexpr std::size_t B = QKV_Q8_0_BLOCK;
  for (std::size_t b = 0; b < blocks; ++b) dequantize_s8_scalar(B, x[b].qs, util::f16_to_f32(x[b].d), y + b * B);
}

}  // namespace

const convert_kernels convert_scalar = {f32_to_bf16_scalar, bf16_to_f32_scalar, f32_to_f16_scalar, f16_to_f32_scalar,
                                        abs_max_bits_scalar, quantize_s8_scalar, dequantize_s8_scalar,
                                        quantize_q8_0_scalar, dequantize_q8_0_scalar};

}  // namespace qkv::kern
