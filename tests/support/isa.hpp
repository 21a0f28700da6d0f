// SPDX-License-Identifier: MIT
// Test helpers: run a test body once per ISA this machine can run.
#pragma once

#include <vector>

#include <catch2/catch.hpp>

#include "qkv/qkv.h"

namespace qkv_test {

// Is `isa` among the ISAs the environment variable QKV_TEST_ISAS names (a
// comma-separated list of qkv_isa_name() names)? True for every ISA when it
// is unset or empty. Emulated CI runs use it to loop the whole suite over
// the base sets only (aarch64: scalar,neon64) where the extension sets alias
// their tables and get lean runs of their own (scripts/stages/cross.sh).
bool isa_selected(qkv_isa isa);

// Every ISA compiled in and supported by this CPU (and selected), scalar first.
inline std::vector<qkv_isa> runnable_isas() {
  std::vector<qkv_isa> out;
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    int supported = 0;
    qkv_isa_query(static_cast<qkv_isa>(i), nullptr, &supported);
    if (supported && isa_selected(static_cast<qkv_isa>(i))) out.push_back(static_cast<qkv_isa>(i));
  }
  return out;
}

// Sets an ISA for the lifetime of the guard, then restores the previous one.
class isa_scope {
 public:
  explicit isa_scope(qkv_isa isa) {
    qkv_get_isa(&saved_);
    REQUIRE(qkv_set_isa(isa) == QKV_OK);
  }
  ~isa_scope() { qkv_set_isa(saved_); }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;

 private:
  qkv_isa saved_ = QKV_ISA_SCALAR;
};

// Same for the thread count.
class threads_scope {
 public:
  explicit threads_scope(int n) {
    qkv_get_num_threads(&saved_);
    REQUIRE(qkv_set_num_threads(n) == QKV_OK);
  }
  ~threads_scope() { qkv_set_num_threads(saved_); }
  threads_scope(const threads_scope&) = delete;
  threads_scope& operator=(const threads_scope&) = delete;

 private:
  int saved_ = 1;
};

// Runs body() under every runnable ISA, with the ISA name in Catch's context.
template <class F>
void for_each_isa(F&& body) {
  for (qkv_isa isa : runnable_isas()) {
    isa_scope scope(isa);
    INFO("isa = " << qkv_isa_name(isa));
    body(isa);
  }
}

// Scale factor for heavy tests: QKV_TEST_SCALE=small under emulation.
bool small_tests();

// for_each_isa natively; under emulation (small_tests) the active ISA only:
// for tests of ISA-independent driver code (thread splits, masks), where
// every emulated ISA would repeat the same checks slowly.
template <class F>
void for_each_isa_or_active(F&& body) {
  if (small_tests()) {
    qkv_isa isa = QKV_ISA_SCALAR;
    qkv_get_isa(&isa);
    body(isa);
  } else {
    for_each_isa(body);
  }
}

}  // namespace qkv_test
