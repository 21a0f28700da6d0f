/* SPDX-License-Identifier: MIT */
/** @file qkv/status.h
 * @brief The status codes every qkv function returns.
 *
 * 0 is success, every error is negative. Values are part of the ABI: they
 * are never renumbered, new codes are only appended. A function that returns
 * an error has written nothing to any of its outputs. */
#ifndef QKV_STATUS_H
#define QKV_STATUS_H

#include "qkv/export.h"

/** What a qkv function reports: QKV_OK or one negative error code. */
typedef enum qkv_status {
  /** Success: the outputs are written. */
  QKV_OK = 0,
  /** A pointer argument is NULL although the sizes say it is used. */
  QKV_ERR_NULL_POINTER = -1,
  /** A dimension is invalid (zero where it must be positive, inconsistent dims). */
  QKV_ERR_BAD_SHAPE = -2,
  /** A leading dimension or stride is too small, or makes rows overlap. */
  QKV_ERR_BAD_STRIDE = -3,
  /** The caller's workspace is smaller than the matching *_workspace_size(). */
  QKV_ERR_WORKSPACE_TOO_SMALL = -4,
  /** A size computed from the arguments does not fit in size_t / ptrdiff_t. */
  QKV_ERR_SIZE_OVERFLOW = -5,
  /** The ISA or feature asked for is not compiled in or not supported by this CPU. */
  QKV_ERR_UNSUPPORTED = -6,
  /** A token id is outside [0, vocab). */
  QKV_ERR_BAD_TOKEN = -7,
  /** A scalar argument or enum/flag value is out of its documented range. */
  QKV_ERR_BAD_ARGUMENT = -8,
  /** A fixed-capacity buffer (e.g. a KV cache) has no room left. */
  QKV_ERR_CAPACITY = -9,
  /** Bytes read from a file are not in its format (truncated, malformed,
   *  inconsistent; qkv/safetensors.h lists every rule). */
  QKV_ERR_BAD_FORMAT = -10,
  /** An element type is unknown, or not the one the call works on. */
  QKV_ERR_BAD_DTYPE = -11,
  /** A named item (a tensor, a metadata key) is not there. */
  QKV_ERR_NOT_FOUND = -12,
  /** A value that must be finite (or fit a format's range) is NaN, infinite,
   *  or too large (qkv/dtype.h). */
  QKV_ERR_NOT_FINITE = -13
} qkv_status;

QKV_EXTERN_C_BEGIN

/** @return a static, human-readable description of @p status; "unknown status"
 *  for values outside the enum. Never fails (one of the two kinds of qkv
 *  function that return something other than qkv_status: constant lookups).
 *  @param[in] status  any value, also one outside the enum. */
QKV_API const char* qkv_status_string(qkv_status status);

QKV_EXTERN_C_END

#endif /* QKV_STATUS_H */
