// SPDX-License-Identifier: MIT
#include "ops/sdpa_widen.hpp"

#include <cstdint>

#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

struct shape {
  const qkv_sdpa_strides* s;
  std::size_t len, dim;
};

shape shape_of(const sdpa_plan& p, sdpa_tensor t) {
  switch (t) {
    case sdpa_tensor::q: return {&p.q, p.q_len, p.head_dim};
    case sdpa_tensor::k: return {&p.k, p.kv_len, p.head_dim};
    case sdpa_tensor::v: return {&p.v, p.kv_len, p.v_dim};
    default: return {&p.o, p.q_len, p.v_dim};
  }
}

qkv_sdpa_strides contiguous(const sdpa_plan& p, std::size_t len, std::size_t dim) {
  return {p.heads * len * dim, len * dim, dim};
}

// Calls row(src_offset, dst_offset) for every row of tensor t.
template <class F>
void for_rows(const sdpa_plan& p, sdpa_tensor t, F&& row) {
  const shape sh = shape_of(p, t);
  std::size_t d = 0;
  for (std::size_t b = 0; b < p.batch; ++b)
    for (std::size_t h = 0; h < p.heads; ++h)
      for (std::size_t i = 0; i < sh.len; ++i, d += sh.dim) row(b * sh.s->batch + h * sh.s->head + i * sh.s->token, d);
}

}  // namespace

bool sdpa_wide_floats(const sdpa_plan& p, sdpa_tensor t, std::size_t* floats) noexcept {
  const shape sh = shape_of(p, t);
  std::size_t n;
  return util::mul_ok(p.batch, p.heads, &n) && util::mul_ok(n, sh.len, &n) && util::mul_ok(n, sh.dim, floats);
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
  c.q = contiguous(p, p.q_len, p.head_dim);
  c.k = contiguous(p, p.kv_len, p.head_dim);
  c.v = contiguous(p, p.kv_len, p.v_dim);
  c.o = contiguous(p, p.q_len, p.v_dim);
  return c;
}

void sdpa_widen(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t, const void* src,
                float* dst) noexcept {
  const std::size_t dim = shape_of(p, t).dim;
  if (type == QKV_DTYPE_F32) {
    const auto* s = static_cast<const float*>(src);
    for_rows(p, t, [&](std::size_t so, std::size_t d) { util::copy_floats(dst + d, s + so, dim); });
    return;
  }
  const auto* s = static_cast<const std::uint16_t*>(src);
  const auto widen = type == QKV_DTYPE_BF16 ? cv.bf16_to_f32 : cv.f16_to_f32;
  for_rows(p, t, [&](std::size_t so, std::size_t d) { widen(dim, s + so, dst + d); });
}

void sdpa_narrow(const kern::convert_kernels& cv, qkv_dtype type, const sdpa_plan& p, sdpa_tensor t,
                 const float* src, void* dst) noexcept {
  const std::size_t dim = shape_of(p, t).dim;
  if (type == QKV_DTYPE_F32) {
    auto* o = static_cast<float*>(dst);
    for_rows(p, t, [&](std::size_t so, std::size_t d) { util::copy_floats(o + so, src + d, dim); });
    return;
  }
  auto* o = static_cast<std::uint16_t*>(dst);
  const auto narrow = type == QKV_DTYPE_BF16 ? cv.f32_to_bf16 : cv.f32_to_f16;
  for_rows(p, t, [&](std::size_t so, std::size_t d) { narrow(dim, src + d, o + so); });
}

}  // namespace qkv::ops
