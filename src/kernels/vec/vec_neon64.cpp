// Level-1 kernels for neon64; compiled with that ISA's flags only.
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {
const vec_kernels vec_neon64 = make_vec_kernels<xsimd::neon64>();
}
