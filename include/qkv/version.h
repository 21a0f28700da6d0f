/* SPDX-License-Identifier: MIT */
/** @file qkv/version.h
 * @brief Compile-time and run-time version of qkv.
 *
 * Compare QKV_VERSION_NUMBER (the headers you compiled against) with
 * qkv_version_number() (the library you linked) to detect a mismatch. */
#ifndef QKV_VERSION_H
#define QKV_VERSION_H

#include "qkv/export.h"

/** Major version of these headers. */
#define QKV_VERSION_MAJOR 0
/** Minor version of these headers. */
#define QKV_VERSION_MINOR 9
/** Patch version of these headers. */
#define QKV_VERSION_PATCH 0

/** MAJOR*10000 + MINOR*100 + PATCH, e.g. 0.1.0 -> 100. */
#define QKV_VERSION_NUMBER \
  (QKV_VERSION_MAJOR * 10000 + QKV_VERSION_MINOR * 100 + QKV_VERSION_PATCH)

QKV_EXTERN_C_BEGIN

/** @return QKV_VERSION_NUMBER of the linked library. Never fails. */
QKV_API unsigned qkv_version_number(void);

/** @return "MAJOR.MINOR.PATCH" of the linked library, a static string. Never fails. */
QKV_API const char* qkv_version_string(void);

QKV_EXTERN_C_END

#endif /* QKV_VERSION_H */
