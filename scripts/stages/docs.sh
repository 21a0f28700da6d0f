# SPDX-License-Identifier: MIT
# The API reference: Doxygen over the public headers and docs/*.md (the
# `docs` target, docs/CMakeLists.txt). Any Doxygen warning fails it: an
# undocumented public symbol or parameter, a broken reference; so does a
# header without its @file block or its page docs/<name>.md, and an
# undocumented enum value. Only the docs are built here (the library is
# configured, not compiled).
stage_docs() {
  log "docs: Doxygen API reference, warnings are errors"
  ./scripts/setup-deps.sh docs
  mkdir -p "$root/build"
  cmake -S "$root" -B "$root/build/docs" -DQKV_WERROR=ON -DQKV_BUILD_DOCS=ON -DQKV_BUILD_TESTS=OFF \
    -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF >"$root/build/docs.configure.log" 2>&1 ||
    { cat "$root/build/docs.configure.log"; return 1; }
  grep -q "doxygen not found" "$root/build/docs.configure.log" &&
    { echo "docs: CMake did not find doxygen"; return 1; }
  cmake --build "$root/build/docs" --target docs
  echo "docs: $root/build/docs/docs/html/index.html"
}
