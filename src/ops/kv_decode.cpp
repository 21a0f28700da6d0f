// SPDX-License-Identifier: MIT
#include "ops/kv_decode.hpp"

#include <atomic>
#include <cstdint>
#include <new>

#include "dispatch/caches.hpp"
#include "kernels/attn/attn.hpp"
#include "kernels/convert/convert.hpp"
#include "kernels/kv/kv.hpp"
#include "kernels/softmax/softmax.hpp"
#include "ops/dtype.hpp"
#include "ops/threads.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

// Query heads per task: their scores (heads x keys floats, a thread's
// slot) within a quarter of L2, at least one head. A task reads the cache
// rows' span of its heads front to back, so the more heads, the closer to a
// plain stream; splitting the heads never changes a result. One copy, not
// inlined twice (Cortex-M4's 64 KiB budget).
__attribute__((noinline)) std::size_t heads_per_task(std::size_t heads, std::size_t keys) noexcept {
  std::size_t nh = dispatch::caches().l2.bytes / 4 / (util::round_up(keys, 16) * sizeof(float));
  if (nh > heads) nh = heads;
  return nh ? nh : 1;
}

// A thread's scratch in floats: the scores of nh heads, keys each (rows of
// whole lines).
std::size_t slot_floats(std::size_t nh, std::size_t keys) noexcept { return nh * util::round_up(keys, 16); }

#ifdef QKV_HOSTED
// One query row (one sequence decoding one token: the latency case, where
// the heads are the only other parallelism) is also split over its keys:
// chunks of kSplitKeys positions, each a task with its own softmax maximum
// and sum, merged in chunk order by the task that finishes a head group
// last. The chunks follow from the shape alone, so the bits never depend
// on the threads; a task reads whole rows' spans (its keys, all heads of
// its group). 512 keys: 12 heads' scores (24 KiB) stay in L1.
constexpr std::size_t kSplitKeys = 512;

struct split_layout {
  std::size_t chunks, nh, slot;  // key chunks, heads per task, a thread's scores (floats)
};

split_layout split_for(std::size_t keys, std::size_t heads) noexcept {
  split_layout l;
  l.chunks = (keys + kSplitKeys - 1) / kSplitKeys;
  const std::size_t span = keys < kSplitKeys ? keys : kSplitKeys;
  l.nh = heads_per_task(heads, span);
  l.slot = slot_floats(l.nh, span);
  return l;
}

// Workspace after the 64-byte alignment: per chunk every head's d_head
// partial sums, then per chunk every head's maximum and sum (these floats),
// one counter per head group (at most one per head), then the threads'
// score slots.
std::size_t split_fixed_bytes(const split_layout& l, std::size_t heads, std::size_t d_head) noexcept {
  return util::round_up(l.chunks * heads * (d_head + 2), 16) * sizeof(float) +
         util::round_up(heads * sizeof(std::atomic<std::size_t>), 64);
}
#endif

}  // namespace

std::size_t kv_row_bytes(qkv_kv_format f, std::size_t d) noexcept {
  switch (f) {
    case QKV_KV_BF16:
    case QKV_KV_F16: return d * 2;
    case QKV_KV_Q8_0: return d / QKV_Q8_0_BLOCK * sizeof(qkv_block_q8_0);
    default: return d * sizeof(float);
  }
}

bool kv_storable(qkv_isa isa, qkv_kv_format f, std::size_t rows, std::size_t d, const float* x) noexcept {
  if (f != QKV_KV_Q8_0) return true;  // bf16 / fp16 store anything (Inf and NaN as such)
  return q8_0_storable(kern::convert_for(isa), rows * d, x);
}

void kv_store(qkv_isa isa, qkv_kv_format f, std::size_t rows, std::size_t d, const float* x, std::size_t ld,
              void* dst, std::size_t row_bytes) noexcept {
  const kern::convert_kernels& k = kern::convert_for(isa);
  for (std::size_t r = 0; r < rows; ++r) {
    void* row = static_cast<unsigned char*>(dst) + r * row_bytes;
    if (f == QKV_KV_Q8_0)
      k.quantize_q8_0(d / QKV_Q8_0_BLOCK, x + r * ld, static_cast<qkv_block_q8_0*>(row));
    else if (f == QKV_KV_BF16)
      k.f32_to_bf16(d, x + r * ld, static_cast<std::uint16_t*>(row));
    else if (f == QKV_KV_F16)
      k.f32_to_f16(d, x + r * ld, static_cast<std::uint16_t*>(row));
    else
      util::copy_floats(static_cast<float*>(row), x + r * ld, d);
  }
}

std::size_t kv_attention_keys(std::size_t kv_len, std::size_t window) noexcept {
  return window && window < kv_len ? window : kv_len;
}

std::size_t kv_attention_workspace_bytes(qkv_isa, std::size_t keys, std::size_t heads, int threads) {
  const std::size_t th = threads < 1 ? 1 : static_cast<std::size_t>(threads);
  return th * slot_floats(heads_per_task(heads, keys), keys) * sizeof(float) + 64;
}

#ifdef QKV_HOSTED
std::size_t kv_attention_workspace_bytes(qkv_isa isa, std::size_t keys, std::size_t heads, std::size_t d_head,
                                         std::size_t rows_q, int threads) {
  if (rows_q != 1) return kv_attention_workspace_bytes(isa, keys, heads, threads);
  const split_layout l = split_for(keys, heads);
  const std::size_t th = threads < 1 ? 1 : static_cast<std::size_t>(threads);
  return split_fixed_bytes(l, heads, d_head) + th * l.slot * sizeof(float) + 64;
}
#endif

#ifdef QKV_HOSTED
namespace {

// kv_attention for a single query row (split_for's chunks).
void kv_attention_split(const exec& x, const kv_attention_problem& p, void* ws, std::size_t ws_bytes) {
  const kern::kv_kernels& kk = kern::kv_for(x.isa);
  const kern::softmax_kernels& sm = kern::softmax_for(x.isa);
  const kern::attn_kernels& ak = kern::attn_for(x.isa);
  const std::size_t end = (p.lengths ? p.lengths[0] : p.length) + 1;  // positions [start, end) are seen
  const std::size_t start = p.window && end > p.window ? end - p.window : 0, n_keys = end - start;
  const split_layout l = split_for(n_keys, p.heads);
  const std::size_t th = static_cast<std::size_t>(x.threads), group = p.heads / p.kv_heads, d = p.d_head;
  // Heads per task: the cache's bound, and no more than a thread's share.
  const std::size_t share = (p.heads * l.chunks + th - 1) / th;
  const std::size_t nh = share < l.nh ? share : l.nh, groups = (p.heads + nh - 1) / nh, tasks = groups * l.chunks;
  float* sums = util::align_up(ws, 64);              // [chunks][heads][d]
  float* stats = sums + l.chunks * p.heads * d;      // [chunks][heads]: max, sum
  const std::size_t fixed = split_fixed_bytes(l, p.heads, d);
  auto* done = reinterpret_cast<std::atomic<std::size_t>*>(sums + util::round_up(l.chunks * p.heads * (d + 2), 16));
  for (std::size_t g = 0; g < groups; ++g) new (done + g) std::atomic<std::size_t>(0);
  float* base = reinterpret_cast<float*>(reinterpret_cast<unsigned char*>(sums) + fixed);  // the score slots
  // >= 1: the caller checked 1 thread's need
  const std::size_t fit = (ws_bytes - 64 - fixed) / (l.slot * sizeof(float));
  int threads = threads_for(x, 4.f * static_cast<float>(n_keys * d * p.heads), tasks);
  if (static_cast<std::size_t>(threads) > fit) threads = static_cast<int>(fit);
  const std::size_t part = kv_row_bytes(p.format, d), lds = l.slot / l.nh;
  parallel_for_tasks(x, threads, tasks, [&](std::size_t t, int s) {
    const std::size_t g = t / l.chunks, c = t % l.chunks, h0 = g * nh, n = p.heads - h0 < nh ? p.heads - h0 : nh;
    const kern::kv_heads hs{n, group, h0 % group, part, dispatch::caches().l1d.bytes};
    const std::size_t j0 = c * kSplitKeys, nj = n_keys - j0 < kSplitKeys ? n_keys - j0 : kSplitKeys;
    float* scores = base + static_cast<std::size_t>(s) * l.slot;
    float* o = sums + (c * p.heads + h0) * d;
    float* st = stats + 2 * (c * p.heads + h0);
    const std::size_t first = h0 / group * part;  // h0's K/V head
    const unsigned char* kb = static_cast<const unsigned char*>(p.k) + first;
    const unsigned char* vb = static_cast<const unsigned char*>(p.v) + first;
    for (int pass = 0; pass < 2; ++pass) {  // as kv_attention's, over keys [j0, j0 + nj)
      for (std::size_t j = 0, nt = 0; j < nj; j += nt) {
        const std::size_t slot_row = (start + j0 + j) % p.capacity;
        nt = nj - j < p.capacity - slot_row ? nj - j : p.capacity - slot_row;
        kk.walk(p.format, hs, nt, d, pass ? scores + j : p.q + h0 * d, lds, (pass ? vb : kb) + slot_row * p.row_bytes,
                p.row_bytes, p.scale, pass ? nullptr : scores + j, o);
      }
      if (pass) break;
      for (std::size_t u = 0; u < n; ++u) {  // exp(s - the chunk's max), unnormalized, and their sum
        float* su = scores + u * lds;
        if (p.softcap != 0.f) ak.softcap(nj, p.softcap, su, nullptr);
        st[2 * u] = sm.max(nj, su);
        st[2 * u + 1] = sm.exp_sum(nj, 1.f, st[2 * u], su, su);
      }
      for (std::size_t e = 0; e < n * d; ++e) o[e] = 0.f;
    }
    // The group's last chunk to finish merges all of them, in chunk order:
    // out = sum_c exp(m_c - m) o_c / sum_c exp(m_c - m) l_c, m = max_c m_c.
    if (done[g].fetch_add(1, std::memory_order_acq_rel) + 1 != l.chunks) return;
    for (std::size_t u = h0; u < h0 + n; ++u) {
      float m = stats[2 * u];
      for (std::size_t k = 1; k < l.chunks; ++k)
        if (stats[2 * (k * p.heads + u)] > m) m = stats[2 * (k * p.heads + u)];
      float total = 0.f;
      for (std::size_t k = 0; k < l.chunks; ++k) {  // each chunk's weight in place of its max
        float* sk = stats + 2 * (k * p.heads + u);
        sk[0] = sm.exp_sum(1, 1.f, m, sk, sk);
        total += sk[0] * sk[1];
      }
      float* out = p.out + u * d;
      for (std::size_t e = 0; e < d; ++e) out[e] = 0.f;
      for (std::size_t k = 0; k < l.chunks; ++k) {
        const float w = stats[2 * (k * p.heads + u)] / total;
        const float* ok = sums + (k * p.heads + u) * d;
        for (std::size_t e = 0; e < d; ++e) out[e] += w * ok[e];
      }
    }
  });
}

}  // namespace
#endif

void kv_attention(const exec& x, const kv_attention_problem& p, void* ws, std::size_t ws_bytes) {
#ifdef QKV_HOSTED
  if (p.batch * p.n_new == 1) return kv_attention_split(x, p, ws, ws_bytes);
#endif
  const kern::kv_kernels& kk = kern::kv_for(x.isa);
  const kern::softmax_kernels& sm = kern::softmax_for(x.isa);
  const kern::attn_kernels& ak = kern::attn_for(x.isa);
  std::size_t kv_len = p.lengths ? 0 : p.length + p.n_new;  // the longest sequence's
  for (std::size_t b = 0; p.lengths && b < p.batch; ++b)
    if (p.lengths[b] + p.n_new > kv_len) kv_len = p.lengths[b] + p.n_new;
  const std::size_t keys = kv_attention_keys(kv_len, p.window);  // the most any query sees
  const std::size_t group = p.heads / p.kv_heads, lds = util::round_up(keys, 16);
  // Heads per task: the cache's bound, and no more than a thread's share
  // of all (query row, head) pairs (decoding one sequence on several).
  const std::size_t rows_q = p.batch * p.n_new, th = static_cast<std::size_t>(x.threads),
                    share = (p.heads * rows_q + th - 1) / th;
  std::size_t nh = heads_per_task(p.heads, keys);
  if (share < nh) nh = share;
  const std::size_t groups = (p.heads + nh - 1) / nh, slot = slot_floats(nh, keys);
  float* base = util::align_up(ws, 64);
  const std::size_t fit = (ws_bytes - 64) / (slot * sizeof(float));  // >= 1: the caller checked 1 thread's need
  const std::size_t tasks = rows_q * groups;
  int threads = threads_for(x, 4.f * static_cast<float>(keys * p.d_head * p.heads * rows_q), tasks);
  if (static_cast<std::size_t>(threads) > fit) threads = static_cast<int>(fit);
  const std::size_t part = kv_row_bytes(p.format, p.d_head);
  parallel_for_tasks(x, threads, tasks, [&](std::size_t t, int s) {
    const std::size_t g = t % groups, i = t / groups % p.n_new, b = t / groups / p.n_new;
    const std::size_t h0 = g * nh;
#ifdef QKV_HOSTED  // the L1 size for the kernels' plans (AVX-512's grouped q8_0 walk)
    const kern::kv_heads hs{p.heads - h0 < nh ? p.heads - h0 : nh, group, h0 % group, part,
                            dispatch::caches().l1d.bytes};
#else
    const kern::kv_heads hs{p.heads - h0 < nh ? p.heads - h0 : nh, group, h0 % group, part};
#endif
    float* scores = base + static_cast<std::size_t>(s) * slot;
    const std::size_t end = (p.lengths ? p.lengths[b] : p.length) + i + 1;  // positions [start, end) are seen
    const std::size_t start = p.window && end > p.window ? end - p.window : 0, n_keys = end - start;
    const std::size_t row = (b * p.n_new + i) * p.d_out + h0 * p.d_head;
    const float* q = p.q + row;
    float* o = p.out + row;
    const std::size_t first = b * p.capacity * p.row_bytes + h0 / group * part;  // h0's K/V head
    const unsigned char* kb = static_cast<const unsigned char*>(p.k) + first;
    const unsigned char* vb = static_cast<const unsigned char*>(p.v) + first;
    // Both passes over the keys: K's scores, then V weighted by P. Position
    // `pos` lives in row pos % capacity (a ring once positions pass the
    // capacity): a run of keys stops at the wrap.
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t j = 0, nt = 0; j < n_keys; j += nt) {
        const std::size_t slot_row = (start + j) % p.capacity;
        nt = n_keys - j < p.capacity - slot_row ? n_keys - j : p.capacity - slot_row;
        kk.walk(p.format, hs, nt, p.d_head, pass ? scores + j : q, lds, (pass ? vb : kb) + slot_row * p.row_bytes,
                p.row_bytes, p.scale, pass ? nullptr : scores + j, o);
      }
      if (pass) break;
      for (std::size_t u = 0; u < hs.nh; ++u) {
        float* su = scores + u * lds;
        if (p.softcap != 0.f) ak.softcap(n_keys, p.softcap, su, nullptr);  // the fused path's score step
        // P normalized here (the sum is >= 1: the max's term is exp(0)).
        const float m = sm.max(n_keys, su);
        sm.mul(n_keys, 1.f / sm.exp_sum(n_keys, 1.f, m, su, su), su);
      }
      for (std::size_t c = 0; c < hs.nh * p.d_head; ++c) o[c] = 0.f;
    }
  });
}

}  // namespace qkv::ops
