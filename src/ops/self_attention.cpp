// SPDX-License-Identifier: MIT
#include "ops/self_attention.hpp"

#include "ops/gemm.hpp"
#include "ops/sdpa_forward.hpp"
#include "util/copy.hpp"

namespace qkv::ops {
// An internal op no entry point of the C API calls (the tests build the
// book's chapter 3 on it): hosted builds only, as bare metal would carry it
// as code nothing can reach (Cortex-M4's .text budget).
#ifdef QKV_HOSTED
namespace {

// One batch, one head, dense [T, d_out] tensors.
qkv_sdpa_desc head_desc(const self_attention_dims& d, std::size_t ldc) {
  auto s = util::zeroed<qkv_sdpa_desc>();
  s.batch = s.heads = 1;
  s.q_len = s.kv_len = d.T;
  s.head_dim = d.d_out;
  s.q = s.k = s.v = {d.T * d.d_out, d.T * d.d_out, d.d_out};
  s.o = {d.T * ldc, d.T * ldc, ldc};
  s.causal = d.causal ? 1 : 0;
  s.algo = QKV_SDPA_FUSED;
  return s;
}

}  // namespace

bool self_attention_workspace_bytes(const self_attention_dims& d, int threads, std::size_t* bytes) noexcept {
  // Attention's workspace does not depend on the ISA: the plan's settings are not read.
  const sdpa_plan p = resolve_sdpa(head_desc(d, d.d_out), plain_exec(QKV_ISA_SCALAR, 1));
  return sdpa_forward_workspace_bytes(p, threads, bytes);
}

void self_attention_forward(const exec& xc, const self_attention_dims& d, const float* x, std::size_t ldx,
                            const float* wq, const float* wk, const float* wv, std::size_t ldw, float* q, float* k,
                            float* v, float* ctx, std::size_t ldc, float* lse, void* ws,
                            std::size_t ws_bytes) noexcept {
  sgemm(xc, false, false, d.T, d.d_out, d.d_in, 1.0f, x, ldx, wq, ldw, 0.0f, q, d.d_out, nullptr, 0);
  sgemm(xc, false, false, d.T, d.d_out, d.d_in, 1.0f, x, ldx, wk, ldw, 0.0f, k, d.d_out, nullptr, 0);
  sgemm(xc, false, false, d.T, d.d_out, d.d_in, 1.0f, x, ldx, wv, ldw, 0.0f, v, d.d_out, nullptr, 0);
  const sdpa_plan p = resolve_sdpa(head_desc(d, ldc), xc);
  sdpa_forward(p, q, k, v, ctx, lse, ws, ws_bytes);
}

#endif  // QKV_HOSTED

}  // namespace qkv::ops
