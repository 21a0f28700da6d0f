// SPDX-License-Identifier: MIT
// Helium (MVE) conversions: the bf16 ones and abs_max_bits in integer lanes,
// the rules of util/half.hpp step for step (bf16 -> fp32 a widening load and
// a shift; fp32 -> bf16 round to nearest even by adding 0x7fff plus the
// kept low bit, NaN quieted, then a narrowing store), so the bits are the
// scalar table's by construction. Tails by vctp predicates. The fp16
// conversions and quantization are the scalar set's, slot by slot: the
// hardware's half-precision conversions would have to be proven bit-identical
// (subnormals, NaN payloads) first.
#include "kernels/convert/convert.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW;

// util::f32_bits_to_bf16 on four lanes.
inline uint32x4_t bf16_of(uint32x4_t u) {
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_n_u32(u, 0x7fffu), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1u))), 16);
  const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40u));
  const mve_pred16_t nan = vcmphiq_n_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), 0x7f800000u);
  return vpselq_u32(quiet, rounded, nan);
}

// Floats are loaded and stored as floats and reinterpreted in registers (no
// integer pointer to float memory).
void f32_to_bf16_mve(std::size_t n, const float* x, std::uint16_t* y) {
  for (std::size_t q = n / W; q; --q, x += W, y += W) vstrhq_u32(y, bf16_of(vreinterpretq_u32_f32(vldrwq_f32(x))));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    vstrhq_p_u32(y, bf16_of(vreinterpretq_u32_f32(vldrwq_z_f32(x, p))), p);
  }
}

void bf16_to_f32_mve(std::size_t n, const std::uint16_t* x, float* y) {
  for (std::size_t q = n / W; q; --q, x += W, y += W)
    vstrwq_f32(y, vreinterpretq_f32_u32(vshlq_n_u32(vldrhq_u32(x), 16)));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    vstrwq_p_f32(y, vreinterpretq_f32_u32(vshlq_n_u32(vldrhq_z_u32(x, p), 16)), p);
  }
}

// Unsigned lane maxima of the bits without their sign (inactive tail lanes
// load as 0, the identity), then across the lanes.
std::uint32_t abs_max_bits_mve(std::size_t n, const float* x) {
  const uint32x4_t mask = vdupq_n_u32(0x7fffffffu);
  uint32x4_t m = vdupq_n_u32(0u);
  for (std::size_t q = n / W; q; --q, x += W) m = vmaxq_u32(m, vandq_u32(vreinterpretq_u32_f32(vldrwq_f32(x)), mask));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    m = vmaxq_u32(m, vandq_u32(vreinterpretq_u32_f32(vldrwq_z_f32(x, p)), mask));
  }
  return vmaxvq_u32(0u, m);
}

void f32_to_f16_mve(std::size_t n, const float* x, std::uint16_t* y) { convert_scalar.f32_to_f16(n, x, y); }
void f16_to_f32_mve(std::size_t n, const std::uint16_t* x, float* y) { convert_scalar.f16_to_f32(n, x, y); }
void quantize_s8_mve(std::size_t n, const float* x, float s, std::int8_t* q) { convert_scalar.quantize_s8(n, x, s, q); }
void dequantize_s8_mve(std::size_t n, const std::int8_t* q, float s, float* x) {
  convert_scalar.dequantize_s8(n, q, s, x);
}
void quantize_q8_0_mve(std::size_t blocks, const float* x, qkv_block_q8_0* y) {
  convert_scalar.quantize_q8_0(blocks, x, y);
}
void dequantize_q8_0_mve(std::size_t blocks, const qkv_block_q8_0* x, float* y) {
  convert_scalar.dequantize_q8_0(blocks, x, y);
}

}  // namespace

const convert_kernels convert_mve = {f32_to_bf16_mve,   bf16_to_f32_mve,   f32_to_f16_mve,
                                     f16_to_f32_mve,    abs_max_bits_mve,  quantize_s8_mve,
                                     dequantize_s8_mve, quantize_q8_0_mve, dequantize_q8_0_mve};

}  // namespace qkv::kern
