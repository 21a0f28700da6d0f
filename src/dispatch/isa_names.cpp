#include <cstring>

#include "dispatch/dispatch.hpp"

namespace qkv::dispatch {
namespace {
constexpr const char* kNames[QKV_ISA_COUNT] = {"scalar", "sse2", "avx2", "avx512", "neon", "neon64"};
}

const char* name(qkv_isa isa) noexcept {
  const int i = static_cast<int>(isa);
  return (i >= 0 && i < QKV_ISA_COUNT) ? kNames[i] : nullptr;
}

bool parse(const char* text, qkv_isa* isa) noexcept {
  for (int i = 0; i < QKV_ISA_COUNT; ++i)
    if (std::strcmp(text, kNames[i]) == 0) {
      *isa = static_cast<qkv_isa>(i);
      return true;
    }
  return false;
}

}  // namespace qkv::dispatch
