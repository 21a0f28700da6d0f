// SPDX-License-Identifier: MIT
// gemm kernels for avx512: gemm_f32_14x32, in two forms. The full packed
// tile is the register tile (kernels/tile) compiled from intrinsics, or, on
// x86-64, the same operations as inline assembly (tile_asm); which one runs
// is a per-microarchitecture choice (dispatch/uarch.hpp). Everything else is that register
// tile (kernels/tile) on raw zmm/ymm/xmm registers, because xsimd 8.1's fma
// on avx512f is a separate multiply and add.
//
// Tile: 14 rows x 2 zmm = 28 accumulators + 2 B vectors + 1-2 broadcast A
// of the 32 zmm registers. Per k: 2 B loads + 14 A broadcasts (load ports)
// for 28 FMAs (two FMA ports): FMA-bound. Edges are
// the same operations instantiated for m < 14 rows with masked C accesses
// for n < 32 columns, so an edge element is computed exactly as an interior
// one. The packers transpose 16x16 blocks in registers.
#include <immintrin.h>

#include <cstring>
#include <array>
#include <type_traits>
#include <utility>

#include "kernels/gemm/gemm-inl.hpp"

// The intrinsic vector types carry may_alias, which a template argument
// (vec_ops<__m512>, tile_fma<__m512, ...>) drops with a warning. No code
// here reads memory through a vector pointer (only through the intrinsics'
// float pointers), so the attribute is not needed.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace qkv::kern {
namespace {

constexpr std::size_t kMR = 14, kNR = 32;
// Where the micro-kernel reads A: packed panels (stride kMR per k), or in
// place from a row-major op(A) with rows lda apart (a_rows) or from a
// transposed one, op(A)(i,k) = a[k*lda + i] (a_cols).
enum class a_src { packed, rows, cols };

// The register tile (kernels/tile) on raw registers: the narrow 8-, 4-, 2-
// and 1-float columns of the small-matrix path use ymm and xmm.
template <class V>
V set1(float x);
template <>
__m512 set1<__m512>(float x) { return _mm512_set1_ps(x); }
template <>
__m256 set1<__m256>(float x) { return _mm256_set1_ps(x); }
template <>
__m128 set1<__m128>(float x) { return _mm_set1_ps(x); }
inline __m512 fmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
inline __m256 fmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m128 fmadd(__m128 a, __m128 b, __m128 c) { return _mm_fmadd_ps(a, b, c); }
inline __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
inline __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m128 mul(__m128 a, __m128 b) { return _mm_mul_ps(a, b); }

template <class V>
struct x86_vec_ops {
  static constexpr std::size_t width = sizeof(V) / sizeof(float);
  static V zero() { return set1<V>(0.0f); }
  static V bcast(float x) { return set1<V>(x); }
  static V fma(V a, V b, V c) { return fmadd(a, b, c); }
  static V mul(V a, V b) { return kern::mul(a, b); }
};
template <>
struct vec_ops<__m512> : x86_vec_ops<__m512> {};
template <>
struct vec_ops<__m256> : x86_vec_ops<__m256> {};
template <>
struct vec_ops<__m128> : x86_vec_ops<__m128> {};

// zmm memory access: unaligned, aligned (packed panels), both vectors of a
// 32-wide row through lane masks, or only the last of NV vectors masked (a
// masked load costs an FMA-port uop, so full vectors stay unmasked).
struct zmm_io {
  static __m512 load(const float* p, std::size_t) { return _mm512_loadu_ps(p); }
  static void store(float* p, std::size_t, __m512 x) { _mm512_storeu_ps(p, x); }
};
struct zmm_aligned_io {
  static __m512 load(const float* p, std::size_t) { return _mm512_load_ps(p); }
};
struct zmm_mask2_io {
  __mmask16 m0, m1;
  __m512 load(const float* p, std::size_t v) const { return _mm512_maskz_loadu_ps(v ? m1 : m0, p); }
  void store(float* p, std::size_t v, __m512 x) const { _mm512_mask_storeu_ps(p, v ? m1 : m0, x); }
};
template <std::size_t NV>
struct zmm_last_masked_io {
  __mmask16 last;
  __m512 load(const float* p, std::size_t v) const {
    return v + 1 == NV ? _mm512_maskz_loadu_ps(last, p) : _mm512_loadu_ps(p);
  }
  void store(float* p, std::size_t v, __m512 x) const {
    if (v + 1 == NV)
      _mm512_mask_storeu_ps(p, last, x);
    else
      _mm512_storeu_ps(p, x);
  }
};

// Zero accumulators, and C's two lines per row fetched meanwhile (the tile
// writes C at the end).
struct zero_prefetch_c {
  const float* c;
  std::size_t ldc;
  __m512 operator()(std::size_t i, std::size_t v) const {
    if (v == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
    }
    return _mm512_setzero_ps();
  }
};

// Calls run(a_rs, a_cs) with A's strides for where it is read from.
template <a_src Src, class Run>
QKV_TILE_INLINE void with_a_strides(std::size_t lda, const Run& run) {
  if constexpr (Src == a_src::packed)
    run(fixed<1>(), fixed<kMR>());
  else if constexpr (Src == a_src::rows)
    run(lda, fixed<1>());
  else
    run(fixed<1>(), lda);
}

// C[0:M, 0:32] (columns masked by m0/m1 when Masked) = alpha*A.Bp + beta*C.
// B is a packed panel (PackedB: rows kNR apart, aligned) or op(B) in place
// with rows ldb apart (columns past n masked off when Masked).
template <std::size_t M, bool Masked, a_src Src, bool PackedB>
inline void tile_f32(std::size_t kc, float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                     float beta, float* c, std::size_t ldc, __mmask16 m0, __mmask16 m1) {
  using IO = std::conditional_t<Masked, zmm_mask2_io, zmm_io>;
  IO io;
  if constexpr (Masked) io = {m0, m1};
  const axpby_store<__m512, IO> finish(c, ldc, alpha, beta, io);
  with_a_strides<Src>(lda, [&](auto a_rs, auto a_cs) {
    if constexpr (PackedB)
      tile_fma<__m512, M, 2>(kc, a, a_rs, a_cs, make_rows_b<__m512>(b, fixed<kNR>(), zmm_aligned_io()),
                             zero_prefetch_c{c, ldc}, finish);
    else
      tile_fma<__m512, M, 2>(kc, a, a_rs, a_cs, make_rows_b<__m512>(b, ldb, io), zero_prefetch_c{c, ldc}, finish);
  });
}

#if defined(__x86_64__)  // zmm16-31 exist in 64-bit mode only; i686 uses tile_f32
#define QKV_GEMM_ASM 1
// The full tile with a packed A panel, in assembly: per k, B's two vectors
// loaded, then per row one broadcast of its A element into zmm30 or zmm31
// (alternating) and the row's two FMAs from that register, k unrolled by 4:
// 16 load uops per 28 FMAs. (Taking A as an embedded-broadcast FMA operand,
// vfmadd231ps m32{1to16}, saves instructions but needs 30 load uops per k,
// more than the load ports give in the 14 cycles of the FMAs: measured
// slower, bench/README.md "The GEMM tile's A from registers".) Same
// operations per element as tile_f32 (one FMA per k from zero, then
// alpha*acc + beta*C), so edge tiles, which use tile_f32, round identically.
#define QKV_ROW(u, i, r0, r1, t)                                    \
  "vbroadcastss " #u "*56+" #i "*4(%[a]), %%zmm" #t "\n\t"        \
  "vfmadd231ps %%zmm" #t ", %%zmm28, %%zmm" #r0 "\n\t"             \
  "vfmadd231ps %%zmm" #t ", %%zmm29, %%zmm" #r1 "\n\t"
// One k step; B rows are %[bs] bytes apart (128: a packed panel). No
// software prefetch of B: the L1 streamer follows a packed panel, and an
// in-place B is at most 16 KiB (kInplaceBMax); the prefetches cost two load
// uops per step for nothing.
#define QKV_STEP(u)                                                                         \
  "vmovups (%[b]), %%zmm28\n\t"                                                             \
  "vmovups 64(%[b]), %%zmm29\n\t"                                                           \
  QKV_ROW(u, 0, 0, 1, 30) QKV_ROW(u, 1, 2, 3, 31) QKV_ROW(u, 2, 4, 5, 30)                    \
  QKV_ROW(u, 3, 6, 7, 31) QKV_ROW(u, 4, 8, 9, 30) QKV_ROW(u, 5, 10, 11, 31)                  \
  QKV_ROW(u, 6, 12, 13, 30) QKV_ROW(u, 7, 14, 15, 31) QKV_ROW(u, 8, 16, 17, 30)              \
  QKV_ROW(u, 9, 18, 19, 31) QKV_ROW(u, 10, 20, 21, 30) QKV_ROW(u, 11, 22, 23, 31)            \
  QKV_ROW(u, 12, 24, 25, 30) QKV_ROW(u, 13, 26, 27, 31)                                      \
  "add %[bs], %[b]\n\t"
#define QKV_ZERO2(r0, r1) "vpxord %%zmm" #r0 ", %%zmm" #r0 ", %%zmm" #r0 "\n\t" \
  "vpxord %%zmm" #r1 ", %%zmm" #r1 ", %%zmm" #r1 "\n\t"
// C row: prefetch its two lines (the tile is written at the end).
#define QKV_PFC "prefetcht0 (%[p])\n\tprefetcht0 124(%[p])\n\tadd %[ldc], %[p]\n\t"
#define QKV_SCALE2(r0, r1)                                                          \
  "vmulps %%zmm30, %%zmm" #r0 ", %%zmm" #r0 "\n\t"                                 \
  "vmulps %%zmm30, %%zmm" #r1 ", %%zmm" #r1 "\n\t"
#define QKV_OUT(r0, r1, read_c)                                                     \
  read_c("vfmadd231ps (%[c]), %%zmm31, %%zmm" #r0 "\n\t"                           \
         "vfmadd231ps 64(%[c]), %%zmm31, %%zmm" #r1 "\n\t")                        \
  "vmovups %%zmm" #r0 ", (%[c])\n\t"                                               \
  "vmovups %%zmm" #r1 ", 64(%[c])\n\t"                                             \
  "add %[ldc], %[c]\n\t"
#define QKV_KEEP(x) x
#define QKV_DROP(x)
#define QKV_OUT_ALL(read_c)                                                                        \
  QKV_OUT(0, 1, read_c) QKV_OUT(2, 3, read_c) QKV_OUT(4, 5, read_c) QKV_OUT(6, 7, read_c)          \
  QKV_OUT(8, 9, read_c) QKV_OUT(10, 11, read_c) QKV_OUT(12, 13, read_c) QKV_OUT(14, 15, read_c)    \
  QKV_OUT(16, 17, read_c) QKV_OUT(18, 19, read_c) QKV_OUT(20, 21, read_c) QKV_OUT(22, 23, read_c)  \
  QKV_OUT(24, 25, read_c) QKV_OUT(26, 27, read_c)

// A packed A panel times B rows b_stride floats apart (kNR: a packed B
// panel; else op(B) in place), full 14 x 32 tile.
void tile_asm(std::size_t kc, float alpha, const float* a, const float* b, std::size_t b_stride, float beta, float* c,
              std::size_t ldc) {
  static_assert(kMR == 14 && kNR == 32, "the assembly is written for the 14 x 32 tile");
  const float ab[2] = {alpha, beta};
  const std::size_t bs = b_stride * sizeof(float);
  const std::size_t ldc_bytes = ldc * sizeof(float);
  std::size_t k4 = kc / 4, k1 = kc % 4;
  const float* p = c;
  const int read_c = beta != 0.f, scale = alpha != 1.f;
  asm volatile(
      QKV_ZERO2(0, 1) QKV_ZERO2(2, 3) QKV_ZERO2(4, 5) QKV_ZERO2(6, 7) QKV_ZERO2(8, 9) QKV_ZERO2(10, 11)
      QKV_ZERO2(12, 13) QKV_ZERO2(14, 15) QKV_ZERO2(16, 17) QKV_ZERO2(18, 19) QKV_ZERO2(20, 21)
      QKV_ZERO2(22, 23) QKV_ZERO2(24, 25) QKV_ZERO2(26, 27)
      QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC QKV_PFC
      QKV_PFC QKV_PFC
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n"
      "1:\n\t"
      QKV_STEP(0) QKV_STEP(1) QKV_STEP(2) QKV_STEP(3)
      "add $224, %[a]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n"
      "2:\n\t"
      "test %[k1], %[k1]\n\t"
      "jz 4f\n"
      "3:\n\t"
      QKV_STEP(0)
      "add $56, %[a]\n\t"
      "dec %[k1]\n\t"
      "jnz 3b\n"
      "4:\n\t"
      "vbroadcastss (%[ab]), %%zmm30\n\t"
      "vbroadcastss 4(%[ab]), %%zmm31\n\t"
      "test %[scale], %[scale]\n\t"  // alpha == 1: 1 * acc is acc, skip it
      "jz 7f\n\t"
      QKV_SCALE2(0, 1) QKV_SCALE2(2, 3) QKV_SCALE2(4, 5) QKV_SCALE2(6, 7) QKV_SCALE2(8, 9) QKV_SCALE2(10, 11)
      QKV_SCALE2(12, 13) QKV_SCALE2(14, 15) QKV_SCALE2(16, 17) QKV_SCALE2(18, 19) QKV_SCALE2(20, 21)
      QKV_SCALE2(22, 23) QKV_SCALE2(24, 25) QKV_SCALE2(26, 27)
      "7:\n\t"
      "test %[read_c], %[read_c]\n\t"
      "jz 5f\n\t"
      QKV_OUT_ALL(QKV_KEEP)
      "jmp 6f\n"
      "5:\n\t"
      QKV_OUT_ALL(QKV_DROP)
      "6:\n\t"
      : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [p] "+r"(p), [k4] "+r"(k4), [k1] "+r"(k1)
      : [ldc] "r"(ldc_bytes), [ab] "r"(ab), [read_c] "r"(read_c), [scale] "r"(scale), [bs] "r"(bs)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
        "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}
#undef QKV_ROW
#undef QKV_STEP
#undef QKV_ZERO2
#undef QKV_PFC
#undef QKV_OUT
#undef QKV_SCALE2
#undef QKV_KEEP
#undef QKV_DROP
#undef QKV_OUT_ALL
#endif  // __x86_64__

// The full packed tile in either form (see the table at the end): Asm, the
// assembly; else the intrinsics tile. Same operations, same bits.
template <bool Asm>
void gemm_f32_14x32(std::size_t kc, float alpha, const float* a, const float* b, float beta, float* c,
                    std::size_t ldc) {
#ifdef QKV_GEMM_ASM
  if (Asm) {
    tile_asm(kc, alpha, a, b, kNR, beta, c, ldc);
    return;
  }
#endif
  tile_f32<kMR, false, a_src::packed, true>(kc, alpha, a, 0, b, kNR, beta, c, ldc, 0xFFFF, 0xFFFF);
}

using tile_fn = void (*)(std::size_t, float, const float*, std::size_t, const float*, std::size_t, float, float*,
                         std::size_t, __mmask16, __mmask16);

// Row count 1..14 -> the instantiation for it (masked columns).
template <a_src Src, bool PackedB, std::size_t... I>
constexpr std::array<tile_fn, kMR> masked_tiles(std::index_sequence<I...>) {
  return {tile_f32<I + 1, true, Src, PackedB>...};
}
constexpr auto kEdgePacked = masked_tiles<a_src::packed, true>(std::make_index_sequence<kMR>());
// [A rows / A cols][B packed / in place]
constexpr std::array<tile_fn, kMR> kEdgeStrided[2][2] = {
    {masked_tiles<a_src::rows, true>(std::make_index_sequence<kMR>()),
     masked_tiles<a_src::rows, false>(std::make_index_sequence<kMR>())},
    {masked_tiles<a_src::cols, true>(std::make_index_sequence<kMR>()),
     masked_tiles<a_src::cols, false>(std::make_index_sequence<kMR>())}};
constexpr tile_fn kFullStrided[2][2] = {
    {tile_f32<kMR, false, a_src::rows, true>, tile_f32<kMR, false, a_src::rows, false>},
    {tile_f32<kMR, false, a_src::cols, true>, tile_f32<kMR, false, a_src::cols, false>}};

__mmask16 first_n(std::size_t n) {  // lanes [0, n), n <= 16
  return static_cast<__mmask16>((1u << n) - 1u);
}

template <bool Asm>
void gemm_f32_14x32_strided(std::size_t m, std::size_t n, std::size_t kc, float alpha, const float* a,
                            std::size_t a_rs, std::size_t a_cs, const float* b, std::size_t b_rs, float beta,
                            float* c, std::size_t ldc) {
  const int cols = a_cs == 1 ? 0 : 1;  // A read along rows (a_cs == 1) or columns (a_rs == 1)
  const std::size_t lda = cols ? a_cs : a_rs;
  const int inplace_b = b_rs == 0 ? 0 : 1;
  const bool packed_a = a_rs == 1 && a_cs == kMR;
#ifdef QKV_GEMM_ASM
  if (Asm && m == kMR && n == kNR && packed_a) {  // the assembly tile
    tile_asm(kc, alpha, a, b, inplace_b ? b_rs : kNR, beta, c, ldc);
    return;
  }
#endif
  const __mmask16 m0 = first_n(n < 16 ? n : 16), m1 = first_n(n > 16 ? n - 16 : 0);
  if (packed_a && !inplace_b) {  // the edges of a packed block
    if (m == kMR && n == kNR)
      gemm_f32_14x32<Asm>(kc, alpha, a, b, beta, c, ldc);
    else
      kEdgePacked[m - 1](kc, alpha, a, 0, b, kNR, beta, c, ldc, m0, m1);
    return;
  }
  if (m == kMR && n == kNR) {
    kFullStrided[cols][inplace_b](kc, alpha, a, lda, b, b_rs, beta, c, ldc, 0xFFFF, 0xFFFF);
    return;
  }
  kEdgeStrided[cols][inplace_b][m - 1](kc, alpha, a, lda, b, b_rs, beta, c, ldc, m0, m1);
}

// Both operands in place (a small problem: the driver packs neither), in
// 6 x 64 tiles: per k 4 B loads, 6 A broadcasts, 24 FMAs (1.4 instructions
// per FMA, against 1.7 for the 14 x 32 tile reading 14 A rows, which also
// runs out of general registers for their addresses). Same operations per C
// element as every other kernel here. Only the last vector of a column tail
// is masked: a masked load costs an FMA-port uop.
template <std::size_t R, std::size_t V, bool MaskLast, bool ACols>
void tile_6x64(std::size_t kc, float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
               float beta, float* c, std::size_t ldc, __mmask16 last) {
  using IO = std::conditional_t<MaskLast, zmm_last_masked_io<V>, zmm_io>;
  IO io;
  if constexpr (MaskLast) io = {last};
  const axpby_store<__m512, IO> finish(c, ldc, alpha, beta, io);
  with_a_strides<ACols ? a_src::cols : a_src::rows>(lda, [&](auto a_rs, auto a_cs) {
    tile_fma<__m512, R, V>(kc, a, a_rs, a_cs, make_rows_b<__m512>(b, ldb, io), zero_init<__m512>(), finish);
  });
}

using tile64_fn = void (*)(std::size_t, float, const float*, std::size_t, const float*, std::size_t, float, float*,
                           std::size_t, __mmask16);
template <std::size_t R, bool MaskLast, bool ACols>
constexpr std::array<tile64_fn, 4> tiles64_for_rows() {
  return {tile_6x64<R, 1, MaskLast, ACols>, tile_6x64<R, 2, MaskLast, ACols>, tile_6x64<R, 3, MaskLast, ACols>,
          tile_6x64<R, 4, MaskLast, ACols>};
}
template <bool MaskLast, bool ACols>
constexpr std::array<std::array<tile64_fn, 4>, 6> tiles64() {  // [rows - 1][vectors - 1]
  return {tiles64_for_rows<1, MaskLast, ACols>(), tiles64_for_rows<2, MaskLast, ACols>(),
          tiles64_for_rows<3, MaskLast, ACols>(), tiles64_for_rows<4, MaskLast, ACols>(),
          tiles64_for_rows<5, MaskLast, ACols>(), tiles64_for_rows<6, MaskLast, ACols>()};
}
static_assert(kBlockInplaceRows == 6, "kTiles64 holds tiles of 1 to 6 rows");
// [last vector partial][A stored transposed]
constexpr std::array<std::array<tile64_fn, 4>, 6> kTiles64[2][2] = {{tiles64<false, false>(), tiles64<false, true>()},
                                                                    {tiles64<true, false>(), tiles64<true, true>()}};

void gemm_f32_block_inplace(std::size_t mc, std::size_t nc, std::size_t kc, float alpha, const float* a,
                            std::size_t a_rs, std::size_t a_cs, const float* b, std::size_t b_rs, float beta, float* c,
                            std::size_t ldc) {
  const int cols = a_cs != 1 ? 1 : 0;  // op(A)(i,k) = a[k*a_cs + i]
  const std::size_t lda = cols ? a_cs : a_rs;
  for (std::size_t j = 0; j < nc; j += 64) {  // a 64-column slice of B stays in L1 for all rows
    const std::size_t n = nc - j < 64 ? nc - j : 64, vecs = (n + 15) / 16, tail = n % 16;
    const auto& tiles = kTiles64[tail != 0 ? 1 : 0][cols];
    const __mmask16 last = first_n(tail != 0 ? tail : 16);
    for (std::size_t i = 0; i < mc; i += kBlockInplaceRows) {
      const std::size_t m = mc - i < kBlockInplaceRows ? mc - i : kBlockInplaceRows;
      const float* ai = cols ? a + i : a + i * lda;
      tiles[m - 1][vecs - 1](kc, alpha, ai, lda, b + j, b_rs, beta, c + i * ldc + j, ldc, last);
    }
  }
}

// In-register transpose: r[i] lane j  ->  r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[g][cc]: lane L holds column 4L+cc of rows 4g..4g+3.
  __m512 u[4][4];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    u[g][0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[g][1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[g][2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[g][3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int cc = 0; cc < 4; ++cc) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[0][cc], u[1][cc], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(u[0][cc], u[1][cc], 0xdd);
    const __m512 w0 = _mm512_shuffle_f32x4(u[2][cc], u[3][cc], 0x88);
    const __m512 w1 = _mm512_shuffle_f32x4(u[2][cc], u[3][cc], 0xdd);
    r[cc] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    r[8 + cc] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
    r[4 + cc] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    r[12 + cc] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
  }
}

// rows (up to 16) x kc, row stride ld, k contiguous  ->  for each k the
// `rows` values, written with stride `dst_stride` per k, `width` floats per
// k (zero past rows). width is 14 (A panels) or 16 (half a B panel).
inline void pack_transposed(std::size_t rows, std::size_t kc, const float* src, std::size_t ld, float* dst,
                            std::size_t dst_stride, __mmask16 width) {
  // Plain loads and stores wherever they fit: a masked one costs several
  // times as much on some cores (Zen 5). A narrower destination (width < 16
  // lanes, dst_stride = width) takes whole-vector stores too, in ascending
  // k: each spills into the next k's slot, which the next store rewrites;
  // only the last k is stored masked.
  const bool full_width = width == 0xFFFF;
  __m512 r[16];
  for (std::size_t k = 0; k < kc; k += 16) {
    const std::size_t kn = kc - k < 16 ? kc - k : 16;
    const __mmask16 km = first_n(kn);
    if (kn == 16) {
#pragma GCC unroll 16
      for (std::size_t i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * ld + k) : _mm512_setzero_ps();
    } else {
#pragma GCC unroll 16
      for (std::size_t i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k) : _mm512_setzero_ps();
    }
    transpose16(r);
#pragma GCC unroll 16
    for (std::size_t kk = 0; kk < 16; ++kk) {  // constant indices: r stays in registers
      if (kk >= kn) break;
      float* d = dst + (k + kk) * dst_stride;
      if (full_width || k + kk + 1 < kc)
        _mm512_storeu_ps(d, r[kk]);
      else
        _mm512_mask_storeu_ps(d, width, r[kk]);
    }
  }
}

void pack_a_14(bool trans, std::size_t mc, std::size_t kc, const float* a, std::size_t lda, float* dst) {
  for (std::size_t i0 = 0; i0 < mc; i0 += kMR, dst += kMR * kc) {
    const std::size_t m = mc - i0 < kMR ? mc - i0 : kMR;
    if (trans) {  // panel rows contiguous in A: one masked copy per k
      const __mmask16 mm = first_n(m), out = first_n(kMR);
      for (std::size_t k = 0; k < kc; ++k)
        _mm512_mask_storeu_ps(dst + k * kMR, out, _mm512_maskz_loadu_ps(mm, a + k * lda + i0));
    } else {
      pack_transposed(m, kc, a + i0 * lda, lda, dst, kMR, first_n(kMR));
    }
  }
}

// Not transposed: the full panels row by row, so B is read in runs of nc
// floats rather than down each panel's column of rows ldb apart (which the
// prefetchers follow worse; bench/README.md, session 15), then the partial
// last panel.
void pack_b_32(bool trans, std::size_t kc, std::size_t nc, const float* b, std::size_t ldb, float* dst) {
  if (!trans) {
    const std::size_t full = nc / kNR * kNR;
    for (std::size_t k = 0; k < kc; ++k) {
      const float* src = b + k * ldb;
      float* d = dst + k * kNR;
      for (std::size_t j0 = 0; j0 < full; j0 += kNR, d += kNR * kc) {
        _mm512_store_ps(d, _mm512_loadu_ps(src + j0));
        _mm512_store_ps(d + 16, _mm512_loadu_ps(src + j0 + 16));
      }
    }
    if (full == nc) return;
    b += full;
    dst += full * kc;
    nc -= full;
  }
  for (std::size_t j0 = 0; j0 < nc; j0 += kNR, dst += kNR * kc) {
    const std::size_t n = nc - j0 < kNR ? nc - j0 : kNR;
    if (trans) {  // B^T rows are k-contiguous: transpose 16 columns at a time
      for (std::size_t h = 0; h < 2; ++h) {
        const std::size_t rows = n > 16 * h ? (n - 16 * h < 16 ? n - 16 * h : 16) : 0;
        // rows == 0 still writes the zero padding; its source pointer is never
        // read, and is not formed past the last row (a huge ldb would overflow it).
        const float* src = rows ? b + (j0 + 16 * h) * ldb : b;
        pack_transposed(rows, kc, src, ldb, dst + 16 * h, kNR, 0xFFFF);
      }
    } else {
      const __mmask16 m0 = first_n(n < 16 ? n : 16), m1 = first_n(n > 16 ? n - 16 : 0);
      for (std::size_t k = 0; k < kc; ++k) {
        const float* src = b + k * ldb + j0;
        _mm512_store_ps(dst + k * kNR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(dst + k * kNR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    }
  }
}

// Small problems (the unpacked path, M*N*K <= 4096) and the fallback for
// large ones: C columns in vectors, A broadcast from where it is. The column
// tail (and all of a narrow C, e.g. the book's 6x2x3) uses exact-width
// loads (8, 4, 2, 1 floats), never masked 16-wide ones: those span bytes past
// B's rows, and the CPU stalls such a load behind any recent store to those
// bytes (C often sits right after B), which doubled the cost of a 6x2x3 call.
// load_b(k) gives op(B)'s row k over this block's columns.
template <class V, V (*Load)(const float*), void (*Store)(float*, V)>
struct fn_io {
  static V load(const float* p, std::size_t) { return Load(p); }
  static void store(float* p, std::size_t, V x) { Store(p, x); }
};

template <class V, V (*Load)(const float*), void (*Store)(float*, V), class LoadB>
inline void direct_cols(std::size_t M, std::size_t K, float alpha, const float* A, std::size_t a_rs,
                        std::size_t a_cs, LoadB load_b, float beta, float* C, std::size_t ldc) {
  using IO = fn_io<V, Load, Store>;
  const auto b_row = [&load_b](std::size_t k, std::size_t) { return load_b(k); };
  // R rows share each B load: 1/R of the loop and load overhead, and R
  // independent FMA chains. Every element is still one FMA per k in order
  // from 0, so the bits do not depend on how rows are grouped.
  auto rows = [&](auto r_const, std::size_t i) {
    tile_fma<V, decltype(r_const)::value, 1>(K, A + i * a_rs, a_rs, a_cs, b_row, zero_init<V>(),
                                             axpby_store<V, IO>(C + i * ldc, ldc, alpha, beta, IO()));
  };
  std::size_t i = 0;
  for (; i + 4 <= M; i += 4) rows(fixed<4>(), i);
  if (i + 2 <= M) {  // 6 rows (the book's example) run as 4 + 2, not 4 + 1 + 1
    rows(fixed<2>(), i);
    i += 2;
  }
  if (i < M) rows(fixed<1>(), i);
}

// The small path has K*N <= 4096: a transposed B fits this stack block.
constexpr std::size_t kDirectBtFloats = 4096;

inline __m512 ld16(const float* p) { return _mm512_loadu_ps(p); }
inline void st16(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
inline __m256 ld8(const float* p) { return _mm256_loadu_ps(p); }
inline void st8(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline __m128 ld4(const float* p) { return _mm_loadu_ps(p); }
// Two floats as one 64-bit lane; memcpy because p need not be 8-byte aligned
// (a double* would promise that), and it compiles to one movsd.
inline __m128 ld2(const float* p) {
  double d;
  std::memcpy(&d, p, sizeof d);
  return _mm_castpd_ps(_mm_set_sd(d));
}
inline __m128 ld1(const float* p) { return _mm_load_ss(p); }
inline void st4(float* p, __m128 v) { _mm_storeu_ps(p, v); }
inline void st2(float* p, __m128 v) {
  const double d = _mm_cvtsd_f64(_mm_castps_pd(v));
  std::memcpy(p, &d, sizeof d);
}
inline void st1(float* p, __m128 v) { _mm_store_ss(p, v); }

// op(B) stored row-major: row k of a block of columns is one load. A type,
// not a lambda over a function pointer, so that the load is inlined even
// where direct_cols is not.
template <auto Load>
struct b_rows {
  const float* b;
  std::size_t ldb;
  auto operator()(std::size_t k) const { return Load(b + k * ldb); }
};

// Not transposed B (and the B^T copy): columns in 16, 8, 4, 2, 1 wide steps.
__attribute__((always_inline)) inline void direct_nn(bool ta, std::size_t M, std::size_t N, std::size_t K,
                                                     float alpha, const float* A, std::size_t lda, const float* B,
                                                     std::size_t ldb, float beta, float* C, std::size_t ldc) {
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  std::size_t j = 0;
  for (; j + 16 <= N; j += 16)
    direct_cols<__m512, ld16, st16>(M, K, alpha, A, a_rs, a_cs, b_rows<ld16>{B + j, ldb}, beta,
                                                        C + j, ldc);
  if (j + 8 <= N) {
    direct_cols<__m256, ld8, st8>(M, K, alpha, A, a_rs, a_cs, b_rows<ld8>{B + j, ldb}, beta, C + j,
                                                   ldc);
    j += 8;
  }
  if (j + 4 <= N) {
    direct_cols<__m128, ld4, st4>(M, K, alpha, A, a_rs, a_cs, b_rows<ld4>{B + j, ldb}, beta, C + j,
                                                   ldc);
    j += 4;
  }
  if (j + 2 <= N) {
    direct_cols<__m128, ld2, st2>(M, K, alpha, A, a_rs, a_cs, b_rows<ld2>{B + j, ldb}, beta, C + j,
                                                   ldc);
    j += 2;
  }
  if (j < N)
    direct_cols<__m128, ld1, st1>(M, K, alpha, A, a_rs, a_cs, b_rows<ld1>{B + j, ldb}, beta, C + j,
                                                   ldc);
}

// Transposed B, fewer than 8 columns (Q.K^T over a few keys, the book's
// 6x2x3 with B^T): op(B)'s row k is gathered from B's rows, 4, 2 or 1
// floats, in registers. Through a copy (direct_nt) it would be read back
// wider than it was written while the stores are still in flight: a
// store-forwarding stall per k, a quarter of a 6x2x3 call.
__attribute__((always_inline)) inline void direct_nt_narrow(bool ta, std::size_t M, std::size_t N, std::size_t K,
                                                            float alpha, const float* A, std::size_t lda,
                                                            const float* B, std::size_t ldb, float beta, float* C,
                                                            std::size_t ldc) {
  const std::size_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
  std::size_t j = 0;
  if (j + 4 <= N) {
    auto load = [B, ldb](std::size_t k) { return _mm_set_ps(B[3 * ldb + k], B[2 * ldb + k], B[ldb + k], B[k]); };
    direct_cols<__m128, ld4, st4>(M, K, alpha, A, a_rs, a_cs, load, beta, C, ldc);
    j += 4;
  }
  if (j + 2 <= N) {
    const float* b = B + j * ldb;
    auto load = [b, ldb](std::size_t k) { return _mm_unpacklo_ps(_mm_load_ss(b + k), _mm_load_ss(b + ldb + k)); };
    direct_cols<__m128, ld2, st2>(M, K, alpha, A, a_rs, a_cs, load, beta, C + j, ldc);
    j += 2;
  }
  if (j < N) {
    const float* b = B + j * ldb;
    auto load = [b](std::size_t k) { return _mm_load_ss(b + k); };
    direct_cols<__m128, ld1, st1>(M, K, alpha, A, a_rs, a_cs, load, beta, C + j, ldc);
  }
}

// Transposed B, 8 columns or more: op(B) rows are B's columns, so copy op(B)
// to a K x N stack block first (kept out of direct_nn, whose frame stays small).
__attribute__((noinline)) void direct_nt(bool ta, std::size_t M, std::size_t N, std::size_t K, float alpha,
                                         const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
                                         float* C, std::size_t ldc) {
  alignas(64) float bt[kDirectBtFloats];
  copy_op_b_rows(K, N, B, ldb, bt);
  direct_nn(ta, M, N, K, alpha, A, lda, bt, N, beta, C, ldc);
}

void direct_f32_avx512(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
                       std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  if (!tb)
    direct_nn(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else if (N < 8)
    direct_nt_narrow(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else if (K * N <= kDirectBtFloats)
    direct_nt(ta, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else  // only as the fallback for a large problem
    direct_scalar(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Default blocks (used where the caches are unknown; ops/gemm_blocking
// derives the blocks from the caches otherwise), for a 48 KiB L1d / 2 MiB L2
// core: one A micro-panel (14 x 256, 14 KiB) in L1 while 32-wide B
// micro-panels stream from the B block (256 x 1024, 1 MiB) in L2.
// A is packed only when N > 192. Read in place, its 14 rows are 14 streams
// lda apart, which at lda a multiple of 4 KiB map to one L1 set and evict
// each other; packed, the full tile runs. Where N is smaller each A
// panel meets too few B panels for packing to pay. (The measurements behind
// these numbers: bench/README.md, "What decides the speed".)
constexpr std::size_t kMC = 14 * 12, kKC = 256, kNC = 1024;
constexpr std::size_t kPackAMinN = 192;
// A B block of up to 16 KiB (64^3) is read in place: packing it costs more
// than it saves. Larger ones are packed: read in place, a B micro-panel is
// 2 of the 4+ lines of each row, which the L1 streamer follows worse than a
// contiguous packed panel.
constexpr std::size_t kInplaceBMax = 4096;
static_assert(kMC % kMR == 0 && kNC % kNR == 0, "blocks must hold whole tiles");

}  // namespace

// Two tables that differ only in the code of the full tile (dispatch/uarch
// chooses per microarchitecture; ops/gemm_table.hpp looks it up).
const gemm_kernels gemm_avx512 = {"gemm_f32_14x32", kMR, kNR, kMC, kKC, kNC, kGemmKcDeep, kPackAMinN, kInplaceBMax,
                                  gemm_f32_14x32<false>, gemm_f32_14x32_strided<false>, pack_a_14, pack_b_32,
                                  direct_f32_avx512, gemm_f32_block_inplace};
#ifdef QKV_GEMM_ASM
const gemm_kernels gemm_avx512_asm = {"gemm_f32_14x32_asm", kMR, kNR, kMC, kKC, kNC, kGemmKcDeep, kPackAMinN,
                                      kInplaceBMax, gemm_f32_14x32<true>, gemm_f32_14x32_strided<true>, pack_a_14,
                                      pack_b_32, direct_f32_avx512, gemm_f32_block_inplace};
#endif

}  // namespace qkv::kern
