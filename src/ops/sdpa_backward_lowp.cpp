// SPDX-License-Identifier: MIT
// The attention backward on bf16 or fp16 tensors (qkv_sdpa_backward_ex):
// Q, K, V, O and dO widened (exactly) into contiguous fp32 copies
// (ops/sdpa_widen), the fp32 backward of the plan's algorithm run on them,
// and dQ, dK, dV rounded once to the storage type. It computes what the
// fp32 backward computes from the stored values (accuracy: the fp32 one
// plus the final rounding), except for BF16 where the forward multiplied
// in bf16 (the fused kernel on a CPU with fast bf16 dot products): there
// the fused backward's bf16 mode runs on the copies (P and dS rounded to
// bf16 as well, the forward's scores recomputed bit for bit), and where the
// forward ran on AMX tiles the same bf16 mode on AMX tiles (amx_scores: the
// forward's scores again). The workspace holds the eight copies (about
// 8 * batch * heads * len * dim floats) besides the fp32 backward's own.
#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_widen.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

// Q K V O dO, then dQ dK dV.
constexpr sdpa_tensor kWide[8] = {sdpa_tensor::q, sdpa_tensor::k, sdpa_tensor::v, sdpa_tensor::o,
                                  sdpa_tensor::o, sdpa_tensor::q, sdpa_tensor::k, sdpa_tensor::v};

// The backward's plan on the contiguous copies: BF16 where the fused
// forward took the bf16 dot path (sdpa_bf16_dot_usable: the same decision)
// multiplies in bf16 too, recomputing the forward's scores bit for bit.
sdpa_plan inner_plan(const sdpa_plan& p, qkv_dtype type) {
  sdpa_plan c = sdpa_contiguous_plan(p);
#ifdef QKV_HOSTED
  c.amx_scores = sdpa_amx_forward(c, type);  // the forward ran on AMX tiles (it takes them first)
  c.bf16_dot = type == QKV_DTYPE_BF16 && !c.amx_scores && sdpa_bf16_dot_usable(c);
#else
  (void)type;
#endif
  return c;
}

// The plan the workspace is sized for: the run's, with room for the AMX
// recomputation wherever its shapes allow it, whatever the CPU (so the size
// does not depend on it; the run carves it only where the forward used it).
sdpa_plan sizing_plan(const sdpa_plan& p, qkv_dtype type) {
  sdpa_plan c = inner_plan(p, type);
#ifdef QKV_HAVE_AMX
  if (sdpa_amx_shapes(p, type)) c.amx_scores = true;
#endif
  return c;
}

}  // namespace

bool sdpa_backward_workspace_bytes(const sdpa_plan& p, qkv_dtype type, int threads, std::size_t* bytes) noexcept {
  if (type == QKV_DTYPE_F32) return sdpa_backward_workspace_bytes(p, threads, bytes);
  std::size_t at[8], floats, inner, total;
  if (!sdpa_wide_slots(p, kWide, 8, at, &floats) ||
      !sdpa_backward_workspace_bytes(sizing_plan(p, type), threads, &inner) ||
      !util::mul_ok(floats, sizeof(float), &total) || !util::add_ok(total, inner, &total) ||
      !util::add_ok(total, kSdpaAlign, &total))
    return false;
  *bytes = total;
  return true;
}

bool sdpa_backward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, const void* out,
                   const float* lse, const void* dout, void* dq, void* dk, void* dv, void* ws,
                   std::size_t bytes) noexcept {
  if (type == QKV_DTYPE_F32)
    return sdpa_backward(p, static_cast<const float*>(q), static_cast<const float*>(k), static_cast<const float*>(v),
                         static_cast<const float*>(out), lse, static_cast<const float*>(dout), static_cast<float*>(dq),
                         static_cast<float*>(dk), static_cast<float*>(dv), ws, bytes);
  std::size_t at[8], floats, one;
  if (!ws || !sdpa_wide_slots(p, kWide, 8, at, &floats) || !sdpa_backward_workspace_bytes(p, type, 1, &one) ||
      bytes < one)
    return false;
  const auto addr = reinterpret_cast<std::uintptr_t>(ws);
  const std::size_t pad = (kSdpaAlign - addr % kSdpaAlign) % kSdpaAlign;
  float* w = reinterpret_cast<float*>(static_cast<char*>(ws) + pad);
  float* t[8];
  for (int i = 0; i < 8; ++i) t[i] = w + at[i];
  const kern::convert_kernels& cv = kern::convert_for(p.x.isa);
  const void* in[5] = {q, k, v, out, dout};
  for (int i = 0; i < 5; ++i) sdpa_widen(cv, type, p, kWide[i], in[i], t[i]);
  const std::size_t used = pad + floats * sizeof(float);
  if (!sdpa_backward(inner_plan(p, type), t[0], t[1], t[2], t[3], lse, t[4], t[5], t[6], t[7], w + floats,
                     bytes - used))
    return false;
  sdpa_narrow(cv, type, p, sdpa_tensor::q, t[5], dq);
  sdpa_narrow(cv, type, p, sdpa_tensor::k, t[6], dk);
  sdpa_narrow(cv, type, p, sdpa_tensor::v, t[7], dv);
  return true;
}

}  // namespace qkv::ops
