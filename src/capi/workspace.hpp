// SPDX-License-Identifier: MIT
// workspace.hpp - the one workspace rule of every entry point that takes
// scratch memory (stated in qkv/qkv.h). `need` is what the matching size
// query returns for one thread, alignment slack included, so the rule holds
// for a pointer of any alignment:
//  - a call that needs no scratch (need == 0) accepts anything, NULL too;
//  - else a NULL workspace is QKV_ERR_NULL_POINTER, whatever its byte count;
//  - else fewer than `need` bytes is QKV_ERR_WORKSPACE_TOO_SMALL.
// More than `need` may buy threads, never a different result.
#pragma once

#include <cstddef>

#include "qkv/status.h"

namespace qkv::capi {

inline qkv_status check_workspace(const void* workspace, std::size_t bytes, std::size_t need) noexcept {
  if (need == 0) return QKV_OK;
  if (!workspace) return QKV_ERR_NULL_POINTER;
  return bytes < need ? QKV_ERR_WORKSPACE_TOO_SMALL : QKV_OK;
}

}  // namespace qkv::capi
