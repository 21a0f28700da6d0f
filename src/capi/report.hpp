// SPDX-License-Identifier: MIT
// report - the optional line per call that says which path ran
// (qkv_set_log_callback, QKV_VERBOSE). Off by default: then on() is one
// relaxed atomic load, and nothing else of this runs. Hosted builds only;
// on bare metal on() is constant false and the formatting compiles away.
#pragma once

#include <atomic>
#include <chrono>

namespace qkv::capi {

namespace detail {
// -1: not yet decided (QKV_VERBOSE unread), 0: off, 1: on.
extern std::atomic<int> g_report_state;
bool decide_reporting() noexcept;
}  // namespace detail

inline bool reporting() noexcept {
#ifdef QKV_HOSTED
  const int s = detail::g_report_state.load(std::memory_order_relaxed);
  return s == 1 || (s < 0 && detail::decide_reporting());
#else
  return false;
#endif
}

// Formats "qkv,<fields>,<us>us" (printf format for the fields) and hands it
// to the callback, or to stderr under QKV_VERBOSE. Truncates past 512 bytes.
void report(double microseconds, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// Times a call when reporting is on; free otherwise.
class report_clock {
 public:
  report_clock() noexcept : on_(reporting()) {
#ifdef QKV_HOSTED
    if (on_) start_ = std::chrono::steady_clock::now();
#endif
  }
  bool on() const noexcept { return on_; }
  double microseconds() const noexcept {
#ifdef QKV_HOSTED
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_).count();
#else
    return 0.0;
#endif
  }

 private:
  bool on_;
#ifdef QKV_HOSTED
  std::chrono::steady_clock::time_point start_;
#endif
};

}  // namespace qkv::capi
