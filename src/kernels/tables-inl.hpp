// SPDX-License-Identifier: MIT
// tables-inl.hpp - what a tables_<isa>.cpp needs: every module's -inl.hpp,
// and the tables that take nothing but the xsimd architecture. Included
// only by the tables_<isa>.cpp files (per-ISA flags, internal linkage).
#pragma once

#include "kernels/act/act-inl.hpp"
#include "kernels/attn/attn-inl.hpp"
#include "kernels/attn_bwd/attn_bwd-inl.hpp"
#include "kernels/convert/convert-inl.hpp"
#include "kernels/gemm/gemm-inl.hpp"
#include "kernels/gemm_lowp/gemm_lowp-inl.hpp"
#include "kernels/kv/kv-inl.hpp"
#include "kernels/loss/loss-inl.hpp"
#include "kernels/norm/norm-inl.hpp"
#include "kernels/optim/optim-inl.hpp"
#include "kernels/softmax/softmax-inl.hpp"
#include "kernels/vec/vec-inl.hpp"

// Defines <module>_<isa> for every module whose table depends on the
// architecture alone. GEMM and the attention forward also take a register
// tile shape, chosen in each tables_<isa>.cpp. A new module of that kind
// adds one line here and none in the tables files.
#define QKV_DEFINE_ARCH_TABLES(isa, Arch)                                    \
  const act_kernels act_##isa = make_act_kernels<Arch>();                    \
  const vec_kernels vec_##isa = make_vec_kernels<Arch>();                    \
  const loss_kernels loss_##isa = make_loss_kernels<Arch>();                 \
  const norm_kernels norm_##isa = make_norm_kernels<Arch>();                 \
  const optim_kernels optim_##isa = make_optim_kernels<Arch>();              \
  const softmax_kernels softmax_##isa = make_softmax_kernels<Arch>();        \
  const attn_bwd_kernels attn_bwd_##isa = make_attn_bwd_kernels<Arch>();     \
  const kv_kernels kv_##isa = make_kv_kernels<Arch>();                       \
  const convert_kernels convert_##isa = make_convert_kernels<Arch>();
