// Optimizer kernels for avx2; compiled with that ISA's flags only.
#include "kernels/optim/optim-inl.hpp"

namespace qkv::kern {
const optim_kernels optim_avx2 = make_optim_kernels<xsimd::fma3<xsimd::avx2>>();
}
