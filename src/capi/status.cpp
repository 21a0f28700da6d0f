// SPDX-License-Identifier: MIT
// C boundary: status strings and version.
#include "capi/enum_value.hpp"
#include "qkv/status.h"
#include "qkv/version.h"

#define QKV_STR2(x) #x
#define QKV_STR(x) QKV_STR2(x)

extern "C" {

const char* qkv_status_string(qkv_status status) {
  switch (qkv::capi::enum_value(status)) {  // any int a C caller passes
    case QKV_OK: return "ok";
    case QKV_ERR_NULL_POINTER: return "null pointer";
    case QKV_ERR_BAD_SHAPE: return "bad shape";
    case QKV_ERR_BAD_STRIDE: return "bad stride or leading dimension";
    case QKV_ERR_WORKSPACE_TOO_SMALL: return "workspace too small";
    case QKV_ERR_SIZE_OVERFLOW: return "size overflow";
    case QKV_ERR_UNSUPPORTED: return "unsupported ISA or feature";
    case QKV_ERR_BAD_TOKEN: return "token id out of range";
    case QKV_ERR_BAD_ARGUMENT: return "bad argument";
    case QKV_ERR_CAPACITY: return "capacity exhausted";
    case QKV_ERR_BAD_FORMAT: return "malformed file";
    case QKV_ERR_BAD_DTYPE: return "unknown or unexpected element type";
    case QKV_ERR_NOT_FOUND: return "not found";
    case QKV_ERR_NOT_FINITE: return "value not finite or out of range";
  }
  return "unknown status";
}

unsigned qkv_version_number(void) { return QKV_VERSION_NUMBER; }

const char* qkv_version_string(void) {
  return QKV_STR(QKV_VERSION_MAJOR) "." QKV_STR(QKV_VERSION_MINOR) "." QKV_STR(QKV_VERSION_PATCH);
}

}  // extern "C"
