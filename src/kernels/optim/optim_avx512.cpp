// Optimizer kernels for avx512; compiled with that ISA's flags only.
#include "kernels/optim/optim-inl.hpp"

namespace qkv::kern {
const optim_kernels optim_avx512 = make_optim_kernels<xsimd::avx512bw>();
}
