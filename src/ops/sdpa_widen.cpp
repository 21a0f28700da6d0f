// SPDX-License-Identifier: MIT
#include "ops/sdpa_widen.hpp"

#include <cstdint>

#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

struct shape {
  const qkv_sdpa_strides* s;
  std::size_t heads, len, dim;
};

shape shape_of(const sdpa_plan& p, sdpa_tensor t) {
  switch (t) {
    case sdpa_tensor::q: return {&p.q, p.heads, p.q_len, p.head_dim};
    case sdpa_tensor::k: return {&p.k, p.kv_heads, p.kv_len, p.head_dim};
    case sdpa_tensor::v: return {&p.v, p.kv_heads, p.kv_len, p.v_dim};
    default: return {&p.o, p.heads, p.q_len, p.v_dim};
  }
}

qkv_sdpa_strides contiguous(std::size_t heads, std::size_t len, std::size_t dim) {
  return {heads * len * dim, len * dim, dim};
}

// Every row of tensor t between its typed layout (`typed`, strided) and its
// contiguous fp32 copy (`wide`): widened into wide, or (narrow) rounded
// into typed. One loop for both directions and every type.
void convert_rows(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t, bool narrow,
                  const void* typed, float* wide) {
  const shape sh = shape_of(p, t);
  const bool f32 = type == QKV_DTYPE_F32, bf16 = type == QKV_DTYPE_BF16;
  const std::size_t es = f32 ? sizeof(float) : sizeof(std::uint16_t);
  std::size_t d = 0;
  for (std::size_t b = 0; b < p.batch; ++b)
    for (std::size_t h = 0; h < sh.heads; ++h)
      for (std::size_t i = 0; i < sh.len; ++i, d += sh.dim) {
        const std::size_t so = b * sh.s->batch + h * sh.s->head + i * sh.s->token;
        void* row = const_cast<char*>(static_cast<const char*>(typed)) + so * es;
        float* w = wide + d;
        if (f32 && narrow)
          util::copy_floats(static_cast<float*>(row), w, sh.dim);
        else if (f32)
          util::copy_floats(w, static_cast<const float*>(row), sh.dim);
        else if (narrow)
          (bf16 ? cv.f32_to_bf16 : cv.f32_to_f16)(sh.dim, w, static_cast<std::uint16_t*>(row));
        else
          (bf16 ? cv.bf16_to_f32 : cv.f16_to_f32)(sh.dim, static_cast<const std::uint16_t*>(row), w);
      }
}

}  // namespace

bool sdpa_wide_floats(const sdpa_plan& p, sdpa_tensor t, std::size_t* floats) noexcept {
  const shape sh = shape_of(p, t);
  std::size_t n;
  return util::mul_ok(p.batch, sh.heads, &n) && util::mul_ok(n, sh.len, &n) && util::mul_ok(n, sh.dim, floats);
}

bool sdpa_wide_slots(const sdpa_plan& p, const sdpa_tensor* which, int n, std::size_t* offsets,
                     std::size_t* total) noexcept {
  constexpr std::size_t kLine = 64 / sizeof(float);
  std::size_t at = 0, f;
  for (int i = 0; i < n; ++i) {
    offsets[i] = at;
    if (!sdpa_wide_floats(p, which[i], &f) || !util::add_ok(f, kLine - 1, &f) || !util::add_ok(at, f / kLine * kLine, &at))
      return false;
  }
  *total = at;
  return true;
}

sdpa_plan sdpa_contiguous_plan(const sdpa_plan& p) noexcept {
  sdpa_plan c;
  util::copy_bytes(&c, &p, sizeof c);  // not `= p`: bare-metal GCC calls memcpy for it
  c.q = contiguous(p.heads, p.q_len, p.head_dim);
  c.k = contiguous(p.kv_heads, p.kv_len, p.head_dim);
  c.v = contiguous(p.kv_heads, p.kv_len, p.v_dim);
  c.o = contiguous(p.heads, p.q_len, p.v_dim);
  return c;
}

void sdpa_widen(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t, const void* src,
                float* dst) noexcept {
  convert_rows(cv, type, p, t, false, src, dst);
}

void sdpa_narrow(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t,
                 const float* src, void* dst) noexcept {
  convert_rows(cv, type, p, t, true, dst, const_cast<float*>(src));
}

}  // namespace qkv::ops
