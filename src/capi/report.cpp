// SPDX-License-Identifier: MIT
#include "capi/report.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qkv/runtime.h"

namespace qkv::capi {

std::atomic<int> detail::g_report_state{-1};

#ifdef QKV_HOSTED
namespace {
// The callback and its argument behind a sequence count (a seqlock), so a
// reader never pairs one callback with another's argument.
std::atomic<unsigned> g_seq{0};
std::atomic<bool> g_writer{false};
std::atomic<qkv_log_fn> g_fn{nullptr};
std::atomic<void*> g_user{nullptr};
std::atomic<bool> g_stderr{false};  // QKV_VERBOSE=1 and no callback set

void read_callback(qkv_log_fn* fn, void** user) noexcept {
  unsigned before, after;
  do {
    before = g_seq.load(std::memory_order_acquire);
    *fn = g_fn.load(std::memory_order_relaxed);
    *user = g_user.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    after = g_seq.load(std::memory_order_relaxed);
  } while ((before & 1u) != 0 || before != after);
}

void write_callback(qkv_log_fn fn, void* user) noexcept {
  while (g_writer.exchange(true, std::memory_order_acquire)) {
  }
  g_seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  g_fn.store(fn, std::memory_order_relaxed);
  g_user.store(user, std::memory_order_relaxed);
  g_seq.fetch_add(1, std::memory_order_release);
  g_writer.store(false, std::memory_order_release);
}
}  // namespace
#endif

bool detail::decide_reporting() noexcept {
#ifdef QKV_HOSTED
  const char* v = std::getenv("QKV_VERBOSE");
  const bool verbose = v && v[0] != '\0' && std::strcmp(v, "0") != 0;
  if (verbose) g_stderr.store(true, std::memory_order_relaxed);
  int expected = -1;  // a qkv_set_log_callback that came first wins
  g_report_state.compare_exchange_strong(expected, verbose ? 1 : 0, std::memory_order_relaxed);
  return g_report_state.load(std::memory_order_relaxed) == 1;
#else
  return false;
#endif
}

void report(double microseconds, const char* fmt, ...) noexcept {
#ifdef QKV_HOSTED
  char line[512];
  int n = std::snprintf(line, sizeof line, "qkv,");
  va_list ap;
  va_start(ap, fmt);
  const int m = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, ap);
  va_end(ap);
  n = m < 0 ? n : n + m;
  if (static_cast<std::size_t>(n) < sizeof line)
    std::snprintf(line + n, sizeof line - static_cast<std::size_t>(n), ",%.1fus", microseconds);
  qkv_log_fn fn;
  void* user;
  read_callback(&fn, &user);
  if (fn)
    fn(user, line);
  else if (g_stderr.load(std::memory_order_relaxed))
    std::fprintf(stderr, "%s\n", line);
#else
  (void)microseconds;
  (void)fmt;
#endif
}

}  // namespace qkv::capi

extern "C" qkv_status qkv_set_log_callback(qkv_log_fn fn, void* user) {
#ifdef QKV_HOSTED
  qkv::capi::write_callback(fn, user);
  // No callback: undecided again, so the next call asks QKV_VERBOSE.
  qkv::capi::detail::g_report_state.store(fn ? 1 : -1, std::memory_order_relaxed);
  return QKV_OK;
#else
  (void)user;
  return fn ? QKV_ERR_UNSUPPORTED : QKV_OK;
#endif
}
