// Every kernel table of sse2 except GEMM's (kernels/gemm/gemm_sse2.cpp): one
// translation unit, compiled with sse2's flags only (the *_sse2.cpp rule in
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

const vec_kernels vec_sse2 = make_vec_kernels<xsimd::sse2>();
const loss_kernels loss_sse2 = make_loss_kernels<xsimd::sse2>();
const optim_kernels optim_sse2 = make_optim_kernels<xsimd::sse2>();
const softmax_kernels softmax_sse2 = make_softmax_kernels<xsimd::sse2>();
// Register tile: 16 xmm, no FMA: 2x4 queries x 5 keys, 10 accumulators.
const attn_kernels attn_sse2 = make_attn_kernels<xsimd::sse2, 2, 5, 16>();
const attn_bwd_kernels attn_bwd_sse2 = make_attn_bwd_kernels<xsimd::sse2>();

}  // namespace qkv::kern
