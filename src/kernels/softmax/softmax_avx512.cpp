// Softmax row kernels for avx512; compiled with that ISA's flags only.
#include "kernels/softmax/softmax-inl.hpp"

namespace qkv::kern {
const softmax_kernels softmax_avx512 = make_softmax_kernels<xsimd::avx512bw>();
}
