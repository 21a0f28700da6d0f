// SPDX-License-Identifier: MIT
// sdpa_draw - the attention call fuzz_sdpa.cpp and fuzz_sdpa_ex.cpp draw
// from an input (the same bytes give the same call in both): shapes,
// layouts (canonical [B,H,T,d] / [B,T,H,d], padded, shared K/V, arbitrary
// or huge strides), scale, causal, dropout and algorithm, with what their
// checks need (spans, which layouts are canonical, whether the call must be
// refused because a dimension is zero or a span overflows).
#pragma once

#include <cmath>
#include <limits>

#include "fuzz/harness.hpp"

namespace qkv_fuzz {

struct tensor_dims {
  std::size_t b, h, t, f;
};

qkv_sdpa_strides pick_layout(input& in, const tensor_dims& d, bool allow_shared, bool* canonical) {
  *canonical = true;
  switch (in.in(0, 7)) {
    case 5:  // padded [B,T,H,d]
      return {d.t * d.h * (d.f + 3), d.f + 3, d.h * (d.f + 3)};
    case 6:
      if (allow_shared) return {d.t * d.f, 0, d.f};  // shared by all heads
      return {d.h * d.t * d.f, d.t * d.f, d.f};
    case 7: {
      *canonical = false;
      if (in.one_in(3)) return {in.edge(), in.in<std::size_t>(0, 64), in.ld(d.f)};
      return {in.in<std::size_t>(0, 300), in.in<std::size_t>(0, 100), in.in<std::size_t>(0, 40)};
    }
    case 1:
    case 2:  // [B,T,H,d]
      return {d.t * d.h * d.f, d.f, d.h * d.f};
    default:  // [B,H,T,d]
      return {d.h * d.t * d.f, d.t * d.f, d.f};
  }
}

// Elements a tensor spans (0 on overflow -> *ok false).
std::size_t span(const qkv_sdpa_strides& s, const tensor_dims& d, bool* ok) {
  std::size_t total = d.f, off;
  const std::size_t st[3] = {s.batch, s.head, s.token}, ex[3] = {d.b, d.h, d.t};
  *ok = true;
  for (int i = 0; i < 3; ++i)
    if (__builtin_mul_overflow(ex[i] - 1, st[i], &off) || __builtin_add_overflow(total, off, &total)) *ok = false;
  if (total > kMaxElems) *ok = false;
  return *ok ? total : 0;
}

struct sdpa_draw {
  qkv_sdpa_desc d;
  std::size_t dv;                // v_dim resolved
  bool cq, ck, cv, co;           // canonical layouts (valid if the rest is)
  int algo;                      // as drawn (may be out of range)
  values kind;                   // how inputs are filled
  tensor_dims tq, tk, tv, to;
  std::size_t sq, sk, sv, so, nlse;  // elements spanned (0 when they overflow)
  bool small;                    // a zero dimension or an overflowing span: must be refused
  bool skip;                     // too big for the harness's buffers or time
};

// Draws a call; `backward` forbids shared (head stride 0) K and V.
inline sdpa_draw draw_sdpa(input& in, bool backward) {
  sdpa_draw c{};
  qkv_sdpa_desc& d = c.d;
  d.batch = in.dim(3), d.heads = in.dim(3), d.q_len = in.dim(9), d.kv_len = in.dim(9), d.head_dim = in.dim(17);
  d.v_dim = in.flag() ? 0 : in.dim(17);
  const std::size_t dv = c.dv = d.v_dim ? d.v_dim : d.head_dim;
  d.q = pick_layout(in, {d.batch, d.heads, d.q_len, d.head_dim}, false, &c.cq);
  d.k = pick_layout(in, {d.batch, d.heads, d.kv_len, d.head_dim}, !backward, &c.ck);
  d.v = pick_layout(in, {d.batch, d.heads, d.kv_len, dv}, !backward, &c.cv);
  d.o = pick_layout(in, {d.batch, d.heads, d.q_len, dv}, false, &c.co);
  d.scale = in.flag() ? 0.f : in.scalar();
  d.causal = in.one_in(8) ? in.in(-2, 3) : in.flag();
  switch (in.in(0, 7)) {
    case 4: d.dropout_p = in.raw().ConsumeProbability<float>() * 0.9f; break;
    case 5: d.dropout_p = 1.f; break;
    case 6: d.dropout_p = std::numeric_limits<float>::quiet_NaN(); break;
    case 7: d.dropout_p = -0.25f; break;
    default: d.dropout_p = 0.f;
  }
  d.dropout_seed = in.seed();
  c.algo = in.one_in(8) ? in.raw().ConsumeIntegral<int>() : in.in(0, 2);
  fuzz_c_set_algo(&d, c.algo);
  c.kind = in.kind();

  c.tq = {d.batch, d.heads, d.q_len, d.head_dim}, c.tk = {d.batch, d.heads, d.kv_len, d.head_dim};
  c.tv = {d.batch, d.heads, d.kv_len, dv}, c.to = {d.batch, d.heads, d.q_len, dv};
  bool fq, fk, fv, fo;
  c.sq = span(d.q, c.tq, &fq), c.sk = span(d.k, c.tk, &fk), c.sv = span(d.v, c.tv, &fv), c.so = span(d.o, c.to, &fo);
  const bool flse = !__builtin_mul_overflow(d.batch, d.heads, &c.nlse) &&
                    !__builtin_mul_overflow(c.nlse, d.q_len, &c.nlse) && c.nlse <= kMaxElems;
  const bool zero_dim = !d.batch || !d.heads || !d.q_len || !d.kv_len || !d.head_dim;
  const bool overflow = !(fq && fk && fv && fo && flse);
  c.small = overflow || zero_dim;  // must be refused: tiny real buffers
  // Too big for the harness's buffers, or (a valid call) well over the 10 s hang limit.
  c.skip = !c.small && (!(fits(c.sq) && fits(c.sk) && fits(c.sv) && fits(c.so) && fits(c.nlse)) ||
                        double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) *
                                double(d.head_dim + dv) > 2e7);
  return c;
}

}  // namespace qkv_fuzz
