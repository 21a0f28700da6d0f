// Level-1 kernels for avx512; compiled with that ISA's flags only.
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {
const vec_kernels vec_avx512 = make_vec_kernels<xsimd::avx512bw>();
}
