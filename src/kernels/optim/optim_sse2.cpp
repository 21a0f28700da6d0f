// Optimizer kernels for sse2; compiled with that ISA's flags only.
#include "kernels/optim/optim-inl.hpp"

namespace qkv::kern {
const optim_kernels optim_sse2 = make_optim_kernels<xsimd::sse2>();
}
