// SPDX-License-Identifier: MIT
// isa_select.hpp - maps a qkv_isa to one of a module's per-ISA kernel tables.
// A table for an ISA that is not compiled in is never named (the macro drops
// it), so its extern declaration stays unresolved without harm.
#pragma once

#include "qkv/runtime.h"

#ifdef QKV_HAVE_SSE2
#define QKV_IF_SSE2(x) (&(x))
#else
#define QKV_IF_SSE2(x) nullptr
#endif
#ifdef QKV_HAVE_AVX2
#define QKV_IF_AVX2(x) (&(x))
#else
#define QKV_IF_AVX2(x) nullptr
#endif
#ifdef QKV_HAVE_AVX512
#define QKV_IF_AVX512(x) (&(x))
#else
#define QKV_IF_AVX512(x) nullptr
#endif
#ifdef QKV_HAVE_AVX512_BF16
#define QKV_IF_AVX512_BF16(x) (&(x))
#else
#define QKV_IF_AVX512_BF16(x) nullptr
#endif
#ifdef QKV_HAVE_NEON
#define QKV_IF_NEON(x) (&(x))
#else
#define QKV_IF_NEON(x) nullptr
#endif
#ifdef QKV_HAVE_NEON64
#define QKV_IF_NEON64(x) (&(x))
#else
#define QKV_IF_NEON64(x) nullptr
#endif
#ifdef QKV_HAVE_NEON64_DOT
#define QKV_IF_NEON64_DOT(x) (&(x))
#else
#define QKV_IF_NEON64_DOT(x) nullptr
#endif
#ifdef QKV_HAVE_NEON64_BF16
#define QKV_IF_NEON64_BF16(x) (&(x))
#else
#define QKV_IF_NEON64_BF16(x) nullptr
#endif
#ifdef QKV_HAVE_MVE
#define QKV_IF_MVE(x) (&(x))
#else
#define QKV_IF_MVE(x) nullptr
#endif

// Declares `name##_scalar`, `name##_sse2`, ... and defines the lookup
// `const Table& name##_for(qkv_isa)` falling back to scalar. avx512_bf16
// differs from avx512, and neon64_dot and neon64_bf16 from neon64, only in
// the reduced-precision kernels: a module without such kernels maps them to
// their base set's table (QKV_DECLARE_KERNEL_TABLES); one with them has a
// table of its own per set (QKV_DECLARE_KERNEL_TABLES_BF16). mve (Helium,
// hand-written, no xsimd) has kernels for some modules only: those declare
// QKV_DECLARE_KERNEL_TABLES_MVE and define name##_mve in their *_mve.cpp;
// every other module maps mve to its scalar table. The reduced-precision
// modules (QKV_DECLARE_KERNEL_TABLES_BF16) have an mve table too.
#define QKV_KERNEL_TABLE_LOOKUP(Table, name, avx512_bf16_table, neon64_dot_table, neon64_bf16_table, mve_table) \
  inline const Table& name##_for(qkv_isa isa) noexcept {                                            \
    const Table* t = nullptr;                                                                       \
    switch (isa) {                                                                                  \
      case QKV_ISA_SSE2: t = QKV_IF_SSE2(name##_sse2); break;                                       \
      case QKV_ISA_AVX2: t = QKV_IF_AVX2(name##_avx2); break;                                       \
      case QKV_ISA_AVX512: t = QKV_IF_AVX512(name##_avx512); break;                                 \
      case QKV_ISA_AVX512_BF16: t = QKV_IF_AVX512_BF16(avx512_bf16_table); break;                   \
      case QKV_ISA_NEON: t = QKV_IF_NEON(name##_neon); break;                                       \
      case QKV_ISA_NEON64: t = QKV_IF_NEON64(name##_neon64); break;                                 \
      case QKV_ISA_NEON64_DOT: t = QKV_IF_NEON64_DOT(neon64_dot_table); break;                      \
      case QKV_ISA_NEON64_BF16: t = QKV_IF_NEON64_BF16(neon64_bf16_table); break;                   \
      case QKV_ISA_MVE: t = QKV_IF_MVE(mve_table); break;                                           \
      default: break;                                                                               \
    }                                                                                               \
    return t ? *t : name##_scalar;                                                                  \
  }
#define QKV_DECLARE_KERNEL_TABLES(Table, name)                                      \
  extern const Table name##_scalar, name##_sse2, name##_avx2, name##_avx512,        \
      name##_neon, name##_neon64;                                                   \
  QKV_KERNEL_TABLE_LOOKUP(Table, name, name##_avx512, name##_neon64, name##_neon64, name##_scalar)
#define QKV_DECLARE_KERNEL_TABLES_MVE(Table, name)                                  \
  extern const Table name##_scalar, name##_sse2, name##_avx2, name##_avx512,        \
      name##_neon, name##_neon64, name##_mve;                                       \
  QKV_KERNEL_TABLE_LOOKUP(Table, name, name##_avx512, name##_neon64, name##_neon64, name##_mve)
#define QKV_DECLARE_KERNEL_TABLES_BF16(Table, name)                                 \
  extern const Table name##_scalar, name##_sse2, name##_avx2, name##_avx512,        \
      name##_avx512_bf16, name##_neon, name##_neon64, name##_neon64_dot,            \
      name##_neon64_bf16, name##_mve;                                               \
  QKV_KERNEL_TABLE_LOOKUP(Table, name, name##_avx512_bf16, name##_neon64_dot, name##_neon64_bf16, name##_mve)
