// Level-1 kernels for sse2; compiled with that ISA's flags only.
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {
const vec_kernels vec_sse2 = make_vec_kernels<xsimd::sse2>();
}
