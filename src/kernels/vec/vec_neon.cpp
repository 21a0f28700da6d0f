// Level-1 kernels for neon; compiled with that ISA's flags only.
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {
const vec_kernels vec_neon = make_vec_kernels<xsimd::neon>();
}
