// SPDX-License-Identifier: MIT
// The backward members of the avx512_bf16 attn_bf16 set
// (attn_bf16_bwd_avx512_bf16.cpp), for its table
// (attn_bf16_avx512_bf16.cpp); attn_bf16.hpp states their contracts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qkv::kern {

void attn_bf16_pair_cols(std::size_t rows, std::size_t rows_pad, std::size_t cols, const float* x, std::size_t ldx,
                         std::uint32_t* dst, std::size_t ld_dst);
void attn_bf16_round_rows(std::size_t rows, std::size_t cols, const float* x, std::size_t ldx, std::uint16_t* dst,
                          std::size_t ld_dst);
void attn_bf16_pair_rows(std::size_t rows, std::size_t cols, std::size_t cols_pad, const float* x, std::size_t ldx,
                         std::uint32_t* dst, std::size_t ld_dst);
void attn_bf16_gemm_pairs(std::size_t m, std::size_t n, std::size_t k2, const std::uint32_t* a, std::size_t ar,
                          std::size_t ac, const std::uint32_t* b, std::size_t ldb, float alpha, float* c,
                          std::size_t ldc, int acc);

}  // namespace qkv::kern
