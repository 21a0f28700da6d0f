// Optimizer kernels for neon64; compiled with that ISA's flags only.
#include "kernels/optim/optim-inl.hpp"

namespace qkv::kern {
const optim_kernels optim_neon64 = make_optim_kernels<xsimd::neon64>();
}
