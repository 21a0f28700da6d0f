/* SPDX-License-Identifier: MIT */
/* pbench.h - the portable benchmark harness (plain C99, no Google Benchmark,
 * no heap): what a user builds and runs on a real board.
 *
 * One file per module area, bench/portable/pb_<area>.c, defining
 *   void qkv_pb_<area>(void);
 * which takes buffers from qkv_pb_alloc() (reset before each area), picks
 * shapes with qkv_pb_small() and times calls with qkv_pb_time(). CMake globs
 * the files; main.c runs every area and prints one table row per kernel. */
#ifndef QKV_BENCH_PORTABLE_PBENCH_H
#define QKV_BENCH_PORTABLE_PBENCH_H

#include <stddef.h>

#include <qkv/qkv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One benchmarked call; returns its status (a failure aborts the row). */
typedef qkv_status (*qkv_pb_fn)(void* ctx);

/* Times fn(ctx): one warm-up call, then batches doubling in size until a
 * batch lasts the minimum time; prints "name  shape  isa  us/call  GFLOP/s"
 * with `flops` floating-point operations per call. */
void qkv_pb_time(const char* name, const char* shape, double flops, qkv_pb_fn fn, void* ctx);

/* The same with the work counted in `units` of `unit` per call ("MAC" for
 * products, "element", "param"): the icount image prints instructions per
 * unit; otherwise units and unit are not used. qkv_pb_time() is this with
 * flops / 2 MACs. */
void qkv_pb_time_ex(const char* name, const char* shape, double flops, double units, const char* unit, qkv_pb_fn fn,
                    void* ctx);

/* True where memory is small (bare metal) or --quick was given: areas then
 * use small shapes only. */
int qkv_pb_small(void);

/* 16-byte aligned, zero-filled floats from a static arena; NULL (with a
 * message) when it is exhausted. */
float* qkv_pb_alloc(size_t floats);
/* Frees everything qkv_pb_alloc() gave (an area with several shapes may call
 * it between them; main calls it before each area). */
void qkv_pb_reset_arena(void);

/* Deterministic values uniform in [lo, hi). */
void qkv_pb_fill(float* x, size_t n, float lo, float hi, unsigned seed);

/* The clock: seconds from an arbitrary origin, monotonic. Hosted:
 * clock_gettime(CLOCK_MONOTONIC). Bare metal: the DWT cycle counter divided
 * by QKV_PB_CPU_HZ when that is defined at compile time, else newlib's
 * clock() (semihosting under QEMU, 10 ms resolution). Weak: firmware may
 * define its own (a SysTick or timer peripheral). */
double qkv_pb_seconds(void);
/* Says which clock qkv_pb_seconds() reads, for the header line. */
const char* qkv_pb_clock_name(void);

/* The icount image only (QKV_PB_ICOUNT, bare metal under qemu-system-arm
 * -icount shift=0, where virtual time counts instructions): SysTick ticks
 * since the first call (clock.c), and the instructions per tick that
 * qkv_pb_icount_calibrate() measured (harness.c) on a loop of a known
 * instruction count; it prints what it found and returns 0 when the clock
 * does not advance by instructions. */
double qkv_pb_ticks(void);
extern double qkv_pb_instructions_per_tick;
int qkv_pb_icount_calibrate(void);

#ifdef __cplusplus
}
#endif

#endif /* QKV_BENCH_PORTABLE_PBENCH_H */
