// SPDX-License-Identifier: MIT
#include "ops/sdpa_plan.hpp"

#include <cmath>

namespace qkv::ops {

// Field by field into the returned object: a plan is never copied whole
// (GCC copies a struct this size with a memcpy call at -Os on bare metal).
sdpa_plan resolve_sdpa(const qkv_sdpa_desc& d, const exec& x) noexcept {
  sdpa_plan p;
  p.batch = d.batch;
  p.heads = d.heads;
  p.q_len = d.q_len;
  p.kv_len = d.kv_len;
  p.head_dim = d.head_dim;
  p.v_dim = d.v_dim ? d.v_dim : d.head_dim;
  p.q = d.q;
  p.k = d.k;
  p.v = d.v;
  p.o = d.o;
  p.scale = d.scale != 0.f ? d.scale : 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  p.causal = d.causal != 0;
  p.dropout_p = d.dropout_p;
  p.dropout_seed = d.dropout_seed;
#ifdef QKV_HOSTED
  p.algo = d.algo == QKV_SDPA_REFERENCE ? QKV_SDPA_REFERENCE : QKV_SDPA_FUSED;
#else  // bare metal builds no reference drivers (the Cortex-M code budget): the fused kernel, same contract
  p.algo = QKV_SDPA_FUSED;
#endif
  p.kv_heads = d.kv_heads ? d.kv_heads : d.heads;
  p.group = d.heads / p.kv_heads;
  p.window = d.window;
  p.kv_lens = d.kv_lens;
  p.q_lens = d.q_lens;
  p.mask = d.mask;
  p.mask_strides = d.mask_strides;
  p.softcap = d.softcap;
  p.x = x;
#ifdef QKV_HOSTED  // bare metal never reads them (no bf16 attention set there)
  p.bf16_dot = false;
  p.amx_scores = false;
#endif
  return p;
}

}  // namespace qkv::ops
