# SPDX-License-Identifier: MIT
# Install rules: headers, the library, an exported qkv::qkv target with
# qkvConfig.cmake / qkvConfigVersion.cmake, and qkv.pc for pkg-config.
# Two components, one per Debian package (cmake/QkvPackage.cmake): runtime is
# the shared library and its soname link, dev everything a build needs (also
# whatever is installed without a COMPONENT).
include(CMakePackageConfigHelpers)
set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME dev)

install(TARGETS qkv EXPORT qkvTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qkv DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

set(QKV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qkv)
install(EXPORT qkvTargets NAMESPACE qkv:: DESTINATION ${QKV_CMAKE_DIR} COMPONENT dev)
set(QKV_CONFIG_NEEDS_OPENMP OFF)
if(QKV_OPENMP AND NOT BUILD_SHARED_LIBS)
  set(QKV_CONFIG_NEEDS_OPENMP ON)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/qkvConfig.cmake.in
  ${PROJECT_BINARY_DIR}/qkvConfig.cmake INSTALL_DESTINATION ${QKV_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qkvConfigVersion.cmake
  COMPATIBILITY ${QKV_VERSION_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/qkvConfig.cmake ${PROJECT_BINARY_DIR}/qkvConfigVersion.cmake
  DESTINATION ${QKV_CMAKE_DIR} COMPONENT dev)

# pkg-config: a static archive needs the C++ runtime, OpenMP and libm too.
set(QKV_PC_LIBS_PRIVATE "-lstdc++ -lm")
if(QKV_OPENMP)
  set(QKV_PC_LIBS_PRIVATE "${QKV_PC_LIBS_PRIVATE} -fopenmp")
endif()
set(QKV_PC_CFLAGS "")
if(NOT BUILD_SHARED_LIBS)
  set(QKV_PC_CFLAGS "-DQKV_STATIC=1")
endif()
# Relocatable: the prefix is found from the .pc file's own location.
file(RELATIVE_PATH QKV_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" QKV_PC_TO_PREFIX "${QKV_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/qkv.pc.in ${PROJECT_BINARY_DIR}/qkv.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/qkv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
