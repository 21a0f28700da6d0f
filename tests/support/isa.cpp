// SPDX-License-Identifier: MIT
#include "support/isa.hpp"

#include <cstdlib>
#include <cstring>

namespace qkv_test {
bool isa_selected(qkv_isa isa) {
  const char* list = std::getenv("QKV_TEST_ISAS");
  const char* name = qkv_isa_name(isa);
  if (!list || !*list) return true;
  const std::size_t n = std::strlen(name);
  for (const char* p = list; *p;) {
    const char* end = std::strchr(p, ',');
    const std::size_t len = end ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (len == n && std::strncmp(p, name, n) == 0) return true;
    if (!end) break;
    p = end + 1;
  }
  return false;
}

bool small_tests() {
  const char* s = std::getenv("QKV_TEST_SCALE");
  return s && std::strcmp(s, "small") == 0;
}
}  // namespace qkv_test
