// SPDX-License-Identifier: MIT
// gemm_lowp_zmm-inl.hpp - the AVX-512 pieces shared by the bf16 (vdpbf16ps)
// and int8 (vpdpbusd) kernels of gemm_lowp_avx512_bf16.cpp: both pack k in
// groups of 4 bytes (a bf16 pair, an int8 quad) per 32-bit lane, so one
// register tile and one dword transpose serve both. Included only by that
// translation unit and gemm_lowp_amx.cpp (through gemm_lowp_zmm_pack-inl.hpp;
// avx512_bf16 flags); everything has internal linkage.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

namespace qkv::kern {
namespace {

// The register tile: kZmmMR rows x 32 columns = 28 zmm accumulators, 2 zmm
// of B per k group, the A group broadcast from memory (vpbroadcastd or an
// embedded {1to16}): 31 of the 32 zmm.
constexpr std::size_t kZmmMR = 14, kZmmNR = 32;

template <class F, std::size_t... I>
inline void unroll(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

inline std::int32_t load_group(const unsigned char* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);  // a 4-byte group, no alignment or aliasing assumed
  return v;
}

// acc[0:14, 0:32] = init + sum over `groups` k groups of Dot(A group, B
// group), where init is acc (load) or zero, plus `bias` per column when
// given (the int8 corrections). Dot::step(c, a, b) is one vdpbf16ps or
// vpdpbusd on lanes of 32-bit accumulators (the fp32 ones bit-cast: the
// casts cost nothing). A panel: 14 groups of 4 bytes per k group; B panel:
// 32 groups (2 zmm, 64-byte aligned) per k group.
template <class Dot>
inline void zmm_tile(std::size_t groups, const unsigned char* a, const unsigned char* b, void* acc_,
                     std::size_t ldacc, bool load, const unsigned char* bias) {
  auto* acc = static_cast<unsigned char*>(acc_);
  const std::size_t ld = ldacc * 4;  // bytes: fp32 or int32
  __m512i c[kZmmMR][2];
  unroll(
      [&](auto i) {
        if (load) {
          c[i][0] = _mm512_loadu_si512(acc + i * ld);
          c[i][1] = _mm512_loadu_si512(acc + i * ld + 64);
        } else {
          c[i][0] = _mm512_setzero_si512();
          c[i][1] = _mm512_setzero_si512();
        }
        if (bias) {
          c[i][0] = _mm512_add_epi32(c[i][0], _mm512_load_si512(bias));
          c[i][1] = _mm512_add_epi32(c[i][1], _mm512_load_si512(bias + 64));
        }
      },
      std::make_index_sequence<kZmmMR>{});
  for (std::size_t g = 0; g < groups; ++g, a += kZmmMR * 4, b += kZmmNR * 4) {
    const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
    unroll(
        [&](auto i) {
          const __m512i ai = _mm512_set1_epi32(load_group(a + i * 4));
          c[i][0] = Dot::step(c[i][0], ai, b0);
          c[i][1] = Dot::step(c[i][1], ai, b1);
        },
        std::make_index_sequence<kZmmMR>{});
  }
  unroll(
      [&](auto i) {
        _mm512_storeu_si512(acc + i * ld, c[i][0]);
        _mm512_storeu_si512(acc + i * ld + 64, c[i][1]);
      },
      std::make_index_sequence<kZmmMR>{});
}

// GCC 12's unpack and shuffle intrinsics pass _mm512_undefined_epi32() (a
// self-initialised variable) as the unused merge source, which
// -Wuninitialized reports once inlined here; the zero-masked forms with all
// lanes kept are the same instructions without it.
inline __m512i unpacklo32(__m512i a, __m512i b) { return _mm512_maskz_unpacklo_epi32(0xFFFF, a, b); }
inline __m512i unpackhi32(__m512i a, __m512i b) { return _mm512_maskz_unpackhi_epi32(0xFFFF, a, b); }
inline __m512i unpacklo64(__m512i a, __m512i b) { return _mm512_maskz_unpacklo_epi64(0xFF, a, b); }
inline __m512i unpackhi64(__m512i a, __m512i b) { return _mm512_maskz_unpackhi_epi64(0xFF, a, b); }
template <int Imm>
inline __m512i shuffle128(__m512i a, __m512i b) {
  return _mm512_maskz_shuffle_i32x4(0xFFFF, a, b, Imm);
}

// out[g] lane r = 4-byte group g of row r, for 16 groups (64 bytes) of up to
// 16 rows (row r at src + r*ld bytes). Only the first `bytes` (<= 64) bytes
// of each row and the first `rows` rows are read; the rest is zero.
inline void transpose_groups16(const unsigned char* src, std::size_t ld, std::size_t rows, std::size_t bytes,
                               __m512i out[16]) {
  const __mmask64 m = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  __m512i r[16], t[16];
  // Plain loads for whole rows: a masked load costs several times as much
  // on some cores (Zen 5).
  if (bytes >= 64) {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_si512(src + i * ld) : _mm512_setzero_si512();
  } else {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_epi8(m, src + i * ld) : _mm512_setzero_si512();
  }
  // Within each 128-bit lane: pairs of rows interleaved by dword, then by
  // qword: t[4i+q] lane L = group 4L+q of rows 4i..4i+3.
  for (std::size_t i = 0; i < 16; i += 2) {
    out[i] = unpacklo32(r[i], r[i + 1]);
    out[i + 1] = unpackhi32(r[i], r[i + 1]);
  }
  for (std::size_t i = 0; i < 16; i += 4) {
    t[i] = unpacklo64(out[i], out[i + 2]);
    t[i + 1] = unpackhi64(out[i], out[i + 2]);
    t[i + 2] = unpacklo64(out[i + 1], out[i + 3]);
    t[i + 3] = unpackhi64(out[i + 1], out[i + 3]);
  }
  // Across lanes: group 4L+q gathers lane L of t[q], t[4+q], t[8+q], t[12+q].
  for (std::size_t q = 0; q < 4; ++q) {
    const __m512i v01 = shuffle128<0x44>(t[q], t[4 + q]), v23 = shuffle128<0xEE>(t[q], t[4 + q]);
    const __m512i w01 = shuffle128<0x44>(t[8 + q], t[12 + q]),
                  w23 = shuffle128<0xEE>(t[8 + q], t[12 + q]);
    out[q] = shuffle128<0x88>(v01, w01);
    out[4 + q] = shuffle128<0xDD>(v01, w01);
    out[8 + q] = shuffle128<0x88>(v23, w23);
    out[12 + q] = shuffle128<0xDD>(v23, w23);
  }
}

// Panels from rows whose k runs contiguously (A not transposed, B
// transposed): dst dword (g*stride + r) = group g of row r, for r < 16
// (lanes past `rows` zero) and g < `groups`, each row `row_bytes` long
// (the last group zero-padded). Each vector is stored as f(v) returns it (f
// may bias it, or add it to column sums); lanes >= `lanes` are not written
// (stride == lanes: a group's store spills into the next group's slot,
// which that group's store then rewrites; the last group's does not spill).
template <class F>
inline void pack_contiguous_rows(const unsigned char* src, std::size_t ld, std::size_t rows, std::size_t row_bytes,
                                 std::size_t groups, unsigned char* dst, std::size_t stride, std::size_t lanes,
                                 F&& f) {
  const __mmask16 keep = static_cast<__mmask16>((1u << lanes) - 1);
  __m512i out[16];
  for (std::size_t g0 = 0; g0 < groups; g0 += 16) {
    const std::size_t off = g0 * 4, bytes = row_bytes - off < 64 ? row_bytes - off : 64;
    transpose_groups16(src + off, ld, rows, bytes, out);
    const std::size_t n = groups - g0 < 16 ? groups - g0 : 16;
    // Whole-vector stores where they fit: all 16 lanes, or (stride ==
    // lanes) spilling into the next group's slot, which the next store
    // rewrites; the last group is stored masked. Constant indices keep out[]
    // in registers.
#pragma GCC unroll 16
    for (std::size_t g = 0; g < 16; ++g) {
      if (g >= n) break;
      unsigned char* d = dst + (g0 + g) * stride * 4;
      const __m512i v = f(out[g]);
      if (lanes == 16 || (stride == lanes && g0 + g + 1 < groups))
        _mm512_storeu_si512(d, v);
      else
        _mm512_mask_storeu_epi32(d, keep, v);
    }
  }
}

}  // namespace
}  // namespace qkv::kern
