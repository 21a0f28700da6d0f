// SPDX-License-Identifier: MIT
// ref_layer - the C++ face of the multi-head attention layer oracle
// (tests/ref/ref_layer.h, where the arithmetic is): vectors in and out, the
// library's dropout stream plugged in (GQA, window and RoPE as the
// description says). Used directly, and through central
// differences as the oracle for every gradient.
#pragma once

#include <cstddef>
#include <vector>

#include "qkv/layer.h"
#include "ref/ref_layer.h"
#include "support/ref_attention.hpp"  // ref_dropout

namespace qkv_test {

struct ref_layer {
  qkv_mha_desc d;
  qkv_mha_layout p;
  std::size_t B, T;

  // y[B*T][d_out] from x[B*T][d_in] and params (both double).
  std::vector<double> forward(const std::vector<double>& prm, const std::vector<double>& x, bool training) const {
    std::vector<double> y(B * T * d.d_out), scratch(qkv_ref_mha_scratch_doubles(&d, B, T));
    qkv_ref_mha_forward(&d, &p, B, T, prm.data(), x.data(), training, ref_dropout, y.data(), scratch.data());
    return y;
  }
};

}  // namespace qkv_test
