// SPDX-License-Identifier: MIT
// Status strings, version, ISA dispatch and thread-count settings.
#include <cstring>
#include <string>

#include "support/isa.hpp"

TEST_CASE("status strings are distinct and stable", "[runtime]") {
  const qkv_status all[] = {QKV_OK, QKV_ERR_NULL_POINTER, QKV_ERR_BAD_SHAPE, QKV_ERR_BAD_STRIDE,
                            QKV_ERR_WORKSPACE_TOO_SMALL, QKV_ERR_SIZE_OVERFLOW, QKV_ERR_UNSUPPORTED,
                            QKV_ERR_BAD_TOKEN, QKV_ERR_BAD_ARGUMENT, QKV_ERR_CAPACITY, QKV_ERR_BAD_FORMAT,
                            QKV_ERR_BAD_DTYPE, QKV_ERR_NOT_FOUND, QKV_ERR_NOT_FINITE};
  // ABI: these numbers are never renumbered.
  CHECK(QKV_ERR_NULL_POINTER == -1);
  CHECK(QKV_ERR_BAD_SHAPE == -2);
  CHECK(QKV_ERR_BAD_STRIDE == -3);
  CHECK(QKV_ERR_WORKSPACE_TOO_SMALL == -4);
  CHECK(QKV_ERR_SIZE_OVERFLOW == -5);
  CHECK(QKV_ERR_UNSUPPORTED == -6);
  CHECK(QKV_ERR_BAD_TOKEN == -7);
  CHECK(QKV_ERR_BAD_ARGUMENT == -8);
  CHECK(QKV_ERR_CAPACITY == -9);
  CHECK(QKV_ERR_BAD_FORMAT == -10);
  CHECK(QKV_ERR_BAD_DTYPE == -11);
  CHECK(QKV_ERR_NOT_FOUND == -12);
  CHECK(QKV_ERR_NOT_FINITE == -13);
  for (qkv_status a : all) {
    std::string sa = qkv_status_string(a);
    CHECK(sa != "unknown status");
    for (qkv_status b : all)
      if (a != b) CHECK(sa != qkv_status_string(b));
  }
  CHECK(std::string(qkv_status_string(static_cast<qkv_status>(-15))) == "unknown status");
  CHECK(std::string(qkv_status_string(static_cast<qkv_status>(5))) == "unknown status");
}

TEST_CASE("version macros match the library", "[runtime]") {
  CHECK(qkv_version_number() == QKV_VERSION_NUMBER);
  const std::string expect = std::to_string(QKV_VERSION_MAJOR) + "." + std::to_string(QKV_VERSION_MINOR) +
                             "." + std::to_string(QKV_VERSION_PATCH);
  CHECK(expect == qkv_version_string());
}

TEST_CASE("isa names round-trip", "[runtime][isa]") {
  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    const qkv_isa isa = static_cast<qkv_isa>(i);
    qkv_isa back = QKV_ISA_COUNT;
    REQUIRE(qkv_isa_from_name(qkv_isa_name(isa), &back) == QKV_OK);
    CHECK(back == isa);
  }
  CHECK(std::string(qkv_isa_name(QKV_ISA_COUNT)) == "unknown");
  CHECK(std::string(qkv_isa_name(static_cast<qkv_isa>(QKV_ISA_COUNT + 1))) == "unknown");
  qkv_isa untouched = QKV_ISA_NEON;
  CHECK(qkv_isa_from_name("AVX512", &untouched) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_isa_from_name("", &untouched) == QKV_ERR_BAD_ARGUMENT);
  CHECK(untouched == QKV_ISA_NEON);
  CHECK(qkv_isa_from_name(nullptr, &untouched) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_isa_from_name("scalar", nullptr) == QKV_ERR_NULL_POINTER);
}

TEST_CASE("every runnable ISA can be selected, others are refused", "[runtime][isa]") {
  qkv_isa before = QKV_ISA_COUNT;
  REQUIRE(qkv_get_isa(&before) == QKV_OK);
  int compiled = -1, supported = -1;
  REQUIRE(qkv_isa_query(before, &compiled, &supported) == QKV_OK);
  CHECK(compiled == 1);
  CHECK(supported == 1);
  // The default is the best runnable ISA: the last one in enum order of its family.
  // (The ISAs themselves, not the test selection QKV_TEST_ISAS makes.)
  REQUIRE(qkv_isa_query(QKV_ISA_SCALAR, &compiled, &supported) == QKV_OK);
  CHECK(compiled == 1);
  CHECK(supported == 1);

  for (int i = 0; i < QKV_ISA_COUNT; ++i) {
    const qkv_isa isa = static_cast<qkv_isa>(i);
    REQUIRE(qkv_isa_query(isa, &compiled, &supported) == QKV_OK);
    INFO("isa " << qkv_isa_name(isa) << " compiled " << compiled << " supported " << supported);
    qkv_isa cur = QKV_ISA_COUNT;
    if (supported) {
      CHECK(qkv_set_isa(isa) == QKV_OK);
      REQUIRE(qkv_get_isa(&cur) == QKV_OK);
      CHECK(cur == isa);
    } else {
      REQUIRE(qkv_set_isa(QKV_ISA_SCALAR) == QKV_OK);
      CHECK(qkv_set_isa(isa) == QKV_ERR_UNSUPPORTED);
      REQUIRE(qkv_get_isa(&cur) == QKV_OK);
      CHECK(cur == QKV_ISA_SCALAR);  // refused: nothing changed
    }
  }
  CHECK(qkv_set_isa(QKV_ISA_COUNT) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_set_isa(static_cast<qkv_isa>(QKV_ISA_COUNT + 1)) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_isa_query(QKV_ISA_COUNT, &compiled, &supported) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_isa_query(QKV_ISA_SCALAR, nullptr, nullptr) == QKV_OK);
  CHECK(qkv_get_isa(nullptr) == QKV_ERR_NULL_POINTER);
  REQUIRE(qkv_set_isa(before) == QKV_OK);
}

TEST_CASE("the CPU family's baseline SIMD is runnable when compiled in", "[runtime][isa]") {
  int compiled = 0, supported = 0;
#if defined(__x86_64__)
  REQUIRE(qkv_isa_query(QKV_ISA_SSE2, &compiled, &supported) == QKV_OK);
  CHECK(supported == compiled);  // SSE2 is part of x86-64
#endif
#if defined(__aarch64__)
  REQUIRE(qkv_isa_query(QKV_ISA_NEON64, &compiled, &supported) == QKV_OK);
  CHECK(supported == compiled);  // Advanced SIMD is part of AArch64
#endif
  (void)compiled;
  (void)supported;
}

TEST_CASE("thread count setting is validated", "[runtime][threads]") {
  int n0 = 0;
  REQUIRE(qkv_get_num_threads(&n0) == QKV_OK);
  CHECK(n0 >= 1);
  CHECK(qkv_set_num_threads(0) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_set_num_threads(-4) == QKV_ERR_BAD_ARGUMENT);
  int n = 0;
  REQUIRE(qkv_get_num_threads(&n) == QKV_OK);
  CHECK(n == n0);  // refused: unchanged
  REQUIRE(qkv_set_num_threads(3) == QKV_OK);
  REQUIRE(qkv_get_num_threads(&n) == QKV_OK);
#if QKV_TEST_OPENMP
  CHECK(n == 3);
#else
  CHECK(n == 1);
#endif
  CHECK(qkv_get_num_threads(nullptr) == QKV_ERR_NULL_POINTER);
  REQUIRE(qkv_set_num_threads(n0) == QKV_OK);
}
