// SPDX-License-Identifier: MIT
#include "dispatch/dispatch.hpp"

namespace qkv::dispatch {
namespace {
constexpr const char* kNames[QKV_ISA_COUNT] = {"scalar", "sse2",        "avx2",       "avx512",     "neon",
                                               "neon64", "avx512_bf16", "neon64_dot", "neon64_bf16",
                                               "mve"};

// Not strcmp: on bare metal the library links against libm alone.
bool same(const char* a, const char* b) noexcept {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
}  // namespace

const char* name(qkv_isa isa) noexcept {
  const int i = static_cast<int>(isa);
  return (i >= 0 && i < QKV_ISA_COUNT) ? kNames[i] : nullptr;
}

bool parse(const char* text, qkv_isa* isa) noexcept {
  for (int i = 0; i < QKV_ISA_COUNT; ++i)
    if (same(text, kNames[i])) {
      *isa = static_cast<qkv_isa>(i);
      return true;
    }
  return false;
}

}  // namespace qkv::dispatch
