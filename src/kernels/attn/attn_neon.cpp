// Fused attention tile kernels for neon; compiled with that ISA's flags only.
// Register tile: 16 q registers: 2x4 queries x 5 keys, 10 accumulators.
#include "kernels/attn/attn-inl.hpp"

namespace qkv::kern {
const attn_kernels attn_neon = make_attn_kernels<xsimd::neon, 2, 5, 16>();
}
