/* SPDX-License-Identifier: MIT */
/* The harness behind check.h: failure counting, tolerant comparison, the
 * static arena and the deterministic fill. */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef QKV_CHECK_ARENA_BYTES
#define QKV_CHECK_ARENA_BYTES (192u * 1024u) /* fits the 512 KiB RAM of mps3-an547 */
#endif

int qkv_check_failures = 0;
/* Only the first failures are described: a broken kernel fails thousands of
 * cases, and the first few say what is wrong. */
#define QKV_CHECK_MAX_REPORTS 20
static int reports(void) { return qkv_check_failures <= QKV_CHECK_MAX_REPORTS; }
static double arena[QKV_CHECK_ARENA_BYTES / sizeof(double)];
static size_t arena_used = 0; /* in bytes */

void qkv_check_reset_arena(void) { arena_used = 0; }

int qkv_check_true(int ok, const char* what, const char* file, int line) {
  if (!ok) {
    ++qkv_check_failures;
    if (reports()) printf("  FAIL %s:%d: %s\n", file, line, what);
  }
  return ok;
}

int qkv_check_status(qkv_status got, qkv_status want, const char* what, const char* file, int line) {
  if (got != want) {
    ++qkv_check_failures;
    if (reports())
      printf("  FAIL %s:%d: %s returned %d (%s), expected %d (%s)\n", file, line, what, (int)got,
           qkv_status_string(got), (int)want, qkv_status_string(want));
    return 0;
  }
  return 1;
}

int qkv_check_close(const char* what, const float* got, const double* want, size_t n,
                    double tol, double scale) {
  size_t i, worst = 0;
  double worst_err = -1.0;
  for (i = 0; i < n; ++i) {
    const double err = fabs((double)got[i] - want[i]);
    if (!(err <= worst_err)) { /* also catches NaN */
      worst_err = err;
      worst = i;
    }
  }
  if (n == 0 || worst_err <= tol * scale) return 1;
  ++qkv_check_failures;
  if (reports())
    printf("  FAIL %s: element %lu: got %.9g, want %.9g (|err| %.3g > tol %.3g * scale %.3g)\n", what,
         (unsigned long)worst, (double)got[worst], want[worst], worst_err, tol, scale);
  return 0;
}

static void* alloc_bytes(size_t bytes) {
  void* p;
  bytes = (bytes + 15u) & ~(size_t)15u;
  if (bytes > sizeof arena - arena_used) {
    ++qkv_check_failures;
    printf("  FAIL check arena exhausted: %lu bytes wanted, %lu free\n", (unsigned long)bytes,
           (unsigned long)(sizeof arena - arena_used));
    return NULL;
  }
  p = (char*)arena + arena_used;
  arena_used += bytes;
  memset(p, 0, bytes);
  return p;
}

float* qkv_check_alloc(size_t floats) { return (float*)alloc_bytes(floats * sizeof(float)); }
double* qkv_check_alloc_double(size_t doubles) { return (double*)alloc_bytes(doubles * sizeof(double)); }

double qkv_check_max_abs(const double* x, size_t n) {
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; ++i)
    if (fabs(x[i]) > m) m = fabs(x[i]);
  return m;
}

void qkv_check_fill(float* x, size_t n, float lo, float hi, unsigned seed) {
  unsigned long s = 2891336453ul * (seed + 1u);
  size_t i;
  for (i = 0; i < n; ++i) {
    s = (s * 1103515245ul + 12345ul) & 0x7ffffffful;
    x[i] = lo + (hi - lo) * (float)((double)(s >> 7) / 16777216.0);
  }
}

int qkv_check_isas(qkv_isa out[QKV_ISA_COUNT]) {
  int i, n = 0;
  for (i = 0; i < QKV_ISA_COUNT; ++i) {
    int supported = 0;
    if (qkv_isa_query((qkv_isa)i, NULL, &supported) == QKV_OK && supported) out[n++] = (qkv_isa)i;
  }
  return n;
}
