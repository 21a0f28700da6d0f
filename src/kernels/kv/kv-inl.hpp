// SPDX-License-Identifier: MIT
// kv-inl.hpp - xsimd kv kernels, templated on the architecture (internal
// linkage: included only by the tables_<isa>.cpp files).
#pragma once

#include "kernels/kv/kv.hpp"
#include "kernels/simd.hpp"

namespace qkv::kern {
namespace {

template <class A>
void kv_scores(std::size_t n, std::size_t d, const float* q, const float* t, float scale, float* s) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  for (std::size_t j = 0; j < n; ++j) {
    const float* k = t + j * d;
    V a0(0.f), a1(0.f);
    std::size_t c = 0;
    for (; c + 2 * W <= d; c += 2 * W) {
      a0 = simd::fmadd<A>(V::load_unaligned(q + c), V::load_unaligned(k + c), a0);
      a1 = simd::fmadd<A>(V::load_unaligned(q + c + W), V::load_unaligned(k + c + W), a1);
    }
    for (; c + W <= d; c += W) a0 = simd::fmadd<A>(V::load_unaligned(q + c), V::load_unaligned(k + c), a0);
    float acc = simd::reduce_add<A>(a0 + a1);
    for (; c < d; ++c) acc += q[c] * k[c];
    s[j] = scale * acc;
  }
}

template <class A>
void kv_accum(std::size_t n, std::size_t d, const float* p, const float* t, float* out) {
  using V = simd::vf<A>;
  constexpr std::size_t W = V::size;
  std::size_t c = 0;
  for (; c + W <= d; c += W) {
    V acc = V::load_unaligned(out + c);
    for (std::size_t j = 0; j < n; ++j) acc = simd::fmadd<A>(V(p[j]), V::load_unaligned(t + j * d + c), acc);
    acc.store_unaligned(out + c);
  }
  for (; c < d; ++c) {
    float acc = out[c];
    for (std::size_t j = 0; j < n; ++j) acc += p[j] * t[j * d + c];
    out[c] = acc;
  }
}

template <class A>
constexpr kv_kernels make_kv_kernels() {
  return {kv_scores<A>, kv_accum<A>};
}

}  // namespace
}  // namespace qkv::kern
