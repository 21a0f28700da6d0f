// Softmax row kernels for sse2; compiled with that ISA's flags only.
#include "kernels/softmax/softmax-inl.hpp"

namespace qkv::kern {
const softmax_kernels softmax_sse2 = make_softmax_kernels<xsimd::sse2>();
}
