/* SPDX-License-Identifier: MIT */
/* Minimal Cortex-M startup for qkv's test and benchmark images under QEMU
 * (mps2-an386, mps2-an500, mps3-an547), linked with -nostartfiles and
 * newlib's rdimon (semihosting) library. For tests only: firmware brings its
 * own startup code; the qkv library itself needs none of this.
 *
 * Order matters: the FPU (and MVE on Armv8.1-M) must be enabled before the
 * first floating-point instruction, which may be in the .data copy loop or
 * in libc initialisation. A fault ends QEMU with status 1 through
 * semihosting instead of hanging until the ctest timeout. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__, __StackTop;
extern int main(int argc, char** argv);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Fault_Handler(void);

/* -nostartfiles drops crti/crtbegin, which define these. */
void* __dso_handle = 0;
void _init(void) {}
void _fini(void) {}

__attribute__((section(".isr_vector"), used)) static void (*const vector_table[16])(void) = {
    (void (*)(void))(&__StackTop), Reset_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
    Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler};

/* Semihosting SYS_EXIT (0x18) with ADP_Stopped_RunTimeErrorUnknown: exit 1. */
__attribute__((noreturn)) void Fault_Handler(void) {
  for (;;) {
    __asm__ volatile("mov r0, #0x18\n ldr r1, =0x20023\n bkpt 0xab" ::: "r0", "r1", "memory");
  }
}

__attribute__((noreturn)) void Reset_Handler(void) {
  /* CPACR: full access to CP10/CP11 (FPU, and MVE on Armv8.1-M). */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n isb" ::: "memory");

  uint32_t* src = &__etext;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;

  initialise_monitor_handles();
  __libc_init_array();
  static char name[] = "qkv";
  static char* argv[] = {name, 0};
  exit(main(1, argv));
}
