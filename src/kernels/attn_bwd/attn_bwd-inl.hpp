// attn_bwd-inl.hpp - xsimd micro-kernels of the attention backward, templated
// on the architecture. Included only by the per-ISA translation units
// (attn_bwd_<isa>.cpp); internal linkage throughout, as in vec-inl.hpp.
#pragma once

#include <type_traits>

#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/softmax/exp-inl.hpp"
#include "kernels/tile/tile_simd-inl.hpp"

namespace qkv::kern {
namespace {

// Register tile of the GEMM: MR rows x NV vectors of C stay in registers.
// 32 vector registers (AVX-512, AArch64): 6 x 4 = 24 accumulators + 4 B
// vectors + 1 broadcast. 16 registers (SSE2, AVX2, ARMv7): 6 x 2 = 12 + 3.
template <class A>
constexpr int attn_nv_max() {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, A>::value) return 4;
#endif
#if defined(__aarch64__)
  return 4;
#else
  return 2;
#endif
}
constexpr int kAttnMr = 6;

// gemm_f32_<MR>x<NV vectors>: C tile = (acc ? C : 0) + A(MR x k) B(k x NV*W),
// the register tile (kernels/tile) on A in place.
template <class A, int MR, int NV>
inline void attn_gemm_tile(std::size_t k, const float* a, std::size_t ar, std::size_t ac, const float* b,
                           std::size_t ldb, float* c, std::size_t ldc, int acc) {
  using V = simd::vf<A>;
  using IO = unaligned_io<A>;
  tile_fma<V, MR, NV>(k, a, ar, ac, make_rows_b<V>(b, ldb, IO()), c_init<V, IO, std::size_t>{c, ldc, acc != 0, {}},
                      c_store<V, IO, std::size_t>{c, ldc, {}});
}

// One column panel of NV vectors over all m rows: full MR tiles, then the rest.
template <class A, int NV>
void attn_gemm_panel(std::size_t m, std::size_t k, const float* a, std::size_t ar, std::size_t ac, const float* b,
                     std::size_t ldb, float* c, std::size_t ldc, int acc) {
  std::size_t r = 0;
  for (; r + kAttnMr <= m; r += kAttnMr)
    attn_gemm_tile<A, kAttnMr, NV>(k, a + r * ar, ar, ac, b, ldb, c + r * ldc, ldc, acc);
  a += r * ar;
  c += r * ldc;
  switch (m - r) {
    case 5: attn_gemm_tile<A, 5, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 4: attn_gemm_tile<A, 4, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 3: attn_gemm_tile<A, 3, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 2: attn_gemm_tile<A, 2, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    case 1: attn_gemm_tile<A, 1, NV>(k, a, ar, ac, b, ldb, c, ldc, acc); break;
    default: break;
  }
}

template <class A>
void attn_gemm_f32(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t ar, std::size_t ac,
                   const float* b, std::size_t ldb, float* c, std::size_t ldc, int acc) {
  constexpr std::size_t W = simd::vf<A>::size;
  constexpr int NVM = attn_nv_max<A>();
  std::size_t j = 0;
  for (; j + NVM * W <= n; j += NVM * W) attn_gemm_panel<A, NVM>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
  switch ((n - j) / W) {  // n % W == 0 (n is a multiple of kAttnBwdPad)
    case 3:
      if constexpr (NVM > 3) attn_gemm_panel<A, 3>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
      break;
    case 2:
      if constexpr (NVM > 2) attn_gemm_panel<A, 2>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc);
      break;
    case 1: attn_gemm_panel<A, 1>(m, k, a, ar, ac, b + j, ldb, c + j, ldc, acc); break;
    default: break;
  }
}

template <class A>
void attn_softmax_grad_f32(std::size_t rows, std::size_t cols, const std::size_t* valid, const float* lse,
                           const float* D, const float* drop, float* s, float* dp, std::size_t ld) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  alignas(64) static constexpr float kIota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const V iota = V::load_aligned(kIota);
  const V zero(0.f);
  for (std::size_t r = 0; r < rows; ++r) {
    float* sr = s + r * ld;
    float* dr = dp + r * ld;
    const float* mr = drop ? drop + r * ld : nullptr;
    const std::size_t nv = valid[r];
    const V vlse(lse[r]), vD(D[r]), vnv(static_cast<float>(nv));
    std::size_t c = 0;
    for (; c < nv; c += W) {
      // s - lse as the forward's s - m, then its exp (attn_softmax_f32).
      const V p = exp_nonpos_f32<A>(V::load_unaligned(sr + c) - vlse);
      V g = V::load_unaligned(dr + c);
      V pd = p;
      if (mr) {
        const V m = V::load_unaligned(mr + c);
        pd = p * m;
        g = g * m;
      }
      V ds = p * (g - vD);
      if (c + W > nv) {  // the last, partly visible vector: exact small integers in float
        const auto keep = (iota + V(static_cast<float>(c))) < vnv;
        pd = xsimd::select(keep, pd, zero);
        ds = xsimd::select(keep, ds, zero);
      }
      pd.store_unaligned(sr + c);
      ds.store_unaligned(dr + c);
    }
    for (; c < cols; c += W) {
      zero.store_unaligned(sr + c);
      zero.store_unaligned(dr + c);
    }
  }
}

template <class A>
constexpr attn_bwd_kernels make_attn_bwd_kernels() {
  return {attn_gemm_f32<A>, attn_softmax_grad_f32<A>};
}

}  // namespace
}  // namespace qkv::kern
