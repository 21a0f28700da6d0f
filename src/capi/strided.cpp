// SPDX-License-Identifier: MIT
#include "capi/strided.hpp"

#include "capi/checked.hpp"

namespace qkv::capi {
namespace {

struct axis {
  std::size_t stride, extent;
};

}  // namespace

bool span(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens, std::size_t dim,
          std::size_t* elems) noexcept {
  const axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  std::size_t total = dim;
  for (const axis& a : axes) {
    std::size_t off;
    if (!mul_ok(a.extent - 1, a.stride, &off) || !add_ok(total, off, &total)) return false;
  }
  *elems = total;
  return total <= kMaxElems;
}

bool non_overlapping(const qkv_sdpa_strides& s, std::size_t batch, std::size_t heads, std::size_t tokens,
                     std::size_t dim) noexcept {
  axis axes[3] = {{s.batch, batch}, {s.head, heads}, {s.token, tokens}};
  for (int i = 0; i < 3; ++i)  // tiny insertion sort by stride
    for (int j = i; j > 0 && axes[j].stride < axes[j - 1].stride; --j) {
      const axis t = axes[j];
      axes[j] = axes[j - 1];
      axes[j - 1] = t;
    }
  std::size_t inner = dim;  // elements covered by the axes already placed
  for (const axis& a : axes) {
    if (a.extent <= 1) continue;
    if (a.stride < inner) return false;
    std::size_t covered;
    if (!mul_ok(a.stride, a.extent - 1, &covered) || !add_ok(covered, inner, &inner)) return false;
  }
  return true;
}

}  // namespace qkv::capi
