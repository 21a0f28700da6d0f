// SPDX-License-Identifier: MIT
// Scalar fused attention tile kernels: the fallback on every CPU and the only
// set on Cortex-M. The same tiles and summation order as the SIMD sets, as
// plain loops over a 16-query row (which compilers vectorize where they can).
#include "kernels/attn/attn.hpp"
#include "kernels/attn/softcap_math.hpp"
#include "kernels/softmax/exp_scalar.hpp"
#include "kernels/tile/tile-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kBr = 16;

// Per key, a 1 x kBr register tile (kernels/tile) over all d.
void attn_scores_f32_scalar(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk,
                            float* st) {
  for (std::size_t j = 0; j < kb; ++j)
    tile_fma<float, 1, kBr>(d, k + j * ldk, fixed<0>(), fixed<1>(), make_rows_b<float>(qt, fixed<kBr>(), scalar_io()),
                            zero_init<float>(), c_store<float, scalar_io, fixed<kBr>>{st + j * kBr, {}, {}});
}

void attn_softmax_f32_scalar(std::size_t kb, float* st, float* m, float* l, float* alpha) {
  constexpr float kNegInf = -__builtin_huge_valf();
  for (std::size_t i = 0; i < kBr; ++i) {
    float mx = m[i];
    for (std::size_t j = 0; j < kb; ++j) mx = st[j * kBr + i] > mx ? st[j * kBr + i] : mx;
    const float mu = mx == kNegInf ? 0.0f : mx;
    const float a = exp_f32_shared(m[i] - mu);
    float sum = l[i] * a;
    for (std::size_t j = 0; j < kb; ++j) {
      const float e = exp_f32_shared(st[j * kBr + i] - mu);
      st[j * kBr + i] = e;
      sum += e;
    }
    alpha[i] = a;
    m[i] = mx;
    l[i] = sum;
  }
}

// ot[f][:] starts as alpha[:] * ot[f][:].
struct rescaled_ot_scalar {
  const float* ot;
  const float* alpha;
  float operator()(std::size_t, std::size_t i) const { return ot[i] * alpha[i]; }
};

// Per feature, a 1 x kBr register tile over the kb keys (no chunks: a
// feature's 16 lanes and its V column are all the tile touches).
void attn_accumulate_f32_scalar(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                                const float* alpha, float* ot, std::size_t /*key_chunk*/) {
  for (std::size_t f = 0; f < dv; ++f)
    tile_fma<float, 1, kBr>(kb, v + f, fixed<0>(), ldv, make_rows_b<float>(pt, fixed<kBr>(), scalar_io()),
                            rescaled_ot_scalar{ot + f * kBr, alpha},
                            c_store<float, scalar_io, fixed<kBr>>{ot + f * kBr, {}, {}});
}

// softcap_math.hpp's policy on floats, with the library's exp.
struct cap_sops {
  using T = float;
  static float exp(float v) noexcept { return exp_f32_shared(v); }
  static float abs(float v) noexcept { return v < 0.0f ? -v : v; }
  static float div(float a, float b) noexcept { return a / b; }
  static bool lt(float a, float b) noexcept { return a < b; }
  static float sel(bool m, float a, float b) noexcept { return m ? a : b; }
};

void attn_softcap_f32_scalar(std::size_t n, float cap, float* s, float* dtanh) {
  const float ic = 1.0f / cap;
  for (std::size_t i = 0; i < n; ++i) {
    const cap_tanh<cap_sops> r = softcap_tanh<cap_sops>(s[i] * ic);
    s[i] = cap * r.t;
    if (dtanh) dtanh[i] = r.d;
  }
}

// Decode: per row and key, the dot product over f in order (the scores
// tile's operations); per row and feature, the rescale then one
// multiply-add per key in order (the accumulate tile's). Hosted builds
// only, as their driver (ops/sdpa_decode.cpp): bare metal keeps its .text.
#ifdef QKV_HOSTED
void attn_decode_scores_f32_scalar(std::size_t rows, std::size_t kb, std::size_t d, const float* q, const float* k,
                                   std::size_t ldk, float* s, std::size_t lds) {
  using O = vec_ops<float>;
  for (std::size_t j = 0; j < kb; ++j)
    for (std::size_t r = 0; r < rows; ++r) {
      float acc = O::zero();
      for (std::size_t f = 0; f < d; ++f) acc = O::fma(k[j * ldk + f], q[r * d + f], acc);
      s[r * lds + j] = acc;
    }
}

void attn_decode_accumulate_f32_scalar(std::size_t rows, std::size_t kb, std::size_t dv, const float* p,
                                       std::size_t ldp, const float* v, std::size_t ldv, const float* alpha,
                                       float* o) {
  using O = vec_ops<float>;
  for (std::size_t r = 0; r < rows; ++r) {
    float* orow = o + r * dv;
    for (std::size_t f = 0; f < dv; ++f) orow[f] = O::mul(orow[f], alpha[r]);
    for (std::size_t j = 0; j < kb; ++j)
      for (std::size_t f = 0; f < dv; ++f) orow[f] = O::fma(v[j * ldv + f], p[r * ldp + j], orow[f]);
  }
}
#else
constexpr auto attn_decode_scores_f32_scalar = nullptr;
constexpr auto attn_decode_accumulate_f32_scalar = nullptr;
#endif

}  // namespace

const attn_kernels attn_scalar = {kBr,
                                  attn_scores_f32_scalar,
                                  attn_softmax_f32_scalar,
                                  attn_accumulate_f32_scalar,
                                  attn_softcap_f32_scalar,
                                  attn_decode_scores_f32_scalar,
                                  attn_decode_accumulate_f32_scalar,
                                  0,
                                  nullptr,
                                  nullptr};

}  // namespace qkv::kern
