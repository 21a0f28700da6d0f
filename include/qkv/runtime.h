/* SPDX-License-Identifier: MIT */
/** @file qkv/runtime.h
 * @brief The process-wide settings qkv has: which kernel set (ISA) runs, how
 * many threads the parallel routines use and who runs them (OpenMP or the
 * application's executor), and where reports of what ran go.
 *
 * Thread-safety: every function here may be called from any thread at any
 * time. Changing a setting while another thread is inside a qkv routine is
 * allowed; that routine uses either the old or the new value throughout. */
#ifndef QKV_RUNTIME_H
#define QKV_RUNTIME_H

#include <stddef.h>

#include "qkv/export.h"
#include "qkv/status.h"

/** Instruction sets qkv has kernels for. Values are ABI-stable. */
typedef enum qkv_isa {
  QKV_ISA_SCALAR = 0, /**< portable C++, always compiled in (Cortex-M, unknown CPUs) */
  QKV_ISA_SSE2 = 1,   /**< x86 SSE2 (baseline of x86-64) */
  QKV_ISA_AVX2 = 2,   /**< x86 AVX2 with FMA3 */
  QKV_ISA_AVX512 = 3, /**< x86 AVX-512 F+CD+DQ+BW+VL */
  QKV_ISA_NEON = 4,   /**< armv7-a NEON (with VFPv4 FMA) */
  QKV_ISA_NEON64 = 5, /**< aarch64 Advanced SIMD */
  /** x86 AVX-512 as QKV_ISA_AVX512 plus BF16 and VNNI (AMD Zen 4 and later,
   *  Intel Cooper Lake, Sapphire Rapids and later): the fp32 kernels are
   *  avx512's; bf16 and int8 GEMMs use vdpbf16ps / vpdpbusd, or AMX tiles
   *  where the CPU and OS allow them (qkv/gemm_ex.h), as does the attention
   *  on bf16 tensors (qkv/attention.h). */
  QKV_ISA_AVX512_BF16 = 6,
  /** aarch64 Advanced SIMD as QKV_ISA_NEON64 plus the int8 dot product
   *  (FEAT_DotProd: Cortex-A55/A76 and later, Neoverse N1, Apple M1): the
   *  fp32 kernels are neon64's; int8 GEMMs use SDOT. */
  QKV_ISA_NEON64_DOT = 7,
  /** aarch64 as QKV_ISA_NEON64_DOT plus BF16 and I8MM (Armv8.6-A: Neoverse
   *  V1/N2/V2, Cortex-A510/A710/X2 and later, Apple M2 and later): the fp32
   *  kernels are neon64's; bf16 GEMMs use BFDOT, int8 GEMMs SMMLA. */
  QKV_ISA_NEON64_BF16 = 8,
  /** Armv8.1-M Helium (MVE) with floating point (Cortex-M55, Cortex-M85):
   *  hand-written fp32 kernels (GEMM, the fused attention's inner loops,
   *  softmax, the optimizers, dot/axpy, bf16/fp16 conversions) with tail predication; the other
   *  modules are the scalar set's. Compile-time only: a bare-metal image
   *  built for such a core (__ARM_FEATURE_MVE with its floating-point bit)
   *  has it and runs it by default. */
  QKV_ISA_MVE = 9,
  QKV_ISA_COUNT = 10  /**< number of values above; not an ISA */
} qkv_isa;

QKV_EXTERN_C_BEGIN

/** @return the lower-case name of @p isa ("scalar", "sse2", "avx2", "avx512",
 *  "neon", "neon64", "avx512_bf16", "neon64_dot", "neon64_bf16", "mve"), or
 *  "unknown". Never fails; constant lookup.
 *  @param[in] isa  any value, also one outside the enum. */
QKV_API const char* qkv_isa_name(qkv_isa isa);

/** Parse a name as printed by qkv_isa_name().
 *  @param[in]  name  NUL-terminated name, case-sensitive.
 *  @param[out] isa   the ISA; written only on success.
 *  @return QKV_OK, QKV_ERR_NULL_POINTER, or QKV_ERR_BAD_ARGUMENT for an unknown name. */
QKV_API qkv_status qkv_isa_from_name(const char* name, qkv_isa* isa);

/** Is @p isa compiled into this build and runnable on this CPU (and OS)?
 *  @param[in]  isa        the ISA asked about.
 *  @param[out] compiled   1 if the build has kernels for it, else 0 (may be NULL).
 *  @param[out] supported  1 if compiled AND this CPU can run it, else 0 (may be NULL).
 *  @return QKV_OK, or QKV_ERR_BAD_ARGUMENT for a value outside the enum. */
QKV_API qkv_status qkv_isa_query(qkv_isa isa, int* compiled, int* supported);

/** The ISA whose kernels run now. On first use qkv picks the best ISA this
 *  CPU supports, unless the environment variable QKV_ISA names another
 *  supported one (hosted builds only; an unusable QKV_ISA is ignored).
 *  @param[out] isa  the active ISA.
 *  @return QKV_OK or QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_get_isa(qkv_isa* isa);

/** Force the kernel set for the whole process (tests, benchmarks).
 *  @param[in] isa  the ISA to run from now on.
 *  @return QKV_OK; QKV_ERR_BAD_ARGUMENT for a value outside the enum;
 *          QKV_ERR_UNSUPPORTED if not compiled in or not runnable on this
 *          CPU, in which case the active ISA is unchanged. */
QKV_API qkv_status qkv_set_isa(qkv_isa isa);

/** Number of threads the parallel routines use (OpenMP builds; 1 otherwise).
 *  @param[in] n  the thread count, >= 1.
 *  Results are bitwise identical for every thread count. A call uses at most
 *  this many: fewer when its work is small (about 1 MFLOP per thread), and
 *  never more than the processors the process may run on
 *  (omp_get_num_procs()). On a machine shared with other busy processes,
 *  set OMP_WAIT_POLICY=PASSIVE: libgomp's default spin-wait keeps a core
 *  that an off-CPU team member needs, and a 2-thread call can then take
 *  whole scheduler ticks (measurements: bench/README.md, "Oversubscription").
 *  @return QKV_OK, or QKV_ERR_BAD_ARGUMENT if @p n < 1 (setting unchanged).
 *  Without OpenMP the value is validated and ignored: the count stays 1. */
QKV_API qkv_status qkv_set_num_threads(int n);

/** @param[out] n  the thread setting: the last qkv_set_num_threads() value, or
 *  OpenMP's default (OMP_NUM_THREADS / cores) if never set; the executor's
 *  workers while one is set (qkv_set_executor). A call uses at most this
 *  many (see qkv_set_num_threads).
 *  @return QKV_OK or QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_get_num_threads(int* n);

/** One piece of a parallel region: qkv's work item @p index of a region. */
typedef void (*qkv_task_fn)(void* arg, size_t index);

/** An application's thread pool (game engines, servers, RTOS firmware,
 *  runtimes without OpenMP), in place of OpenMP. */
typedef struct qkv_executor {
  /** Runs task(arg, i) exactly once for every i in [0, n) (n >= 2) and
   *  returns when all have returned: in any order, one after another or side
   *  by side. No task ever waits for another, so running them in turn on the
   *  calling thread is valid. Called from the thread that called qkv (and
   *  from several at once when the application calls qkv from several);
   *  never from inside one of its own tasks. */
  void (*parallel_for)(void* ctx, size_t n, qkv_task_fn task, void* arg);
  void* ctx;   /**< handed back to parallel_for */
  int workers; /**< >= 1: the pool's threads; a region has at most this many tasks */
} qkv_executor;

/** Runs qkv's parallel regions on @p ex instead of OpenMP, process-wide;
 *  NULL goes back to OpenMP (or to one thread in builds without it). The
 *  struct is copied. While an executor is set, routines use up to
 *  ex->workers threads and qkv_set_num_threads does not apply; results stay
 *  bitwise identical to any thread count's, whatever the executor does
 *  within its contract. A routine reads the setting once per call.
 *  @param[in] ex  the executor (copied), or NULL for OpenMP.
 *  @return QKV_OK, or QKV_ERR_BAD_ARGUMENT if ex->parallel_for is NULL or
 *  ex->workers < 1 (setting unchanged). */
QKV_API qkv_status qkv_set_executor(const qkv_executor* ex);

/** @param[out] ex  the executor set (parallel_for NULL: none, OpenMP runs).
 *  @return QKV_OK or QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_get_executor(qkv_executor* ex);

/** Receives one line of text per reported call (NUL-terminated, no newline,
 *  valid only during the call). */
typedef void (*qkv_log_fn)(void* user, const char* line);

/** Reports which path each GEMM, attention and layer call ran: one line per
 *  call, comma-separated: "qkv,<routine>,<isa>,<path>,<shape and
 *  settings>,<time>us", e.g.
 *  "qkv,sgemm,avx512,gemm_f32_14x32 mc126 kc240 nc800,NN M1024 N1024 K1024,threads 2,10853.2us".
 *  The format is for people and may gain fields. Off by default: then a call
 *  costs one atomic load more. @p fn is called on the thread that made the
 *  call, after the work; NULL turns reports off. In hosted builds the
 *  environment variable QKV_VERBOSE=1, read at the first call, sends them to
 *  standard error until a callback is set. Bare-metal builds have no reports
 *  (the function returns QKV_ERR_UNSUPPORTED for a non-NULL fn).
 *  @param[in] fn    the callback, or NULL to stop reporting.
 *  @param[in] user  handed back to @p fn with every line.
 *  @return QKV_OK or QKV_ERR_UNSUPPORTED. */
QKV_API qkv_status qkv_set_log_callback(qkv_log_fn fn, void* user);

QKV_EXTERN_C_END

#endif /* QKV_RUNTIME_H */
