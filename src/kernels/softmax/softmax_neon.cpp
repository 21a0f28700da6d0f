// Softmax row kernels for neon; compiled with that ISA's flags only.
#include "kernels/softmax/softmax-inl.hpp"

namespace qkv::kern {
const softmax_kernels softmax_neon = make_softmax_kernels<xsimd::neon>();
}
