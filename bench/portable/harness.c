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
