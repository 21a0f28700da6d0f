// Every kernel table of avx2 except GEMM's (kernels/gemm/gemm_avx2.cpp): one
// translation unit, compiled with avx2's flags only (the *_avx2.cpp rule in
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

const vec_kernels vec_avx2 = make_vec_kernels<xsimd::fma3<xsimd::avx2>>();
const loss_kernels loss_avx2 = make_loss_kernels<xsimd::fma3<xsimd::avx2>>();
const optim_kernels optim_avx2 = make_optim_kernels<xsimd::fma3<xsimd::avx2>>();
const softmax_kernels softmax_avx2 = make_softmax_kernels<xsimd::fma3<xsimd::avx2>>();
// Register tile: 16 ymm: 2x8 queries x 6 keys, 12 accumulators.
const attn_kernels attn_avx2 = make_attn_kernels<xsimd::fma3<xsimd::avx2>, 2, 6, 32>();
const attn_bwd_kernels attn_bwd_avx2 = make_attn_bwd_kernels<xsimd::fma3<xsimd::avx2>>();

}  // namespace qkv::kern
