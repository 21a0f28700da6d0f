// SPDX-License-Identifier: MIT
// The scalar kernel sets' exponential, out of line: see exp_scalar.hpp.
#include "kernels/softmax/exp_scalar.hpp"

namespace qkv::kern {

float exp_f32_shared(float x) noexcept { return exp_f32_scalar(x); }

}  // namespace qkv::kern
