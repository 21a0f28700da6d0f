// Every kernel table of avx512 except GEMM's (kernels/gemm/gemm_avx512.cpp): one
// translation unit, compiled with avx512's flags only (the *_avx512.cpp rule in
// src/CMakeLists.txt). Each table instantiates its module's -inl.hpp
// templates for this ISA; scripts/check-isa-objects.sh checks that no inline
// function is shared with another ISA's object.
#include "kernels/attn/attn-inl.hpp"
#include "kernels/attn_bwd/attn_bwd-inl.hpp"
#include "kernels/loss/loss-inl.hpp"
#include "kernels/optim/optim-inl.hpp"
#include "kernels/softmax/softmax-inl.hpp"
#include "kernels/vec/vec-inl.hpp"

namespace qkv::kern {

const vec_kernels vec_avx512 = make_vec_kernels<xsimd::avx512bw>();
const loss_kernels loss_avx512 = make_loss_kernels<xsimd::avx512bw>();
const optim_kernels optim_avx512 = make_optim_kernels<xsimd::avx512bw>();
const softmax_kernels softmax_avx512 = make_softmax_kernels<xsimd::avx512bw>();
// Register tile: 32 zmm: 4x16 queries x 6 keys, 24 accumulators.
const attn_kernels attn_avx512 = make_attn_kernels<xsimd::avx512bw, 4, 6, 64>();
const attn_bwd_kernels attn_bwd_avx512 = make_attn_bwd_kernels<xsimd::avx512bw>();

}  // namespace qkv::kern
