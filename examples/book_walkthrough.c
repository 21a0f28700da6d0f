/* SPDX-License-Identifier: MIT */
/* book_walkthrough: chapter 3 of "Build a Large Language Model (from Scratch)"
 * with qkv. The sentence "Your journey starts with one step" as 6 tokens of
 * 3-dimensional embeddings; trainable single-head self-attention with the
 * book's weights, step by step with the primitives (sgemm, softmax), then the
 * same context vectors from the layer API. Prints PASS or FAIL against the
 * book's numbers (4 decimals, absolute tolerance 1.5e-4) and exits non-zero
 * on FAIL. */
#include <math.h>
#include <qkv/qkv.h>
#include <stdio.h>
#include <string.h>

#define T 6
#define D_IN 3
#define D_OUT 2

static const char* const kTokens[T] = {"Your", "journey", "starts", "with", "one", "step"};
static const float kX[T][D_IN] = {{0.43f, 0.15f, 0.89f}, {0.55f, 0.87f, 0.66f}, {0.57f, 0.85f, 0.64f},
                                  {0.22f, 0.58f, 0.33f}, {0.77f, 0.25f, 0.10f}, {0.05f, 0.80f, 0.55f}};
static const float kWq[D_IN][D_OUT] = {{0.2961f, 0.5166f}, {0.2517f, 0.6886f}, {0.0740f, 0.8665f}};
static const float kWk[D_IN][D_OUT] = {{0.1366f, 0.1025f}, {0.1841f, 0.7264f}, {0.3153f, 0.6871f}};
static const float kWv[D_IN][D_OUT] = {{0.0756f, 0.1966f}, {0.3164f, 0.4017f}, {0.1186f, 0.8274f}};
/* The book's printed results. */
static const float kQueryRow1[D_OUT] = {0.4306f, 1.4551f};
static const float kWeightsRow1[T] = {0.1500f, 0.2264f, 0.2199f, 0.1311f, 0.0906f, 0.1820f};
static const float kContext[T][D_OUT] = {{0.2996f, 0.8053f}, {0.3061f, 0.8210f}, {0.3058f, 0.8203f},
                                         {0.2948f, 0.7939f}, {0.2927f, 0.7891f}, {0.2990f, 0.8040f}};

static int g_fail = 0;

static void check(const char* what, const float* got, const float* want, int n) {
  int i;
  for (i = 0; i < n; ++i)
    if (fabsf(got[i] - want[i]) > 1.5e-4f) {
      printf("  MISMATCH %s[%d]: %.4f, book says %.4f\n", what, i, got[i], want[i]);
      g_fail = 1;
    }
}

static void print_matrix(const char* name, const float* m, int rows, int cols) {
  int r, c;
  printf("%s =\n", name);
  for (r = 0; r < rows; ++r) {
    printf("  %-8s [", r < T ? kTokens[r] : "");
    for (c = 0; c < cols; ++c) printf("%s%.4f", c ? ", " : "", m[r * cols + c]);
    printf("]\n");
  }
}

#define TRY(call)                                                          \
  do {                                                                     \
    qkv_status st_ = (call);                                               \
    if (st_ != QKV_OK) {                                                   \
      printf("%s failed: %s\n", #call, qkv_status_string(st_));            \
      return 1;                                                            \
    }                                                                      \
  } while (0)

int main(void) {
  float q[T][D_OUT], k[T][D_OUT], v[T][D_OUT], scores[T][T], weights[T][T], context[T][D_OUT];
  int t;
  printf("tokens   :");
  for (t = 0; t < T; ++t) printf(" %s=%d", kTokens[t], t);
  printf("\n");
  print_matrix("inputs (token embeddings)", &kX[0][0], T, D_IN);

  /* Q = X W_q, K = X W_k, V = X W_v */
  TRY(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, T, D_OUT, D_IN, 1.0f, &kX[0][0], D_IN, &kWq[0][0], D_OUT, 0.0f, &q[0][0], D_OUT));
  TRY(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, T, D_OUT, D_IN, 1.0f, &kX[0][0], D_IN, &kWk[0][0], D_OUT, 0.0f, &k[0][0], D_OUT));
  TRY(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, T, D_OUT, D_IN, 1.0f, &kX[0][0], D_IN, &kWv[0][0], D_OUT, 0.0f, &v[0][0], D_OUT));
  print_matrix("queries Q", &q[0][0], T, D_OUT);
  print_matrix("keys K", &k[0][0], T, D_OUT);
  print_matrix("values V", &v[0][0], T, D_OUT);
  check("query[1]", q[1], kQueryRow1, D_OUT);

  /* weights = softmax(Q K^T / sqrt(d_k)); context = weights V */
  TRY(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, T, T, D_OUT, 1.0f, &q[0][0], D_OUT, &k[0][0], D_OUT, 0.0f, &scores[0][0], T));
  TRY(qkv_softmax(T, T, 1.0f / sqrtf((float)D_OUT), &scores[0][0], T, &weights[0][0], T));
  TRY(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, T, D_OUT, T, 1.0f, &weights[0][0], T, &v[0][0], D_OUT, 0.0f, &context[0][0], D_OUT));
  print_matrix("attention weights", &weights[0][0], T, T);
  print_matrix("context vectors", &context[0][0], T, D_OUT);
  check("weights[1]", weights[1], kWeightsRow1, T);
  check("context", &context[0][0], &kContext[0][0], T * D_OUT);

  /* The same with the layer API: one head, no output projection. */
  {
    qkv_mha_desc d;
    qkv_mha_layout lay;
    float params[3 * D_IN * D_OUT], y[T][D_OUT];
    static float ws[16384]; /* 64 KiB: the size query below says what is needed */
    size_t need = 0;
    memset(&d, 0, sizeof d);
    d.d_in = D_IN;
    d.d_out = D_OUT;
    d.num_heads = 1;
    TRY(qkv_mha_param_layout(&d, &lay));
    memcpy(params + lay.w_q, kWq, sizeof kWq);
    memcpy(params + lay.w_k, kWk, sizeof kWk);
    memcpy(params + lay.w_v, kWv, sizeof kWv);
    TRY(qkv_mha_forward_workspace_size(&d, 1, T, 1, &need));
    if (need > sizeof ws) {
      printf("workspace: need %lu bytes\n", (unsigned long)need);
      return 1;
    }
    TRY(qkv_mha_forward(&d, params, 1, T, &kX[0][0], &y[0][0], 0, NULL, 0, ws, sizeof ws));
    print_matrix("context vectors (qkv_mha_forward)", &y[0][0], T, D_OUT);
    check("layer context", &y[0][0], &kContext[0][0], T * D_OUT);
  }
  printf("%s: book chapter 3 numbers %s\n", g_fail ? "FAIL" : "PASS", g_fail ? "differ" : "reproduced");
  return g_fail;
}
