// Cross-entropy row kernels for sse2; compiled with that ISA's flags only.
#include "kernels/loss/loss-inl.hpp"

namespace qkv::kern {
const loss_kernels loss_sse2 = make_loss_kernels<xsimd::sse2>();
}
