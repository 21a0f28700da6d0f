// SPDX-License-Identifier: MIT
// tile-inl.hpp - the one register tile every fp32 product kernel is built
// from (GEMM micro-kernels and small-matrix path, the fused attention
// forward's score and accumulate steps, the attention backward's GEMM):
//
//   acc[i][v] = init(i, v);                                 i < MR, v < NV
//   for k < kc:  acc[i][v] = fma(bcast(a[i*a_rs + k*a_cs]), load_b(k, v), acc[i][v])
//   finish(i, v, acc[i][v]);
//
// MR rows of a strided A are broadcast against NV vectors of a row of B.
// Every element is one multiply-add per k, in order of k, so the bits do
// not depend on the tile shape or on which tile computed the element. The
// vector type V is a per-ISA choice (an xsimd batch, a raw x86 register, or
// float for the scalar set: kernels/tile/tile_simd-inl.hpp, the avx512 GEMM
// and the scalar files supply vec_ops<V>); the operands' memory access is
// the caller's, through small policy objects:
//   a_rs, a_cs   A's strides, size_t or fixed<N> (a compile-time stride:
//                a packed panel's constant offsets fold into the addresses)
//   load_b(k,v)  vector v of B's row k (aligned, unaligned, masked, gathered)
//   init(i,v)    the starting accumulator (zero, or C to accumulate into)
//   finish(i,v,acc)  the epilogue (store, scale, add beta*C, masks)
//   step(a_k)    a per-k hook given A's column k, &a[k*a_cs] (a software
//                prefetch relative to it), no_step otherwise
// No xsimd here: the scalar set (Cortex-M) includes it too. Internal
// linkage: each ISA's translation unit has its own copy.
#pragma once

#include <cstddef>
#include <type_traits>

namespace qkv::kern {
namespace {

// A compile-time stride.
template <std::size_t N>
using fixed = std::integral_constant<std::size_t, N>;

// Arithmetic of one vector type: width, zero(), bcast(x), fma(a, b, c) =
// a*b + c (fused where the ISA's kernels fuse), mul(a, b). bcast may return
// the float itself where fma takes a scalar operand (Helium's vfma q, q, r:
// the A element stays in a core register and costs no vector register).
template <class V>
struct vec_ops;

// The scalar set's arithmetic: unfused, as the scalar set has always rounded
// (a Cortex-M4 has no fused single-precision instruction to match).
template <>
struct vec_ops<float> {
  static constexpr std::size_t width = 1;
  static float zero() { return 0.0f; }
  static float bcast(float x) { return x; }
  static float fma(float a, float b, float c) { return a * b + c; }
  static float mul(float a, float b) { return a * b; }
};

struct no_step {
  void operator()(const float*) const {}
};

#if defined(__GNUC__)
#define QKV_TILE_INLINE __attribute__((always_inline)) inline
#else
#define QKV_TILE_INLINE inline
#endif

// The accumulators live in registers: the loops have constant bounds and are
// fully unrolled, and everything is inlined into the kernel that calls it.
template <class V, std::size_t MR, std::size_t NV, class RS, class CS, class LoadB, class Init, class Finish,
          class Step = no_step>
QKV_TILE_INLINE void tile_fma(std::size_t kc, const float* a, RS a_rs, CS a_cs, const LoadB& load_b,
                              const Init& init, const Finish& finish, const Step& step = Step()) {
  using O = vec_ops<V>;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) acc[i][v] = init(i, v);
  for (std::size_t k = 0; k < kc; ++k) {
    // A's column k from its base: never a pointer past the last column (with
    // a huge stride that would overflow; the compiler strength-reduces it).
    const float* ak = a + k * a_cs;
    step(ak);
    V b[NV];
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) b[v] = load_b(k, v);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i) {
      const auto av = O::bcast(ak[i * a_rs]);  // a V, or a float where fma takes a scalar
#pragma GCC unroll 16
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = O::fma(av, b[v], acc[i][v]);
    }
  }
#pragma GCC unroll 16
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (std::size_t v = 0; v < NV; ++v) finish(i, v, acc[i][v]);
}

// ---- operand policies shared by the kernels -------------------------------
// IO (memory access of one vector, v = its index in the tile row, for
// masks): static or member load(p, v) / store(p, v, x).

// B's row k at b + k*ld, vector v at + v*width.
template <class V, class IO, class LD>
struct rows_b {
  const float* b;
  LD ld;
  IO io;
  V operator()(std::size_t k, std::size_t v) const { return io.load(b + k * ld + v * vec_ops<V>::width, v); }
};
template <class V, class IO, class LD>
rows_b<V, IO, LD> make_rows_b(const float* b, LD ld, IO io) {
  return {b, ld, io};
}

template <class V>
struct zero_init {
  V operator()(std::size_t, std::size_t) const { return vec_ops<V>::zero(); }
};

// Accumulate into (acc) or overwrite C: C rows ld apart.
template <class V, class IO, class LD>
struct c_init {
  const float* c;
  LD ld;
  bool acc;
  IO io;
  V operator()(std::size_t i, std::size_t v) const {
    return acc ? io.load(c + i * ld + v * vec_ops<V>::width, v) : vec_ops<V>::zero();
  }
};

template <class V, class IO, class LD>
struct c_store {
  float* c;
  LD ld;
  IO io;
  void operator()(std::size_t i, std::size_t v, V x) const { io.store(c + i * ld + v * vec_ops<V>::width, v, x); }
};

// GEMM's epilogue: C = alpha*acc + beta*C, beta == 0 never reading C.
template <class V, class IO>
struct axpby_store {
  float* c;
  std::size_t ldc;
  V va, vb;
  bool read_c;
  IO io;
  axpby_store(float* c_, std::size_t ldc_, float alpha, float beta, IO io_)
      : c(c_), ldc(ldc_), va(vec_ops<V>::bcast(alpha)), vb(vec_ops<V>::bcast(beta)), read_c(beta != 0.0f), io(io_) {}
  void operator()(std::size_t i, std::size_t v, V acc) const {
    using O = vec_ops<V>;
    float* p = c + i * ldc + v * O::width;
    V r = O::mul(va, acc);
    if (read_c) r = O::fma(vb, io.load(p, v), r);
    io.store(p, v, r);
  }
};

// Scalar memory access (V = float).
struct scalar_io {
  static float load(const float* p, std::size_t) { return *p; }
  static void store(float* p, std::size_t, float x) { *p = x; }
};

}  // namespace
}  // namespace qkv::kern
