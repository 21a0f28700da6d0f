// Cross-entropy row kernels for avx512; compiled with that ISA's flags only.
#include "kernels/loss/loss-inl.hpp"

namespace qkv::kern {
const loss_kernels loss_avx512 = make_loss_kernels<xsimd::avx512bw>();
}
