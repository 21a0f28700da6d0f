/* SPDX-License-Identifier: MIT */
/* qkv_portable_bench: times the library's main kernels through the C API and
 * prints GFLOP/s, on any target (host, qemu-user, a Cortex-M board).
 * usage: qkv_portable_bench [--quick] [--min-time S] [--repetitions N] [AREA...]
 *   --quick         small shapes, 10 ms per measurement, 1 repetition (ctest)
 *   --min-time S    seconds per measurement (default 0.2; 0.1 on bare metal)
 *   --repetitions N measurements per row, the median is printed (default 3;
 *                   1 on bare metal)
 *   AREA            run only these areas (names as in pb_<area>.c)
 * The ISA and thread count are the library's: QKV_ISA, OMP_NUM_THREADS.
 *
 * The icount image (qkv_portable_bench_icount: QKV_PB_ICOUNT, Cortex-M under
 * qemu-system-arm -icount shift=0, scripts/icount.sh) instead runs every area
 * once per ISA the image can run and prints instructions per call and per
 * unit of work (multiply-accumulate, element, parameter), counted by the
 * virtual clock: the same figures on every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbench.h"

extern double qkv_pb_min_time;
extern int qkv_pb_quick;
extern int qkv_pb_repetitions;
#ifdef QKV_PB_ICOUNT
extern int qkv_pb_icount_bad_rows;
#endif

#define QKV_PB_AREA(name) void qkv_pb_##name(void);
#include "pb_areas.inc"
#undef QKV_PB_AREA

static int wanted(const char* area, int argc, char** argv) {
  int i, any = 0;
  for (i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') {
      if (strcmp(argv[i], "--min-time") == 0 || strcmp(argv[i], "--repetitions") == 0) ++i;
      continue;
    }
    any = 1;
    if (strcmp(argv[i], area) == 0) return 1;
  }
  return !any;
}

int main(int argc, char** argv) {
  qkv_isa isa = QKV_ISA_SCALAR;
  int i, threads = 1;
#if defined(__arm__) && !defined(__linux__)
  /* The DWT counter: 0.1 s a measurement. Without it (as under QEMU, where
   * clock() reads the host's time in 10 ms steps and figures mean little:
   * the icount image counts instructions instead) 0.03 s, which keeps the
   * emulated ctest of every area short. */
  qkv_pb_min_time = strncmp(qkv_pb_clock_name(), "clock()", 7) == 0 ? 0.03 : 0.1;
  qkv_pb_repetitions = 1;
#endif
  for (i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) {
      qkv_pb_quick = 1;
      qkv_pb_min_time = 0.01;
      qkv_pb_repetitions = 1;
    } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
      qkv_pb_min_time = atof(argv[++i]);
    } else if (strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      qkv_pb_repetitions = atoi(argv[++i]);
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: %s [--quick] [--min-time S] [--repetitions N] [AREA...]\n", argv[0]);
      return 2;
    }
  }
  qkv_get_isa(&isa);
  qkv_get_num_threads(&threads);
#ifdef QKV_PB_ICOUNT
  printf("qkv %s portable bench, instruction counts: clock %s\n", qkv_version_string(), qkv_pb_clock_name());
  if (!qkv_pb_icount_calibrate()) return 1;
  printf("%-24s %-20s %-7s %14s %10s\n", "kernel", "shape", "isa", "instr/call", "per unit");
  {
    int k;
    for (k = 0; k < QKV_ISA_COUNT; ++k) { /* every ISA this image runs, one block of rows each */
      int compiled = 0, supported = 0;
      if (qkv_isa_query((qkv_isa)k, &compiled, &supported) != QKV_OK || !compiled || !supported ||
          qkv_set_isa((qkv_isa)k) != QKV_OK)
        continue;
#define QKV_PB_AREA(name)              \
  if (wanted(#name, argc, argv)) {     \
    qkv_pb_reset_arena();              \
    qkv_pb_##name();                   \
  }
#include "pb_areas.inc"
#undef QKV_PB_AREA
    }
  }
  return qkv_pb_icount_bad_rows ? 1 : 0;
#else
  printf("qkv %s portable bench: active ISA %s, %d thread(s), clock %s, median of %d x %.3g s\n",
         qkv_version_string(), qkv_isa_name(isa), threads, qkv_pb_clock_name(), qkv_pb_repetitions,
         qkv_pb_min_time);
  printf("%-24s %-20s %-7s %12s %10s\n", "kernel", "shape", "isa", "us/call", "GFLOP/s");
#define QKV_PB_AREA(name)              \
  if (wanted(#name, argc, argv)) {     \
    qkv_pb_reset_arena();              \
    qkv_pb_##name();                   \
  }
#include "pb_areas.inc"
#undef QKV_PB_AREA
  return 0;
#endif
}
