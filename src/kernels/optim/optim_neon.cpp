// Optimizer kernels for neon; compiled with that ISA's flags only.
#include "kernels/optim/optim-inl.hpp"

namespace qkv::kern {
const optim_kernels optim_neon = make_optim_kernels<xsimd::neon>();
}
