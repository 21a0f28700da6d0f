// SPDX-License-Identifier: MIT
// The AMX attention products (attn_bf16_amx.hpp: layouts, numerics),
// compiled with avx512_bf16's flags and -mamx-* (the *_amx.cpp rule in
// src/CMakeLists.txt). Tiles: C tmm0-3 (a 32 x 32 block: rows r0 and r0 + 16,
// queries q0 and q0 + 16), A tmm4-5, B tmm6-7.
#include "kernels/attn_bf16/attn_bf16_amx.hpp"

#include <immintrin.h>

#include "kernels/convert/convert-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp_zmm-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kBr = kAmxAttnBr, kRowB = kBr * 4;  // bytes of a 64-query row of st, pp, ot

inline std::size_t min_of(std::size_t a, std::size_t b) { return a < b ? a : b; }

// 32 rows of 64 bytes from src (ld bytes apart) to dst (64 apart): the first
// `rows` rows' first `bytes` bytes, zeros elsewhere.
inline void copy_block(const unsigned char* src, std::size_t ld, std::size_t rows, std::size_t bytes,
                       unsigned char* dst) {
  const __mmask64 m = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (std::size_t r = 0; r < 32; ++r)
    _mm512_store_si512(dst + r * 64, r < rows ? _mm512_maskz_loadu_epi8(m, src + r * ld) : _mm512_setzero_si512());
}

// C (tmm0-3) += A (tmm4: rows 0-15, tmm5: rows 16-31) x B (tmm6: columns
// 0-15, tmm7: 16-31), the operands loaded from a, b with their strides (B's
// rows of 64 queries, kRowB bytes, unless given).
inline void block_step(const void* a, std::size_t lda, const void* b, std::size_t ldb = kRowB) {
  _tile_loadd(4, a, lda);
  _tile_loadd(5, static_cast<const unsigned char*>(a) + 16 * lda, lda);
  _tile_loadd(6, b, ldb);
  _tile_loadd(7, static_cast<const unsigned char*>(b) + 64, ldb);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// The C block to c: rows 0-15 and 16-31 `ld` bytes apart, queries 0-15
// and 16-31.
inline void block_store(void* c, std::size_t ld) {
  auto* p = static_cast<unsigned char*>(c);
  _tile_stored(0, p, ld);
  _tile_stored(1, p + 64, ld);
  _tile_stored(2, p + 16 * ld, ld);
  _tile_stored(3, p + 16 * ld + 64, ld);
}

inline void block_zero() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

void scores(std::size_t kb, std::size_t d, const std::uint32_t* qp, const std::uint16_t* k, std::size_t ldk,
            float scale, float* st) {
  alignas(64) unsigned char kz[32 * 64];   // a partial block's K rows, one step
  alignas(64) float cz[32 * kBr];          // a partial block's scores
  const std::size_t steps = d / 32, ldb = ldk * 2;
  const __m512 s = _mm512_set1_ps(scale);
  for (std::size_t j0 = 0; j0 < kb; j0 += 32) {
    const std::size_t nk = min_of(32, kb - j0);
    const auto* kj = reinterpret_cast<const unsigned char*>(k + j0 * ldk);
    float* out = nk == 32 ? st + j0 * kBr : cz;
    for (std::size_t q0 = 0; q0 < kBr; q0 += 32) {
      block_zero();
      for (std::size_t f = 0; f < steps; ++f) {
        const void* b = qp + f * 16 * kBr + q0;
        if (nk == 32) {
          block_step(kj + f * 64, ldb, b);
        } else {
          copy_block(kj + f * 64, ldb, nk, 64, kz);
          block_step(kz, 64, b);
        }
      }
      block_store(out + q0, kRowB);
    }
    for (std::size_t r = 0; r < nk; ++r)
      for (std::size_t u = 0; u < kBr; u += 16)
        _mm512_storeu_ps(st + (j0 + r) * kBr + u, _mm512_mul_ps(_mm512_loadu_ps(out + r * kBr + u), s));
  }
}

void transpose_v(std::size_t kb, std::size_t dv, const std::uint16_t* v, std::size_t ldv, std::uint16_t* vt,
                 std::size_t ldvt) {
  alignas(64) __m512i pairs[16];
  for (std::size_t j0 = 0; j0 < kb; j0 += 32)
    for (std::size_t f0 = 0; f0 < dv; f0 += 16) {
      // pairs[i] lane f: keys j0 + 2i and j0 + 2i + 1 of feature f0 + f.
      for (std::size_t i = 0; i < 16; ++i) {
        const std::size_t j = j0 + 2 * i;
        auto row = [&](std::size_t jj) {
          return jj < kb ? _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + jj * ldv + f0)))
                         : _mm512_setzero_si512();
        };
        pairs[i] = _mm512_or_si512(row(j), _mm512_slli_epi32(row(j + 1), 16));
      }
      __m512i cols[16];  // cols[f] lane i: pair i of feature f0 + f
      transpose_groups16(reinterpret_cast<const unsigned char*>(pairs), 64, 16, 64, cols);
      for (std::size_t f = 0; f < 16; ++f) _mm512_storeu_si512(vt + (f0 + f) * ldvt + j0, cols[f]);
    }
}

void accumulate(std::size_t kb, std::size_t dv, const std::uint32_t* pp, const std::uint16_t* vt, std::size_t ldvt,
                const float* alpha, float* ot) {
  alignas(64) unsigned char pz[16 * kRowB];  // the partial step's P pairs, rows past ceil(kb/2) zero
  alignas(64) unsigned char vz[32 * 64];     // the partial step's V^T block, keys past kb zero
  alignas(64) float c[32 * 32];              // one block's products: 32 features x 32 queries
  const std::size_t full = kb / 32, steps = (kb + 31) / 32, ldb = ldvt * 2;
  const auto* pb = reinterpret_cast<const unsigned char*>(pp);
  if (steps > full) {
    const std::size_t rows = (kb + 1) / 2 - full * 16;
    for (std::size_t r = 0; r < 16; ++r)
      for (std::size_t u = 0; u < kRowB; u += 64)
        _mm512_store_si512(pz + r * kRowB + u,
                           r < rows ? _mm512_loadu_si512(pb + (full * 16 + r) * kRowB + u) : _mm512_setzero_si512());
  }
  for (std::size_t f0 = 0; f0 < dv; f0 += 32) {
    const auto* vf = reinterpret_cast<const unsigned char*>(vt + f0 * ldvt);
    if (steps > full) copy_block(vf + full * 64, ldb, 32, (kb - full * 32) * 2, vz);
    for (std::size_t q0 = 0; q0 < kBr; q0 += 32) {
      block_zero();
      for (std::size_t s = 0; s < full; ++s) block_step(vf + s * 64, ldb, pb + s * 16 * kRowB + q0 * 4);
      if (steps > full) block_step(vz, 64, pz + q0 * 4);
      block_store(c, 32 * 4);
      for (std::size_t f = 0; f < 32; ++f)
        for (std::size_t h = 0; h < 32; h += 16) {
          float* o = ot + (f0 + f) * kBr + q0 + h;
          _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_loadu_ps(alpha + q0 + h), _mm512_loadu_ps(o),
                                              _mm512_load_ps(c + f * 32 + h)));
        }
    }
  }
}

void pack_q(std::size_t rows, std::size_t d, const std::uint16_t* q, std::size_t ldq, std::uint32_t* qp) {
  __m512i cols[16];  // cols[g] lane r: pair i0 + g of row r0 + r
  for (std::size_t r0 = 0; r0 < kBr; r0 += 16)
    for (std::size_t i0 = 0; i0 < d / 2; i0 += 16) {
      const std::size_t n = rows > r0 ? min_of(16, rows - r0) : 0;
      transpose_groups16(reinterpret_cast<const unsigned char*>(q + (n ? r0 * ldq : 0) + 2 * i0), ldq * 2, n, 64,
                         cols);
      for (std::size_t g = 0; g < 16; ++g) _mm512_storeu_si512(qp + (i0 + g) * kBr + r0, cols[g]);
    }
}

void store_o(std::size_t rows, std::size_t dv, const float* ot, const float* inv, std::uint16_t* o, std::size_t ldo) {
  __m512i cols[16];  // cols[g] lane f: ot[f0 + f][r0 + g]
  for (std::size_t r0 = 0; r0 < rows; r0 += 16) {
    const std::size_t n = min_of(16, rows - r0);
    for (std::size_t f0 = 0; f0 < dv; f0 += 16) {
      transpose_groups16(reinterpret_cast<const unsigned char*>(ot + f0 * kBr + r0), kRowB, 16, 64, cols);
      for (std::size_t g = 0; g < n; ++g) {
        const __m512 x = _mm512_mul_ps(_mm512_castsi512_ps(cols[g]), _mm512_set1_ps(inv[r0 + g]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + (r0 + g) * ldo + f0), _mm512_cvtepi32_epi16(cvt_block::bf16_lanes(_mm512_castps_si512(x))));
      }
    }
  }
}

// attn_bf16_kernels::gemm_pairs on tiles: 32 x 32 blocks of C, k in steps
// of 16 pairs from zero; A's rows loaded in place where they are contiguous
// pairs (ac == 1) and whole, else gathered into a zero-padded block (a dword
// transpose for ar == 1); B likewise.
void gemm_pairs(std::size_t m, std::size_t n, std::size_t k2, const std::uint32_t* a, std::size_t ar, std::size_t ac,
                const std::uint32_t* b, std::size_t ldb, float alpha, float* c, std::size_t ldc, int acc) {
  alignas(64) std::uint32_t ab[32 * 16];  // a gathered A block: 32 rows x 16 pairs
  alignas(64) std::uint32_t bb[16 * 32];  // a partial B block: 16 pair rows x 32 columns
  alignas(64) float cs[32 * 32];
  const std::size_t steps = (k2 + 15) / 16;
  const __m512 va = _mm512_set1_ps(alpha);
  for (std::size_t r0 = 0; r0 < m; r0 += 32) {
    const std::size_t mr = min_of(32, m - r0);
    for (std::size_t c0 = 0; c0 < n; c0 += 32) {
      const std::size_t nc = min_of(32, n - c0);
      block_zero();
      for (std::size_t s = 0; s < steps; ++s) {
        const std::size_t p0 = s * 16, np = min_of(16, k2 - p0);
        const std::uint32_t* ap = a + r0 * ar + p0 * ac;
        const void* at = ap;
        std::size_t lda = ar * 4;
        if (ac != 1 || np < 16 || mr < 32) {  // gather rows r0.. into ab
          at = ab, lda = 64;
          if (ar == 1) {  // pairs along a row are ac apart: transpose [np pairs][16 rows] blocks
            __m512i cols[16];
            for (std::size_t h = 0; h < 32; h += 16) {
              const std::size_t rows = mr > h ? min_of(16, mr - h) : 0;
              transpose_groups16(reinterpret_cast<const unsigned char*>(ap + h), ac * 4, rows ? np : 0, rows * 4,
                                 cols);
              for (std::size_t g = 0; g < 16; ++g) _mm512_store_si512(ab + (h + g) * 16, cols[g]);
            }
          } else if (ac == 1) {  // rows of contiguous pairs: masked row copies
            copy_block(reinterpret_cast<const unsigned char*>(ap), ar * 4, mr, np * 4,
                       reinterpret_cast<unsigned char*>(ab));
          } else {
            for (std::size_t i = 0; i < 32; ++i)
              for (std::size_t q = 0; q < 16; ++q) ab[i * 16 + q] = i < mr && q < np ? ap[i * ar + q * ac] : 0u;
          }
        }
        const std::uint32_t* bp = b + p0 * ldb + c0;
        const void* bt = bp;
        std::size_t ldbb = ldb * 4;
        if (np < 16 || nc < 32) {
          bt = bb, ldbb = 128;
          for (std::size_t q = 0; q < 16; ++q)
            for (std::size_t j = 0; j < 32; j += 16)
              _mm512_store_si512(bb + q * 32 + j, q < np && j < nc ? _mm512_loadu_si512(bp + q * ldb + j)
                                                                  : _mm512_setzero_si512());
        }
        block_step(at, lda, bt, ldbb);
      }
      block_store(cs, 32 * 4);
      for (std::size_t r = 0; r < mr; ++r)
        for (std::size_t j = 0; j < nc; j += 16) {
          float* o = c + (r0 + r) * ldc + c0 + j;
          const __m512 x = _mm512_load_ps(cs + r * 32 + j);
          _mm512_storeu_ps(o, acc ? _mm512_add_ps(_mm512_loadu_ps(o), x) : _mm512_mul_ps(va, x));
        }
    }
  }
}

}  // namespace

const attn_amx_kernels attn_bf16_amx = {scores, transpose_v, accumulate, pack_q, store_o};

const attn_bf16_kernels* attn_bf16_amx_set() noexcept {
  static const attn_bf16_kernels* set = []() -> const attn_bf16_kernels* {
    const attn_bf16_kernels* base = attn_bf16_for(QKV_ISA_AVX512_BF16);
    if (!base) return nullptr;
    static attn_bf16_kernels k = *base;
    k.gemm_pairs = gemm_pairs;
    return &k;
  }();
  return set;
}

}  // namespace qkv::kern
