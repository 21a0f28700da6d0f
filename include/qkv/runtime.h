/** @file qkv/runtime.h
 * @brief The two pieces of process-wide state qkv has: which kernel
 * set (ISA) runs, and how many threads the parallel routines use.
 *
 * Thread-safety: every function here may be called from any thread at any
 * time. Changing a setting while another thread is inside a qkv routine is
 * allowed; that routine uses either the old or the new value throughout. */
#ifndef QKV_RUNTIME_H
#define QKV_RUNTIME_H

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
  QKV_ISA_COUNT = 6   /**< number of values above; not an ISA */
} qkv_isa;

QKV_EXTERN_C_BEGIN

/** @return the lower-case name of @p isa ("scalar", "sse2", "avx2", "avx512",
 *  "neon", "neon64"), or "unknown". Never fails; constant lookup.
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

/** @param[out] n  threads the next call will use: the last qkv_set_num_threads()
 *  value, or OpenMP's default (OMP_NUM_THREADS / cores) if never set.
 *  @return QKV_OK or QKV_ERR_NULL_POINTER. */
QKV_API qkv_status qkv_get_num_threads(int* n);

QKV_EXTERN_C_END

#endif /* QKV_RUNTIME_H */
