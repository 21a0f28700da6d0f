/* SPDX-License-Identifier: MIT */
/* Reduced-precision area, kept small for emulated runs, under every
 * runnable ISA:
 *  - qkv_gemm_ex for bf16 x bf16, fp32 x fp16 and fp32 x int8 (per-column
 *    scales) into fp32, against a double product of the stored values within
 *    gemm_ex.h's bound (K 2^-23 sum |a||b|, plus the flush allowance), and
 *    int8 x int8 into int32, exact;
 *  - fp16 x fp16 and bf16 x bf16 into fp32 over odd shapes (M, N, K around
 *    the fp32 tiles' 3 x 8 and the vectors' 4 lanes), every transpose pair,
 *    padded leading dimensions, alpha and beta: against the double product
 *    within gemm_ex.h's bound, and bit for bit against qkv_gemm_ex on fp32
 *    operands holding the widened values where the contract makes them
 *    equal (the same tiles: mve's hardware fp16 widening (VCVTB) gives the
 *    portable packers' results), subnormal, infinite and NaN inputs
 *    included;
 *  - int8 x int8 into int32 bit for bit against the exact integer sum over
 *    odd shapes (M, N in 1..33, K in 1..67, a K deep enough to split into
 *    blocks), every transpose pair, padded and very wide leading dimensions,
 *    beta 0 and 1: the DSP (SMLAD) tile of the scalar set on the M4/M7/M55 and the
 *    Helium (VMLADAVA) tile of mve, including their edges and k padding;
 *  - qkv_sdpa_forward_ex / qkv_sdpa_backward_ex on bf16 and fp16 tensors
 *    against the fp32 entry points run on the widened values: the backward
 *    bit for bit narrowed (its definition), the fp16 forward too (widened
 *    tiles run the fp32 kernels), the bf16 forward within the dot-product
 *    path's 2^-7 max|V| + 2^-8 |O| where a CPU takes it. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

void qkv_check_reset_arena(void); /* check.c: each kind starts on an empty arena */

#define GM 5
#define GN 7
#define GK 19

static void to_type(qkv_dtype t, size_t n, float* x, uint16_t* h) {
  QKV_CHECK_STATUS(qkv_convert(n, QKV_DTYPE_F32, x, t, h), QKV_OK);
  QKV_CHECK_STATUS(qkv_convert(n, t, h, QKV_DTYPE_F32, x), QKV_OK); /* x = the stored values */
}

static void check_gemm_ex(void) {
  float* a = qkv_check_alloc(GM * GK);
  float* b = qkv_check_alloc(GK * GN);
  float* c = qkv_check_alloc(GM * GN);
  float* sb = qkv_check_alloc(GN);
  float* ws = qkv_check_alloc(8192);
  uint16_t ah[GM * GK], bh[GK * GN];
  int8_t ai[GM * GK], bi[GN * GK];
  int32_t ci[GM * GN];
  qkv_gemm_ex_desc d;
  size_t i, j, p, bytes, bad;
  int kind;
  if (!a || !b || !c || !sb || !ws) return;
  for (kind = 0; kind < 4; ++kind) {
    memset(&d, 0, sizeof d);
    d.M = GM, d.N = GN, d.K = GK, d.lda = GK, d.ldb = GN, d.ldc = GN, d.alpha = 1.0f;
    d.c_type = QKV_DTYPE_F32;
    qkv_check_fill(a, GM * GK, -1.0f, 1.0f, 11u + (unsigned)kind);
    qkv_check_fill(b, GK * GN, -1.0f, 1.0f, 21u + (unsigned)kind);
    qkv_check_fill(sb, GN, 0.01f, 0.02f, 31u);
    if (kind == 0) { /* bf16 x bf16 */
      d.a_type = d.b_type = QKV_DTYPE_BF16;
      to_type(QKV_DTYPE_BF16, GM * GK, a, ah);
      to_type(QKV_DTYPE_BF16, GK * GN, b, bh);
    } else if (kind == 1) { /* fp32 x fp16 */
      d.a_type = QKV_DTYPE_F32, d.b_type = QKV_DTYPE_F16;
      to_type(QKV_DTYPE_F16, GK * GN, b, bh);
    } else { /* fp32 x int8 (B transposed, per-column scales), then int8 x int8 */
      d.tb = QKV_TRANS, d.ldb = GK, d.b_type = QKV_DTYPE_I8, d.b_scales = sb;
      d.a_type = kind == 2 ? QKV_DTYPE_F32 : QKV_DTYPE_I8;
      for (i = 0; i < GN * GK; ++i) bi[i] = (int8_t)((int)(i * 37u % 255u) - 127);
      for (i = 0; i < GM * GK; ++i) ai[i] = (int8_t)((int)(i * 53u % 255u) - 127);
      if (kind == 3) d.c_type = QKV_DTYPE_I32, d.b_scales = NULL;
    }
    QKV_CHECK_STATUS(qkv_gemm_ex_workspace_size(&d, 1, &bytes), QKV_OK);
    if (bytes > 8192 * sizeof(float)) {
      QKV_CHECK(!"gemm_ex workspace larger than the check's buffer");
      continue;
    }
    QKV_CHECK_STATUS(qkv_gemm_ex(&d, kind == 0 ? (const void*)ah : kind == 3 ? (const void*)ai : (const void*)a,
                                 kind <= 1 ? (const void*)bh : (const void*)bi, kind == 3 ? (void*)ci : (void*)c, ws,
                                 bytes),
                     QKV_OK);
    for (bad = 0, i = 0; i < GM; ++i)
      for (j = 0; j < GN; ++j) {
        double want = 0.0, mag = 0.0;
        long long exact = 0;
        for (p = 0; p < GK; ++p) {
          const double av = kind == 3 ? (double)ai[i * GK + p] : (double)a[i * GK + p];
          const double bv = kind >= 2 ? (double)bi[j * GK + p] * (kind == 2 ? sb[j] : 1.0f) : (double)b[p * GN + j];
          want += av * bv;
          mag += fabs(av * bv);
          if (kind == 3) exact += (long long)ai[i * GK + p] * bi[j * GK + p];
        }
        if (kind == 3)
          bad += ci[i * GN + j] != (int32_t)exact;
        else
          bad += !(fabs((double)c[i * GN + j] - want) <= 2.0 * GK * 1.1920928955078125e-07 * mag + 1e-30);
      }
    QKV_CHECK(bad == 0);
  }
}

/* Whether qkv_gemm_ex on M x K x N operands of type t gives the bits it gives
 * on their fp32 values (gemm_ex.h: both widened, then the fp32 product):
 * not on the decode path of hosted builds (M <= 8 against narrow weights:
 * other sums; bare metal has none), nor for bf16 on the ISAs with bf16 dot
 * products (pairs of products, where the CPU takes them). */
static int half_same_as_f32(qkv_dtype t, size_t M) {
  qkv_isa isa = QKV_ISA_SCALAR;
  QKV_CHECK_STATUS(qkv_get_isa(&isa), QKV_OK);
  if (t == QKV_DTYPE_BF16 && (isa == QKV_ISA_AVX512_BF16 || isa == QKV_ISA_NEON64_BF16)) return 0;
#if defined(__arm__) && !defined(__linux__)
  (void)M;
  return 1;
#else
  return M > 8;
#endif
}

#define H_LD 24 /* every stored operand fits 24 x 24 */

/* One op(A) (M x K) times op(B) (K x N) in type t (both operands) into an fp32
 * C of leading dimension N + 1 holding c0, against the fp32 operands fa, fb
 * (the stored values widened) through qkv_gemm_ex bit for bit and, when ref
 * is set, a double product within gemm_ex.h's bound plus the epilogue's two
 * roundings: (K + 2) 2^-23 (alpha sum|a||b| + |beta c0|). Returns the wrong
 * elements. */
static size_t run_half(qkv_dtype t, size_t M, size_t N, size_t K, qkv_trans ta, qkv_trans tb, size_t lda,
                       size_t ldb, float alpha, float beta, int ref, const uint16_t* ah, const uint16_t* bh,
                       const float* fa, const float* fb, const float* c0, float* c, float* cf, float* ws,
                       size_t ws_floats) {
  qkv_gemm_ex_desc d;
  size_t i, j, p, bytes, bad = 0;
  const size_t ldc = N + 1;
  memset(&d, 0, sizeof d);
  d.M = M, d.N = N, d.K = K, d.ta = ta, d.tb = tb, d.lda = lda, d.ldb = ldb, d.ldc = ldc;
  d.alpha = alpha, d.beta = beta, d.a_type = d.b_type = t, d.c_type = QKV_DTYPE_F32;
  QKV_CHECK_STATUS(qkv_gemm_ex_workspace_size(&d, 1, &bytes), QKV_OK);
  if (bytes > ws_floats * sizeof(float)) {
    QKV_CHECK(!"gemm_ex half workspace larger than the check's buffer");
    return 1;
  }
  memcpy(c, c0, M * ldc * sizeof(float));
  QKV_CHECK_STATUS(qkv_gemm_ex(&d, ah, bh, c, ws, bytes), QKV_OK);
  d.a_type = d.b_type = QKV_DTYPE_F32;
  QKV_CHECK_STATUS(qkv_gemm_ex_workspace_size(&d, 1, &bytes), QKV_OK);
  if (bytes > ws_floats * sizeof(float)) {
    QKV_CHECK(!"gemm_ex fp32 workspace larger than the check's buffer");
    return 1;
  }
  memcpy(cf, c0, M * ldc * sizeof(float));
  QKV_CHECK_STATUS(qkv_gemm_ex(&d, fa, fb, cf, ws, bytes), QKV_OK);
  if (half_same_as_f32(t, M)) bad += memcmp(c, cf, M * ldc * sizeof(float)) != 0;
  for (i = 0; i < M; ++i)
    for (j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j], was = c0[i * ldc + j];
      double want = 0.0, mag = 0.0;
      if (j == N) { /* the padding column: untouched */
        bad += memcmp(&got, &was, sizeof got) != 0;
        continue;
      }
      if (!ref) continue;
      for (p = 0; p < K; ++p) {
        const double av = ta == QKV_TRANS ? fa[p * lda + i] : fa[i * lda + p];
        const double bv = tb == QKV_TRANS ? fb[j * ldb + p] : fb[p * ldb + j];
        want += av * bv;
        mag += fabs(av * bv);
      }
      want = alpha * want + (beta != 0.0f ? beta * (double)was : 0.0);
      mag = alpha * mag + fabs(beta * (double)was);
      bad += !(fabs((double)got - want) <= (double)(K + 2) * 1.1920928955078125e-07 * mag + 1e-30);
    }
  return bad;
}

/* fp16 (and bf16) special values: subnormals (the smallest, the largest,
 * negative), +-Inf, NaNs with payloads (quiet, signalling, negative), the
 * largest finite, +-0; bf16 takes the same bits (other values). */
static const uint16_t kHalfSpecial[] = {0x0001, 0x03ff, 0x8200, 0x7c00, 0xfc00, 0x7e01,
                                        0x7d55, 0xfe3c, 0x7bff, 0x0000, 0x8000, 0x3c00};

/* Shapes around the tiles (M: rows of 3; N: 8 columns, 4 lanes; K: vectors of
 * 4 k and their tails), the transposes and padding varying with the shape. */
static void check_gemm_ex_half(qkv_dtype t) {
  static const size_t ms[] = {1, 4, 10, 13};
  static const size_t ns[] = {1, 7, 9, 17};
  static const size_t ks[] = {1, 3, 6, 21};
  uint16_t* ah = (uint16_t*)(void*)qkv_check_alloc(H_LD * H_LD / 2);
  uint16_t* bh = (uint16_t*)(void*)qkv_check_alloc(H_LD * H_LD / 2);
  float* fa = qkv_check_alloc(H_LD * H_LD);
  float* fb = qkv_check_alloc(H_LD * H_LD);
  float* c0 = qkv_check_alloc(H_LD * H_LD);
  float* c = qkv_check_alloc(H_LD * H_LD);
  float* cf = qkv_check_alloc(H_LD * H_LD);
  float* ws = qkv_check_alloc(8192);
  size_t im, in, ik, i, bad = 0;
  if (!ah || !bh || !fa || !fb || !c0 || !c || !cf || !ws) return;
  qkv_check_fill(c0, H_LD * H_LD, -1.0f, 1.0f, 7u);
  for (ik = 0; ik < sizeof ks / sizeof ks[0]; ++ik)
    for (im = 0; im < sizeof ms / sizeof ms[0]; ++im)
      for (in = 0; in < sizeof ns / sizeof ns[0]; ++in) {
        const size_t M = ms[im], N = ns[in], K = ks[ik];
        const unsigned v = (unsigned)(ik + im + in);
        const qkv_trans ta = v % 2 ? QKV_TRANS : QKV_NO_TRANS, tb = (v / 2) % 2 ? QKV_TRANS : QKV_NO_TRANS;
        const size_t lda = (ta == QKV_TRANS ? M : K) + v % 3, ldb = (tb == QKV_TRANS ? K : N) + (v + 1) % 3;
        qkv_check_fill(fa, H_LD * H_LD, -1.0f, 1.0f, 50u + v);
        qkv_check_fill(fb, H_LD * H_LD, -1.0f, 1.0f, 60u + v);
        to_type(t, H_LD * H_LD, fa, ah);
        to_type(t, H_LD * H_LD, fb, bh);
        bad += run_half(t, M, N, K, ta, tb, lda, ldb, v % 3 ? 1.0f : 0.5f, (v / 3) % 2 ? 1.0f : 0.0f, 1, ah, bh, fa,
                        fb, c0, c, cf, ws, 8192);
      }
  /* Special values through both transposes, bit for bit against fp32. */
  for (i = 0; i < H_LD * H_LD; ++i) {
    ah[i] = kHalfSpecial[i % (sizeof kHalfSpecial / sizeof kHalfSpecial[0])];
    bh[i] = kHalfSpecial[(i * 5 + 3) % (sizeof kHalfSpecial / sizeof kHalfSpecial[0])];
  }
  QKV_CHECK_STATUS(qkv_convert(H_LD * H_LD, t, ah, QKV_DTYPE_F32, fa), QKV_OK);
  QKV_CHECK_STATUS(qkv_convert(H_LD * H_LD, t, bh, QKV_DTYPE_F32, fb), QKV_OK);
  bad += run_half(t, 13, 17, 21, QKV_NO_TRANS, QKV_TRANS, 22, 23, 1.0f, 0.0f, 0, ah, bh, fa, fb, c0, c, cf, ws, 8192);
  bad += run_half(t, 10, 9, 6, QKV_TRANS, QKV_NO_TRANS, 11, 10, 1.0f, 1.0f, 0, ah, bh, fa, fb, c0, c, cf, ws, 8192);
  QKV_CHECK(bad == 0);
}

/* Codes over the whole int8 range, -128 included. */
static void fill_s8(int8_t* x, size_t n, unsigned seed) {
  size_t i;
  uint32_t s = seed * 2654435761u + 1u;
  for (i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = (int8_t)(s >> 24);
  }
}

#define S8_MAX_MN 33
#define S8_MAX_K 1100
#define S8_WIDE_LD 9400 /* 7 x 9400 > 65535: past the 16-bit gather offsets of mve's packer */

/* One int8 x int8 -> int32 product into a C of leading dimension N + 2 (A, B
 * and C0 filled here, C0's copy in C), checked bit for bit against the sum
 * modulo 2^32 (the contract's wrapping) and the padding columns untouched;
 * returns the wrong elements. */
static size_t run_s8(size_t M, size_t N, size_t K, qkv_trans ta, qkv_trans tb, size_t lda, size_t ldb, int beta,
                     unsigned seed, int8_t* a, int8_t* b, int32_t* c, int32_t* c0, float* ws, size_t ws_floats,
                     size_t* need) {
  qkv_gemm_ex_desc d;
  size_t i, j, p, bytes, bad = 0;
  memset(&d, 0, sizeof d);
  d.M = M, d.N = N, d.K = K, d.alpha = 1.0f, d.beta = (float)beta, d.ta = ta, d.tb = tb;
  d.lda = lda, d.ldb = ldb, d.ldc = N + 2;
  d.a_type = d.b_type = QKV_DTYPE_I8, d.c_type = QKV_DTYPE_I32;
  if (ws) {
    fill_s8(a, (ta == QKV_TRANS ? K : M) * lda, 3u + seed);
    fill_s8(b, (tb == QKV_TRANS ? N : K) * ldb, 5u + seed);
    fill_s8((int8_t*)c0, M * d.ldc * 4, 7u + seed);
    memcpy(c, c0, M * d.ldc * 4);
  }
  QKV_CHECK_STATUS(qkv_gemm_ex_workspace_size(&d, 1, &bytes), QKV_OK);
  if (!ws) { /* sizing pass: the largest workspace any case needs */
    if (bytes > *need) *need = bytes;
    return 0;
  }
  if (bytes > ws_floats * sizeof(float)) {
    QKV_CHECK(!"gemm_ex int8 workspace larger than the check's buffer");
    return 1;
  }
  QKV_CHECK_STATUS(qkv_gemm_ex(&d, a, b, c, ws, bytes), QKV_OK);
  for (i = 0; i < M; ++i)
    for (j = 0; j < d.ldc; ++j) {
      uint32_t want = beta || j >= N ? (uint32_t)c0[i * d.ldc + j] : 0u;
      if (j < N)
        for (p = 0; p < K; ++p) {
          const int av = ta == QKV_TRANS ? a[p * lda + i] : a[i * lda + p];
          const int bv = tb == QKV_TRANS ? b[j * ldb + p] : b[p * ldb + j];
          want += (uint32_t)(av * bv);
        }
      bad += (uint32_t)c[i * d.ldc + j] != want;
    }
  return bad;
}

/* M, N in 1..33 against K in 1..67, the transposes, beta and the padding of
 * lda/ldb varying with the shape; then K 1100 (split into blocks by the
 * driver) and leading dimensions of 9400 (mve's portable packer path). */
static void check_gemm_s8_shapes(void) {
  static const size_t mn[] = {1, 3, 5, 7, 13, 17, 33};
  static const size_t ks[] = {1, 3, 5, 7, 13, 17, 33, 67};
  int8_t* a = (int8_t*)qkv_check_alloc(2 * S8_WIDE_LD / 4 + 1); /* bytes: K 1100 x lda 6, or 2 x 9400 */
  int8_t* b = (int8_t*)qkv_check_alloc(2 * S8_WIDE_LD / 4 + 1);
  int32_t* c = (int32_t*)qkv_check_alloc(S8_MAX_MN * (S8_MAX_MN + 2));
  int32_t* c0 = (int32_t*)qkv_check_alloc(S8_MAX_MN * (S8_MAX_MN + 2));
  float* ws = NULL;
  size_t im, in, ik, bad = 0, need = 0, wsf = 0;
  int pass;
  if (!a || !b || !c || !c0) return;
  /* Pass 0 sizes the workspace from the library's queries (hosted tiles
   * need more than a microcontroller's), pass 1 runs every case. */
  for (pass = 0; pass < 2; ++pass) {
    if (pass == 1) {
      wsf = (need + sizeof(float) - 1) / sizeof(float) + 1;
      ws = qkv_check_alloc(wsf);
      if (!ws) return;
    }
    for (ik = 0; ik < sizeof ks / sizeof ks[0]; ++ik)
      for (im = 0; im < sizeof mn / sizeof mn[0]; ++im)
        for (in = 0; in < sizeof mn / sizeof mn[0]; ++in) {
          const size_t M = mn[im], N = mn[in], K = ks[ik];
          const unsigned v = (unsigned)(ik + im + in);
          const qkv_trans ta = v % 2 ? QKV_TRANS : QKV_NO_TRANS, tb = (v / 2) % 2 ? QKV_TRANS : QKV_NO_TRANS;
          bad += run_s8(M, N, K, ta, tb, (ta == QKV_TRANS ? M : K) + v % 4, (tb == QKV_TRANS ? K : N) + v % 3,
                        (int)((v / 4) % 2), v, a, b, c, c0, ws, wsf, &need);
        }
    bad += run_s8(3, 5, S8_MAX_K, QKV_NO_TRANS, QKV_TRANS, S8_MAX_K + 1, S8_MAX_K + 3, 1, 1u, a, b, c, c0, ws, wsf,
                  &need);
    bad += run_s8(3, 5, S8_MAX_K, QKV_TRANS, QKV_NO_TRANS, 3, 6, 0, 2u, a, b, c, c0, ws, wsf, &need);
    bad += run_s8(5, 3, 2, QKV_TRANS, QKV_NO_TRANS, S8_WIDE_LD, S8_WIDE_LD, 0, 3u, a, b, c, c0, ws, wsf, &need);
  }
  QKV_CHECK(bad == 0);
}

#define B_H 2
#define B_T 9
#define B_D 5
#define NE (B_H * B_T * B_D)

static void check_sdpa_ex(qkv_dtype t) {
  qkv_sdpa_desc d;
  float* q = qkv_check_alloc(NE);
  float* k = qkv_check_alloc(NE);
  float* v = qkv_check_alloc(NE);
  float* o = qkv_check_alloc(NE);
  float* dout = qkv_check_alloc(NE);
  float* g = qkv_check_alloc(3 * NE);
  float* lse = qkv_check_alloc(B_H * B_T);
  float* lse16 = qkv_check_alloc(B_H * B_T);
  float* ws = qkv_check_alloc(24576);
  uint16_t qh[NE], kh[NE], vh[NE], oh[NE], dh[NE], gh[3 * NE], want[3 * NE];
  size_t bytes, i, bad;
  double vmax = 0.0;
  if (!q || !k || !v || !o || !dout || !g || !lse || !lse16 || !ws) return;
  memset(&d, 0, sizeof d);
  d.batch = 1, d.heads = B_H, d.q_len = d.kv_len = B_T, d.head_dim = B_D, d.causal = 1;
  d.q.head = d.k.head = d.v.head = d.o.head = B_T * B_D;
  d.q.token = d.k.token = d.v.token = d.o.token = B_D;
  d.q.batch = d.k.batch = d.v.batch = d.o.batch = NE;
  qkv_check_fill(q, NE, -2.0f, 2.0f, 41u);
  qkv_check_fill(k, NE, -2.0f, 2.0f, 42u);
  qkv_check_fill(v, NE, -1.0f, 1.0f, 43u);
  qkv_check_fill(dout, NE, -1.0f, 1.0f, 44u);
  to_type(t, NE, q, qh);
  to_type(t, NE, k, kh);
  to_type(t, NE, v, vh);
  to_type(t, NE, dout, dh);
  for (i = 0; i < NE; ++i) vmax = fabs(v[i]) > vmax ? fabs(v[i]) : vmax;

  /* Forward: typed vs narrowed fp32 of the stored values. */
  QKV_CHECK_STATUS(qkv_sdpa_workspace_size_ex(&d, t, 1, &bytes), QKV_OK);
  if (bytes > 24576 * sizeof(float)) {
    QKV_CHECK(!"sdpa_ex workspace larger than the check's buffer");
    return;
  }
  QKV_CHECK_STATUS(qkv_sdpa_forward_ex(&d, t, qh, kh, vh, oh, lse16, ws, bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_sdpa_workspace_size(&d, 1, &bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_sdpa_forward(&d, q, k, v, o, lse, ws, bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_convert(NE, QKV_DTYPE_F32, o, t, want), QKV_OK);
  for (bad = 0, i = 0; i < NE; ++i) {
    float got, ref;
    QKV_CHECK_STATUS(qkv_convert(1, t, &oh[i], QKV_DTYPE_F32, &got), QKV_OK);
    QKV_CHECK_STATUS(qkv_convert(1, t, &want[i], QKV_DTYPE_F32, &ref), QKV_OK);
    if (t == QKV_DTYPE_F16)
      bad += oh[i] != want[i];
    else
      bad += !(fabs((double)got - (double)ref) <= 0.0078125 * vmax + 0.0078125 * fabs((double)ref));
  }
  QKV_CHECK(bad == 0);

  /* Backward from the typed forward's O and lse: the narrowed fp32 backward of the widened values. */
  QKV_CHECK_STATUS(qkv_convert(NE, t, oh, QKV_DTYPE_F32, o), QKV_OK);
  QKV_CHECK_STATUS(qkv_sdpa_backward_workspace_size(&d, 1, &bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_sdpa_backward(&d, q, k, v, o, lse16, dout, g, g + NE, g + 2 * NE, ws, bytes), QKV_OK);
  QKV_CHECK_STATUS(qkv_convert(3 * NE, QKV_DTYPE_F32, g, t, want), QKV_OK);
  QKV_CHECK_STATUS(qkv_sdpa_backward_workspace_size_ex(&d, t, 1, &bytes), QKV_OK);
  if (bytes > 24576 * sizeof(float)) {
    QKV_CHECK(!"sdpa_ex backward workspace larger than the check's buffer");
    return;
  }
  QKV_CHECK_STATUS(qkv_sdpa_backward_ex(&d, t, qh, kh, vh, oh, lse16, dh, gh, gh + NE, gh + 2 * NE, ws, bytes),
                   QKV_OK);
  QKV_CHECK(memcmp(gh, want, sizeof gh) == 0);
}

void qkv_check_lowp(void) {
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  int k;
  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    qkv_check_reset_arena();
    check_gemm_ex();
    qkv_check_reset_arena();
    check_gemm_ex_half(QKV_DTYPE_F16);
    qkv_check_reset_arena();
    check_gemm_ex_half(QKV_DTYPE_BF16);
    qkv_check_reset_arena();
    check_gemm_s8_shapes();
    qkv_check_reset_arena();
    check_sdpa_ex(QKV_DTYPE_BF16);
    qkv_check_reset_arena();
    check_sdpa_ex(QKV_DTYPE_F16);
  }
}
