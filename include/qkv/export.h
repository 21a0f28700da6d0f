/* SPDX-License-Identifier: MIT */
/** @file qkv/export.h
 * @brief Symbol visibility for the public C API.
 *
 * The library is compiled with hidden visibility; only functions marked
 * QKV_API are exported. Define QKV_STATIC when consuming a static build on
 * Windows (irrelevant elsewhere). */
#ifndef QKV_EXPORT_H
#define QKV_EXPORT_H

/** @def QKV_API
 *  Marks a public function: exported from the shared library (default
 *  visibility; dllexport/dllimport on Windows unless QKV_STATIC). */
/** @def QKV_EXTERN_C_BEGIN
 *  Opens an extern "C" block when the header is compiled as C++. */
/** @def QKV_EXTERN_C_END
 *  Closes the block QKV_EXTERN_C_BEGIN opened. */

#if defined(_WIN32) && !defined(QKV_STATIC)
#  if defined(QKV_BUILDING)
#    define QKV_API __declspec(dllexport)
#  else
#    define QKV_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define QKV_API __attribute__((visibility("default")))
#else
#  define QKV_API
#endif

#ifdef __cplusplus
#  define QKV_EXTERN_C_BEGIN extern "C" {
#  define QKV_EXTERN_C_END }
#else
#  define QKV_EXTERN_C_BEGIN
#  define QKV_EXTERN_C_END
#endif

#endif /* QKV_EXPORT_H */
