// arena - carves one caller workspace into 64-byte aligned pieces. The same
// sequence of take() calls on a null arena measures the bytes needed, so the
// size query and the run can never disagree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::ops {

class arena {
 public:
  static constexpr std::size_t kAlign = 64;

  // Measuring arena: take() returns nullptr and only counts.
  arena() = default;
  arena(void* base, std::size_t bytes) : base_(static_cast<char*>(base)), cap_(bytes) {}

  template <class T = float>
  T* take(std::size_t count) {
    // Align the absolute address, so an unaligned caller buffer still works.
    std::size_t pad = 0;
    if (base_) {
      const auto addr = reinterpret_cast<std::uintptr_t>(base_ + used_);
      pad = (kAlign - addr % kAlign) % kAlign;
    } else {
      pad = kAlign - 1;  // worst case for the caller's alignment
    }
    T* p = base_ ? reinterpret_cast<T*>(base_ + used_ + pad) : nullptr;
    used_ += pad + count * sizeof(T);
    return p;
  }
  // Whatever is left (for a sub-routine's own workspace).
  void* rest(std::size_t* bytes) const {
    *bytes = used_ <= cap_ ? cap_ - used_ : 0;
    return base_ ? base_ + used_ : nullptr;
  }
  std::size_t used() const { return used_; }

 private:
  char* base_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t used_ = 0;
};

}  // namespace qkv::ops
