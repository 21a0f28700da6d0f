// gemm kernels for avx512: gemm_f32_14x32 written with intrinsics, because
// xsimd 8.1's fma on avx512f is a separate multiply and add. 14x2 zmm
// accumulators + 2 B vectors = 30 of the 32 zmm registers; A is broadcast
// straight from memory ({1to16} operand of vfmadd231ps).
#include <immintrin.h>

#include "kernels/gemm/gemm-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 14, kNV = 2, kNR = 32;

template <std::size_t MR>
void ukernel_avx512(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                    std::size_t ldc) {
  __m512 acc[MR][kNV];
#pragma GCC unroll 64
  for (std::size_t i = 0; i < MR; ++i) {
    acc[i][0] = _mm512_setzero_ps();
    acc[i][1] = _mm512_setzero_ps();
  }
  for (std::size_t k = 0; k < kc; ++k, a += MR, b += kNR) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc[i][0]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 64
    for (std::size_t i = 0; i < MR; ++i) {
      float* p = c + i * ldc;
      _mm512_storeu_ps(p, _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), _mm512_mul_ps(va, acc[i][0])));
      _mm512_storeu_ps(p + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(p + 16), _mm512_mul_ps(va, acc[i][1])));
    }
  }
}

constexpr std::size_t kMC = 14 * 24, kKC = 256, kNC = 1024;
static_assert(kMC % kMR == 0 && kNC % kNR == 0, "blocks must hold whole tiles");
static_assert(kMC * kKC + kKC * kNC <= kGemmBufferFloats, "blocks exceed the hosted buffer");
constexpr ukernel_fn kFull = ukernel_avx512<kMR>;

}  // namespace

const gemm_kernels gemm_avx512 = {"gemm_f32_14x32", kMR, kNR, kMC, kKC, kNC, kFull,
                                  edge_via_tile<kMR, kNR, kFull>, pack_a_ref<kMR>, pack_b_ref<kNR>,
                                  direct_simd<xsimd::avx512bw>};

}  // namespace qkv::kern
