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

// Keys per chunk of a long context (flash-decoding): each chunk of each
// (sequence, K/V head) is a task of its own, the chunks' partial results
// merged in chunk order afterwards. The split follows kv_len alone (a fixed
// chunk, never the thread count), so the bits do not depend on the threads;
// contexts of one chunk run unsplit. 16 tiles: a chunk's K and V (1 MiB at
// d 128 fp32) dwarf its partials (R x (Dv + 2) floats) and the merge.
constexpr std::size_t kChunk = 16 * kBr;
std::size_t chunks_of(const sdpa_plan& p) { return p.kv_len <= kChunk ? 1 : (p.kv_len + kChunk - 1) / kChunk; }

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

  // Sequence b, K/V head g, keys [lo, hi) of those its rows see: the
  // running (o, m, l) of every row in a (o unnormalized, l before dropout).
  // Rows r = (query head g * group + r / q_len, query r % q_len).
  void run(std::size_t b, std::size_t g, std::size_t lo, std::size_t hi, const arrays& a) const {
    const std::size_t R = rows_of(p), D = p.head_dim, Dv = p.v_dim, br = kn.br, Tq = p.q_len;
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
    if (seen.lo > lo) lo = seen.lo;
    if (seen.hi < hi) hi = seen.hi;
    const std::size_t kh = base(p.k, b, g), vh = base(p.v, b, g);
    for (std::size_t j0 = lo; j0 < hi; j0 += br) {
      const std::size_t kb = hi - j0 < br ? hi - j0 : br;
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
  }

  // The rows' outputs and log-sum-exps from their (o, m, l).
  void finish(std::size_t b, std::size_t g, const arrays& a) const {
    const std::size_t R = rows_of(p), Dv = p.v_dim, Tq = p.q_len;
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

  // One chunk's rows as partials: part [R][Dv + 2] = (o, m, l) per row.
  void store_partial(const arrays& a, float* part) const {
    const std::size_t R = rows_of(p), Dv = p.v_dim;
    for (std::size_t r = 0; r < R; ++r) {
      float* pr = part + r * (Dv + 2);
      for (std::size_t f = 0; f < Dv; ++f) pr[f] = a.o[r * Dv + f];
      pr[Dv] = a.m[r];
      pr[Dv + 1] = a.l[r];
    }
  }

  // The chunks' partials of (b, g), n of them [n][R][Dv + 2], merged in
  // chunk order into a: m = max of the chunks' m, each chunk weighted by
  // exp(m_c - m) (0 for a chunk that saw nothing).
  void combine(const float* parts, std::size_t n, const arrays& a) const {
    const std::size_t R = rows_of(p), Dv = p.v_dim, stride = R * (Dv + 2);
    for (std::size_t r = 0; r < R; ++r) {
      float m = kNegInf, l = 0.f;
      for (std::size_t c = 0; c < n; ++c) m = std::fmax(m, parts[c * stride + r * (Dv + 2) + Dv]);
      float* o = a.o + r * Dv;
      for (std::size_t f = 0; f < Dv; ++f) o[f] = 0.f;
      if (m != kNegInf)
        for (std::size_t c = 0; c < n; ++c) {
          const float* pr = parts + c * stride + r * (Dv + 2);
          if (pr[Dv] == kNegInf) continue;
          const float w = std::exp(pr[Dv] - m);
          l += w * pr[Dv + 1];
          for (std::size_t f = 0; f < Dv; ++f) o[f] += w * pr[f];
        }
      a.m[r] = m;
      a.l[r] = l;
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

bool sdpa_decode_shared_floats(const sdpa_plan& p, std::size_t* floats) noexcept {
  const std::size_t n = chunks_of(p);
  std::size_t t = 0;
  if (4 * rows_of(p) <= kBr && n > 1 &&
      (!mul_ok(p.batch, p.kv_heads, &t) || !mul_ok(t, n, &t) || !mul_ok(t, rows_of(p), &t) ||
       !mul_ok(t, p.v_dim + 2, &t)))
    return false;
  *floats = t;
  return true;
}

void sdpa_decode_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                         float* lse, float* parts, float* ws, std::size_t per_thread_floats, int max_threads) {
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
  const std::size_t heads = p.batch * p.kv_heads, n = chunks_of(p), tasks = heads * n;
  const std::size_t stride = rows_of(p) * (p.v_dim + 2);  // one chunk's partials
  const float flops = 2.0f * static_cast<float>(p.batch * p.heads * p.q_len) * static_cast<float>(p.kv_len) *
                      static_cast<float>(p.head_dim + p.v_dim);
  int threads = threads_for(p.x, flops, tasks);
  if (threads > max_threads) threads = max_threads;
  auto scratch = [&](int thread) { return carve(p, type, ws + static_cast<std::size_t>(thread) * per_thread_floats); };
  // Task t: (sequence, K/V head) t / n, chunk t % n.
  parallel_for_tasks(p.x, threads, tasks, [&](std::size_t t, int thread) {
    const std::size_t bg = t / n, ci = t % n;
    const arrays a = scratch(thread);
    if (n == 1) {
      c.run(bg / p.kv_heads, bg % p.kv_heads, 0, p.kv_len, a);
      c.finish(bg / p.kv_heads, bg % p.kv_heads, a);
    } else {
      c.run(bg / p.kv_heads, bg % p.kv_heads, ci * kChunk, (ci + 1) * kChunk, a);
      c.store_partial(a, parts + t * stride);
    }
  });
  if (n == 1) return;
  const float merge = static_cast<float>(tasks) * static_cast<float>(stride);
  int merge_threads = threads_for(p.x, merge, heads);
  if (merge_threads > max_threads) merge_threads = max_threads;
  parallel_for_tasks(p.x, merge_threads, heads, [&](std::size_t bg, int thread) {
    const arrays a = scratch(thread);
    c.combine(parts + bg * n * stride, n, a);
    c.finish(bg / p.kv_heads, bg % p.kv_heads, a);
  });
}

#else  // bare metal: never applies

bool sdpa_decode_applies(const sdpa_plan&) noexcept { return false; }
bool sdpa_decode_floats_per_thread(const sdpa_plan&, qkv_dtype, std::size_t* floats) noexcept {
  *floats = 0;
  return true;
}
bool sdpa_decode_shared_floats(const sdpa_plan&, std::size_t* floats) noexcept {
  *floats = 0;
  return true;
}
void sdpa_decode_forward(const sdpa_plan&, qkv_dtype, const void*, const void*, const void*, void*, float*, float*,
                         float*, std::size_t, int) {}

#endif  // QKV_HOSTED

}  // namespace qkv::ops
