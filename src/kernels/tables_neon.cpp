// Every kernel table of neon except GEMM's (kernels/gemm/gemm_neon.cpp): one
// translation unit, compiled with neon's flags only (the *_neon.cpp rule in
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

const vec_kernels vec_neon = make_vec_kernels<xsimd::neon>();
const loss_kernels loss_neon = make_loss_kernels<xsimd::neon>();
const optim_kernels optim_neon = make_optim_kernels<xsimd::neon>();
const softmax_kernels softmax_neon = make_softmax_kernels<xsimd::neon>();
// Register tile: 16 q registers: 2x4 queries x 5 keys, 10 accumulators.
const attn_kernels attn_neon = make_attn_kernels<xsimd::neon, 2, 5, 16>();
const attn_bwd_kernels attn_bwd_neon = make_attn_bwd_kernels<xsimd::neon>();

}  // namespace qkv::kern
