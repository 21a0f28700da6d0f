/* SPDX-License-Identifier: MIT */
/* llama_tool: the C side of tests/torch/llama_attention.py (public API only).
 *
 *   llama_tool DIR B T D_IN HEADS KV_HEADS D_HEAD WINDOW THETA
 *
 * A Llama-style attention block as one qkv layer: projections without bias,
 * RoPE (half layout, rotary dim = d_head, base THETA) on Q and K,
 * grouped-query heads HEADS / KV_HEADS, causal, sliding window WINDOW (0:
 * none), and the output projection (qkv's out_proj always has b_o: it is
 * zeroed here, so the block is bias-free; its gradient is still written).
 * Weights from qkv_mha_init (seed 11), x and dy uniform in [-1, 1) from a
 * fixed generator. Runs the training forward and the backward of
 * L = sum(y * dy) and writes, as raw little-endian float32 in DIR:
 *   params.bin  the flat parameter buffer (qkv/layer.h order, x*W layout)
 *   x.bin [B][T][D_IN], dy.bin, y.bin [B][T][D_OUT], dx.bin, grads.bin
 * and layout.txt: "name offset count" per tensor (W_q, W_k, W_v, W_o, b_o).
 * Exit 0 on success, 1 with a message on any error. */
#include <qkv/qkv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char* what, qkv_status st) {
  fprintf(stderr, "llama_tool: %s: %s\n", what, qkv_status_string(st));
  return 1;
}

/* Uniform [-1, 1) from a 64-bit LCG's top 24 bits: the same on every platform. */
static float next_uniform(uint64_t* s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)(*s >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static int save(const char* dir, const char* name, const float* data, size_t n) {
  char path[4096];
  FILE* f;
  int ok;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return 0;
  f = fopen(path, "wb");
  ok = f && fwrite(data, sizeof(float), n, f) == n;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "llama_tool: cannot write %s\n", path);
  return ok;
}

int main(int argc, char** argv) {
  qkv_mha_desc d;
  qkv_mha_layout lay;
  size_t B, T, din, heads, kv_heads, dh, window, n, i, cache_bytes, fws_bytes, bws_bytes;
  float *params, *grads, *x, *y, *dy, *dx;
  void *cache_raw, *cache, *fws, *bws;
  uint64_t s = 12345;
  double theta;
  qkv_status st;
  char path[4096];
  FILE* f;
  if (argc != 10) {
    fprintf(stderr, "usage: llama_tool DIR B T D_IN HEADS KV_HEADS D_HEAD WINDOW THETA\n");
    return 2;
  }
  B = strtoul(argv[2], NULL, 10), T = strtoul(argv[3], NULL, 10), din = strtoul(argv[4], NULL, 10);
  heads = strtoul(argv[5], NULL, 10), kv_heads = strtoul(argv[6], NULL, 10), dh = strtoul(argv[7], NULL, 10);
  window = strtoul(argv[8], NULL, 10), theta = strtod(argv[9], NULL);

  memset(&d, 0, sizeof d);
  d.d_in = din, d.d_out = heads * dh, d.num_heads = heads, d.num_kv_heads = kv_heads;
  d.causal = 1, d.qkv_bias = 0, d.out_proj = 1, d.window = window;
  d.rope = 1, d.rope_layout = QKV_ROPE_HALF, d.rope_dim = 0, d.rope_theta = (float)theta;
  if ((st = qkv_mha_param_layout(&d, &lay)) != QKV_OK) return fail("qkv_mha_param_layout", st);
  n = lay.count;
  if ((st = qkv_mha_cache_size(&d, B, T, &cache_bytes)) != QKV_OK) return fail("qkv_mha_cache_size", st);
  if ((st = qkv_mha_forward_workspace_size(&d, B, T, 1, &fws_bytes)) != QKV_OK) return fail("forward workspace", st);
  if ((st = qkv_mha_backward_workspace_size(&d, B, T, 1, &bws_bytes)) != QKV_OK) return fail("backward workspace", st);
  params = (float*)malloc(n * sizeof(float));
  grads = (float*)calloc(n, sizeof(float));
  x = (float*)malloc(B * T * din * sizeof(float));
  dx = (float*)malloc(B * T * din * sizeof(float));
  y = (float*)malloc(B * T * d.d_out * sizeof(float));
  dy = (float*)malloc(B * T * d.d_out * sizeof(float));
  cache_raw = malloc(cache_bytes + 64);
  cache = cache_raw ? (char*)cache_raw + (64 - (uintptr_t)cache_raw % 64) % 64 : NULL; /* 64-byte aligned */
  fws = malloc(fws_bytes + 1);
  bws = malloc(bws_bytes + 1);
  if (!params || !grads || !x || !dx || !y || !dy || !cache || !fws || !bws) {
    fprintf(stderr, "llama_tool: out of memory\n");
    return 1;
  }
  if ((st = qkv_mha_init(&d, params, 11)) != QKV_OK) return fail("qkv_mha_init", st);
  for (i = 0; i < d.d_out; ++i) params[lay.b_o + i] = 0.f; /* Llama's o_proj has no bias */
  for (i = 0; i < B * T * din; ++i) x[i] = next_uniform(&s);
  for (i = 0; i < B * T * d.d_out; ++i) dy[i] = next_uniform(&s);
  if ((st = qkv_mha_forward(&d, params, B, T, x, y, 1, cache, cache_bytes, fws, fws_bytes)) != QKV_OK)
    return fail("qkv_mha_forward", st);
  if ((st = qkv_mha_backward(&d, params, B, T, x, cache, cache_bytes, dy, dx, grads, bws, bws_bytes)) != QKV_OK)
    return fail("qkv_mha_backward", st);

  if (!save(argv[1], "params.bin", params, n) || !save(argv[1], "grads.bin", grads, n) ||
      !save(argv[1], "x.bin", x, B * T * din) || !save(argv[1], "dx.bin", dx, B * T * din) ||
      !save(argv[1], "y.bin", y, B * T * d.d_out) || !save(argv[1], "dy.bin", dy, B * T * d.d_out))
    return 1;
  if ((size_t)snprintf(path, sizeof path, "%s/layout.txt", argv[1]) >= sizeof path || !(f = fopen(path, "w"))) {
    fprintf(stderr, "llama_tool: cannot write layout.txt\n");
    return 1;
  }
  fprintf(f, "w_q %lu %lu\n", (unsigned long)lay.w_q, (unsigned long)(din * d.d_out));
  fprintf(f, "w_k %lu %lu\n", (unsigned long)lay.w_k, (unsigned long)(din * kv_heads * dh));
  fprintf(f, "w_v %lu %lu\n", (unsigned long)lay.w_v, (unsigned long)(din * kv_heads * dh));
  fprintf(f, "w_o %lu %lu\n", (unsigned long)lay.w_o, (unsigned long)(d.d_out * d.d_out));
  fprintf(f, "b_o %lu %lu\n", (unsigned long)lay.b_o, (unsigned long)d.d_out);
  if (fclose(f) != 0) return 1;
  printf("llama_tool: B %lu T %lu d_in %lu heads %lu/%lu d_head %lu window %lu theta %g: %lu parameters\n",
         (unsigned long)B, (unsigned long)T, (unsigned long)din, (unsigned long)heads, (unsigned long)kv_heads,
         (unsigned long)dh, (unsigned long)window, theta, (unsigned long)n);
  free(params), free(grads), free(x), free(dx), free(y), free(dy), free(cache_raw), free(fws), free(bws);
  return 0;
}
