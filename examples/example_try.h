/* SPDX-License-Identifier: MIT */
/* example_try.h - what every example does with a failing qkv call. */
#ifndef QKV_EXAMPLE_TRY_H
#define QKV_EXAMPLE_TRY_H

#include <stdio.h>
#include <stdlib.h>

#include <qkv/qkv.h>

/* Stops the program with the failing call and its status. */
#define EXAMPLE_TRY(call)                                                                     \
  do {                                                                                        \
    qkv_status st_ = (call);                                                                  \
    if (st_ != QKV_OK) {                                                                      \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, qkv_status_string(st_)); \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

#endif
