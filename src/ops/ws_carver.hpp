// SPDX-License-Identifier: MIT
// ws_carver - the one carver of caller workspaces: cuts typed, 64-byte
// aligned arrays out of a 64-byte aligned base (align_workspace below gives
// one from any pointer, for kAlign bytes of slack in the size query). Run
// once with a null base to size the layout (overflow-checked), then with the
// real base to get the pointers: the same code computes both, so the size
// query and the call cannot disagree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::ops {

class ws_carver {
 public:
  static constexpr std::size_t kAlign = 64;

  explicit ws_carver(void* base = nullptr) : base_(static_cast<char*>(base)) {}

  // n elements of T; nullptr while sizing (base null) or when n == 0.
  template <class T>
  T* take(std::size_t n) noexcept {
    std::size_t bytes = 0;
    if (__builtin_mul_overflow(n, sizeof(T), &bytes) || __builtin_add_overflow(used_, kAlign - 1, &used_)) {
      ok_ = false;
      return nullptr;
    }
    used_ &= ~(kAlign - 1);
    T* p = (base_ && n) ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    if (__builtin_add_overflow(used_, bytes, &used_)) ok_ = false;
    return p;
  }

  // Bytes used so far, rounded up to kAlign; false on overflow.
  bool size(std::size_t* bytes) const noexcept {
    std::size_t s;
    if (!ok_ || __builtin_add_overflow(used_, kAlign - 1, &s)) return false;
    *bytes = s & ~(kAlign - 1);
    return true;
  }

  // What is left of a workspace of `bytes` (counted from the base) after the
  // arrays taken so far: its aligned start, and its size in *left (0 when
  // nothing is left). For a sub-routine's own workspace.
  void* rest(std::size_t bytes, std::size_t* left) const noexcept {
    std::size_t used = 0;
    if (!size(&used) || used > bytes) used = bytes;
    *left = bytes - used;
    return base_ ? base_ + used : nullptr;
  }

 private:
  char* base_;
  std::size_t used_ = 0;
  bool ok_ = true;
};

// First kAlign-aligned address in [p, p + bytes), and the bytes left after it.
inline char* align_workspace(void* p, std::size_t* bytes) noexcept {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const std::size_t skip = (ws_carver::kAlign - addr % ws_carver::kAlign) % ws_carver::kAlign;
  if (!p || *bytes < skip) {
    *bytes = 0;
    return static_cast<char*>(p);
  }
  *bytes -= skip;
  return static_cast<char*>(p) + skip;
}

}  // namespace qkv::ops
