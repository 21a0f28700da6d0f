/* SPDX-License-Identifier: MIT */
/* decode_copy: loads the model train_copy saved and lets it write the copied
 * half of held-out sentences itself, one token at a time through the
 * attention layer's KV cache (the prompt "w1 ... wL |" is prefilled in one
 * call). Prints each generation beside the expected text.
 *
 *   decode_copy MODEL_PATH [sentences]
 *
 * MODEL_PATH is the safetensors file train_copy wrote; a file of another
 * model (configuration, tensor names, dtypes or shapes) is refused with a
 * message saying what differs. */
#define _POSIX_C_SOURCE 199309L
#include "copy_task.h"

/* The whole file in a malloc'ed buffer; NULL (and a message) if unreadable. */
static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* buf = NULL;
  long n;
  if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = (unsigned char*)malloc(n ? (size_t)n : 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    *size = (size_t)n;
  } else {
    fprintf(stderr, "decode_copy: cannot read %s (run train_copy first)\n", path);
    free(buf);
    buf = NULL;
  }
  if (f) fclose(f);
  return buf;
}

static void print_shape(const qkv_tensor_view* v) {
  size_t d;
  fprintf(stderr, "[");
  for (d = 0; d < v->rank; ++d) fprintf(stderr, "%s%lu", d ? ", " : "", (unsigned long)v->shape[d]);
  fprintf(stderr, "]");
}

/* Loads a checkpoint train_copy saved, refusing with a message a file that is
 * not valid safetensors, or holds another model: another configuration in its
 * metadata, a tensor missing, of another dtype or shape, or one too many. */
static int copy_model_load(copy_model* m, const char* path) {
  qkv_tensor_view want[COPY_MAX_TENSORS];
  qkv_tensor_view* got = NULL;
  qkv_safetensors_diag diag;
  char config[256], file_config[256];
  size_t size = 0, count = 0, ws_bytes = 0, n = 0, len = 0, i, j;
  void* ws = NULL;
  unsigned char* file = read_file(path, &size);
  qkv_status st;
  int ok = 0;
  if (!file) return 0;
  /* Validate the whole file first: a truncated or corrupt one stops here. */
  st = qkv_safetensors_read_size(file, size, &count, &ws_bytes, &diag);
  if (st == QKV_OK) {
    got = (qkv_tensor_view*)malloc((count ? count : 1) * sizeof *got);
    ws = malloc(ws_bytes ? ws_bytes : 1);
    if (!got || !ws) goto done;
    st = qkv_safetensors_read(file, size, got, count, &count, ws, ws_bytes, &diag);
  }
  if (st != QKV_OK) {
    fprintf(stderr, "decode_copy: %s is not a valid safetensors file: %s (%s at byte %lu%s%s)\n", path, diag.what,
            qkv_status_string(st), (unsigned long)diag.offset, diag.name[0] ? ", tensor " : "", diag.name);
    goto done;
  }
  /* The configuration, which the shapes alone do not pin down. */
  copy_model_config(m, config, sizeof config);
  st = qkv_safetensors_metadata(file, size, "qkv.model", file_config, sizeof file_config, &len, NULL);
  if (st == QKV_ERR_NOT_FOUND) {
    fprintf(stderr, "decode_copy: %s has no \"qkv.model\" metadata: not a model train_copy saved\n", path);
    goto done;
  }
  if (st != QKV_OK || strcmp(file_config, config) != 0) {
    fprintf(stderr, "decode_copy: %s holds another model:\n  file : %s\n  here : %s\n", path,
            st == QKV_OK ? file_config : "(a longer description)", config);
    goto done;
  }
  /* Every tensor this model has, by name, with its dtype and shape; nothing else. */
  EXAMPLE_TRY(copy_model_views(m, want, &n));
  for (i = 0; i < n; ++i) {
    if (qkv_safetensors_find(got, count, want[i].name, &j) != QKV_OK) {
      fprintf(stderr, "decode_copy: %s lacks the tensor %s\n", path, want[i].name);
      goto done;
    }
    if (qkv_safetensors_copy_f32(&got[j], want[i].rank, want[i].shape,
                                 m->params + ((const float*)want[i].data - m->params)) != QKV_OK) {
      fprintf(stderr, "decode_copy: %s: tensor %s is %s ", path, want[i].name, qkv_dtype_name(got[j].dtype));
      print_shape(&got[j]);
      fprintf(stderr, ", this model needs F32 ");
      print_shape(&want[i]);
      fprintf(stderr, "\n");
      goto done;
    }
  }
  if (count != n) {
    for (j = 0; j < count; ++j)
      if (qkv_safetensors_find(want, n, got[j].name, &i) != QKV_OK) break;
    fprintf(stderr, "decode_copy: %s holds a tensor this model does not have: %s\n", path, j < count ? got[j].name : "?");
    goto done;
  }
  /* The layer through its own loader too (the same checks, from the library). */
  st = qkv_mha_param_load(&m->attn, "attn.", got, count, m->params + m->off_attn, &diag);
  if (st != QKV_OK) {
    fprintf(stderr, "decode_copy: %s: %s: %s (%s)\n", path, diag.name, diag.what, qkv_status_string(st));
    goto done;
  }
  ok = 1;
done:
  free(ws), free(got), free(file);
  return ok;
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "copy_model.safetensors";
  const int sentences = argc > 2 ? atoi(argv[2]) : 5;
  copy_model m;
  qkv_mha_kv_state kv;
  size_t kv_bytes = 0, ws_bytes = 0;
  void *kv_buf, *ws;
  uint64_t rng = 777; /* held out: neither the training nor the evaluation stream */
  int s, words_right = 0, words_total = 0, tokens = 0;
  double t0;

  EXAMPLE_TRY(copy_model_setup(&m));
  if (!copy_model_load(&m, path)) {
    free(m.params);
    return 1;
  }
  EXAMPLE_TRY(qkv_mha_kv_cache_size(&m.attn, 1, COPY_T, &kv_bytes));
  EXAMPLE_TRY(qkv_mha_kv_cache_init(&kv, 1, COPY_T));
  /* The largest call is the prefill of L + 1 tokens. */
  EXAMPLE_TRY(qkv_mha_decode_workspace_size(&m.attn, &kv, COPY_L + 1, 1, &ws_bytes));
  kv_buf = malloc(kv_bytes);
  ws = malloc(ws_bytes);
  if (!kv_buf || !ws) return 1;

  t0 = copy_now_s();
  for (s = 0; s < sentences; ++s) {
    char text[256], prompt[256], expected[256], generated[256];
    int32_t all[2 * COPY_L + 1], out[COPY_L], next;
    float x[(COPY_L + 1) * COPY_D], y[(COPY_L + 1) * COPY_D], logits[COPY_V];
    size_t bad = 0, n = COPY_L + 1, pos = 0;
    int i, right = 0;
    copy_make_text(&rng, text, sizeof text);
    if (copy_tokenize(text, all, 2 * COPY_L + 1) != 2 * COPY_L + 1) return 2;
    EXAMPLE_TRY(qkv_mha_kv_cache_init(&kv, 1, COPY_T));
    /* Prefill "w1 ... wL |", then feed back each generated word. */
    EXAMPLE_TRY(qkv_embedding_forward(&m.emb, 1, n, pos, all, m.params + m.off_tok, m.params + m.off_pos, x, COPY_D, &bad));
    for (i = 0; i < COPY_L; ++i) {
      EXAMPLE_TRY(qkv_mha_decode(&m.attn, m.params + m.off_attn, &kv, kv_buf, kv_bytes, n, x, y, ws, ws_bytes));
      EXAMPLE_TRY(copy_head_forward(&m, 1, y + (n - 1) * COPY_D, logits));
      next = copy_argmax(logits);
      out[i] = next;
      right += next == all[COPY_L + 1 + i];
      pos += n;
      n = 1;
      ++tokens;
      if (i + 1 < COPY_L)
        EXAMPLE_TRY(qkv_embedding_forward(&m.emb, 1, 1, pos, &next, m.params + m.off_tok, m.params + m.off_pos, x, COPY_D,
                                  &bad));
    }
    copy_detokenize(all, COPY_L + 1, prompt, sizeof prompt);
    copy_detokenize(all + COPY_L + 1, COPY_L, expected, sizeof expected);
    copy_detokenize(out, COPY_L, generated, sizeof generated);
    printf("  prompt    : %s\n  generated : %s\n  expected  : %s   [%d/%d]\n", prompt, generated, expected, right,
           COPY_L);
    words_right += right;
    words_total += COPY_L;
  }
  {
    const double secs = copy_now_s() - t0;
    printf("decoded %d tokens through the KV cache in %.3f s (%.0f tokens/s); %d/%d words copied correctly\n", tokens,
           secs, tokens / secs, words_right, words_total);
  }
  free(kv_buf), free(ws), free(m.params);
  return words_right * 10 >= words_total * 9 ? 0 : 3;
}
