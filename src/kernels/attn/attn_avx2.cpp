// Fused attention tile kernels for avx2; compiled with that ISA's flags only.
// Register tile: 16 ymm: 2x8 queries x 6 keys, 12 accumulators.
#include "kernels/attn/attn-inl.hpp"

namespace qkv::kern {
const attn_kernels attn_avx2 = make_attn_kernels<xsimd::fma3<xsimd::avx2>, 2, 6, 32>();
}
