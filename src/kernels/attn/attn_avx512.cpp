// Fused attention tile kernels for avx512; compiled with that ISA's flags only.
// Register tile: 32 zmm: 4x16 queries x 6 keys, 24 accumulators.
#include "kernels/attn/attn-inl.hpp"

namespace qkv::kern {
const attn_kernels attn_avx512 = make_attn_kernels<xsimd::avx512bw, 4, 6, 64>();
}
