// Attention-backward micro-kernels for neon64; compiled with that ISA's flags only.
#include "kernels/attn_bwd/attn_bwd-inl.hpp"

namespace qkv::kern {
const attn_bwd_kernels attn_bwd_neon64 = make_attn_bwd_kernels<xsimd::neon64>();
}
