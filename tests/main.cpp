// SPDX-License-Identifier: MIT
// Catch2 v2 runner (our own, so cross builds link without Debian's amd64-only
// Catch2WithMain). Prints the kernel set in use, and with QKV_EXPECT_ISA set
// fails unless dispatch picked exactly that ISA: how the qemu CPU-model runs
// prove the fallback.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qkv/qkv.h"

int main(int argc, char** argv) {
  qkv_isa isa = QKV_ISA_SCALAR;
  int threads = 0;
  qkv_get_isa(&isa);
  qkv_get_num_threads(&threads);
  // stderr: catch_discover_tests parses stdout as the list of test names.
  std::fprintf(stderr, "qkv %s tests: active ISA %s, %d threads\n", qkv_version_string(), qkv_isa_name(isa),
               threads);
  if (const char* want = std::getenv("QKV_EXPECT_ISA")) {
    if (std::strcmp(want, qkv_isa_name(isa)) != 0) {
      std::fprintf(stderr, "FAIL: expected dispatch to pick %s, it picked %s\n", want, qkv_isa_name(isa));
      return 1;
    }
  }
  return Catch::Session().run(argc, argv);
}
