/* SPDX-License-Identifier: MIT */
/* st_tool: the C side of tests/torch/safetensors_roundtrip.py (public API only).
 *
 *   st_tool write FILE   a MultiHeadAttention layer (d_in 6, d_out 8, 2 heads,
 *                        causal, biases, output projection; qkv_mha_init seed 7)
 *                        saved as "attn.*", an input "x" [2, 5, 6] and qkv's
 *                        output "y" [2, 5, 8], config in the metadata
 *   st_tool check FILE   reads a file of the same layout (written by PyTorch):
 *                        loads "attn.*" with qkv_mha_param_load, runs the
 *                        layer on "x" and compares with "y"; exit 0 when every
 *                        element agrees within 1e-5 (relative to max |y|, at least 1).
 * Exit 1 on any error, with a message. */
#include <math.h>
#include <qkv/qkv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 2
#define T 5
#define D_IN 6
#define D_OUT 8

static int fail(const char* what, qkv_status st) {
  fprintf(stderr, "st_tool: %s: %s\n", what, qkv_status_string(st));
  return 1;
}

static qkv_mha_desc layer(void) {
  qkv_mha_desc d;
  memset(&d, 0, sizeof d);
  d.d_in = D_IN, d.d_out = D_OUT, d.num_heads = 2, d.causal = 1, d.qkv_bias = 1, d.out_proj = 1;
  return d;
}

static void view(qkv_tensor_view* v, const char* name, const float* data, size_t n0, size_t n1, size_t n2) {
  memset(v, 0, sizeof *v);
  strcpy(v->name, name);
  v->dtype = QKV_DTYPE_F32;
  v->rank = 3;
  v->shape[0] = n0, v->shape[1] = n1, v->shape[2] = n2;
  v->data = data;
  v->bytes = n0 * n1 * n2 * sizeof(float);
}

/* The layer's inference output for x. */
static qkv_status forward(const qkv_mha_desc* d, const float* params, const float* x, float* y) {
  size_t ws_bytes = 0;
  void* ws;
  qkv_status st = qkv_mha_forward_workspace_size(d, B, T, 1, &ws_bytes);
  if (st != QKV_OK) return st;
  ws = malloc(ws_bytes);
  if (!ws) return QKV_ERR_NULL_POINTER;
  st = qkv_mha_forward(d, params, B, T, x, y, 0, NULL, 0, ws, ws_bytes);
  free(ws);
  return st;
}

static int write_file(const char* path) {
  const qkv_mha_desc d = layer();
  float params[3 * D_IN * D_OUT + 3 * D_OUT + D_OUT * D_OUT + D_OUT], x[B * T * D_IN], y[B * T * D_OUT];
  qkv_tensor_view v[10];
  qkv_safetensors_meta meta[2];
  size_t n = 0, size = 0, i;
  unsigned char* buf;
  FILE* f;
  qkv_status st;
  int ok;
  if ((st = qkv_mha_param_count(&d, &n)) != QKV_OK || n != sizeof params / sizeof params[0])
    return fail("parameter count", st);
  if ((st = qkv_mha_init(&d, params, 7)) != QKV_OK) return fail("qkv_mha_init", st);
  for (i = 0; i < B * T * D_IN; ++i) x[i] = (float)sin(0.37 * (double)i + 0.1);
  if ((st = forward(&d, params, x, y)) != QKV_OK) return fail("qkv_mha_forward", st);
  if ((st = qkv_mha_param_views(&d, params, "attn.", v, 8, &n)) != QKV_OK) return fail("qkv_mha_param_views", st);
  view(&v[n++], "x", x, B, T, D_IN);
  view(&v[n++], "y", y, B, T, D_OUT);
  meta[0].key = "format", meta[0].value = "pt";
  meta[1].key = "qkv.layer", meta[1].value = "d_in=6 d_out=8 heads=2 causal=1 qkv_bias=1 out_proj=1";
  if ((st = qkv_safetensors_write(v, n, meta, 2, NULL, 0, &size)) != QKV_OK) return fail("size query", st);
  if (!(buf = (unsigned char*)malloc(size))) return 1;
  if ((st = qkv_safetensors_write(v, n, meta, 2, buf, size, &size)) != QKV_OK) return fail("qkv_safetensors_write", st);
  f = fopen(path, "wb");
  ok = f && fwrite(buf, 1, size, f) == size;
  if (f && fclose(f) != 0) ok = 0;
  free(buf);
  if (!ok) fprintf(stderr, "st_tool: cannot write %s\n", path);
  return ok ? 0 : 1;
}

static int check_file(const char* path) {
  const qkv_mha_desc d = layer();
  const size_t xs[3] = {B, T, D_IN}, ys[3] = {B, T, D_OUT};
  float params[3 * D_IN * D_OUT + 3 * D_OUT + D_OUT * D_OUT + D_OUT], x[B * T * D_IN], want[B * T * D_OUT],
      y[B * T * D_OUT];
  qkv_tensor_view* v = NULL;
  qkv_safetensors_diag diag;
  size_t size = 0, count = 0, ws_bytes = 0, ix = 0, iy = 0, i;
  unsigned char* buf = NULL;
  void* ws = NULL;
  long n;
  double err = 0.0, scale = 1.0;
  qkv_status st;
  FILE* f = fopen(path, "rb");
  int rc = 1;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
      !(buf = (unsigned char*)malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "st_tool: cannot read %s\n", path);
    goto done;
  }
  size = (size_t)n;
  if ((st = qkv_safetensors_read_size(buf, size, &count, &ws_bytes, &diag)) != QKV_OK ||
      !(v = (qkv_tensor_view*)malloc((count + 1) * sizeof *v)) || !(ws = malloc(ws_bytes + 1)) ||
      (st = qkv_safetensors_read(buf, size, v, count, &count, ws, ws_bytes, &diag)) != QKV_OK) {
    fprintf(stderr, "st_tool: %s: %s at byte %lu %s\n", path, diag.what, (unsigned long)diag.offset, diag.name);
    goto done;
  }
  if ((st = qkv_mha_param_load(&d, "attn.", v, count, params, &diag)) != QKV_OK) {
    fprintf(stderr, "st_tool: %s: %s: %s\n", path, diag.name, diag.what);
    goto done;
  }
  if (qkv_safetensors_find(v, count, "x", &ix) != QKV_OK || qkv_safetensors_find(v, count, "y", &iy) != QKV_OK ||
      qkv_safetensors_copy_f32(&v[ix], 3, xs, x) != QKV_OK || qkv_safetensors_copy_f32(&v[iy], 3, ys, want) != QKV_OK) {
    fprintf(stderr, "st_tool: %s: no F32 x [2, 5, 6] and y [2, 5, 8]\n", path);
    goto done;
  }
  if ((st = forward(&d, params, x, y)) != QKV_OK) {
    rc = fail("qkv_mha_forward", st);
    goto done;
  }
  for (i = 0; i < B * T * D_OUT; ++i)
    if (fabs(want[i]) > scale) scale = fabs(want[i]);
  for (i = 0; i < B * T * D_OUT; ++i)
    if (fabs((double)y[i] - want[i]) > err) err = fabs((double)y[i] - want[i]);
  printf("st_tool: %s: %lu tensors; qkv's layer on x vs the file's y: max |diff| %.3g (scale %.3g)\n", path,
         (unsigned long)count, err, scale);
  rc = err <= 1e-5 * scale ? 0 : 1;
done:
  if (f) fclose(f);
  free(buf), free(v), free(ws);
  return rc;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "write") == 0) return write_file(argv[2]);
  if (argc == 3 && strcmp(argv[1], "check") == 0) return check_file(argv[2]);
  fprintf(stderr, "usage: st_tool write|check FILE\n");
  return 2;
}
