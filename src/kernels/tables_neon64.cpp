// Every kernel table of neon64 except GEMM's (kernels/gemm/gemm_neon64.cpp): one
// translation unit, compiled with neon64's flags only (the *_neon64.cpp rule in
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

const vec_kernels vec_neon64 = make_vec_kernels<xsimd::neon64>();
const loss_kernels loss_neon64 = make_loss_kernels<xsimd::neon64>();
const optim_kernels optim_neon64 = make_optim_kernels<xsimd::neon64>();
const softmax_kernels softmax_neon64 = make_softmax_kernels<xsimd::neon64>();
// Register tile: 32 q registers: 4x4 queries x 6 keys, 24 accumulators.
const attn_kernels attn_neon64 = make_attn_kernels<xsimd::neon64, 4, 6, 32>();
const attn_bwd_kernels attn_bwd_neon64 = make_attn_bwd_kernels<xsimd::neon64>();

}  // namespace qkv::kern
