// Attention-backward micro-kernels for avx2; compiled with that ISA's flags only.
#include "kernels/attn_bwd/attn_bwd-inl.hpp"

namespace qkv::kern {
const attn_bwd_kernels attn_bwd_avx2 = make_attn_bwd_kernels<xsimd::fma3<xsimd::avx2>>();
}
