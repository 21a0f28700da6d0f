// SPDX-License-Identifier: MIT
// The lookup of attn_bf16.hpp: only avx512_bf16 has a set today.
#include "kernels/attn_bf16/attn_bf16.hpp"

namespace qkv::kern {

#ifdef QKV_HAVE_AVX512_BF16
extern const attn_bf16_kernels attn_bf16_avx512_bf16;
#endif

const attn_bf16_kernels* attn_bf16_for(qkv_isa isa) noexcept {
#ifdef QKV_HAVE_AVX512_BF16
  if (isa == QKV_ISA_AVX512_BF16) return &attn_bf16_avx512_bf16;
#endif
  (void)isa;
  return nullptr;
}

}  // namespace qkv::kern
