// Scalar fused attention tile kernels: the fallback on every CPU and the only
// set on Cortex-M. The same tiles and summation order as the SIMD sets, as
// plain loops over a 16-query row (which compilers vectorize where they can).
#include "kernels/attn/attn.hpp"
#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kBr = 16;

void attn_scores_f32_scalar(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk,
                            float* st) {
  for (std::size_t j = 0; j < kb; ++j) {
    float acc[kBr];  // not `= {}`: no memset call (util/copy.hpp)
    for (float& a : acc) a = 0.0f;
    const float* kj = k + j * ldk;
    for (std::size_t f = 0; f < d; ++f)
      for (std::size_t i = 0; i < kBr; ++i) acc[i] += kj[f] * qt[f * kBr + i];
    for (std::size_t i = 0; i < kBr; ++i) st[j * kBr + i] = acc[i];
  }
}

void attn_softmax_f32_scalar(std::size_t kb, float* st, float* m, float* l, float* alpha) {
  constexpr float kNegInf = -__builtin_huge_valf();
  for (std::size_t i = 0; i < kBr; ++i) {
    float mx = m[i];
    for (std::size_t j = 0; j < kb; ++j) mx = st[j * kBr + i] > mx ? st[j * kBr + i] : mx;
    const float mu = mx == kNegInf ? 0.0f : mx;
    const float a = exp_f32_scalar(m[i] - mu);
    float sum = l[i] * a;
    for (std::size_t j = 0; j < kb; ++j) {
      const float e = exp_f32_scalar(st[j * kBr + i] - mu);
      st[j * kBr + i] = e;
      sum += e;
    }
    alpha[i] = a;
    m[i] = mx;
    l[i] = sum;
  }
}

void attn_accumulate_f32_scalar(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                                const float* alpha, float* ot) {
  for (std::size_t f = 0; f < dv; ++f) {
    float acc[kBr];
    for (std::size_t i = 0; i < kBr; ++i) acc[i] = ot[f * kBr + i] * alpha[i];
    for (std::size_t j = 0; j < kb; ++j) {
      const float b = v[j * ldv + f];
      for (std::size_t i = 0; i < kBr; ++i) acc[i] += b * pt[j * kBr + i];
    }
    for (std::size_t i = 0; i < kBr; ++i) ot[f * kBr + i] = acc[i];
  }
}

}  // namespace

const attn_kernels attn_scalar = {kBr, attn_scores_f32_scalar, attn_softmax_f32_scalar,
                                  attn_accumulate_f32_scalar};

}  // namespace qkv::kern
