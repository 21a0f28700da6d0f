// Fused attention tile kernels for neon64; compiled with that ISA's flags only.
// Register tile: 32 q registers: 4x4 queries x 6 keys, 24 accumulators.
#include "kernels/attn/attn-inl.hpp"

namespace qkv::kern {
const attn_kernels attn_neon64 = make_attn_kernels<xsimd::neon64, 4, 6, 32>();
}
