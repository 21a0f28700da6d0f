/* SPDX-License-Identifier: MIT */
/** @file qkv/gemm.h
 * @brief Single-precision general matrix multiply (SGEMM).
 *
 *   C = alpha * op(A) * op(B) + beta * C
 *
 * Row-major, leading dimensions in elements. op(X) is X or its transpose;
 * op(A) is M x K, op(B) is K x N, C is M x N. The stored A is M x K (lda >= K)
 * when ta == QKV_NO_TRANS and K x M (lda >= M) when ta == QKV_TRANS; likewise
 * the stored B is K x N (ldb >= N) or N x K (ldb >= K); ldc >= N.
 *
 * Contract shared by the functions below:
 *  - beta == 0 never reads C (NaN or garbage in C cannot leak into the result);
 *  - K == 0 or alpha == 0 sets C = beta * C without reading A or B;
 *    M == 0 or N == 0 does nothing;
 *  - nothing outside the declared extents is read or written;
 *  - a pointer may be NULL only when its matrix has no elements;
 *  - C must not overlap A or B (not checked); A and B may overlap each other;
 *  - results are bitwise identical for any thread count (qkv_set_num_threads);
 *    they depend on the ISA (qkv_get_isa), whose kernels differ in rounding,
 *    and on where K is split into blocks (kc of qkv_get_gemm_blocking), which
 *    is fixed for the process;
 *  - on error nothing is written.
 *
 * Errors, in the order they are checked:
 *  - QKV_ERR_BAD_ARGUMENT: ta or tb is not a qkv_trans value;
 *  - QKV_ERR_NULL_POINTER: A, B or C is NULL while its matrix has elements;
 *  - QKV_ERR_BAD_STRIDE: lda, ldb or ldc is smaller than its stored row length;
 *  - QKV_ERR_SIZE_OVERFLOW: (rows - 1) * ld + cols of a stored matrix, in bytes,
 *    does not fit in ptrdiff_t;
 *  - qkv_sgemm_ws only, last: QKV_ERR_NULL_POINTER when the workspace is NULL
 *    although the call needs one, then QKV_ERR_WORKSPACE_TOO_SMALL. */
#ifndef QKV_GEMM_H
#define QKV_GEMM_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/status.h"

QKV_EXTERN_C_BEGIN

/** Whether a matrix operand is used as stored or transposed. */
typedef enum qkv_trans {
  QKV_NO_TRANS = 0, /**< op(X) = X, as stored */
  QKV_TRANS = 1     /**< op(X) = X^T */
} qkv_trans;

/** C = alpha*op(A)*op(B) + beta*C without a workspace.
 *
 * Memory: allocates nothing and keeps nothing (no static or thread-local
 * buffer). op(A) is read in place and B is packed, a block at a time, into a
 * 64 KiB array on the calling thread's stack (a B as stored whose K block
 * is deeper than that array's panels take, see qkv_gemm_blocking, is read
 * in place instead); small problems
 * (M*N*K <= 4096) and bare-metal builds (small stacks) use the unpacked
 * kernel and no block. Same bits as qkv_sgemm_ws. The cost of having no
 * workspace, against qkv_sgemm_ws, AMD EPYC (Zen 5, AVX-512), medians of
 * alternated calls (0.9.0): 1 thread 0.80-1.05x its speed (2048^3 0.80x,
 * 1024^3 0.85-0.93x; 256^3 1.05x, where packing A costs more than it
 * saves); 2 threads 0.78-0.97x (2048^3 0.78x: the narrow B blocks add
 * barriers).
 * For full speed on large problems use qkv_sgemm_ws.
 * Thread-safety: reentrant; any number of threads may call it at once.
 *
 * @param[in]     ta, tb   QKV_NO_TRANS or QKV_TRANS for A and B.
 * @param[in]     M, N, K  op(A) is M x K, op(B) is K x N, C is M x N.
 * @param[in]     alpha    scale of the product.
 * @param[in]     A, lda   the stored A and its leading dimension.
 * @param[in]     B, ldb   the stored B and its leading dimension.
 * @param[in]     beta     scale of the previous C (0: C is write-only).
 * @param[in,out] C, ldc   M x N result and its leading dimension.
 * @return QKV_OK or an error listed at the top of this header. */
QKV_API qkv_status qkv_sgemm(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha,
                             const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C,
                             size_t ldc);

/** Workspace qkv_sgemm_ws needs to run this problem with up to @p threads
 *  threads on the active ISA (qkv_get_isa; query again after qkv_set_isa).
 *  0 for problems that need none (empty, small, or with nothing to pack on
 *  this ISA). Any alignment works: the size includes 64 bytes of slack for
 *  aligning the blocks. At most (mc + nc) * kc * 4 + 64 bytes, plus one
 *  packed A block (mc * kc * 4 bytes) per extra thread, with the blocks of
 *  qkv_get_gemm_blocking; where the packed op(B) is a single block (K and N
 *  each in one block) of at most 4 * mc * kc floats, each extra thread also
 *  packs its own copy of it (K * N * 4 bytes, rounded up to 64): sharing
 *  one costs more than packing it again.
 * @param[in]  ta, tb, M, N, K  as for qkv_sgemm.
 * @param[in]  threads  >= 1; more threads need one more packed A block
 *                      each (and B block, as above).
 * @param[out] bytes    the size in bytes.
 * @return QKV_OK, QKV_ERR_NULL_POINTER (bytes NULL), QKV_ERR_BAD_ARGUMENT
 *  (bad ta/tb or threads < 1), QKV_ERR_SIZE_OVERFLOW. */
QKV_API qkv_status qkv_sgemm_workspace_size(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, int threads,
                                            size_t* bytes);

/** qkv_sgemm with caller-provided scratch memory: nothing static is used, so
 *  this is the form for firmware. Runs with at most as many threads as the
 *  workspace has room for (see qkv_sgemm_workspace_size) and as qkv allows.
 *  Same results as qkv_sgemm.
 * @param[in]     ta, tb   QKV_NO_TRANS or QKV_TRANS for A and B.
 * @param[in]     M, N, K  op(A) is M x K, op(B) is K x N, C is M x N.
 * @param[in]     alpha    scale of the product.
 * @param[in]     A, lda   the stored A and its leading dimension.
 * @param[in]     B, ldb   the stored B and its leading dimension.
 * @param[in]     beta     scale of the previous C (0: C is write-only).
 * @param[in,out] C, ldc   M x N result and its leading dimension.
 * @param[in] workspace        scratch memory owned by the caller, not kept;
 *                             may be NULL only when the size query gives 0.
 * @param[in] workspace_bytes  its size; at least qkv_sgemm_workspace_size(
 *                             ..., threads = 1, ...), else
 *                             QKV_ERR_WORKSPACE_TOO_SMALL.
 * Thread-safety: reentrant; concurrent calls need distinct workspaces.
 * @return QKV_OK or an error listed at the top of this header (the
 *  workspace's last). */
QKV_API qkv_status qkv_sgemm_ws(qkv_trans ta, qkv_trans tb, size_t M, size_t N, size_t K, float alpha,
                                const float* A, size_t lda, const float* B, size_t ldb, float beta, float* C,
                                size_t ldc, void* workspace, size_t workspace_bytes);

/** Where a qkv_gemm_blocking came from. */
typedef enum qkv_blocking_source {
  QKV_BLOCKING_CACHES = 0,      /**< derived from the caches the CPU reports */
  QKV_BLOCKING_ENVIRONMENT = 1, /**< QKV_BLOCKING="mc,kc,nc" (rounded, clamped) */
  QKV_BLOCKING_BUILT_IN = 2     /**< the kernel set's defaults: caches unknown, bare metal */
} qkv_blocking_source;

/** The GEMM blocking of the active ISA, for benchmark reports and tuning.
 *  Blocks are in elements: op(A) is packed mc x kc at a time, op(B) kc x nc
 *  at a time, and the register tile is mr x nr. They are decided once per
 *  process and ISA from the caches (an analytical model: the A
 *  micro-panel the macro-kernel keeps in L1 takes 2/3 of it less one way,
 *  the B block takes 3/4 of L2 (or, on
 *  CPUs whose L3 streams it fast enough, AMD's, a quarter of L3 where
 *  that is more), the A block 1/8 of L2), within
 *  64 <= kc <= 768 (512 where the kernel set copies strided operands to
 *  stack panels: every set but AVX-512's), nc <= 4096, mc <= 1024; a call
 *  splits K and N into near-equal blocks (a K of up to 1.5 kc stays one
 *  block where the kernels take it; a transposed B's blocks stay within 512
 *  deep, what one panel of qkv_sgemm's stack array holds) and may widen mc
 *  and nc for a shallow K within the same area. The
 *  environment variable QKV_BLOCKING="mc,kc,nc", read at that moment,
 *  overrides the model (hosted builds). Where a rule on caches cannot decide
 *  (whether the B block may live in L3; whether the AVX-512 full tile runs
 *  as compiled intrinsics or as inline assembly), the CPU's vendor and
 *  family do (cpu_class); both tiles give the same bits, and
 *  QKV_AVX512_TILE=intrinsics|assembly in the environment at first use
 *  overrides that choice for measurements.
 *  qkv_sgemm_workspace_size is at most
 *  (mc + nc) * kc * 4 + 64 bytes, plus mc * kc * 4 per extra thread (and a
 *  B block of at most 4 * mc * kc floats, see there). */
typedef struct qkv_gemm_blocking {
  /** @{ */
  size_t mr, nr;                        /**< register tile */
  /** @} */
  /** @{ */
  size_t mc, kc, nc;                    /**< cache blocks */
  /** @} */
  /** @{ */
  size_t l1d_bytes, l2_bytes, l3_bytes; /**< caches the model read (0: unknown); L3 whole */
  /** @} */
  /** @{ */
  size_t l1d_ways, l2_ways;             /**< their associativity (0: unknown) */
  /** @} */
  qkv_blocking_source source; /**< where mc, kc and nc came from */
  const char* kernel;    /**< the micro-kernel, e.g. "gemm_f32_14x32" or, its full
                              tile in inline assembly, "gemm_f32_14x32_asm"
                              (static string) */
  const char* cpu_class; /**< the microarchitecture class the per-CPU choices were
                              made for: "intel", "zen4", "zen5", "amd" or "other"
                              (static string) */
} qkv_gemm_blocking;

/** Fills @p out with the active ISA's GEMM blocking (query again after
 *  qkv_set_isa).
 * @param[out] out  the blocking.
 * @return QKV_OK, QKV_ERR_NULL_POINTER (out NULL).
 * Thread-safety: reentrant. */
QKV_API qkv_status qkv_get_gemm_blocking(qkv_gemm_blocking* out);

QKV_EXTERN_C_END

#endif /* QKV_GEMM_H */
