// Cross-entropy row kernels for neon64; compiled with that ISA's flags only.
#include "kernels/loss/loss-inl.hpp"

namespace qkv::kern {
const loss_kernels loss_neon64 = make_loss_kernels<xsimd::neon64>();
}
