// SPDX-License-Identifier: MIT
// gemm_lowp - the per-ISA pieces of the reduced-precision GEMMs behind
// qkv_gemm_ex (ops/gemm_ex.cpp has the blocking, threading and epilogues):
// bf16 x bf16 -> fp32 and int8 x int8 -> int32 micro-kernels and the packers
// that feed them. (fp16, mixed and weight-only-int8 operands are widened to
// fp32 while packing and run on the fp32 tiles of kernels/gemm.)
//
// Packed layouts: k is grouped kg at a time (bf16: kg 2, a pair per 32-bit
// lane; int8: kg 4, a quad per 32-bit lane, or 8 for SMMLA's 2x8 operands,
// 16 for mve's VMLADAVA, a Q register), kc padded with zeros to a
// multiple of kg, rows and columns padded with zeros to mr / nr:
//   A panel: ap[(k/kg)*mr*kg + i*kg + k%kg] = op(A)(i, k)
//   B panel: bp[(k/kg)*nr*kg + j*kg + k%kg] = op(B)(k, j)
// A packed block of mc rows is ceil(mc/mr) A panels one after another (each
// a_panel_bytes(kc) long); likewise B (b_panel_bytes(kc) each).
//
// Accumulator contract: a micro-kernel call adds one kc block of products to
// an mr x nr tile acc (row-major, leading dimension ldacc, in elements):
// acc = (load ? acc : 0) + A panel . B panel, every element's products
// summed in k order within the call, in the same operations whichever tile,
// edge or thread computes it; so K split into blocks at the same places gives
// the same bits for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/isa_select.hpp"

namespace qkv::kern {

// bf16 x bf16 -> fp32. mr == 0: this ISA has no bf16 dot product; the driver
// widens bf16 to fp32 instead.
struct gemm_bf16_kernels {
  const char* name;    // "gemm_bf16_<MR>x<NR>" or "none"
  std::size_t mr, nr;  // register tile (kg is 2)
  // Packs op(A)[0:mc, 0:kc] (bf16 bits) into ceil(mc/mr) A panels at dst
  // (64-byte aligned). op(A)(i,k) = a[i*lda + k], or a[k*lda + i] when trans.
  void (*pack_a)(bool trans, std::size_t mc, std::size_t kc, const std::uint16_t* a, std::size_t lda,
                 std::uint16_t* dst);
  // Packs op(B)[0:kc, 0:nc] into ceil(nc/nr) B panels at dst (64-byte
  // aligned). op(B)(k,j) = b[k*ldb + j], or b[j*ldb + k] when trans.
  void (*pack_b)(bool trans, std::size_t kc, std::size_t nc, const std::uint16_t* b, std::size_t ldb,
                 std::uint16_t* dst);
  // acc[0:mr, 0:nr] = (load ? acc : 0) + A panel . B panel (kc >= 1, the
  // unpadded depth). Inputs, products and partial sums below 2^-126 may be
  // flushed to zero (vdpbf16ps and BFDOT do); sums may be rounded to odd
  // (BFDOT: a pair's sum, then its add; within gemm_ex.h's bound).
  void (*ukernel)(std::size_t kc, const std::uint16_t* a, const std::uint16_t* b, float* acc, std::size_t ldacc,
                  bool load);
};

// int8 x int8 -> int32, exact (wrapping modulo 2^32; exact whenever the true
// sum fits int32). A kernel may store A's codes biased (u8 = s8 + 128, for
// u8 x s8 dot products such as vpdpbusd); its B panel then ends with nr
// int32 corrections (-128 * the column's code sum over the panel's kc) that
// the micro-kernel adds. The panel sizes below include them.
struct gemm_s8_kernels {
  const char* name;        // "gemm_s8_<MR>x<NR>[_vnni]"
  std::size_t mr, nr, kg;  // register tile and k grouping
  // Bytes of one packed A panel / B panel of depth kc (multiples of 64).
  std::size_t (*a_panel_bytes)(std::size_t kc);
  std::size_t (*b_panel_bytes)(std::size_t kc);
  // As gemm_bf16_kernels::pack_a / pack_b, for int8 codes.
  void (*pack_a)(bool trans, std::size_t mc, std::size_t kc, const std::int8_t* a, std::size_t lda, void* dst);
  void (*pack_b)(bool trans, std::size_t kc, std::size_t nc, const std::int8_t* b, std::size_t ldb, void* dst);
  // acc[0:mr, 0:nr] = (load ? acc : 0) + A panel . B panel, int32.
  void (*ukernel)(std::size_t kc, const void* a, const void* b, std::int32_t* acc, std::size_t ldacc, bool load);
};

QKV_DECLARE_KERNEL_TABLES_BF16(gemm_bf16_kernels, gemm_bf16)
QKV_DECLARE_KERNEL_TABLES_BF16(gemm_s8_kernels, gemm_s8)

}  // namespace qkv::kern
