// SPDX-License-Identifier: MIT
// ref_loss - the C++ face of the cross-entropy oracle (tests/ref/ref_loss.h,
// where the arithmetic is): the gradient as a vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ref/ref_loss.h"

namespace qkv_test {

// The mean loss; with grad, also the gradient of dloss * loss, [rows][classes] dense.
inline double ref_cross_entropy(std::size_t rows, std::size_t classes, const float* logits, std::size_t ld,
                                const std::int32_t* targets, std::int32_t ignore_index,
                                std::vector<double>* grad = nullptr, double dloss = 1.0) {
  if (grad) {
    grad->assign(rows * classes, 0.0);
    qkv_ref_cross_entropy_backward(rows, classes, logits, ld, targets, ignore_index, dloss, grad->data(), classes);
  }
  return qkv_ref_cross_entropy_forward(rows, classes, logits, ld, targets, ignore_index, nullptr);
}

}  // namespace qkv_test
