// Cross-entropy row kernels for avx2; compiled with that ISA's flags only.
#include "kernels/loss/loss-inl.hpp"

namespace qkv::kern {
const loss_kernels loss_avx2 = make_loss_kernels<xsimd::fma3<xsimd::avx2>>();
}
