// Level-1 kernels for avx2; compiled with that ISA's flags only.
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {
const vec_kernels vec_avx2 = make_vec_kernels<xsimd::fma3<xsimd::avx2>>();
}
