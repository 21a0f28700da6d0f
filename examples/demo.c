/* SPDX-License-Identifier: MIT */
/* demo: what ./scripts/demo.sh runs. Shows the library version, the kernel
 * set dispatch picked on this CPU, every kernel set compiled in, and the
 * thread count. */
#include <qkv/qkv.h>
#include <stdio.h>

static int check(qkv_status st, const char* what) {
  if (st != QKV_OK) fprintf(stderr, "demo: %s failed: %s\n", what, qkv_status_string(st));
  return st == QKV_OK;
}

int main(void) {
  qkv_isa active;
  int threads = 0, i;
  if (!check(qkv_get_isa(&active), "qkv_get_isa") || !check(qkv_get_num_threads(&threads), "qkv_get_num_threads"))
    return 1;
  printf("qkv %s (header %d.%d.%d)\n", qkv_version_string(), QKV_VERSION_MAJOR, QKV_VERSION_MINOR,
         QKV_VERSION_PATCH);
  printf("ISA picked on this CPU : %s\n", qkv_isa_name(active));
  printf("ISAs compiled in       :");
  for (i = 0; i < QKV_ISA_COUNT; ++i) {
    int compiled = 0, supported = 0;
    if (!check(qkv_isa_query((qkv_isa)i, &compiled, &supported), "qkv_isa_query")) return 1;
    if (compiled) printf(" %s%s", qkv_isa_name((qkv_isa)i), supported ? "" : " (CPU lacks it)");
  }
  printf("\nthreads                : %d\n", threads);
  return 0;
}
