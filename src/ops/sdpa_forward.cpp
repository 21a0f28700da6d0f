// SPDX-License-Identifier: MIT
#include "ops/sdpa_forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/attn/attn.hpp"
#include "kernels/softmax/softmax.hpp"
#include "ops/gemm.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/softmax.hpp"
#include "ops/threads.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
#ifdef QKV_HOSTED  // the reference drivers are hosted-only (ops/sdpa_plan.hpp)
namespace {

using namespace fused_step;

using util::add_ok;
using util::mul_ok;

// ---- reference -----------------------------------------------------------

// Per (b, h), one after the other: S = scale Q K^T (GEMM), masked
// (fused_step::mask_tile, a one-row tile: the fused kernel's rules); each row
// a stable softmax (threaded over rows), then dropout; O = P V (GEMM). The
// GEMMs thread themselves; every element is computed the same way for any
// thread count, so the result is too.
void reference_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* s, int max_threads) {
  const dropout_cfg drop(p);
  const kern::softmax_kernels& sk = kern::softmax_for(p.x.isa);
  const std::size_t Tq = p.q_len, Tk = p.kv_len, Dv = p.v_dim;
  int threads = threads_for(p.x, 25.0f * static_cast<float>(Tq) * static_cast<float>(Tk), Tq);
  if (threads > max_threads) threads = max_threads;
  for (std::size_t b = 0; b < p.batch; ++b)
    for (std::size_t h = 0; h < p.heads; ++h) {
      const seq sq = seq_of(p, b);
      sgemm(p.x, false, true, Tq, Tk, p.head_dim, p.scale, q + base(p.q, b, h), p.q.token,
            k + base(p.k, b, h / p.group), p.k.token, 0.0f, s, Tk, nullptr, 0);
      auto row = [&](std::size_t i) {
        float* si = s + i * Tk;
        mask_tile(p, sq, b, h, 1, i, 1, 0, Tk, si);
        const float row_lse = softmax_row(sk, Tk, 1.0f, si, si, false);
        if (lse) lse[(b * p.heads + h) * Tq + i] = row_lse;
        if (drop.on) {
          const std::uint64_t key = dropout::row_key(p.dropout_seed, b, h, i);
          for (std::size_t j = 0; j < Tk; ++j)
            si[j] = dropout::keep(key, j, drop.thresh) ? si[j] * drop.keep_scale : 0.0f;
        }
      };
      parallel_for_static(p.x, threads, Tq, row);
      sgemm(p.x, false, false, Tq, Dv, Tk, 1.0f, s, Tk, v + base(p.v, b, h / p.group), p.v.token, 0.0f, out + base(p.o, b, h),
            p.o.token, nullptr, 0);
    }
}

}  // namespace

bool sdpa_reference_forward_bytes(const sdpa_plan& p, std::size_t* bytes) noexcept {
  std::size_t b;
  if (!mul_ok(p.q_len, p.kv_len, &b) || !mul_ok(b, sizeof(float), &b) || !add_ok(b, kSdpaAlign - 1, &b)) return false;
  *bytes = b / kSdpaAlign * kSdpaAlign;
  return true;
}

void sdpa_reference_forward(const sdpa_plan& p, const float* q, const float* k, const float* v, float* out,
                            float* lse, float* s) noexcept {
  reference_forward(p, q, k, v, out, lse, s, 1024);
}

#else  // never called: plans are FUSED on bare metal

bool sdpa_reference_forward_bytes(const sdpa_plan&, std::size_t*) noexcept { return false; }
void sdpa_reference_forward(const sdpa_plan&, const float*, const float*, const float*, float*, float*,
                            float*) noexcept {}

#endif  // QKV_HOSTED

}  // namespace qkv::ops
