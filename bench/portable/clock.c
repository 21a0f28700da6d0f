/* SPDX-License-Identifier: MIT */
/* qkv_pb_seconds(): the monotonic clock of the portable benchmark, one
 * implementation per kind of target. Defined weak so a board port can supply
 * its own timer without touching this file. */
#if !defined(__arm__) || defined(__linux__)
#define _POSIX_C_SOURCE 199309L /* clock_gettime under strict C99 */
#endif

#include "pbench.h"

#include <time.h>

#if defined(__arm__) && !defined(__linux__)
#define QKV_PB_BAREMETAL 1
#include <stdint.h>
#else
#define QKV_PB_BAREMETAL 0
#endif

#if QKV_PB_BAREMETAL
#ifdef QKV_PB_CPU_HZ
/* Cortex-M3/M4/M7/M33/M55 DWT cycle counter: enable trace (DEMCR.TRCENA),
 * then the counter (DWT_CTRL.CYCCNTENA). A core without one (NOCYCCNT), or
 * QEMU, whose DWT reads as zero, falls back to clock(). 32 bits: wraps after
 * 2^32 cycles (25 s at 168 MHz); only differences are accumulated, each call
 * far apart by less than that. */
#define QKV_PB_DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define QKV_PB_DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define QKV_PB_DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
static int use_dwt = -1; /* -1: not probed yet */
static uint32_t last_cycles;
static double total_seconds;

static int dwt_usable(void) {
  if (use_dwt < 0) {
    QKV_PB_DEMCR |= 1u << 24;
    QKV_PB_DWT_CYCCNT = 0;
    QKV_PB_DWT_CTRL |= 1u;
    use_dwt = (QKV_PB_DWT_CTRL & 1u) != 0 && (QKV_PB_DWT_CTRL & (1u << 25)) == 0;
    last_cycles = QKV_PB_DWT_CYCCNT;
  }
  return use_dwt;
}
#else
static int dwt_usable(void) { return 0; }
#endif

__attribute__((weak)) double qkv_pb_seconds(void) {
#ifdef QKV_PB_CPU_HZ
  if (dwt_usable()) {
    const uint32_t now = QKV_PB_DWT_CYCCNT;
    total_seconds += (double)(uint32_t)(now - last_cycles) / (double)(QKV_PB_CPU_HZ);
    last_cycles = now;
    return total_seconds;
  }
#endif
  return (double)clock() / (double)CLOCKS_PER_SEC;
}
const char* qkv_pb_clock_name(void) { return dwt_usable() ? "DWT cycle counter" : "clock() (semihosting)"; }

#else
double qkv_pb_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
const char* qkv_pb_clock_name(void) { return "CLOCK_MONOTONIC"; }
#endif
