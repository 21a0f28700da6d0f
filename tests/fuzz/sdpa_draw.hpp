// SPDX-License-Identifier: MIT
// sdpa_draw - the attention call fuzz_sdpa.cpp and fuzz_sdpa_ex.cpp draw
// from an input (the same bytes give the same call in both): shapes,
// layouts (canonical [B,H,T,d] / [B,T,H,d], padded, shared K/V, arbitrary
// or huge strides), scale, causal, dropout and algorithm, and the fields
// since 0.5: kv_heads (0, divisors, non-divisors, huge), window (small,
// wide, huge), q_lens / kv_lens (0, full, partial, out-of-range entries),
// the mask (NULL; canonical broadcasts; arbitrary or huge strides; NULL with
// nonzero strides); since 0.7 softcap (0; 0.5, 1, 5, 50; negative, NaN,
// infinite: refused with QKV_ERR_BAD_ARGUMENT). With what their checks need: spans (K and V with
// kv_heads heads), which layouts are canonical, whether the call must be
// refused (a zero dimension, an overflowing span, kv_heads not dividing
// heads, a length above q_len / kv_len, mask NULL with a nonzero stride) and
// with which status when that is its only fault.
#pragma once

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

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
  qkv_sdpa_desc d;               // lens and mask pointers set by bind()
  std::size_t dv;                // v_dim resolved
  std::size_t kvh;               // heads of K and V (kv_heads, or heads when 0 or invalid)
  bool cq, ck, cv, co, cm;       // canonical layouts (valid if the rest is); cm: mask NULL or broadcast
  int algo;                      // as drawn (may be out of range)
  values kind;                   // how inputs are filled
  tensor_dims tq, tk, tv, to;
  std::size_t sq, sk, sv, so, nlse;  // elements spanned (0 when they overflow)
  bool has_mask;                 // d.mask is not NULL (bind() points it at the mask buffer)
  std::size_t smask;             // mask elements spanned (0 when it overflows or there is no mask)
  bool mask_special;             // mask filled with `special` values (NaN, +-Inf): no comparison
  std::vector<std::size_t> q_lens, kv_lens;  // what bind() points d.q_lens / d.kv_lens at
  bool use_q_lens, use_kv_lens;
  // The new fields' faults: refused with `fault` when it is the only one
  // (QKV_OK: none; nfaults counts them).
  qkv_status fault;
  int nfaults;
  bool small;                    // must be refused: a zero dimension, an overflowing span or a fault above
  bool skip;                     // too big for the harness's buffers or time
};

// Points the descriptor at the drawn lengths and at the mask buffer (NULL
// when the draw has no mask). Call once the draw sits where it stays.
inline void bind(sdpa_draw& c, const float* mask) {
  c.d.q_lens = c.use_q_lens ? c.q_lens.data() : nullptr;
  c.d.kv_lens = c.use_kv_lens ? c.kv_lens.data() : nullptr;
  c.d.mask = c.has_mask ? mask : nullptr;
}

// Fills a mask: biases in [-3, 3] with about one -INFINITY in eight, or
// (mask_special) `special` values.
QKV_FUZZ_NO_COVERAGE inline void fill_mask(guarded& m, bool special, std::uint64_t seed) {
  if (special) {
    fill(m, values::special, seed);
    return;
  }
  splitmix r(seed);
  float* p = m.f();
  for (std::size_t i = 0; i < m.floats(); ++i)
    p[i] = (r.next() & 7) == 0 ? -std::numeric_limits<float>::infinity() : r.uniform(-3.f, 3.f);
}

// Draws a call; `backward` forbids shared (head stride 0) K and V.
inline sdpa_draw draw_sdpa(input& in, bool backward) {
  sdpa_draw c{};
  qkv_sdpa_desc& d = c.d;
  d.batch = in.dim(3), d.heads = in.dim(6), d.q_len = in.dim(9), d.kv_len = in.dim(9), d.head_dim = in.dim(17);
  d.v_dim = in.flag() ? 0 : in.dim(17);
  const std::size_t dv = c.dv = d.v_dim ? d.v_dim : d.head_dim;
  c.fault = QKV_OK;
  auto fault = [&](qkv_status st) {
    c.fault = st;
    ++c.nfaults;
  };
  // kv_heads: 0 (mostly), heads, a divisor of heads, a non-divisor, huge.
  switch (in.in(0, 9)) {
    case 6: d.kv_heads = d.heads; break;
    case 7: d.kv_heads = in.in<std::size_t>(1, 6); break;  // a divisor or not
    case 8: d.kv_heads = d.heads + 1; break;                // never a divisor (0 when heads is SIZE_MAX)
    case 9: d.kv_heads = in.edge(); break;
    default: d.kv_heads = 0;
  }
  const bool kv_heads_ok = d.kv_heads == 0 || (d.heads != 0 && d.heads % d.kv_heads == 0);
  if (!kv_heads_ok && d.heads != 0) fault(QKV_ERR_BAD_SHAPE);
  const std::size_t kvh = c.kvh = kv_heads_ok && d.kv_heads ? d.kv_heads : d.heads;
  d.q = pick_layout(in, {d.batch, d.heads, d.q_len, d.head_dim}, false, &c.cq);
  d.k = pick_layout(in, {d.batch, kvh, d.kv_len, d.head_dim}, !backward, &c.ck);
  d.v = pick_layout(in, {d.batch, kvh, d.kv_len, dv}, !backward, &c.cv);
  d.o = pick_layout(in, {d.batch, d.heads, d.q_len, dv}, false, &c.co);
  d.scale = in.flag() ? 0.f : in.scalar();
  d.causal = in.one_in(8) ? in.in(-2, 3) : in.flag();
  // window: any value is valid (SIZE_MAX: no limit).
  switch (in.in(0, 7)) {
    case 5: d.window = in.in<std::size_t>(1, 4); break;
    case 6: d.window = in.in<std::size_t>(5, 40); break;
    case 7: d.window = in.edge(); break;
    default: d.window = 0;
  }
  // Per-sequence lengths (only for a batch the harness can hold): entries 0,
  // full, partial, or above the length (refused with QKV_ERR_BAD_SHAPE).
  auto lens = [&](std::size_t T, std::vector<std::size_t>& out) {
    bool ok = true;
    out.assign(d.batch, 0);
    for (std::size_t& x : out) {
      switch (in.in(0, 11)) {
        case 0: x = 0; break;
        case 1: case 2: x = T; break;
        case 10: x = T + 1; break;  // 0 (valid) when T is SIZE_MAX
        case 11: x = in.edge(); break;
        default: x = in.in<std::size_t>(0, T);
      }
      ok = ok && x <= T;
    }
    return ok;
  };
  c.use_q_lens = d.batch >= 1 && d.batch <= 64 && in.one_in(3);
  if (c.use_q_lens && !lens(d.q_len, c.q_lens)) fault(QKV_ERR_BAD_SHAPE);
  c.use_kv_lens = d.batch >= 1 && d.batch <= 64 && in.one_in(3);
  if (c.use_kv_lens && !lens(d.kv_len, c.kv_lens)) fault(QKV_ERR_BAD_SHAPE);
  // The mask: NULL (strides 0), broadcast strides, arbitrary or huge ones,
  // or NULL with a nonzero stride (refused with QKV_ERR_BAD_ARGUMENT).
  bool want_mask = false, mask_span_ok = true;
  c.cm = true;
  switch (in.in(0, 9)) {
    case 5:
    case 6: {
      want_mask = true;
      const std::size_t row = d.kv_len + in.in<std::size_t>(0, 2);
      std::size_t per_head = 0, per_batch = 0;
      const bool ok = !__builtin_mul_overflow(d.q_len, row, &per_head) &&
                      !__builtin_mul_overflow(per_head, d.heads, &per_batch);
      switch (in.in(0, 4)) {
        case 0: d.mask_strides = {0, 0, 0}; break;
        case 1: d.mask_strides = {0, 0, row}; break;
        case 2: d.mask_strides = {per_head, 0, row}; break;
        case 3: d.mask_strides = {0, per_head, row}; break;
        default: d.mask_strides = {per_batch, per_head, row};
      }
      if (!ok) c.cm = false;
      break;
    }
    case 7:
      want_mask = true;
      c.cm = false;
      if (in.one_in(3))
        d.mask_strides = {in.edge(), in.in<std::size_t>(0, 64), in.in<std::size_t>(0, 64)};
      else
        d.mask_strides = {in.in<std::size_t>(0, 300), in.in<std::size_t>(0, 100), in.in<std::size_t>(0, 40)};
      break;
    case 8:
      d.mask_strides = {in.in<std::size_t>(0, 2), in.in<std::size_t>(0, 2), in.in<std::size_t>(1, 40)};
      if (in.flag()) std::swap(d.mask_strides.batch, d.mask_strides.token);
      fault(QKV_ERR_BAD_ARGUMENT);
      break;
    default: break;
  }
  c.has_mask = want_mask;
  c.mask_special = want_mask && in.one_in(6);
  if (want_mask) {
    c.smask = span(d.mask_strides, {d.batch, d.heads, d.q_len, d.kv_len}, &mask_span_ok);
    if (!mask_span_ok) fault(QKV_ERR_SIZE_OVERFLOW);
  }
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
  // Drawn last, so inputs from before 0.7 keep their calls (they end first: 0).
  switch (in.in(0, 9)) {
    case 5: d.softcap = 0.5f; break;
    case 6: d.softcap = in.flag() ? 1.f : 5.f; break;
    case 7: d.softcap = 50.f; break;
    case 8: d.softcap = in.flag() ? -1.f : -0.f; break;  // -0 == 0: off, valid
    case 9: d.softcap = in.flag() ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity(); break;
    default: d.softcap = 0.f;
  }
  if (d.softcap != 0.f && !(std::isfinite(d.softcap) && d.softcap > 0.f)) fault(QKV_ERR_BAD_ARGUMENT);

  c.tq = {d.batch, d.heads, d.q_len, d.head_dim}, c.tk = {d.batch, kvh, d.kv_len, d.head_dim};
  c.tv = {d.batch, kvh, d.kv_len, dv}, c.to = {d.batch, d.heads, d.q_len, dv};
  bool fq, fk, fv, fo;
  c.sq = span(d.q, c.tq, &fq), c.sk = span(d.k, c.tk, &fk), c.sv = span(d.v, c.tv, &fv), c.so = span(d.o, c.to, &fo);
  const bool flse = !__builtin_mul_overflow(d.batch, d.heads, &c.nlse) &&
                    !__builtin_mul_overflow(c.nlse, d.q_len, &c.nlse) && c.nlse <= kMaxElems;
  const bool zero_dim = !d.batch || !d.heads || !d.q_len || !d.kv_len || !d.head_dim;
  const bool overflow = !(fq && fk && fv && fo && flse);
  c.small = overflow || zero_dim || c.nfaults > 0;  // must be refused: tiny real buffers
  if (overflow || zero_dim) c.nfaults += 2;          // the new fields' fault (if any) is not the only one
  // Too big for the harness's buffers, or (a valid call) well over the 10 s hang limit.
  c.skip = !c.small && (!(fits(c.sq) && fits(c.sk) && fits(c.sv) && fits(c.so) && fits(c.nlse) && fits(c.smask)) ||
                        double(d.batch) * double(d.heads) * double(d.q_len) * double(d.kv_len) *
                                double(d.head_dim + dv) > 2e7);
  return c;
}

}  // namespace qkv_fuzz
