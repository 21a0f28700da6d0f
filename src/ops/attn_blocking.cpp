// SPDX-License-Identifier: MIT
#include "ops/attn_blocking.hpp"

#include "kernels/attn/attn.hpp"
#include "ops/sdpa_forward.hpp"

namespace qkv::ops {
namespace {

constexpr std::size_t kUnknownL1Chunk = 32;

std::size_t gcd(std::size_t a, std::size_t b) {
  while (b != 0) {
    const std::size_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

}  // namespace

std::size_t attn_key_chunk(const dispatch::cache_level& l1d, std::size_t ldv, std::size_t br) noexcept {
  const std::size_t line = l1d.line ? l1d.line : 64;
  if (l1d.bytes == 0 || l1d.ways == 0 || l1d.bytes < l1d.ways * line) return kUnknownL1Chunk;
  const std::size_t sets = l1d.bytes / (l1d.ways * line);
  const std::size_t stride_bytes = ldv * sizeof(float);
  // Rows a whole number of lines apart cycle through sets / gcd sets; other
  // strides drift across all of them.
  const std::size_t distinct = stride_bytes % line == 0 ? sets / gcd((stride_bytes / line) % sets, sets) : sets;
  std::size_t chunk = distinct * (2 * l1d.ways / 3);
  const std::size_t pt_keys = 2 * l1d.bytes / 3 / (br * sizeof(float));
  if (pt_keys < chunk) chunk = pt_keys;
  chunk = chunk / 8 * 8;
  if (chunk < 8) chunk = 8;
  if (chunk > kSdpaKeyTile) chunk = kSdpaKeyTile;
  return chunk;
}

std::size_t attn_key_chunk(std::size_t ldv, std::size_t br) noexcept {
  const dispatch::cache_info& c = dispatch::caches();
  return c.source == dispatch::cache_source::defaults ? kUnknownL1Chunk : attn_key_chunk(c.l1d, ldv, br);
}

std::size_t attn_key_tile(std::size_t kv_len) noexcept {
  if (kv_len >= kSdpaKeyTile) return kSdpaKeyTile;
  return kv_len < 8 ? 8 : (kv_len + 7) / 8 * 8;
}

std::size_t attn_br_bound() noexcept {
  std::size_t br = 0;
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {  // an ISA not built in looks up the scalar set
    const std::size_t b = kern::attn_for(static_cast<qkv_isa>(i)).br;
    if (b > br) br = b;
  }
  return br;
}

}  // namespace qkv::ops
