/* SPDX-License-Identifier: MIT */
/* The portable benchmark's harness: arena, fill, and the timing loop. */
#include <stdio.h>
#include <string.h>

#include "pbench.h"

#ifndef QKV_PB_ARENA_BYTES
#if defined(__arm__) && !defined(__linux__)
#define QKV_PB_ARENA_BYTES (256u * 1024u) /* half the 512 KiB RAM of the test boards */
#else
#define QKV_PB_ARENA_BYTES (64u * 1024u * 1024u)
#endif
#endif

double qkv_pb_min_time = 0.2; /* seconds per measurement; main.c may lower it */
int qkv_pb_quick = 0;
int qkv_pb_repetitions = 3; /* measurements per row; the median is printed */

static double arena[QKV_PB_ARENA_BYTES / sizeof(double)];
static size_t arena_used;

void qkv_pb_reset_arena(void) { arena_used = 0; }

int qkv_pb_small(void) { return qkv_pb_quick || QKV_PB_ARENA_BYTES < (16u << 20); }

float* qkv_pb_alloc(size_t floats) {
  size_t bytes = (floats * sizeof(float) + 15u) & ~(size_t)15u;
  float* p;
  if (bytes > sizeof arena - arena_used) {
    printf("  (arena exhausted: %lu bytes wanted)\n", (unsigned long)bytes);
    return NULL;
  }
  p = (float*)(void*)((char*)arena + arena_used);
  arena_used += bytes;
  memset(p, 0, bytes);
  return p;
}

void qkv_pb_fill(float* x, size_t n, float lo, float hi, unsigned seed) {
  unsigned long s = 2891336453ul * (seed + 1u);
  size_t i;
  for (i = 0; i < n; ++i) {
    s = (s * 1103515245ul + 12345ul) & 0x7ffffffful;
    x[i] = lo + (hi - lo) * (float)((double)(s >> 7) / 16777216.0);
  }
}

double qkv_pb_instructions_per_tick = 1.0;

#ifdef QKV_PB_ICOUNT
/* 2n instructions (subs, bne) for n >= 1: the calibration's known count. */
static void spin(unsigned long n) { __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc"); }

static double spin_ticks(unsigned long n) {
  const double t0 = qkv_pb_ticks();
  spin(n);
  return qkv_pb_ticks() - t0;
}

/* Loops of 2e5 and 2e6 instructions give the instructions per tick (their
 * difference: the call and read overheads cancel); a third of 8e6 must then
 * measure what that rate predicts, within a tick (a clock that followed host
 * time would miss by far, and differ from run to run). */
int qkv_pb_icount_calibrate(void) {
  const unsigned long n1 = 100000ul, n2 = 1000000ul, n3 = 4000000ul;
  double t1, t2, t3, ipt, predicted;
  spin_ticks(1000ul); /* starts the counter */
  t1 = spin_ticks(n1);
  t2 = spin_ticks(n2);
  t3 = spin_ticks(n3);
  if (t2 <= t1) {
    printf("icount: SysTick does not advance: no instruction counts\n");
    return 0;
  }
  ipt = 2.0 * (double)(n2 - n1) / (t2 - t1);
  predicted = t1 + 2.0 * (double)(n3 - n1) / ipt;
  qkv_pb_instructions_per_tick = ipt;
  printf("icount: %.4f instructions per SysTick tick (a %.6g MHz core clock at 1 instruction per ns);"
         " a loop of %lu instructions: %.0f ticks, %.1f predicted\n",
         ipt, 1e3 / ipt, 2ul * n3, t3, predicted);
  return t3 - predicted < 2.0 && predicted - t3 < 2.0;
}

static qkv_status empty_call(void* ctx) {
  (void)ctx;
  return QKV_OK;
}

/* SysTick ticks of `iters` calls, one interval (under 2^23 ticks by the
 * caller's choice of iters: half the counter's wrap). */
static double batch_ticks(qkv_pb_fn fn, void* ctx, unsigned long iters) {
  unsigned long i;
  const double t0 = qkv_pb_ticks();
  for (i = 0; i < iters; ++i) fn(ctx);
  return qkv_pb_ticks() - t0;
}

/* Instructions per call: calls batched up to about 2^18 ticks (1e7
 * instructions at 40 per tick: the +-1 tick of the two reads is 4e-6 of it),
 * less the loop's own cost (an empty call timed the same way). A single call
 * must stay under 2^23 ticks (3e8 instructions at 40 per tick). */
static double instructions_per_call(qkv_pb_fn fn, void* ctx) {
  const double target = 262144.0;
  const double one = batch_ticks(fn, ctx, 1ul);
  const unsigned long iters = one >= target ? 1ul : (unsigned long)(target / (one + 1.0)) + 1ul;
  return batch_ticks(fn, ctx, iters) * qkv_pb_instructions_per_tick / (double)iters;
}

int qkv_pb_icount_bad_rows = 0; /* rows that failed or counted no instructions: main's exit status */

void qkv_pb_time_ex(const char* name, const char* shape, double flops, double units, const char* unit, qkv_pb_fn fn,
                    void* ctx) {
  static double overhead = -1.0;
  qkv_isa isa = QKV_ISA_SCALAR;
  qkv_status st = fn(ctx); /* warm-up, and the status */
  double per_call;
  (void)flops;
  qkv_get_isa(&isa);
  if (st != QKV_OK) {
    printf("%-24s %-20s %-7s failed: %s\n", name, shape, qkv_isa_name(isa), qkv_status_string(st));
    ++qkv_pb_icount_bad_rows;
    return;
  }
  if (overhead < 0.0) overhead = instructions_per_call(empty_call, NULL);
  per_call = instructions_per_call(fn, ctx) - overhead;
  if (!(per_call > 0.0)) ++qkv_pb_icount_bad_rows;
  printf("%-24s %-20s %-7s %14.0f %10.3f instr/%s\n", name, shape, qkv_isa_name(isa), per_call,
         units > 0.0 ? per_call / units : 0.0, unit);
}

void qkv_pb_time(const char* name, const char* shape, double flops, qkv_pb_fn fn, void* ctx) {
  qkv_pb_time_ex(name, shape, flops, flops / 2.0, "MAC", fn, ctx);
}

#else /* timed by qkv_pb_seconds() */

void qkv_pb_time_ex(const char* name, const char* shape, double flops, double units, const char* unit, qkv_pb_fn fn,
                    void* ctx) {
  (void)units;
  (void)unit;
  qkv_pb_time(name, shape, flops, fn, ctx);
}

int qkv_pb_icount_calibrate(void) { return 0; }

static double median(double* v, int n) {
  int i, j;
  for (i = 1; i < n; ++i) /* insertion sort: n is a handful */
    for (j = i; j > 0 && v[j - 1] > v[j]; --j) {
      const double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}


void qkv_pb_time(const char* name, const char* shape, double flops, qkv_pb_fn fn, void* ctx) {
  enum { kMaxReps = 15 };
  double per_call[kMaxReps];
  const int reps = qkv_pb_repetitions < 1 ? 1 : qkv_pb_repetitions > kMaxReps ? kMaxReps : qkv_pb_repetitions;
  unsigned long iters = 1, i;
  double t0, elapsed, t;
  int r;
  qkv_isa isa = QKV_ISA_SCALAR;
  qkv_status st = fn(ctx); /* warm-up: caches, page faults, OpenMP team */
  qkv_get_isa(&isa);
  if (st != QKV_OK) {
    printf("%-24s %-20s %-7s failed: %s\n", name, shape, qkv_isa_name(isa), qkv_status_string(st));
    return;
  }
  /* Calibrate: batches growing until one lasts the minimum time. */
  for (;;) {
    t0 = qkv_pb_seconds();
    for (i = 0; i < iters; ++i) fn(ctx);
    elapsed = qkv_pb_seconds() - t0;
    if (elapsed >= qkv_pb_min_time || iters >= (1ul << 30)) break;
    /* Aim straight for the minimum time once the clock has ticked. */
    if (elapsed > qkv_pb_min_time / 64.0)
      iters = (unsigned long)((double)iters * 1.2 * qkv_pb_min_time / elapsed) + 1u;
    else
      iters *= 8u;
  }
  per_call[0] = elapsed / (double)iters;
  for (r = 1; r < reps; ++r) {
    t0 = qkv_pb_seconds();
    for (i = 0; i < iters; ++i) fn(ctx);
    per_call[r] = (qkv_pb_seconds() - t0) / (double)iters;
  }
  t = median(per_call, reps);
  printf("%-24s %-20s %-7s %12.3f %10.3f\n", name, shape, qkv_isa_name(isa), 1e6 * t, t > 0.0 ? 1e-9 * flops / t : 0.0);
}

#endif /* QKV_PB_ICOUNT */
