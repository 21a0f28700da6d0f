/* SPDX-License-Identifier: MIT */
/* A program outside the qkv tree, built against an installed qkv. */
#include <qkv/qkv.h>
#include <stdio.h>

int main(void) {
  qkv_isa isa;
  float x[4] = {1, 2, 3, 4}, d = 0.0f;
  if (qkv_get_isa(&isa) != QKV_OK || qkv_sdot(4, x, x, &d) != QKV_OK || d != 30.0f) return 1;
  printf("installed qkv %s works (isa %s)\n", qkv_version_string(), qkv_isa_name(isa));
  return qkv_version_number() == QKV_VERSION_NUMBER ? 0 : 2;
}
