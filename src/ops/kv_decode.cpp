// SPDX-License-Identifier: MIT
#include "ops/kv_decode.hpp"

#include <cstdint>

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

// Rows of one widened tile: a quarter of L1 (the tile is written once and
// read once; the query row, scores and output row share the rest), and no
// more than the keys a query sees (a tile never holds more: the split, and
// so the bits, are the same, and a short cache needs a short tile).
std::size_t tile_rows(std::size_t d_head, std::size_t keys) noexcept {
  const std::size_t l1 = dispatch::caches().l1d.bytes ? dispatch::caches().l1d.bytes : 32768;
  std::size_t rows = l1 / 4 / (d_head * sizeof(float));
  if (rows > keys) rows = keys;
  return rows ? rows : 1;
}

// Per-slot scratch in floats: the scores of the longest query, one tile.
std::size_t slot_floats(std::size_t kv_len, std::size_t d_head) noexcept {
  return util::round_up(kv_len, 16) + util::round_up(tile_rows(d_head, kv_len) * d_head, 16);
}

// Byte offset of head h's part within a cached row.
std::size_t head_offset(qkv_kv_format f, std::size_t h, std::size_t d_head) noexcept {
  return kv_row_bytes(f, h * d_head);
}

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

std::size_t kv_attention_workspace_bytes(qkv_isa, std::size_t keys, std::size_t d_head, int threads) {
  const std::size_t th = threads < 1 ? 1 : static_cast<std::size_t>(threads);
  return th * slot_floats(keys, d_head) * sizeof(float) + 64;
}

void kv_attention(const exec& x, const kv_attention_problem& p, void* ws, std::size_t ws_bytes) {
  const kern::kv_kernels& kk = kern::kv_for(x.isa);
  const kern::softmax_kernels& sm = kern::softmax_for(x.isa);
  const kern::attn_kernels& ak = kern::attn_for(x.isa);
  const kern::convert_kernels& cv = kern::convert_for(x.isa);
  // Rows [0, n) of a cache, row_bytes apart from src, widened to t[n][d].
  auto widen = [&](std::size_t n, std::size_t d, const unsigned char* src, std::size_t stride, float* t) {
    for (std::size_t r = 0; r < n; ++r, src += stride, t += d) {
      if (p.format == QKV_KV_Q8_0)
        cv.dequantize_q8_0(d / QKV_Q8_0_BLOCK, reinterpret_cast<const qkv_block_q8_0*>(src), t);
      else if (p.format == QKV_KV_BF16)
        cv.bf16_to_f32(d, reinterpret_cast<const std::uint16_t*>(src), t);
      else if (p.format == QKV_KV_F16)
        cv.f16_to_f32(d, reinterpret_cast<const std::uint16_t*>(src), t);
      else
        util::copy_floats(t, reinterpret_cast<const float*>(src), d);
    }
  };
  std::size_t kv_len = p.lengths ? 0 : p.length + p.n_new;  // the longest sequence's
  for (std::size_t b = 0; p.lengths && b < p.batch; ++b)
    if (p.lengths[b] + p.n_new > kv_len) kv_len = p.lengths[b] + p.n_new;
  const std::size_t keys = kv_attention_keys(kv_len, p.window);  // the most any query sees
  const std::size_t T = tile_rows(p.d_head, keys), group = p.heads / p.kv_heads;
  const std::size_t slot = slot_floats(keys, p.d_head);
  float* base = util::align_up(ws, 64);
  const std::size_t fit = (ws_bytes - 64) / (slot * sizeof(float));  // >= 1: the caller checked 1 thread's need
  const std::size_t tasks = p.batch * p.heads * p.n_new;
  int threads = threads_for(x, 4.f * static_cast<float>(keys * p.d_head * tasks), tasks);
  if (static_cast<std::size_t>(threads) > fit) threads = static_cast<int>(fit);
  parallel_for_tasks(x, threads, tasks, [&](std::size_t t, int s) {
    const std::size_t i = t % p.n_new, h = t / p.n_new % p.heads, b = t / p.n_new / p.heads;
    float* scores = base + static_cast<std::size_t>(s) * slot;
    float* tile = scores + util::round_up(keys, 16);
    const std::size_t end = (p.lengths ? p.lengths[b] : p.length) + i + 1;  // positions [start, end) are seen
    const std::size_t start = p.window && end > p.window ? end - p.window : 0, n_keys = end - start;
    const std::size_t row = (b * p.n_new + i) * p.d_out + h * p.d_head;
    const float* q = p.q + row;
    float* o = p.out + row;
    const std::size_t first = b * p.capacity * p.row_bytes + head_offset(p.format, h / group, p.d_head);
    const unsigned char* kb = static_cast<const unsigned char*>(p.k) + first;
    const unsigned char* vb = static_cast<const unsigned char*>(p.v) + first;
    // Position `pos` lives in row pos % capacity (a ring once positions pass
    // the capacity): tiles stop at the wrap.
    auto tile_at = [&](std::size_t j, std::size_t* nt) {
      const std::size_t pos = start + j, slot_row = pos % p.capacity;
      std::size_t n = n_keys - j < T ? n_keys - j : T;
      if (n > p.capacity - slot_row) n = p.capacity - slot_row;
      *nt = n;
      return slot_row * p.row_bytes;
    };
    for (std::size_t j = 0, nt = 0; j < n_keys; j += nt) {
      const std::size_t off = tile_at(j, &nt);
      widen(nt, p.d_head, kb + off, p.row_bytes, tile);
      kk.scores(nt, p.d_head, q, tile, p.scale, scores + j);
    }
    if (p.softcap != 0.f) ak.softcap(n_keys, p.softcap, scores, nullptr);  // the fused path's score step
    const float m = sm.max(n_keys, scores);
    const float sum = sm.exp_sum(n_keys, 1.f, m, scores, scores);  // >= 1: the max's term is exp(0)
    for (std::size_t c = 0; c < p.d_head; ++c) o[c] = 0.f;
    for (std::size_t j = 0, nt = 0; j < n_keys; j += nt) {
      const std::size_t off = tile_at(j, &nt);
      widen(nt, p.d_head, vb + off, p.row_bytes, tile);
      kk.accum(nt, p.d_head, scores + j, tile, o);
    }
    sm.mul(p.d_head, 1.f / sum, o);
  });
}

}  // namespace qkv::ops
