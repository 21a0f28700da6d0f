// SPDX-License-Identifier: MIT
// The AMX tables (gemm_lowp_amx.hpp: layouts, tile use), compiled with
// avx512_bf16's flags and -mamx-tile -mamx-bf16 -mamx-int8 (the *_amx.cpp
// rule in src/CMakeLists.txt). Only dispatch::amx() lets them run.
//
// Numerics: tdpbf16ps adds each pair's two products to the fp32 sum in k
// order, inputs and results below 2^-126 flushed to zero, round to nearest
// even: gemm_lowp.hpp's contract and gemm_ex.h's bound. tdpbssd sums signed
// int8 products in int32, wrapping: exact whenever the sum fits.
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"

#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp_zmm_pack-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kAmxMR = 32, kAmxNR = 32;
constexpr std::size_t kStepBytes = 2048;  // one k step of an A or B panel: 32 rows / 16 groups x 2 halves, 64 B each

// The configuration every kernel here runs on: palette 1, tiles 0-7 of 16
// rows x 64 bytes.
struct alignas(64) tile_config {
  std::uint8_t palette, start_row;
  std::uint8_t reserved[14];
  std::uint16_t colsb[16];
  std::uint8_t rows[16];
};

// ---- A panels: rows of 64 bytes per k step ---------------------------------

// Rows whose k runs contiguously (A not transposed): row r's bytes
// [s*64, s*64 + 64) to dst + s*2048 + r*64, the tail zero-padded; rows past
// m zero.
void pack_rows(const unsigned char* a, std::size_t ld, std::size_t m, std::size_t row_bytes, std::size_t steps,
               unsigned char* dst) {
  for (std::size_t r = 0; r < kAmxMR; ++r) {
    const unsigned char* src = a + (r < m ? r * ld : 0);
    for (std::size_t s = 0; s < steps; ++s) {
      const std::size_t off = s * 64, n = r < m && off < row_bytes ? min_sz(64, row_bytes - off) : 0;
      const __m512i v = n == 64  ? _mm512_loadu_si512(src + off)
                        : n == 0 ? _mm512_setzero_si512()
                                 : _mm512_maskz_loadu_epi8((__mmask64{1} << n) - 1, src + off);
      _mm512_store_si512(dst + s * kStepBytes + r * 64, v);
    }
  }
}

// Sixteen dword vectors d[g] (lane i: group g of row i) stored as rows:
// row i's 16 groups to dst + i*64.
void store_transposed(const __m512i d[16], unsigned char* dst) {
  __m512i out[16];
  transpose_groups16(reinterpret_cast<const unsigned char*>(d), 64, 16, 64, out);
  for (std::size_t i = 0; i < 16; ++i) _mm512_store_si512(dst + i * 64, out[i]);
}

// B panels `panel` bytes apart (128-byte groups, whole steps): the groups
// from `groups` (the packer's last) to the panel's end zeroed.
void zero_pad_groups(void* dst_, std::size_t nc, std::size_t panel, std::size_t groups) {
  auto* dst = static_cast<unsigned char*>(dst_);
  for (std::size_t j0 = 0; j0 < nc; j0 += kAmxNR, dst += panel)
    for (std::size_t g = groups; g < panel / 128; ++g) {
      _mm512_store_si512(dst + g * 128, _mm512_setzero_si512());
      _mm512_store_si512(dst + g * 128 + 64, _mm512_setzero_si512());
    }
}

// A panels of 32 rows, k in steps of step_k (16 groups of 4 bytes). Rows
// whose k runs contiguously (not transposed) are copied; transposed,
// op(A)(i, k) = a[k*lda + i], each step and half gathers group(p, k, rows),
// the dword of k group k.. for 16 rows (row i at p + i; `rows` of them
// real, k < kc), and transposes them into the rows' 64 bytes.
template <class T, class Group>
void pack_a_panels(bool trans, std::size_t mc, std::size_t kc, const T* a, std::size_t lda, unsigned char* dst,
                   std::size_t step_k, Group&& group) {
  const std::size_t steps = (kc + step_k - 1) / step_k, panel = steps * kStepBytes, kg = step_k / 16;
  for (std::size_t r0 = 0; r0 < mc; r0 += kAmxMR, dst += panel) {
    const std::size_t m = min_sz(kAmxMR, mc - r0);
    if (!trans) {
      pack_rows(reinterpret_cast<const unsigned char*>(a + r0 * lda), lda * sizeof(T), m, kc * sizeof(T), steps,
                dst);
      continue;
    }
    for (std::size_t s = 0; s < steps; ++s)
      for (std::size_t h = 0; h < 2; ++h) {
        const std::size_t rows = m > 16 * h ? min_sz(16, m - 16 * h) : 0;
        alignas(64) __m512i d[16];
        for (std::size_t g = 0; g < 16; ++g) {
          const std::size_t k = s * step_k + kg * g;
          d[g] = rows == 0 || k >= kc ? _mm512_setzero_si512() : group(a + k * lda + r0 + 16 * h, k, rows);
        }
        store_transposed(d, dst + s * kStepBytes + h * 1024);
      }
  }
}

// ---- bf16 x bf16 -> fp32 (tdpbf16ps) ----------------------------------------

std::size_t bf16_steps(std::size_t kc) { return (kc + kAmxBf16K - 1) / kAmxBf16K; }

// A: a pair of k per dword when transposed (two rows of k interleaved by 16
// bits; the pair's second row zero past kc).
void bf16_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a, std::size_t lda,
                 std::uint16_t* dst) {
  pack_a_panels(trans, mc, kc, a, lda, reinterpret_cast<unsigned char*>(dst), kAmxBf16K,
                [&](const std::uint16_t* p, std::size_t k, std::size_t rows) {
                  auto row = [&](const std::uint16_t* q) {
                    return _mm512_cvtepu16_epi32(rows == 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))
                                                            : _mm256_maskz_loadu_epi16(mask16(rows), q));
                  };
                  const __m512i hi = k + 1 < kc ? row(p + lda) : _mm512_setzero_si512();
                  return _mm512_or_si512(row(p), _mm512_slli_epi32(hi, 16));
                });
}

// B: the zmm panels, whole steps deep (the groups past kc zero).
void bf16_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst_) {
  const std::size_t panel = bf16_steps(kc) * kStepBytes;
  bf16_pack_b_panels(trans, kc, nc, b, ldb, dst_, panel);
  zero_pad_groups(dst_, nc, panel, (kc + 1) / 2);
}

// The C tiles from acc (load) or zero; after the products, back to acc.
#define QKV_AMX_TILE(Dot, kc_steps)                                             \
  do {                                                                          \
    const std::size_t ld = ldacc * 4;                                           \
    auto* c = reinterpret_cast<unsigned char*>(acc);                            \
    if (load) {                                                                 \
      _tile_loadd(0, c, ld);                                                    \
      _tile_loadd(1, c + 64, ld);                                               \
      _tile_loadd(2, c + 16 * ld, ld);                                          \
      _tile_loadd(3, c + 16 * ld + 64, ld);                                     \
    } else {                                                                    \
      _tile_zero(0);                                                            \
      _tile_zero(1);                                                            \
      _tile_zero(2);                                                            \
      _tile_zero(3);                                                            \
    }                                                                           \
    const auto* ap = static_cast<const unsigned char*>(static_cast<const void*>(a)); \
    const auto* bp = static_cast<const unsigned char*>(static_cast<const void*>(b)); \
    for (std::size_t s = 0; s < (kc_steps); ++s, ap += kStepBytes, bp += kStepBytes) { \
      _tile_loadd(4, ap, 64);                                                   \
      _tile_loadd(6, bp, 128);                                                  \
      _tile_loadd(7, bp + 64, 128);                                             \
      _tile_loadd(5, ap + 1024, 64);                                            \
      Dot(0, 4, 6);                                                             \
      Dot(1, 4, 7);                                                             \
      Dot(2, 5, 6);                                                             \
      Dot(3, 5, 7);                                                             \
    }                                                                           \
    _tile_stored(0, c, ld);                                                     \
    _tile_stored(1, c + 64, ld);                                                \
    _tile_stored(2, c + 16 * ld, ld);                                           \
    _tile_stored(3, c + 16 * ld + 64, ld);                                      \
  } while (0)

void bf16_ukernel(std::size_t kc, const std::uint16_t* a, const std::uint16_t* b, float* acc, std::size_t ldacc,
                  bool load) {
  QKV_AMX_TILE(_tile_dpbf16ps, bf16_steps(kc));
}

// ---- int8 x int8 -> int32 (tdpbssd) -----------------------------------------

std::size_t s8_steps(std::size_t kc) { return (kc + kAmxS8K - 1) / kAmxS8K; }
std::size_t s8_panel_bytes(std::size_t kc) { return s8_steps(kc) * kStepBytes; }

// A: a quad of k per dword when transposed (s8_quad_rows: rows past kc zero).
void s8_pack_a(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst) {
  pack_a_panels(trans, mc, kc, a, lda, static_cast<unsigned char*>(dst), kAmxS8K,
                [&](const std::int8_t* p, std::size_t k, std::size_t rows) { return s8_quad_rows(p, lda, k, kc, rows); });
}

// B: the zmm quad panels without corrections, whole steps deep.
void s8_pack_b(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst_) {
  const std::size_t panel = s8_panel_bytes(kc);
  s8_pack_b_panels<false>(trans, kc, nc, b, ldb, dst_, panel);
  zero_pad_groups(dst_, nc, panel, (kc + 3) / 4);
}

void s8_ukernel(std::size_t kc, const void* a, const void* b, std::int32_t* acc, std::size_t ldacc, bool load) {
  QKV_AMX_TILE(_tile_dpbssd, s8_steps(kc));
}

#undef QKV_AMX_TILE

}  // namespace

void amx_tiles_begin() noexcept {
  tile_config cfg{};
  cfg.palette = 1;
  for (std::size_t t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  // Not _tile_loadconfig: GCC 12's asm names only the first 8 bytes as
  // read, so the stores of the rest could be dropped.
  __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

void amx_tiles_end() noexcept { _tile_release(); }

const gemm_bf16_kernels gemm_bf16_amx = {"gemm_bf16_amx_32x32", kAmxMR, kAmxNR, bf16_pack_a, bf16_pack_b,
                                         bf16_ukernel};
const gemm_s8_kernels gemm_s8_amx = {"gemm_s8_amx_32x32", kAmxMR, kAmxNR, 4, s8_panel_bytes, s8_panel_bytes,
                                     s8_pack_a, s8_pack_b, s8_ukernel};

}  // namespace qkv::kern
