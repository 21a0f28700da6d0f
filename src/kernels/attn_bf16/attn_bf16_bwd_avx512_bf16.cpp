// SPDX-License-Identifier: MIT
// The backward half of the avx512_bf16 attn_bf16 set (kernels/attn_bf16):
// fp32 tiles packed as bf16 pairs and the products on them. Compiled with
// the avx512_bf16 flags only (src/CMakeLists.txt's *_<isa>.cpp rule).
//   gemm_pairs: acc[MR rows][NV zmm] += bcast32(a pair of row r) . b[pair][NV zmm],
//   MR x NV = 6 x 4 (24 accumulators, 4 loads and 6 broadcasts for 24
//   vdpbf16ps of 32 products each).
#include <immintrin.h>

#include <cstring>

#include "kernels/attn_bf16/attn_bf16_bwd.hpp"
#include "kernels/gemm_lowp/gemm_lowp_zmm-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMr = 6, kNv = 4;

inline __mmask16 lanes16(std::size_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }

// 16 floats at x, of which the first n exist (lanes past them 0): a plain
// load when all do (a masked load costs several times as much on some
// cores, Zen 5 among them).
inline __m512 load16(const float* x, std::size_t n) {
  return n >= 16 ? _mm512_loadu_ps(x) : _mm512_maskz_loadu_ps(lanes16(n), x);
}

// bf16 (nearest even) of 16 floats, zero-extended to dwords.
inline __m512i bf16_dwords(__m512 x) {
  const __m256bh h = _mm512_cvtneps_pbh(x);
  __m256i r;
  std::memcpy(&r, &h, sizeof r);
  return _mm512_cvtepu16_epi32(r);
}

// Up to 32 floats of a row as 16 bf16 pairs (lanes past n are 0).
inline __m512i row_pairs(const float* x, std::size_t n) {
  const __m512 lo = load16(x, n);
  const __m512 hi = n > 16 ? load16(x + 16, n - 16) : _mm512_setzero_ps();
  const __m512bh p = _mm512_cvtne2ps_pbh(hi, lo);
  __m512i r;
  std::memcpy(&r, &p, sizeof r);
  return r;
}

// Rows of the caller's tensors are strided (a token apart), which defeats
// the hardware prefetchers, and a tile is often their first touch: the
// packers touch the row kAhead ahead (its cols floats) as they go.
constexpr std::size_t kAhead = 8;
inline void prefetch_row(const float* p, std::size_t cols) {
  for (std::size_t c = 0; c < cols; c += 16) _mm_prefetch(reinterpret_cast<const char*>(p + c), _MM_HINT_T0);
}

}  // namespace

void attn_bf16_pair_cols(std::size_t rows, std::size_t rows_pad, std::size_t cols, const float* x, std::size_t ldx,
                         std::uint32_t* dst, std::size_t ld_dst) {
  const std::size_t pairs = (cols + 1) / 2;
  alignas(64) std::uint32_t tmp[16][16];
  __m512i out[16];
  for (std::size_t r0 = 0; r0 < rows_pad; r0 += 16) {
    const std::size_t n = rows > r0 ? (rows - r0 < 16 ? rows - r0 : 16) : 0;
    const __mmask16 keep = lanes16(rows_pad - r0);
    for (std::size_t p0 = 0; p0 < pairs; p0 += 16) {
      const std::size_t f0 = 2 * p0, w = cols - f0 < 32 ? cols - f0 : 32, np = pairs - p0 < 16 ? pairs - p0 : 16;
      for (std::size_t r = 0; r < n; ++r) {
        if (r0 + r + 16 < rows) prefetch_row(x + (r0 + r + 16) * ldx + f0, w);
        _mm512_store_si512(tmp[r], row_pairs(x + (r0 + r) * ldx + f0, w));
      }
      transpose_groups16(reinterpret_cast<const unsigned char*>(tmp), 64, n, 64, out);
      for (std::size_t p = 0; p < np; ++p)
        if (rows_pad - r0 >= 16)
          _mm512_storeu_si512(dst + (p0 + p) * ld_dst + r0, out[p]);
        else
          _mm512_mask_storeu_epi32(dst + (p0 + p) * ld_dst + r0, keep, out[p]);
    }
  }
}

void attn_bf16_round_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, std::uint16_t* dst,
                          std::size_t ld_dst) {
  for (std::size_t r = 0; r < rows; ++r) {
    if (r + kAhead < rows) prefetch_row(x + (r + kAhead) * ldx, cols);
    for (std::size_t f = 0; f < ld_dst; f += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(load16(x + r * ldx + f, cols > f ? cols - f : 0));
      __m256i v;
      std::memcpy(&v, &h, sizeof v);
      if (ld_dst - f >= 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + r * ld_dst + f), v);
      else
        _mm256_mask_storeu_epi16(dst + r * ld_dst + f, lanes16(ld_dst - f), v);
    }
  }
}

void attn_bf16_pair_rows(std::size_t rows, std::size_t cols, std::size_t cols_pad, const float* x, std::size_t ldx,
                         std::uint32_t* dst, std::size_t ld_dst) {
  for (std::size_t p = 0; 2 * p < rows; ++p) {
    const float* x0 = x + 2 * p * ldx;
    const bool two = 2 * p + 1 < rows;
    if (2 * p + kAhead < rows) prefetch_row(x0 + kAhead * ldx, cols);
    if (2 * p + kAhead + 1 < rows) prefetch_row(x0 + (kAhead + 1) * ldx, cols);
    std::uint32_t* d = dst + p * ld_dst;
    for (std::size_t c = 0; c < cols_pad; c += 16) {
      const std::size_t n = cols > c ? cols - c : 0;
      const __m512i lo = bf16_dwords(load16(x0 + c, n));
      const __m512i hi = two ? bf16_dwords(load16(x0 + ldx + c, n)) : _mm512_setzero_si512();
      const __m512i v = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
      if (cols_pad - c >= 16)
        _mm512_storeu_si512(d + c, v);
      else
        _mm512_mask_storeu_epi32(d + c, lanes16(cols_pad - c), v);
    }
  }
}

namespace {

template <std::size_t MR, std::size_t NV>
inline void pairs_tile(std::size_t k2, const std::uint32_t* a, std::size_t ar, std::size_t ac, const std::uint32_t* b,
                       std::size_t ldb, float alpha, float* c, std::size_t ldc, bool acc) {
  __m512 s[MR][NV];
#pragma GCC unroll 8
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) s[r][v] = acc ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (std::size_t p = 0; p < k2; ++p) {
    __m512bh bv[NV];
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + p * ldb + 16 * v);
#pragma GCC unroll 8
    for (std::size_t r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * ar + p * ac]));
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) s[r][v] = _mm512_dpbf16_ps(s[r][v], bv[v], av);
    }
  }
  const __m512 al = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (std::size_t r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v)
      _mm512_storeu_ps(c + r * ldc + 16 * v, acc ? s[r][v] : _mm512_mul_ps(s[r][v], al));
}

// Rows [0, m) of one column panel of NV vectors: whole MR tiles, then the rest.
template <std::size_t NV>
void pairs_panel(std::size_t m, std::size_t k2, const std::uint32_t* a, std::size_t ar, std::size_t ac,
                 const std::uint32_t* b, std::size_t ldb, float alpha, float* c, std::size_t ldc, bool acc) {
  std::size_t r = 0;
  for (; r + kMr <= m; r += kMr) pairs_tile<kMr, NV>(k2, a + r * ar, ar, ac, b, ldb, alpha, c + r * ldc, ldc, acc);
  a += r * ar;
  c += r * ldc;
  switch (m - r) {
    case 5: pairs_tile<5, NV>(k2, a, ar, ac, b, ldb, alpha, c, ldc, acc); break;
    case 4: pairs_tile<4, NV>(k2, a, ar, ac, b, ldb, alpha, c, ldc, acc); break;
    case 3: pairs_tile<3, NV>(k2, a, ar, ac, b, ldb, alpha, c, ldc, acc); break;
    case 2: pairs_tile<2, NV>(k2, a, ar, ac, b, ldb, alpha, c, ldc, acc); break;
    case 1: pairs_tile<1, NV>(k2, a, ar, ac, b, ldb, alpha, c, ldc, acc); break;
    default: break;
  }
}

}  // namespace

void attn_bf16_gemm_pairs(std::size_t m, std::size_t n, std::size_t k2, const std::uint32_t* a, std::size_t ar,
                          std::size_t ac, const std::uint32_t* b, std::size_t ldb, float alpha, float* c,
                          std::size_t ldc, int acc) {
  const bool ac_ = acc != 0;
  std::size_t j = 0;
  for (; j + 16 * kNv <= n; j += 16 * kNv) pairs_panel<kNv>(m, k2, a, ar, ac, b + j, ldb, alpha, c + j, ldc, ac_);
  switch ((n - j) / 16) {
    case 3: pairs_panel<3>(m, k2, a, ar, ac, b + j, ldb, alpha, c + j, ldc, ac_); break;
    case 2: pairs_panel<2>(m, k2, a, ar, ac, b + j, ldb, alpha, c + j, ldc, ac_); break;
    case 1: pairs_panel<1>(m, k2, a, ar, ac, b + j, ldb, alpha, c + j, ldc, ac_); break;
    default: break;
  }
}

}  // namespace qkv::kern
