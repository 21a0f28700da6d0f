// SPDX-License-Identifier: MIT
// Fuzz target: runtime.h, status.h and version.h - ISA names and queries,
// ISA and thread-count settings, status strings. Any integer, any string,
// any NULL: a documented status, outputs untouched on error.
#include "fuzz/harness.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qkv_fuzz;
  stats().target = "runtime";
  input in(data, size);
  in.runtime();
  const int any = in.raw().ConsumeIntegral<int>();
  const int small = in.in(-3, QKV_ISA_COUNT + 2);
  const int as_isa = in.flag() ? any : small;

  // Constant lookups never fail and never return NULL.
  QKV_FUZZ_CHECK(fuzz_c_status_string(any) != nullptr);
  QKV_FUZZ_CHECK(fuzz_c_isa_name(as_isa) != nullptr);
  QKV_FUZZ_CHECK(qkv_version_number() == QKV_VERSION_NUMBER);

  // Names: a parsed name round-trips; a refused one leaves the output alone.
  const std::string name = in.raw().ConsumeRandomLengthString(12);
  qkv_isa parsed = QKV_ISA_COUNT;
  qkv_status st = count(qkv_isa_from_name(in.one_in(8) ? nullptr : name.c_str(), in.maybe_null(&parsed)));
  if (st == QKV_OK)
    QKV_FUZZ_CHECK(std::strcmp(name.c_str(), qkv_isa_name(parsed)) == 0);  // up to an embedded NUL
  else
    QKV_FUZZ_CHECK(parsed == QKV_ISA_COUNT && (st == QKV_ERR_NULL_POINTER || st == QKV_ERR_BAD_ARGUMENT));

  // Query: outside the enum refused, outputs untouched; supported implies compiled.
  int compiled = -5, supported = -5;
  st = count(fuzz_c_isa_query(as_isa, in.flag() ? &compiled : nullptr,
                           in.flag() ? &supported : nullptr));
  const bool in_enum = as_isa >= 0 && as_isa < QKV_ISA_COUNT;
  QKV_FUZZ_CHECK((st == QKV_OK) == in_enum);
  if (st != QKV_OK) QKV_FUZZ_CHECK(st == QKV_ERR_BAD_ARGUMENT && compiled == -5 && supported == -5);
  if (compiled != -5 && supported != -5) QKV_FUZZ_CHECK(!(supported == 1 && compiled == 0));

  // Set: the active ISA changes exactly when the call succeeds.
  qkv_isa before = QKV_ISA_SCALAR, after = QKV_ISA_SCALAR;
  QKV_FUZZ_CHECK(qkv_get_isa(&before) == QKV_OK);
  st = count(fuzz_c_set_isa(as_isa));
  QKV_FUZZ_CHECK(qkv_get_isa(&after) == QKV_OK);
  if (st == QKV_OK) {
    QKV_FUZZ_CHECK(static_cast<int>(after) == as_isa);
  } else {
    QKV_FUZZ_CHECK(after == before);
    QKV_FUZZ_CHECK(in_enum ? st == QKV_ERR_UNSUPPORTED : st == QKV_ERR_BAD_ARGUMENT);
  }
  QKV_FUZZ_CHECK(count(qkv_get_isa(nullptr)) == QKV_ERR_NULL_POINTER);

  // Threads: n < 1 refused and the setting kept; else it reads back (or 1 without OpenMP).
  const int n = in.flag() ? any : in.in(-2, 5);
  int t0 = 0, t1 = 0;
  QKV_FUZZ_CHECK(qkv_get_num_threads(&t0) == QKV_OK);
  st = count(qkv_set_num_threads(n));
  QKV_FUZZ_CHECK(qkv_get_num_threads(&t1) == QKV_OK);
  if (n < 1)
    QKV_FUZZ_CHECK(st == QKV_ERR_BAD_ARGUMENT && t1 == t0);
  else
    QKV_FUZZ_CHECK(st == QKV_OK && (t1 == n || t1 == 1));
  QKV_FUZZ_CHECK(count(qkv_get_num_threads(nullptr)) == QKV_ERR_NULL_POINTER);
  qkv_set_num_threads(1);
  return 0;
}
