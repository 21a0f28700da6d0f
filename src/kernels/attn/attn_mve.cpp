// SPDX-License-Identifier: MIT
// Helium (MVE) tile kernels of the fused attention forward (attn.hpp), 16
// queries per tile (4 vectors): the register tile (kernels/tile) on
// float32x4_t, 3 keys or features x 2 vectors of queries (6 accumulators +
// 1 vector of the 8 Q registers, K and V elements broadcast from core
// registers), and the online softmax step with the vector exp
// (exp_nonpos_mve, which the backward's softmax_grad shares).
#include "kernels/attn/attn.hpp"
#include "kernels/softmax/exp_mve-inl.hpp"
#include "kernels/tile/tile_mve-inl.hpp"

namespace qkv::kern {
namespace {

constexpr std::size_t kBr = 16, kQv = kMveNv, kPw = kQv * kMveW;  // queries per panel: 8
static_assert(kBr % kPw == 0, "a tile is whole panels");

using rows_br = rows_b<mve_f32, mve_io, fixed<kBr>>;
using store_br = c_store<mve_f32, mve_io, fixed<kBr>>;

// NB keys (rows of K, ldk apart) x one panel of queries, over all d.
template <std::size_t NB>
inline void scores_tile(std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st) {
  tile_fma<mve_f32, NB, kQv>(d, k, ldk, fixed<1>(), rows_br{qt, {}, {}}, zero_init<mve_f32>(), store_br{st, {}, {}});
}

void attn_scores_f32_mve(std::size_t kb, std::size_t d, const float* qt, const float* k, std::size_t ldk, float* st) {
  for (std::size_t p = 0; p < kBr; p += kPw) {
    std::size_t j = 0;
    for (; j + kMveMr <= kb; j += kMveMr) scores_tile<kMveMr>(d, qt + p, k + j * ldk, ldk, st + j * kBr + p);
    if (kb - j == 2) scores_tile<2>(d, qt + p, k + j * ldk, ldk, st + j * kBr + p);
    if (kb - j == 1) scores_tile<1>(d, qt + p, k + j * ldk, ldk, st + j * kBr + p);
  }
}

// Lane-wise: each vector of 4 queries on its own (the lanes never meet).
void attn_softmax_f32_mve(std::size_t kb, float* st, float* m, float* l, float* alpha) {
  for (std::size_t c = 0; c < kBr; c += kMveW) {
    const mve_f32 m0 = vldrwq_f32(m + c);
    mve_f32 mx = m0;
    for (std::size_t j = 0; j < kb; ++j) {
      const mve_f32 s = vldrwq_f32(st + j * kBr + c);
      mx = vpselq_f32(s, mx, vcmpgtq_f32(s, mx));  // s > mx ? s : mx, as the scalar set
    }
    const mve_f32 mu = vpselq_f32(vdupq_n_f32(0.0f), mx, vcmpeqq_n_f32(mx, -__builtin_huge_valf()));
    const mve_f32 a = exp_nonpos_mve(vsubq_f32(m0, mu));
    vstrwq_f32(alpha + c, a);
    vstrwq_f32(m + c, mx);
    mve_f32 sum = vmulq_f32(vldrwq_f32(l + c), a);
    for (std::size_t j = 0; j < kb; ++j) {
      const mve_f32 e = exp_nonpos_mve(vsubq_f32(vldrwq_f32(st + j * kBr + c), mu));
      vstrwq_f32(st + j * kBr + c, e);
      sum = vaddq_f32(sum, e);
    }
    vstrwq_f32(l + c, sum);
  }
}

// The accumulator starts from O^T rescaled by alpha.
struct rescaled_ot_mve {
  const float* ot;
  const float* alpha;
  mve_f32 operator()(std::size_t n, std::size_t u) const {
    return vmulq_f32(vldrwq_f32(ot + n * kBr + u * kMveW), vldrwq_f32(alpha + u * kMveW));
  }
};

// NB features (columns of V, rows ldv apart) x one panel of queries, over all
// kb keys at once: each element's multiply-adds in key order, so key_chunk
// (an L1 blocking for hosted caches) changes nothing and is not needed here.
template <std::size_t NB>
inline void accumulate_tile(std::size_t kb, const float* pt, const float* v, std::size_t ldv, const float* alpha,
                            float* ot) {
  tile_fma<mve_f32, NB, kQv>(kb, v, fixed<1>(), ldv, rows_br{pt, {}, {}}, rescaled_ot_mve{ot, alpha},
                             store_br{ot, {}, {}});
}

void attn_accumulate_f32_mve(std::size_t kb, std::size_t dv, const float* pt, const float* v, std::size_t ldv,
                             const float* alpha, float* ot, std::size_t /*key_chunk*/) {
  for (std::size_t p = 0; p < kBr; p += kPw) {
    std::size_t f = 0;
    for (; f + kMveMr <= dv; f += kMveMr) accumulate_tile<kMveMr>(kb, pt + p, v + f, ldv, alpha + p, ot + f * kBr + p);
    if (dv - f == 2) accumulate_tile<2>(kb, pt + p, v + f, ldv, alpha + p, ot + f * kBr + p);
    if (dv - f == 1) accumulate_tile<1>(kb, pt + p, v + f, ldv, alpha + p, ot + f * kBr + p);
  }
}

// Soft-capping: the scalar set's (a tanh per score, off the hot loop).
void attn_softcap_f32_mve(std::size_t n, float cap, float* s, float* dtanh) { attn_scalar.softcap(n, cap, s, dtanh); }

}  // namespace

// No decode kernels: bare metal has no decode path (ops/sdpa_decode.cpp).
const attn_kernels attn_mve = {kBr,    attn_scores_f32_mve, attn_softmax_f32_mve, attn_accumulate_f32_mve,
                               attn_softcap_f32_mve, nullptr, nullptr, 0, nullptr, nullptr};

}  // namespace qkv::kern
