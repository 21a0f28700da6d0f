// Softmax row kernels for avx2; compiled with that ISA's flags only.
#include "kernels/softmax/softmax-inl.hpp"

namespace qkv::kern {
const softmax_kernels softmax_avx2 = make_softmax_kernels<xsimd::fma3<xsimd::avx2>>();
}
