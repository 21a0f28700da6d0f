// SPDX-License-Identifier: MIT
// gemm_ex_pack - qkv_gemm_ex's widening packers: bf16, fp16 and int8
// operands (int8 with its fp32 scales) converted to fp32 while packed into
// the fp32 micro-kernels' layouts (kernels/gemm/gemm.hpp):
//   A panel: ap[k*mr + i] = op(A)(i, k), B panel: bp[k*nr + j] = op(B)(k, j),
// zero-padded to whole panels. Each value is widened exactly (bf16, fp16)
// or, for int8, code * scale rounded once: the same fp32 value wherever the
// element is packed, so the result never depends on the blocks' placement.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qkv/dtype.h"
#include "util/half.hpp"

namespace qkv::ops {

// Whether GCC/Clang vector types live in vector registers on this target.
// Where they do not (Cortex-M4/M7, armhf without NEON, i686 on x87), the
// compiler splits each four-lane operation into four scalar ones: the
// four-lane loops are then only longer copies of the scalar loops after
// them, so there the scalar loops do every element (the same operations
// per element either way: the same bits).
#if defined(__SSE2__) || defined(__ARM_NEON) || (defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)) || \
    defined(__ALTIVEC__)
inline constexpr bool kVectorUnit = true;
#else
inline constexpr bool kVectorUnit = false;
#endif

// One stored operand: element type, base (element 0 of the block being
// packed), leading dimension and, for int8, the scales of the block's rows
// (A) or columns (B) (nullptr: 1).
struct widen_src {
  qkv_dtype type;
  const void* p;
  std::size_t ld;
  const float* scales;
};

namespace detail {

// Element idx of the source as fp32, times `s` for int8.
template <qkv_dtype T>
inline float widen_at(const void* p, std::size_t idx, float s) noexcept {
  if constexpr (T == QKV_DTYPE_BF16) {
    return util::bf16_to_f32(static_cast<const std::uint16_t*>(p)[idx]);
  } else if constexpr (T == QKV_DTYPE_F16) {
    return util::f16_to_f32(static_cast<const std::uint16_t*>(p)[idx]);
  } else if constexpr (T == QKV_DTYPE_I8) {
    return static_cast<float>(static_cast<const std::int8_t*>(p)[idx]) * s;
  } else {
    return static_cast<const float*>(p)[idx];
  }
}

typedef float f4 __attribute__((vector_size(16)));
typedef std::uint32_t u4 __attribute__((vector_size(16)));
typedef std::int32_t s4 __attribute__((vector_size(16)));

// Elements idx..idx+3 of the source as fp32 (int8: times s, lane by lane):
// the bits widen_at gives each, four at a time in GCC/Clang vector types
// (-O2 leaves baseline loops scalar). fp16 in integers only (the subnormal
// mantissa converted as an integer and scaled by 2^-24, a normal result), so
// no FPU mode (flush-to-zero, denormals-are-zero) changes it. Vectors pass
// by reference: no vector-ABI questions on any target.
template <qkv_dtype T>
inline void widen4(const void* p, std::size_t idx, const f4& s, f4& out) noexcept {
  if constexpr (T == QKV_DTYPE_BF16 || T == QKV_DTYPE_F16) {
    typedef std::uint16_t h4 __attribute__((vector_size(8)));
    h4 h;
    __builtin_memcpy(&h, static_cast<const std::uint16_t*>(p) + idx, sizeof h);
    const u4 w = __builtin_convertvector(h, u4);
    if constexpr (T == QKV_DTYPE_BF16) {
      const u4 b = w << 16;
      __builtin_memcpy(&out, &b, sizeof out);
    } else {
      const u4 sign = (w & 0x8000u) << 16, e = (w >> 10) & 0x1fu, man = w & 0x3ffu;
      const u4 normal = sign | (((w & 0x7fffu) << 13) + (112u << 23));
      const s4 has_man = man != 0u;
      const u4 special = sign | 0x7f800000u | (reinterpret_cast<const u4&>(has_man) & 0x400000u) | (man << 13);
      const f4 sub_f = __builtin_convertvector(man, f4) * 0x1p-24f;
      u4 sub;
      __builtin_memcpy(&sub, &sub_f, sizeof sub);
      sub |= sign;
      const u4 r = e == 0u ? sub : (e == 31u ? special : normal);
      __builtin_memcpy(&out, &r, sizeof out);
    }
  } else if constexpr (T == QKV_DTYPE_I8) {
    typedef std::int8_t b4 __attribute__((vector_size(4)));
    b4 q;
    __builtin_memcpy(&q, static_cast<const std::int8_t*>(p) + idx, sizeof q);
    out = __builtin_convertvector(q, f4) * s;
  } else {
    __builtin_memcpy(&out, static_cast<const float*>(p) + idx, sizeof out);
  }
}

// Element idx of the source, widened as widen_at<T> gives it, stored at
// *out: the value never passes a function's float return (i686 returns
// floats in an x87 register, which would quiet a signalling NaN).
template <qkv_dtype T>
void widen_put(const void* p, std::size_t idx, float s, float* out) noexcept {
  *out = widen_at<T>(p, idx, s);
}

// How widen_panels reads elements: widen_typed<T> inlines widen_put<T>
// (and widen4<T> four at a time where there is a vector unit);
// widen_through calls the widen_put of the source's type through a pointer,
// one element at a time. Without a vector unit the packers are their scalar
// loops alone, so there one body serves the three types (widen_pack_a/b):
// a call per element is small next to the multiply-adds each packed element
// feeds.
template <qkv_dtype T>
struct widen_typed {
  static constexpr bool kLanes = kVectorUnit;
  static constexpr qkv_dtype kType = T;
  void operator()(const void* p, std::size_t idx, float s, float* out) const noexcept { widen_put<T>(p, idx, s, out); }
};
struct widen_through {
  static constexpr bool kLanes = false;
  void (*put)(const void* p, std::size_t idx, float s, float* out) noexcept;
  explicit widen_through(qkv_dtype t) noexcept
      : put(t == QKV_DTYPE_BF16  ? widen_put<QKV_DTYPE_BF16>
            : t == QKV_DTYPE_F16 ? widen_put<QKV_DTYPE_F16>
                                 : widen_put<QKV_DTYPE_I8>) {}
  void operator()(const void* p, std::size_t idx, float s, float* out) const noexcept { put(p, idx, s, out); }
};

// `lines` x kc of a matrix into panels of R lines, line-major within the
// panel per k: dst[panel*R*kc + k*R + l] = X(line l, k), where X(l, k) is
// p[l*ld + k] (k_contiguous) or p[k*ld + l]. A panels: lines are rows of
// op(A), B panels: lines are columns of op(B). The scale is the line's.
template <class Read>
void widen_panels(const widen_src& s, bool k_contiguous, std::size_t lines, std::size_t kc, std::size_t R, float* dst,
                  Read read) {
  for (std::size_t l0 = 0; l0 < lines; l0 += R, dst += R * kc) {
    const std::size_t n = lines - l0 < R ? lines - l0 : R;
    if (k_contiguous) {  // each line read sequentially, written with stride R
      for (std::size_t l = 0; l < n; ++l) {
        const float sc = s.scales ? s.scales[l0 + l] : 1.f;
        const std::size_t base = (l0 + l) * s.ld;
        std::size_t k = 0;
        if constexpr (Read::kLanes) {
          const f4 sv = {sc, sc, sc, sc};
          const std::size_t k4 = kc & ~std::size_t{3};
          for (; k < k4; k += 4) {
            f4 v;
            widen4<Read::kType>(s.p, base + k, sv, v);
            for (std::size_t q = 0; q < 4; ++q) dst[(k + q) * R + l] = v[q];
          }
        }
        for (; k < kc; ++k) read(s.p, base + k, sc, dst + k * R + l);
      }
    } else {  // the panel's lines are contiguous in memory for each k
      for (std::size_t k = 0; k < kc; ++k) {
        std::size_t l = 0;
        if constexpr (Read::kLanes) {
          const std::size_t n4 = n & ~std::size_t{3};
          for (; l < n4; l += 4) {
            f4 sv = {1.f, 1.f, 1.f, 1.f};
            if (Read::kType == QKV_DTYPE_I8 && s.scales) __builtin_memcpy(&sv, s.scales + l0 + l, sizeof sv);
            f4 v;
            widen4<Read::kType>(s.p, k * s.ld + l0 + l, sv, v);
            __builtin_memcpy(dst + k * R + l, &v, sizeof v);
          }
        }
        for (; l < n; ++l) read(s.p, k * s.ld + l0 + l, s.scales ? s.scales[l0 + l] : 1.f, dst + k * R + l);
      }
    }
    for (std::size_t k = 0; k < kc; ++k)
      for (std::size_t l = n; l < R; ++l) dst[k * R + l] = 0.f;
  }
}

// The panels of s (BF16, F16 or I8; fp32 operands are the fp32 table's to
// pack), by type.
inline void widen_panels_of(const widen_src& s, bool k_contiguous, std::size_t lines, std::size_t kc, std::size_t R,
                            float* dst) {
  if constexpr (!kVectorUnit) {
    widen_panels(s, k_contiguous, lines, kc, R, dst, widen_through(s.type));
  } else {
    switch (s.type) {
      case QKV_DTYPE_BF16: widen_panels(s, k_contiguous, lines, kc, R, dst, widen_typed<QKV_DTYPE_BF16>{}); break;
      case QKV_DTYPE_F16: widen_panels(s, k_contiguous, lines, kc, R, dst, widen_typed<QKV_DTYPE_F16>{}); break;
      default: widen_panels(s, k_contiguous, lines, kc, R, dst, widen_typed<QKV_DTYPE_I8>{}); break;
    }
  }
}

}  // namespace detail

// op(A)[0:mc, 0:kc] (A read as s: BF16, F16 or I8) into ceil(mc/mr) fp32 A
// panels.
inline void widen_pack_a(const widen_src& s, bool trans, std::size_t mc, std::size_t kc, std::size_t mr,
                         float* dst) {
  detail::widen_panels_of(s, !trans, mc, kc, mr, dst);
}

// op(B)[0:kc, 0:nc] (B read as s: BF16, F16 or I8) into ceil(nc/nr) fp32 B
// panels.
inline void widen_pack_b(const widen_src& s, bool trans, std::size_t kc, std::size_t nc, std::size_t nr,
                         float* dst) {
  detail::widen_panels_of(s, trans, nc, kc, nr, dst);
}

}  // namespace qkv::ops
