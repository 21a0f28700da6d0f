// SPDX-License-Identifier: MIT
// ref_embedding - the C++ face of the embedding oracle (tests/ref/
// ref_embedding.h, where the arithmetic is): the forward as a vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qkv/embedding.h"
#include "ref/ref_embedding.h"

namespace qkv_test {

// out[B*T][dim] = tok[id] + pos[pos_offset + t] in double (exact: rounded to
// float, the library's sum bit for bit).
inline std::vector<double> ref_embedding_forward(const qkv_embedding_desc& d, std::size_t B, std::size_t T,
                                                 std::size_t pos_offset, const std::int32_t* ids, const float* tok,
                                                 const float* pos) {
  std::vector<double> out(B * T * d.dim);
  qkv_ref_embedding_forward(&d, B, T, pos_offset, ids, tok, pos, out.data());
  return out;
}

}  // namespace qkv_test
