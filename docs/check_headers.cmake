# check_headers.cmake - run by the `docs` target before Doxygen:
#   cmake -DSOURCE_DIR=<repository root> -P docs/check_headers.cmake
# Every public header must open with `@file qkv/<name>.h`: with EXTRACT_ALL =
# NO, Doxygen skips every member of a file that is not documented itself,
# silently, so a new header without it would escape WARN_IF_UNDOCUMENTED.
# And every header has its hand-written page, docs/<name>.md.
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_headers.cmake: pass -DSOURCE_DIR=<repository root>")
endif()
file(GLOB headers "${SOURCE_DIR}/include/qkv/*.h")
set(problems "")
foreach(h IN LISTS headers)
  get_filename_component(name "${h}" NAME)
  get_filename_component(stem "${h}" NAME_WE)
  file(STRINGS "${h}" tag REGEX "^/\\*\\* @file qkv/${stem}\\.h$")
  if(NOT tag)
    string(APPEND problems "\n  include/qkv/${name}: does not start its comment with '/** @file qkv/${name}'")
  endif()
  if(NOT EXISTS "${SOURCE_DIR}/docs/${stem}.md")
    string(APPEND problems "\n  include/qkv/${name}: has no page docs/${stem}.md")
  endif()
endforeach()
if(problems)
  message(FATAL_ERROR "public headers the API reference would miss:${problems}")
endif()
