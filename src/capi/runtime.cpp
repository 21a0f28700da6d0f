// SPDX-License-Identifier: MIT
// C boundary: ISA selection, thread count and executor.
#include "capi/enum_value.hpp"
#include "dispatch/dispatch.hpp"
#include "ops/threads.hpp"
#include "qkv/runtime.h"

namespace {
// Through the argument's bits as an integer: a C caller may pass any int, and
// loading an out-of-range enum value is undefined in C++ (so: by reference).
bool valid(const qkv_isa& isa) {
  const long long i = qkv::capi::enum_value(isa);
  return i >= 0 && i < QKV_ISA_COUNT;
}
}  // namespace

extern "C" {

const char* qkv_isa_name(qkv_isa isa) {
  if (!valid(isa)) return "unknown";
  const char* name = qkv::dispatch::name(isa);
  return name ? name : "unknown";
}

qkv_status qkv_isa_from_name(const char* name, qkv_isa* isa) {
  if (!name || !isa) return QKV_ERR_NULL_POINTER;
  return qkv::dispatch::parse(name, isa) ? QKV_OK : QKV_ERR_BAD_ARGUMENT;
}

qkv_status qkv_isa_query(qkv_isa isa, int* compiled, int* supported) {
  if (!valid(isa)) return QKV_ERR_BAD_ARGUMENT;
  const bool c = qkv::dispatch::compiled(isa);
  if (compiled) *compiled = c ? 1 : 0;
  if (supported) *supported = (c && qkv::dispatch::cpu_supports(isa)) ? 1 : 0;
  return QKV_OK;
}

qkv_status qkv_get_isa(qkv_isa* isa) {
  if (!isa) return QKV_ERR_NULL_POINTER;
  *isa = qkv::dispatch::active();
  return QKV_OK;
}

qkv_status qkv_set_isa(qkv_isa isa) {
  if (!valid(isa)) return QKV_ERR_BAD_ARGUMENT;
  if (!qkv::dispatch::compiled(isa) || !qkv::dispatch::cpu_supports(isa)) return QKV_ERR_UNSUPPORTED;
  qkv::dispatch::set_active(isa);
  return QKV_OK;
}

qkv_status qkv_set_num_threads(int n) {
  if (n < 1) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::set_num_threads(n);
  return QKV_OK;
}

qkv_status qkv_get_num_threads(int* n) {
  if (!n) return QKV_ERR_NULL_POINTER;
  *n = qkv::ops::num_threads();
  return QKV_OK;
}

qkv_status qkv_set_executor(const qkv_executor* ex) {
  if (ex && (!ex->parallel_for || ex->workers < 1)) return QKV_ERR_BAD_ARGUMENT;
  qkv::ops::set_executor(ex);
  return QKV_OK;
}

qkv_status qkv_get_executor(qkv_executor* ex) {
  if (!ex) return QKV_ERR_NULL_POINTER;
  *ex = qkv::ops::executor();
  return QKV_OK;
}

}  // extern "C"
