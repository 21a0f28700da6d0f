// gemm kernels for avx512: gemm_f32_14x32, written with intrinsics because
// xsimd 8.1's fma on avx512f is a separate multiply and add.
//
// Tile: 14 rows x 2 zmm = 28 accumulators + 2 B vectors + 1 broadcast A =
// 31 of the 32 zmm registers. Per k: 2 B loads + 14 A broadcasts (load
// ports) for 28 FMAs (two FMA ports): FMA-bound. Edges are the same kernel
// instantiated for m < 14 rows with masked C accesses for n < 32 columns, so
// an edge element goes through exactly the operations of an interior one.
// The packers transpose 16x16 blocks in registers.
#include <immintrin.h>

#include "kernels/gemm/gemm-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 14, kNR = 32;

// C[0:M, 0:32] (columns masked by m0/m1 when Masked) = alpha*Ap.Bp + beta*C.
// a: packed A panel (stride kMR per k, first M rows used), b: packed B panel.
template <std::size_t M, bool Masked>
inline void tile_f32(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                     std::size_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[M], acc1[M];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < M; ++i) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
    // C is written at the end; start fetching its lines now.
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  for (std::size_t k = 0; k < kc; ++k, a += kMR, b += kNR) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < M; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const bool read_c = beta != 0.f;
#pragma GCC unroll 16
  for (std::size_t i = 0; i < M; ++i) {
    float* p = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, acc0[i]), r1 = _mm512_mul_ps(va, acc1[i]);
    if (Masked) {
      if (read_c) {
        r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, p), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, p + 16), r1);
      }
      _mm512_mask_storeu_ps(p, m0, r0);
      _mm512_mask_storeu_ps(p + 16, m1, r1);
    } else {
      if (read_c) {
        r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(p + 16), r1);
      }
      _mm512_storeu_ps(p, r0);
      _mm512_storeu_ps(p + 16, r1);
    }
  }
}

void gemm_f32_14x32(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                    std::size_t ldc) {
  tile_f32<kMR, false>(kc, alpha, a, b, beta, c, ldc, 0xFFFF, 0xFFFF);
}

template <std::size_t M>
void edge_rows(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c, std::size_t ldc,
               __mmask16 m0, __mmask16 m1) {
  tile_f32<M, true>(kc, alpha, a, b, beta, c, ldc, m0, m1);
}

using edge_fn = void (*)(std::size_t, float, const float*, const float*, float, float*, std::size_t, __mmask16,
                         __mmask16);
constexpr edge_fn kEdges[kMR] = {edge_rows<1>, edge_rows<2>,  edge_rows<3>,  edge_rows<4>,  edge_rows<5>,
                                 edge_rows<6>, edge_rows<7>,  edge_rows<8>,  edge_rows<9>,  edge_rows<10>,
                                 edge_rows<11>, edge_rows<12>, edge_rows<13>, edge_rows<14>};

__mmask16 first_n(std::size_t n) {  // lanes [0, n), n <= 16
  return static_cast<__mmask16>((1u << n) - 1u);
}

void gemm_f32_14x32_edge(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a, const float* b,
                         float beta, float* c, std::size_t ldc) {
  const __mmask16 m0 = first_n(n < 16 ? n : 16), m1 = first_n(n > 16 ? n - 16 : 0);
  kEdges[m - 1](kc, alpha, a, b, beta, c, ldc, m0, m1);
}

// In-register transpose: r[i] lane j  ->  r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[g][cc]: lane L holds column 4L+cc of rows 4g..4g+3.
  __m512 u[4][4];
  for (int g = 0; g < 4; ++g) {
    u[g][0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[g][1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[g][2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[g][3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int cc = 0; cc < 4; ++cc) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[0][cc], u[1][cc], 0x88), v1 = _mm512_shuffle_f32x4(u[0][cc], u[1][cc], 0xdd);
    const __m512 w0 = _mm512_shuffle_f32x4(u[2][cc], u[3][cc], 0x88), w1 = _mm512_shuffle_f32x4(u[2][cc], u[3][cc], 0xdd);
    r[cc] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[8 + cc] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
    r[4 + cc] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + cc] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
  }
}

// rows (up to 16) x kc, row stride ld, k contiguous  ->  for each k the
// `rows` values, written with stride `dst_stride` per k, `width` floats per
// k (zero past rows). width is 14 (A panels) or 16 (half a B panel).
inline void pack_transposed(std::size_t rows, std::size_t kc, const float* src, std::size_t ld, float* dst,
                            std::size_t dst_stride, __mmask16 width) {
  __m512 r[16];
  for (std::size_t k = 0; k < kc; k += 16) {
    const std::size_t kn = kc - k < 16 ? kc - k : 16;
    const __mmask16 km = first_n(kn);
    for (std::size_t i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k) : _mm512_setzero_ps();
    transpose16(r);
    for (std::size_t kk = 0; kk < kn; ++kk) _mm512_mask_storeu_ps(dst + (k + kk) * dst_stride, width, r[kk]);
  }
}

void pack_a_14(bool trans, std::size_t mc, std::size_t kc, const float* a, std::size_t lda, float* dst) {
  for (std::size_t i0 = 0; i0 < mc; i0 += kMR, dst += kMR * kc) {
    const std::size_t m = mc - i0 < kMR ? mc - i0 : kMR;
    if (trans) {  // panel rows contiguous in A: one masked copy per k
      const __mmask16 mm = first_n(m), out = first_n(kMR);
      for (std::size_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(dst + k * kMR, out, _mm512_maskz_loadu_ps(mm, a + k * lda + i0));
    } else {
      pack_transposed(m, kc, a + i0 * lda, lda, dst, kMR, first_n(kMR));
    }
  }
}

void pack_b_32(bool trans, std::size_t kc, std::size_t nc, const float* b, std::size_t ldb, float* dst) {
  for (std::size_t j0 = 0; j0 < nc; j0 += kNR, dst += kNR * kc) {
    const std::size_t n = nc - j0 < kNR ? nc - j0 : kNR;
    if (trans) {  // B^T rows are k-contiguous: transpose 16 columns at a time
      for (std::size_t h = 0; h < 2; ++h) {
        const std::size_t rows = n > 16 * h ? (n - 16 * h < 16 ? n - 16 * h : 16) : 0;
        pack_transposed(rows, kc, b + (j0 + 16 * h) * ldb, ldb, dst + 16 * h, kNR, 0xFFFF);
      }
    } else {
      const __mmask16 m0 = first_n(n < 16 ? n : 16), m1 = first_n(n > 16 ? n - 16 : 0);
      for (std::size_t k = 0; k < kc; ++k) {
        const float* src = b + k * ldb + j0;
        _mm512_store_ps(dst + k * kNR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + k * kNR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    }
  }
}

// Blocks for a 48 KiB L1d / 2 MiB L2 core: a 256 x 32 B micro-panel (32 KiB)
// stays in L1 while the 14 x 256 A micro-panels stream from L2; the A block
// (336 x 256, 336 KiB) and the B block (256 x 1024, 1 MiB) share the L2.
constexpr std::size_t kMC = 14 * 24, kKC = 256, kNC = 1024;
static_assert(kMC % kMR == 0 && kNC % kNR == 0, "blocks must hold whole tiles");
static_assert(kMC * kKC + kKC * kNC <= kGemmBufferFloats, "blocks exceed the hosted buffer");

}  // namespace

const gemm_kernels gemm_avx512 = {"gemm_f32_14x32", kMR, kNR, kMC, kKC, kNC, gemm_f32_14x32,
                                  gemm_f32_14x32_edge, pack_a_14, pack_b_32, direct_simd<xsimd::avx512bw>};

}  // namespace qkv::kern
