// SPDX-License-Identifier: MIT
// Helium (MVE) conversions, each the bits of util/half.hpp's rule: bf16 and
// abs_max_bits in integer lanes (bf16 -> fp32 a widening load and a shift;
// fp32 -> bf16 round to nearest even by adding 0x7fff plus the kept low
// bit, NaN quieted, then a narrowing store); fp16 -> fp32 by the hardware's
// VCVTB.F32.F16 (exact, convert/half_mve-inl.hpp) with its NaN lanes
// patched to the scalar rule's quiet NaN; fp32 -> fp16 in integer lanes,
// its subnormals through exact float scalings. Not VCVTB.F16.F32 for the
// narrowing, yet: by the architecture it rounds as the rule does (nearest
// even, once; MVE's flushing of fp32 subnormal inputs gives the rule's +-0;
// half results are not flushed), and with its default-NaN lanes patched it
// passed the dtype sweep under QEMU at 15 instructions per four elements
// against 43 here, but it is unproven on silicon, where this path is the
// rule by construction (bench/README.md). Tails by vctp predicates.
// Quantization is the scalar set's, slot by slot.
#include "kernels/convert/convert.hpp"
#include "kernels/convert/half_mve-inl.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t W = kMveW;

// util::f32_bits_to_bf16 on four lanes.
inline uint32x4_t bf16_of(uint32x4_t u) {
  const uint32x4_t low = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1u));
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_n_u32(u, 0x7fffu), low), 16);
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

// util::f32_bits_to_f16 on four lanes: the normal, infinite and NaN cases in
// integers as there; a subnormal (or zero) result q = RNE(|x| * 2^24) in
// floating point, which is exact: the product is a power-of-two scaling of a
// normal float (or of a float subnormal, whose result rounds to 0 whether or
// not the unit flushes it), VRINTN rounds half to even as the integer rule
// does (carrying into the smallest normal, 0x0400, likewise), and the
// conversion of the rounded value to an integer is exact.
inline uint32x4_t f16_of(uint32x4_t u) {
  const uint32x4_t sign = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x8000u));
  const uint32x4_t a = vandq_u32(u, vdupq_n_u32(0x7fffffffu));
  const uint32x4_t normal = vshrq_n_u32(
      vsubq_u32(vaddq_u32(vaddq_n_u32(a, 0xfffu), vandq_u32(vshrq_n_u32(a, 13), vdupq_n_u32(1u))),
                vdupq_n_u32(112u << 23)),
      13);
  uint32x4_t r = vcvtq_u32_f32(vrndnq_f32(vmulq_n_f32(vreinterpretq_f32_u32(a), 16777216.0f)));
  r = vpselq_u32(normal, r, vcmpcsq_n_u32(a, 0x38800000u));
  r = vdupq_m_n_u32(r, 0x7c00u, vcmpcsq_n_u32(a, 0x477ff000u));
  const uint32x4_t quiet = vorrq_u32(vandq_u32(vshrq_n_u32(a, 13), vdupq_n_u32(0x3ffu)), vdupq_n_u32(0x7e00u));
  r = vpselq_u32(quiet, r, vcmphiq_n_u32(a, 0x7f800000u));
  return vorrq_u32(r, sign);
}

// util::f16_to_f32_bits on four lanes (h zero-extended): VCVTB.F32.F16,
// exact but for NaN, which it makes the default NaN; NaN lanes (r != r) then
// take the rule's quiet NaN: h << 16 shifted right arithmetically by 3 puts
// the sign at bit 31 (and copies of it in bits 30:28), the all-ones exponent
// in bits 27:23 and the payload at bit 13, and 0x7fc00000 sets the rest of
// the exponent and the quiet bit.
inline float32x4_t f32_of_f16(uint32x4_t h) {
  const float32x4_t r = mve_f32_of_f16_bottom(h);
  const int32x4_t nan = vorrq_s32(vshrq_n_s32(vreinterpretq_s32_u32(vshlq_n_u32(h, 16)), 3), vdupq_n_s32(0x7fc00000));
  return vpselq_f32(vreinterpretq_f32_s32(nan), r, vcmpneq_f32(r, r));
}

void f32_to_f16_mve(std::size_t n, const float* x, std::uint16_t* y) {
  for (std::size_t q = n / W; q; --q, x += W, y += W) vstrhq_u32(y, f16_of(vreinterpretq_u32_f32(vldrwq_f32(x))));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    vstrhq_p_u32(y, f16_of(vreinterpretq_u32_f32(vldrwq_z_f32(x, p))), p);
  }
}

void f16_to_f32_mve(std::size_t n, const std::uint16_t* x, float* y) {
  for (std::size_t q = n / W; q; --q, x += W, y += W) vstrwq_f32(y, f32_of_f16(vldrhq_u32(x)));
  if (n % W) {
    const mve_pred16_t p = vctp32q(static_cast<uint32_t>(n % W));
    vstrwq_p_f32(y, f32_of_f16(vldrhq_z_u32(x, p)), p);
  }
}

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
