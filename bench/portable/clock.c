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

#if QKV_PB_BAREMETAL && defined(QKV_PB_ICOUNT)
/* The icount image (qkv_portable_bench_icount), for qemu-system-arm
 * -icount shift=0: the virtual clock advances 1 ns per instruction, and
 * SysTick, clocked by the core clock, counts it. The counter is 24 bits,
 * down, free-running (no interrupt: the test startup has no SysTick vector);
 * each read adds the ticks since the previous one, so reads must come less
 * than 2^24 ticks apart (0.5 s of virtual time at 32 MHz: 5e8 instructions):
 * the harness reads around every call. Ticks are converted to instructions
 * by qkv_pb_icount_calibrate() (harness.c), not by a board constant. */
#define QKV_PB_SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define QKV_PB_SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define QKV_PB_SYST_CVR (*(volatile uint32_t*)0xE000E018u)
static int systick_on;
static uint32_t last_tick;
static double total_ticks;

double qkv_pb_ticks(void) {
  uint32_t now;
  if (!systick_on) {
    QKV_PB_SYST_RVR = 0x00FFFFFFu;
    QKV_PB_SYST_CVR = 0; /* any write clears it; it reloads on the next tick */
    QKV_PB_SYST_CSR = 0x5u; /* ENABLE, CLKSOURCE = core clock, no interrupt */
    systick_on = 1;
    last_tick = QKV_PB_SYST_CVR;
  }
  now = QKV_PB_SYST_CVR;
  total_ticks += (double)((last_tick - now) & 0x00FFFFFFu); /* counts down */
  last_tick = now;
  return total_ticks;
}

double qkv_pb_seconds(void) { return qkv_pb_ticks() * 1e-9 * qkv_pb_instructions_per_tick; }
const char* qkv_pb_clock_name(void) { return "SysTick under QEMU -icount shift=0 (1 instruction = 1 ns)"; }

#elif QKV_PB_BAREMETAL
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
