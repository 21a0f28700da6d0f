# SPDX-License-Identifier: MIT
# Debian packages with CPack, one per install component (cmake/QkvInstall.cmake):
#   libqkv<QKV_ABI_VERSION>  runtime: the shared library and its soname link
#                            (Debian names a library package after its soname:
#                            libqkv.so.0.8 -> libqkv0.8)
#   libqkv-dev               dev: headers, the libqkv.so link, the CMake config,
#                            qkv.pc, libqkv.a of a static build, the docs
# From a shared build installed under /usr (Debian's multiarch libdir):
#   cmake -S . -B B -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build B && (cd B && cpack -G DEB)
# A static build makes libqkv-dev alone. Cross builds name the Debian
# architecture (-DCPACK_DEBIAN_PACKAGE_ARCHITECTURE=arm64; the default is the
# host's). The package stage of scripts/test.sh builds, inspects and installs
# both, and builds the consumers against them.

set(QKV_PACKAGE_MAINTAINER "qkv maintainers <maintainers@users.noreply.r-seed-f1343c50.example>"
  CACHE STRING "Maintainer field of the Debian packages (Name <email>)")
set(QKV_PACKAGE_RELEASE 1 CACHE STRING "Debian revision of the packages (the -N of 0.1.0-N)")

set(_qkv_runtime_pkg libqkv${QKV_ABI_VERSION})
set(_qkv_deb_version ${PROJECT_VERSION}-${QKV_PACKAGE_RELEASE})

# The license. Debian keeps it in /usr/share/doc/<package>/copyright
# (machine-readable format); there is no License field in a .deb's control file.
set(_qkv_copyright_holder "the qkv authors")
set(_qkv_license_text "")
if(EXISTS ${PROJECT_SOURCE_DIR}/LICENSE)
  file(READ ${PROJECT_SOURCE_DIR}/LICENSE _qkv_license)
  string(REGEX MATCH "Copyright (\\([cC]\\) |© )?[0-9][^\n]*" _qkv_line "${_qkv_license}")
  if(_qkv_line)
    string(REGEX REPLACE "^Copyright (\\([cC]\\) |© )?" "" _qkv_copyright_holder "${_qkv_line}")
  endif()
  # Continuation lines start with a space; a run of empty lines is one " .".
  string(REGEX REPLACE "[ \t\r\n]+$" "" _qkv_license "${_qkv_license}")
  string(REGEX REPLACE "\n[ \t\r]*(\n[ \t\r]*)*\n" "\n.\n" _qkv_license "${_qkv_license}")
  string(REPLACE "\n" "\n " _qkv_license "${_qkv_license}")
  set(_qkv_license_text " ${_qkv_license}\n")
endif()
set(_qkv_copyright "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: qkv

Files: *
Copyright: ${_qkv_copyright_holder}
License: MIT
${_qkv_license_text}")
file(WRITE ${PROJECT_BINARY_DIR}/debian/copyright "${_qkv_copyright}")
# Only in the packages: a plain `cmake --install` leaves these out.
install(FILES ${PROJECT_BINARY_DIR}/debian/copyright
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${_qkv_runtime_pkg} COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_BINARY_DIR}/debian/copyright
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libqkv-dev COMPONENT dev EXCLUDE_FROM_ALL)

# The docs that exist in the tree go with the headers.
foreach(_doc README.md ARCHITECTURE.md CHANGELOG.md CONTRIBUTING.md LICENSE)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${_doc})
    install(FILES ${PROJECT_SOURCE_DIR}/${_doc} DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT dev)
  endif()
endforeach()

set(CPACK_PACKAGE_NAME qkv)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${QKV_PACKAGE_MAINTAINER}")
# Paths in the CMake config and qkv.pc are relative to their own location, so
# the tree is the same under any prefix; Debian's is /usr.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the abi stage's build has -g; the packages do not need it

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <package>_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE ${QKV_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${QKV_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

# Description: the synopsis is PROJECT_DESCRIPTION (CPack puts the summary
# first), then these lines.
set(_qkv_about "qkv makes scaled dot-product attention, multi-head attention layers,
embeddings, cross-entropy and SGD/AdamW fast on CPUs, with hand-vectorized
kernels picked at run time and results bitwise identical for any thread count.
The caller owns all memory: nothing allocates on a compute path.")

if(BUILD_SHARED_LIBS)
  set(CPACK_COMPONENTS_ALL runtime dev)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${_qkv_runtime_pkg})
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
  set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "${_qkv_about}\nThis package holds the shared library, libqkv.so.${QKV_ABI_VERSION}.")
  # Depends from the library's own imports (libc6, libgomp1, libstdc++6, ...),
  # and a shlibs file with ldconfig triggers for packages linking against it.
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
  set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${_qkv_runtime_pkg} (= ${_qkv_deb_version})")
  set(_qkv_dev_holds "the headers, the CMake package (find_package(qkv)) and qkv.pc")
else()
  set(CPACK_COMPONENTS_ALL dev)
  set(_qkv_dev_holds "the static library, the headers, the CMake package (find_package(qkv)) and qkv.pc")
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libqkv-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION "${_qkv_about}\nThis package holds ${_qkv_dev_holds}.")

include(CPack)
