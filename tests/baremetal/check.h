/* SPDX-License-Identifier: MIT */
/* check.h - the tiny C99 test harness of the portable C checks.
 *
 * The checks run everywhere the library does: on the host, under qemu-user
 * for the Linux cross targets and, above all, on bare-metal Cortex-M under
 * qemu-system-arm with semihosting, where Catch2 (600 KB of code) does not fit
 * the boards' 512 KiB and arguments cannot be passed. So: plain C99, no heap
 * (buffers come from a static arena), results compared with the
 * double-precision references of tests/ref (the same ones the Catch2 tests
 * and the fuzzers use), computed in the same program.
 *
 * One file per module area, tests/baremetal/check_<area>.c, defining
 *   void qkv_check_<area>(void);
 * CMake globs the files and main.c calls every area in turn; nothing else to
 * register. Inside a check use QKV_CHECK(cond), qkv_check_status() and
 * qkv_check_close(); take buffers from qkv_check_alloc(), which is reset
 * before each area. */
#ifndef QKV_TESTS_BAREMETAL_CHECK_H
#define QKV_TESTS_BAREMETAL_CHECK_H

#include <stddef.h>
#include <stdio.h> /* checks may print context after a failure */

#include <qkv/qkv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Records a failure (with file and line) when cond is false. */
#define QKV_CHECK(cond) qkv_check_true((cond) != 0, #cond, __FILE__, __LINE__)
/* Same, for a qkv_status that must equal `want`. */
#define QKV_CHECK_STATUS(expr, want) qkv_check_status((expr), (want), #expr, __FILE__, __LINE__)

int qkv_check_true(int ok, const char* what, const char* file, int line);
int qkv_check_status(qkv_status got, qkv_status want, const char* what, const char* file, int line);

/* Compares n floats got[i*stride] with double references want[i*stride]:
 * |got - want| <= tol * scale, where scale is the magnitude the rounding
 * error is proportional to (the caller's choice, e.g. sum |x_i y_i| for a
 * dot product). Reports the worst element on failure. Returns 1 if all pass. */
int qkv_check_close(const char* what, const float* got, const double* want, size_t n,
                    double tol, double scale);

/* Scratch from a static arena (no heap on bare metal); 16-byte aligned,
 * zeroed. Returns NULL (and records a failure) when the arena is exhausted.
 * The arena is reset before each check area. */
float* qkv_check_alloc(size_t floats);
double* qkv_check_alloc_double(size_t doubles);

/* max_i |x[i]| (0 for n == 0): the scale of a reference result. */
double qkv_check_max_abs(const double* x, size_t n);

/* Deterministic values uniform in [lo, hi) (an LCG: same on every target). */
void qkv_check_fill(float* x, size_t n, float lo, float hi, unsigned seed);

/* The ISAs this build and CPU can run, scalar first; returns how many.
 * Checks loop over them with qkv_set_isa() (main restores the ISA after each
 * area). On Cortex-M that is scalar only. */
int qkv_check_isas(qkv_isa out[QKV_ISA_COUNT]);

/* Unit roundoff of float, for tolerances: 2^-24. */
#define QKV_CHECK_FLT_U 5.9604644775390625e-8

#ifdef __cplusplus
}
#endif

#endif /* QKV_TESTS_BAREMETAL_CHECK_H */
