// SPDX-License-Identifier: MIT
#include "ops/ws_carver.hpp"

namespace qkv::ops {

void* ws_carver::take_bytes(std::size_t n, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes) || __builtin_add_overflow(used_, kAlign - 1, &used_)) {
    ok_ = false;
    return nullptr;
  }
  used_ &= ~(kAlign - 1);
  void* p = (base_ && n) ? base_ + used_ : nullptr;
  if (__builtin_add_overflow(used_, bytes, &used_)) ok_ = false;
  return p;
}

}  // namespace qkv::ops
