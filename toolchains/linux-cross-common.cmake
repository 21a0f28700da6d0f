# SPDX-License-Identifier: MIT
# Shared by the Linux cross toolchain files: search libraries, headers and
# packages only in the target sysroot (QKV_SYSROOT), programs only on the host.
# Host-only packages (Google Benchmark, Debian's amd64 Catch2WithMain.a) are
# therefore not found, which is what a cross build wants; header-only xsimd
# and Catch2 are reached through the project's link farm.
set(CMAKE_FIND_ROOT_PATH ${QKV_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
