/* SPDX-License-Identifier: MIT */
/* Runtime area: version, status strings, ISA names/query/selection, thread
 * count. On bare metal: scalar, plus mve on an MVE-F core; one thread. */
#include <string.h>

#include "check.h"

void qkv_check_runtime(void) {
  qkv_isa isa = QKV_ISA_COUNT, back = QKV_ISA_COUNT;
  int i, compiled = -1, supported = -1, threads = 0;

  QKV_CHECK(qkv_version_number() == QKV_VERSION_NUMBER);
  QKV_CHECK(strcmp(qkv_status_string(QKV_OK), "unknown status") != 0);
  QKV_CHECK(strcmp(qkv_status_string((qkv_status)-1000), "unknown status") == 0);

  QKV_CHECK_STATUS(qkv_get_isa(&isa), QKV_OK);
  QKV_CHECK_STATUS(qkv_isa_query(isa, &compiled, &supported), QKV_OK);
  QKV_CHECK(compiled == 1 && supported == 1);
  QKV_CHECK_STATUS(qkv_isa_query(QKV_ISA_SCALAR, &compiled, &supported), QKV_OK);
  QKV_CHECK(compiled == 1 && supported == 1);
  for (i = 0; i < QKV_ISA_COUNT; ++i) {
    QKV_CHECK_STATUS(qkv_isa_from_name(qkv_isa_name((qkv_isa)i), &back), QKV_OK);
    QKV_CHECK(back == (qkv_isa)i);
    QKV_CHECK_STATUS(qkv_isa_query((qkv_isa)i, &compiled, &supported), QKV_OK);
    /* An ISA that cannot run is refused and leaves the active one alone. */
    if (!supported) QKV_CHECK_STATUS(qkv_set_isa((qkv_isa)i), QKV_ERR_UNSUPPORTED);
  }
  QKV_CHECK_STATUS(qkv_set_isa((qkv_isa)-1), QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_set_isa(QKV_ISA_SCALAR), QKV_OK);
  QKV_CHECK_STATUS(qkv_get_isa(&back), QKV_OK);
  QKV_CHECK(back == QKV_ISA_SCALAR);
  QKV_CHECK_STATUS(qkv_isa_from_name("nope", &back), QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_get_isa(NULL), QKV_ERR_NULL_POINTER);

#if defined(__arm__) && !defined(__linux__)
  /* Bare metal: the scalar set, and Helium (mve) where the image's core has
   * MVE with floating point (Cortex-M55): then it is the default. */
  QKV_CHECK_STATUS(qkv_isa_query(QKV_ISA_MVE, &compiled, &supported), QKV_OK);
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 2)
  QKV_CHECK(compiled == supported);
  QKV_CHECK(isa == (compiled ? QKV_ISA_MVE : QKV_ISA_SCALAR));
#else
  QKV_CHECK(compiled == 0 && supported == 0);
  QKV_CHECK(isa == QKV_ISA_SCALAR);
#endif
#endif
  QKV_CHECK_STATUS(qkv_get_num_threads(&threads), QKV_OK);
  QKV_CHECK(threads >= 1);
  QKV_CHECK_STATUS(qkv_set_num_threads(0), QKV_ERR_BAD_ARGUMENT);
  QKV_CHECK_STATUS(qkv_set_num_threads(2), QKV_OK);
  QKV_CHECK_STATUS(qkv_set_num_threads(threads), QKV_OK);
}
