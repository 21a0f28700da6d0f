// Fused attention tile kernels for sse2; compiled with that ISA's flags only.
// Register tile: 16 xmm, no FMA: 2x4 queries x 5 keys, 10 accumulators.
#include "kernels/attn/attn-inl.hpp"

namespace qkv::kern {
const attn_kernels attn_sse2 = make_attn_kernels<xsimd::sse2, 2, 5, 16>();
}
