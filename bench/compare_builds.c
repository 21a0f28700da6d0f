/* SPDX-License-Identifier: MIT */
/* compare_builds.c - two builds of libqkv.so in one process, the same calls
 * timed on each in turn: the A/B that stays fair on a machine whose speed
 * changes by phases (bench/README.md, "Session 6"). Both libraries are loaded
 * with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so each keeps its own symbols and
 * dispatch. Per case: 15 rounds of about 20 ms per library, alternating which
 * goes first; printed are the median of the per-round ratios time(A)/time(B)
 * (> 1: B faster), its quartiles, and each side's median time.
 * Cases: fused sdpa forward and backward, reference forward (B1/B4, H12,
 * T256/T1024, d64, causal and not), and sgemm shapes from 6x2x3 to 2048^3.
 *
 *   cmake -S . -B build/so -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
 *         -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_BENCH=OFF -DQKV_BUILD_EXAMPLES=OFF
 *   cmake --build build/so --target qkv      (and the same for the other build)
 *   cc -O2 -std=c11 bench/compare_builds.c -Iinclude -ldl -o compare_builds
 *   OMP_WAIT_POLICY=PASSIVE ./compare_builds old/libqkv.so new/libqkv.so [threads]
 * AB_ONLY=<substring> keeps the cases whose name contains it. AB_BLOCKING_A /
 * AB_BLOCKING_B="mc,kc,nc" give library A or B its own QKV_BLOCKING (each
 * library decides its blocks once, at the first query): two copies of one
 * build, at two paths, then compare two blockings (dlopen of one path twice
 * returns the same instance, whose first choice both would share). AB_ENV_A / AB_ENV_B="NAME=value" set one
 * more variable while that library makes its first choices (e.g.
 * QKV_AVX512_TILE=intrinsics). AB_BTHD=1 lays the attention's tensors out as
 * [B, T, H, d] (rows H * d apart) instead of [B, H, T, d]. AB_SHAPE="M,N,K,tb" times that one sgemm
 * (tb 1: B transposed) and nothing else; with AB_EX=bf16 (bf16 x bf16 ->
 * f32) or AB_EX=i8 (i8 x i8 -> i32) it times qkv_gemm_ex instead, and with
 * AB_NOWS=1 the workspace-less qkv_sgemm. AB_LAYER=1 times the MHA layer's
 * training step instead (qkv_mha_forward in training mode + qkv_mha_backward,
 * d 768, 12 heads, causal, output projection; B4 T256 and B1 T1024). The harness's
 * own buffers use malloc: it is a benchmark, not library code. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <qkv/qkv.h>

typedef qkv_status (*fwd_t)(const qkv_sdpa_desc*, const float*, const float*, const float*, float*, float*, void*, size_t);
typedef qkv_status (*bwd_t)(const qkv_sdpa_desc*, const float*, const float*, const float*, const float*, const float*,
                            const float*, float*, float*, float*, void*, size_t);
typedef qkv_status (*gemm_t)(qkv_trans, qkv_trans, size_t, size_t, size_t, float, const float*, size_t, const float*,
                             size_t, float, float*, size_t, void*, size_t);
typedef qkv_status (*gemm0_t)(qkv_trans, qkv_trans, size_t, size_t, size_t, float, const float*, size_t, const float*,
                              size_t, float, float*, size_t);
typedef qkv_status (*thr_t)(int);
typedef qkv_status (*blk_t)(qkv_gemm_blocking*);
typedef qkv_status (*ex_t)(const qkv_gemm_ex_desc*, const void*, const void*, void*, void*, size_t);
typedef qkv_status (*mha_size_t)(const qkv_mha_desc*, size_t, size_t, int, size_t*);
typedef qkv_status (*mha_cache_t)(const qkv_mha_desc*, size_t, size_t, size_t*);
typedef qkv_status (*mha_fwd_t)(const qkv_mha_desc*, const float*, size_t, size_t, const float*, float*, int, void*,
                                size_t, void*, size_t);
typedef qkv_status (*mha_bwd_t)(const qkv_mha_desc*, const float*, size_t, size_t, const float*, const void*, size_t,
                                const float*, float*, float*, void*, size_t);
struct lib {
  fwd_t fwd; bwd_t bwd; gemm_t gemm; thr_t thr; blk_t blk; ex_t ex; gemm0_t gemm0;
  mha_size_t mha_fws, mha_bws; mha_fwd_t mha_fwd; mha_bwd_t mha_bwd; mha_cache_t mha_cache;
};

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static struct lib load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); exit(1); }
  struct lib l = {(fwd_t)dlsym(h, "qkv_sdpa_forward"), (bwd_t)dlsym(h, "qkv_sdpa_backward"),
                  (gemm_t)dlsym(h, "qkv_sgemm_ws"), (thr_t)dlsym(h, "qkv_set_num_threads"), (blk_t)dlsym(h, "qkv_get_gemm_blocking"), (ex_t)dlsym(h, "qkv_gemm_ex"),
                  (gemm0_t)dlsym(h, "qkv_sgemm"), (mha_size_t)dlsym(h, "qkv_mha_forward_workspace_size"),
                  (mha_size_t)dlsym(h, "qkv_mha_backward_workspace_size"), (mha_fwd_t)dlsym(h, "qkv_mha_forward"),
                  (mha_bwd_t)dlsym(h, "qkv_mha_backward"), (mha_cache_t)dlsym(h, "qkv_mha_cache_size")};
  return l;
}
static int cmp(const void* a, const void* b) { double x = *(const double*)a, y = *(const double*)b; return x < y ? -1 : x > y; }
static float* rnd(size_t n) { float* p = malloc(n * 4); for (size_t i = 0; i < n; ++i) p[i] = (float)rand() / RAND_MAX - 0.5f; return p; }

enum { ROUNDS = 15 };
struct lib L[2];
static char* ws; static size_t ws_bytes = 64u << 20;

/* The layer case's state (kind 4): t[0] params, t[1] x, t[2] y, t[3] dy, t[4] dx, t[5] grads, t[6] cache. */
static qkv_mha_desc mha; static size_t mha_b, mha_t, mha_cache_bytes;

/* kind 0 fwd, 1 bwd, 2 gemm, 3 gemm_ex, 4 layer step */
static double run(int which, int kind, qkv_sdpa_desc* d, float** t, size_t M, size_t N, size_t K, int tb, int reps) {
  double t0 = now();
  for (int r = 0; r < reps; ++r) {
    if (kind == 4) {
      L[which].mha_fwd(&mha, t[0], mha_b, mha_t, t[1], t[2], 1, t[6], mha_cache_bytes, ws, ws_bytes);
      L[which].mha_bwd(&mha, t[0], mha_b, mha_t, t[1], t[6], mha_cache_bytes, t[3], t[4], t[5], ws, ws_bytes);
    } else if (kind == 0) L[which].fwd(d, t[0], t[1], t[2], t[3], t[4], ws, ws_bytes);
    else if (kind == 1) L[which].bwd(d, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], ws, ws_bytes);
    else if (kind == 3) {
      const int i8 = getenv("AB_EX")[0] == 'i';
      qkv_gemm_ex_desc e = {QKV_NO_TRANS, tb ? QKV_TRANS : QKV_NO_TRANS, M, N, K, i8 ? QKV_DTYPE_I8 : QKV_DTYPE_BF16,
                            i8 ? QKV_DTYPE_I8 : QKV_DTYPE_BF16, i8 ? QKV_DTYPE_I32 : QKV_DTYPE_F32, K, tb ? K : N, N,
                            1.f, 0.f, NULL, NULL};
      L[which].ex(&e, t[0], t[1], t[2], ws, ws_bytes);
    } else if (getenv("AB_NOWS"))
      L[which].gemm0(QKV_NO_TRANS, tb ? QKV_TRANS : QKV_NO_TRANS, M, N, K, 1.f, t[0], K, t[1], tb ? K : N, 0.f, t[2], N);
    else L[which].gemm(QKV_NO_TRANS, tb ? QKV_TRANS : QKV_NO_TRANS, M, N, K, 1.f, t[0], K, t[1], tb ? K : N, 0.f, t[2], N, ws, ws_bytes);
  }
  return (now() - t0) / reps;
}

static void bench(const char* name, int kind, qkv_sdpa_desc* d, float** t, size_t M, size_t N, size_t K, int tb) {
  if (getenv("AB_ONLY") && !strstr(name, getenv("AB_ONLY"))) return;
  /* reps so one timing is ~20 ms */
  double one = run(1, kind, d, t, M, N, K, tb, 1); run(0, kind, d, t, M, N, K, tb, 1);
  int reps = (int)(0.02 / one) + 1;
  double ratio[ROUNDS], ta[ROUNDS], tbb[ROUNDS];
  for (int r = 0; r < ROUNDS; ++r) {
    double a, b;
    if (r & 1) { b = run(1, kind, d, t, M, N, K, tb, reps); a = run(0, kind, d, t, M, N, K, tb, reps); }
    else { a = run(0, kind, d, t, M, N, K, tb, reps); b = run(1, kind, d, t, M, N, K, tb, reps); }
    ratio[r] = a / b; ta[r] = a; tbb[r] = b;
  }
  qsort(ratio, ROUNDS, sizeof(double), cmp); qsort(ta, ROUNDS, sizeof(double), cmp); qsort(tbb, ROUNDS, sizeof(double), cmp);
  printf("%-44s old/new %.3f  (q1 %.3f q3 %.3f)  old %.3f ms new %.3f ms\n", name, ratio[ROUNDS / 2], ratio[ROUNDS / 4],
         ratio[3 * ROUNDS / 4], ta[ROUNDS / 2] * 1e3, tbb[ROUNDS / 2] * 1e3);
  fflush(stdout);
}

int main(int argc, char** argv) {
  L[0] = load(argv[1]); L[1] = load(argv[2]);
  if (L[0].gemm == L[1].gemm) { /* one instance: every choice shared, the ratios meaningless */
    fprintf(stderr, "%s and %s are one loaded library: copy the build to a second path\n", argv[1], argv[2]);
    return 1;
  }
  for (int i = 0; i < 2; ++i) {
    const char* b = getenv(i ? "AB_BLOCKING_B" : "AB_BLOCKING_A");
    if (b) setenv("QKV_BLOCKING", b, 1); else unsetenv("QKV_BLOCKING");
    const char* e = getenv(i ? "AB_ENV_B" : "AB_ENV_A");
    char var[64] = "";
    if (e && strchr(e, '=') && (size_t)(strchr(e, '=') - e) < sizeof var) {
      memcpy(var, e, (size_t)(strchr(e, '=') - e));
      var[strchr(e, '=') - e] = 0;
      setenv(var, strchr(e, '=') + 1, 1);
    }
    qkv_gemm_blocking gb;
    if (L[i].blk && L[i].blk(&gb) == QKV_OK)
      printf("%c: %s mc %zu kc %zu nc %zu\n", 'A' + i, gb.kernel, gb.mc, gb.kc, gb.nc);
    if (var[0]) unsetenv(var);
  }
  unsetenv("QKV_BLOCKING");
  int threads = argc > 3 ? atoi(argv[3]) : 1;
  L[0].thr(threads); L[1].thr(threads);
  ws = aligned_alloc(64, ws_bytes);
  if (getenv("AB_LAYER")) { /* the d768 layer's training step: forward (training) + backward */
    memset(&mha, 0, sizeof mha);
    mha.d_in = mha.d_out = 768; mha.num_heads = 12; mha.causal = 1; mha.out_proj = 1;
    const size_t bt[][2] = {{4, 256}, {1, 1024}};
    for (int s = 0; s < 2; ++s) {
      mha_b = bt[s][0]; mha_t = bt[s][1];
      const size_t rows = mha_b * mha_t, params = 4 * 768 * 768 + 768;
      mha_cache_bytes = 0;
      size_t f = 0, b = 0;
      for (int i = 0; i < 2; ++i) {
        L[i].mha_fws(&mha, mha_b, mha_t, threads, &f); L[i].mha_bws(&mha, mha_b, mha_t, threads, &b);
        if (f > ws_bytes || b > ws_bytes) { fprintf(stderr, "layer workspace above %zu\n", ws_bytes); return 1; }
      }
      for (int i = 0; i < 2; ++i) { /* the larger of the two builds' training caches */
        size_t c = 0;
        L[i].mha_cache(&mha, mha_b, mha_t, &c);
        if (c > mha_cache_bytes) mha_cache_bytes = c;
      }
      float* t[7] = {rnd(params), rnd(rows * 768), rnd(rows * 768), rnd(rows * 768), rnd(rows * 768), rnd(params),
                     aligned_alloc(64, (mha_cache_bytes + 63) / 64 * 64)};
      for (size_t i = 0; i < params; ++i) t[0][i] *= 0.05f;
      char name[96];
      snprintf(name, sizeof name, "layer step d768 H12 causal B%zu T%zu", mha_b, mha_t);
      bench(name, 4, NULL, t, 0, 0, 0, 0);
      for (int i = 0; i < 7; ++i) free(t[i]);
    }
    return 0;
  }
  const size_t shapes[][4] = {{1, 12, 256, 64}, {1, 12, 1024, 64}, {4, 12, 256, 64}};
  for (int s = 0; s < 3; ++s)
    for (int causal = 0; causal < 2; ++causal) {
      size_t B = shapes[s][0], H = shapes[s][1], T = shapes[s][2], D = shapes[s][3];
      qkv_sdpa_desc d; memset(&d, 0, sizeof d);
      d.batch = B; d.heads = H; d.q_len = T; d.kv_len = T; d.head_dim = D;
      qkv_sdpa_strides st = {H * T * D, T * D, D};
      if (getenv("AB_BTHD")) st = (qkv_sdpa_strides){T * H * D, D, H * D}; /* a fused QKV projection's rows */
      d.q = d.k = d.v = d.o = st; d.causal = causal; d.algo = QKV_SDPA_FUSED;
      size_t n = B * H * T * D;
      float* t[9] = {rnd(n), rnd(n), rnd(n), rnd(n), rnd(B * H * T), rnd(n), rnd(n), rnd(n), rnd(n)};
      char name[96];
      L[1].fwd(&d, t[0], t[1], t[2], t[3], t[4], ws, ws_bytes);
      snprintf(name, sizeof name, "sdpa fwd B%zu H%zu T%zu d%zu causal %d", B, H, T, D, causal);
      bench(name, 0, &d, t, 0, 0, 0, 0);
      snprintf(name, sizeof name, "sdpa bwd B%zu H%zu T%zu d%zu causal %d", B, H, T, D, causal);
      bench(name, 1, &d, t, 0, 0, 0, 0);
      d.algo = QKV_SDPA_REFERENCE;
      snprintf(name, sizeof name, "sdpa ref fwd B%zu H%zu T%zu d%zu causal %d", B, H, T, D, causal);
      bench(name, 0, &d, t, 0, 0, 0, 0);
      for (int i = 0; i < 9; ++i) free(t[i]);
    }
  if (getenv("AB_SHAPE")) { /* one sgemm shape "M,N,K,tb" instead of the list */
    size_t m = 0, n = 0, k = 0, tb = 0;
    if (sscanf(getenv("AB_SHAPE"), "%zu,%zu,%zu,%zu", &m, &n, &k, &tb) != 4) return 1;
    float* t[3] = {rnd(m * k), rnd(k * n), rnd(m * n)};
    char name[96];
    const char* ex = getenv("AB_EX");
    snprintf(name, sizeof name, "%s %zux%zux%zu %s", ex ? ex : "sgemm", m, n, k, tb ? "Bt" : "NN");
    if (ex) /* small values: any bf16 or int8 reading of the float buffers is finite */
      for (int i = 0; i < 2; ++i) for (size_t j = 0; j < (i ? k * n : m * k); ++j) t[i][j] = 1.f / 64;
    bench(name, ex ? 3 : 2, NULL, t, m, n, k, (int)tb);
    return 0;
  }
  const size_t g[][4] = {{256, 256, 256, 0}, {1024, 1024, 1024, 0}, {1024, 1024, 64, 1}, {1024, 64, 1024, 0}, {1024, 768, 768, 0}, {6, 2, 3, 1}, {64, 64, 64, 1}, {2048, 2048, 2048, 0}, {1024, 2304, 768, 0}, {1024, 768, 2304, 1}, {512, 512, 512, 0}};
  for (int s = 0; s < 11; ++s) {
    float* t[3] = {rnd(g[s][0] * g[s][2]), rnd(g[s][2] * g[s][1]), rnd(g[s][0] * g[s][1])};
    char name[96];
    snprintf(name, sizeof name, "sgemm %zux%zux%zu %s", g[s][0], g[s][1], g[s][2], g[s][3] ? "Bt" : "NN");
    bench(name, 2, NULL, t, g[s][0], g[s][1], g[s][2], (int)g[s][3]);
    for (int i = 0; i < 3; ++i) free(t[i]);
  }
  return 0;
}
