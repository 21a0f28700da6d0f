// SPDX-License-Identifier: MIT
#include "support/isa.hpp"

#include <cstdlib>
#include <cstring>

namespace qkv_test {
bool small_tests() {
  const char* s = std::getenv("QKV_TEST_SCALE");
  return s && std::strcmp(s, "small") == 0;
}
}  // namespace qkv_test
