// SPDX-License-Identifier: MIT
#include "ops/sdpa_decode.hpp"

#include <cmath>
#include <cstdint>

#include "kernels/attn/attn.hpp"
#include "kernels/convert/convert.hpp"
#include "kernels/softmax/softmax.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/threads.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {

// Hosted builds only: on bare metal (the Cortex-M size budget) decode
// steps take the tile path, which gives the same results within rounding.
#ifdef QKV_HOSTED
namespace {

using namespace fused_step;
using util::add_ok;
using util::mul_ok;

constexpr std::size_t kBr = kern::kAttnMaxBr;  // keys per tile, for sizes (the ISA's br <= it)

std::size_t rows_of(const sdpa_plan& p) { return p.group * p.q_len; }

// One thread's arrays: Qs [R][D], st [R][br], o [R][Dv], m, l, alpha [R],
// then (BF16/F16) the widened K and V tiles [br][D], [br][Dv].
struct arrays {
  float *qs, *st, *o, *m, *l, *al, *kw, *vw;
};
bool floats_of(const sdpa_plan& p, qkv_dtype type, std::size_t* n) {
  const std::size_t R = rows_of(p), D = p.head_dim, Dv = p.v_dim;
  std::size_t t = 0, a;
  const std::size_t parts[8][2] = {{R, D},  {R, kBr}, {R, Dv}, {R, 1},
                                   {R, 1},  {R, 1},   {type == QKV_DTYPE_F32 ? 0 : kBr, D},
                                   {type == QKV_DTYPE_F32 ? 0 : kBr, Dv}};
  for (const auto& part : parts)
    if (!mul_ok(part[0], part[1], &a) || !add_ok(a, 15, &a) || !add_ok(t, a / 16 * 16, &t)) return false;
  *n = t;
  return true;
}
arrays carve(const sdpa_plan& p, qkv_dtype type, float* w) {
  const std::size_t R = rows_of(p), D = p.head_dim, Dv = p.v_dim;
  auto take = [&](std::size_t n) {
    float* r = w;
    w += util::round_up(n, 16);
    return r;
  };
  arrays a;
  a.qs = take(R * D);
  a.st = take(R * kBr);
  a.o = take(R * Dv);
  a.m = take(R);
  a.l = take(R);
  a.al = take(R);
  a.kw = take(type == QKV_DTYPE_F32 ? 0 : kBr * D);
  a.vw = take(type == QKV_DTYPE_F32 ? 0 : kBr * Dv);
  return a;
}

struct decode_call {
  const sdpa_plan& p;
  qkv_dtype type;
  const kern::attn_kernels& kn;
  const kern::softmax_kernels& sm;
  const kern::convert_kernels& cv;
  dropout_cfg drop;
  const void *q, *k, *v;
  void* out;
  float* lse;

  bool wide() const { return type == QKV_DTYPE_F32; }
  const void* at(const void* t, std::size_t e) const {
    return static_cast<const char*>(t) + e * (wide() ? sizeof(float) : sizeof(std::uint16_t));
  }
  // n elements of row `src` as floats: in place (F32) or widened into tmp.
  const float* row(const void* src, std::size_t n, float* tmp) const {
    if (wide()) return static_cast<const float*>(src);
    (type == QKV_DTYPE_BF16 ? cv.bf16_to_f32 : cv.f16_to_f32)(n, static_cast<const std::uint16_t*>(src), tmp);
    return tmp;
  }
  // Rows [j0, j0 + n) of K or V (n x cols, leading dimension *ld): in place
  // (F32) or widened into tmp (ld cols).
  const float* rows(const void* t, std::size_t first, std::size_t token, std::size_t n, std::size_t cols, float* tmp,
                    std::size_t* ld) const {
    *ld = wide() ? token : cols;
    if (wide()) return static_cast<const float*>(at(t, first));
    for (std::size_t j = 0; j < n; ++j) row(at(t, first + j * token), cols, tmp + j * cols);
    return tmp;
  }

  // Sequence b, K/V head g: rows r = (query head g * group + r / q_len, query r % q_len).
  void task(std::size_t b, std::size_t g, float* w) const {
    const std::size_t R = rows_of(p), D = p.head_dim, Dv = p.v_dim, br = kn.br, Tq = p.q_len;
    const arrays a = carve(p, type, w);
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t h = g * p.group + r / Tq, i = r % Tq;
      const float* qr = row(at(q, base(p.q, b, h) + i * p.q.token), D, a.kw);
      for (std::size_t f = 0; f < D; ++f) a.qs[r * D + f] = p.scale * qr[f];  // pack_qt's fl(scale q)
      a.m[r] = kNegInf;
      a.l[r] = 0.f;
    }
    for (std::size_t e = 0; e < R * Dv; ++e) a.o[e] = 0.f;

    const seq sq = seq_of(p, b);
    const key_range seen = keys_of_rows(p, sq, 0, Tq);
    const std::size_t kh = base(p.k, b, g), vh = base(p.v, b, g);
    for (std::size_t j0 = seen.lo; !seen.empty() && j0 < seen.hi; j0 += br) {
      const std::size_t kb = seen.hi - j0 < br ? seen.hi - j0 : br;
      std::size_t ld;
      const float* kr = rows(k, kh + j0 * p.k.token, p.k.token, kb, D, a.kw, &ld);
      kn.decode_scores(R, kb, D, a.qs, kr, ld, a.st, br);  // st[r][j]: the tile path's S, transposed
      for (std::size_t r = 0; r < R; ++r) {
        const std::size_t h = g * p.group + r / Tq, i = r % Tq;
        float* s = a.st + r * br;
        mask_tile(p, sq, b, h, 1, i, 1, j0, kb, s);  // a one-row tile: st[j * 1 + 0]
        const float mnew = std::fmax(a.m[r], sm.max(kb, s));
        a.al[r] = 1.f;
        if (mnew == kNegInf) {  // nothing seen yet: no weights
          for (std::size_t j = 0; j < kb; ++j) s[j] = 0.f;
          continue;
        }
        const float alpha = a.m[r] == kNegInf ? 0.f : std::exp(a.m[r] - mnew);
        a.l[r] = a.l[r] * alpha + sm.exp_sum(kb, 1.f, mnew, s, s);  // l before dropout
        a.m[r] = mnew;
        a.al[r] = alpha;
        if (drop.on) {
          const std::uint64_t key = dropout::row_key(p.dropout_seed, b, h, i);
          for (std::size_t j = 0; j < kb; ++j)
            if (!dropout::keep(key, j0 + j, drop.thresh)) s[j] = 0.f;
        }
      }
      const float* vr = rows(v, vh + j0 * p.v.token, p.v.token, kb, Dv, a.vw, &ld);
      kn.decode_accumulate(R, kb, Dv, a.st, br, vr, ld, a.al, a.o);  // V read once for all rows
    }

    const auto narrow = type == QKV_DTYPE_BF16 ? cv.f32_to_bf16 : cv.f32_to_f16;
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t h = g * p.group + r / Tq, i = r % Tq;
      const float inv = a.l[r] > 0.f ? drop.keep_scale / a.l[r] : 0.f;
      float* o = a.o + r * Dv;
      for (std::size_t f = 0; f < Dv; ++f) o[f] *= inv;
      void* orow = const_cast<void*>(at(out, base(p.o, b, h) + i * p.o.token));
      if (wide())
        for (std::size_t f = 0; f < Dv; ++f) static_cast<float*>(orow)[f] = o[f];
      else
        narrow(Dv, o, static_cast<std::uint16_t*>(orow));
      if (lse) lse[(b * p.heads + h) * Tq + i] = a.l[r] > 0.f ? a.m[r] + std::log(a.l[r]) : kNegInf;
    }
  }
};

}  // namespace

bool sdpa_decode_applies(const sdpa_plan& p) noexcept { return 4 * rows_of(p) <= kern::attn_for(p.x.isa).br; }

bool sdpa_decode_floats_per_thread(const sdpa_plan& p, qkv_dtype type, std::size_t* floats) noexcept {
  if (4 * rows_of(p) > kBr) {  // never taken, whatever the ISA
    *floats = 0;
    return true;
  }
  return floats_of(p, type, floats);
}

void sdpa_decode_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                         float* lse, float* ws, std::size_t per_thread_floats, int max_threads) {
  const decode_call c{p,
                      type,
                      kern::attn_for(p.x.isa),
                      kern::softmax_for(p.x.isa),
                      kern::convert_for(p.x.isa),
                      dropout_cfg(p),
                      q,
                      k,
                      v,
                      out,
                      lse};
  const std::size_t tasks = p.batch * p.kv_heads;
  const float flops = 2.0f * static_cast<float>(p.batch * p.heads * p.q_len) * static_cast<float>(p.kv_len) *
                      static_cast<float>(p.head_dim + p.v_dim);
  int threads = threads_for(p.x, flops, tasks);
  if (threads > max_threads) threads = max_threads;
  parallel_for_tasks(p.x, threads, tasks, [&](std::size_t t, int thread) {
    c.task(t / p.kv_heads, t % p.kv_heads, ws + static_cast<std::size_t>(thread) * per_thread_floats);
  });
}

#else  // bare metal: never applies

bool sdpa_decode_applies(const sdpa_plan&) noexcept { return false; }
bool sdpa_decode_floats_per_thread(const sdpa_plan&, qkv_dtype, std::size_t* floats) noexcept {
  *floats = 0;
  return true;
}
void sdpa_decode_forward(const sdpa_plan&, qkv_dtype, const void*, const void*, const void*, void*, float*, float*,
                         std::size_t, int) {}

#endif  // QKV_HOSTED

}  // namespace qkv::ops
