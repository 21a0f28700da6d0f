// SPDX-License-Identifier: MIT
// wide - the type for sums that must keep more than float's precision and for
// scalar set-up math (AdamW's bias correction, the gradient-clip norm).
//
// double wherever the FPU has it. On a single-precision-only FPU (Cortex-M4F:
// __ARM_FP without its double bit) every double operation would be a libgcc
// soft-float call, slow and a dependency firmware must link, so there `wide`
// is float and sums are compensated (Kahan): the error of a sum of n terms
// stays ~2 eps instead of growing with n.
#pragma once

namespace qkv::ops {

#if defined(__ARM_FP) && !(__ARM_FP & 8)
#define QKV_WIDE_IS_FLOAT 1
using wide = float;
#else
#define QKV_WIDE_IS_FLOAT 0
using wide = double;
#endif

// Sequential sum of `wide` terms; the order of add() calls fixes the result.
class wide_sum {
 public:
  void add(wide x) noexcept {
#if QKV_WIDE_IS_FLOAT
    const wide y = x - carry_;
    const wide t = sum_ + y;
    carry_ = (t - sum_) - y;
    sum_ = t;
#else
    sum_ += x;
#endif
  }
  wide value() const noexcept { return sum_; }

 private:
  wide sum_ = 0;
#if QKV_WIDE_IS_FLOAT
  wide carry_ = 0;
#endif
};

}  // namespace qkv::ops
