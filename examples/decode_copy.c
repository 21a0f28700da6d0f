/* decode_copy: loads the model train_copy saved and lets it write the copied
 * half of held-out sentences itself, one token at a time through the
 * attention layer's KV cache (the prompt "w1 ... wL |" is prefilled in one
 * call). Prints each generation beside the expected text.
 *
 *   decode_copy MODEL_PATH [sentences] */
#define _POSIX_C_SOURCE 199309L
#include "copy_task.h"

static int copy_model_load(copy_model* m, const char* path) {
  FILE* f = fopen(path, "rb");
  int ok = f && fread(m->params, sizeof(float), m->count, f) == m->count;
  if (f) fclose(f);
  return ok;
}



int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "copy_model.bin";
  const int sentences = argc > 2 ? atoi(argv[2]) : 5;
  copy_model m;
  qkv_mha_kv_state kv;
  size_t kv_bytes = 0, ws_bytes = 0;
  void *kv_buf, *ws;
  uint64_t rng = 777; /* held out: neither the training nor the evaluation stream */
  int s, words_right = 0, words_total = 0, tokens = 0;
  double t0;

  COPY_TRY(copy_model_setup(&m));
  if (!copy_model_load(&m, path)) {
    fprintf(stderr, "cannot read %s (run train_copy first)\n", path);
    free(m.params);
    return 1;
  }
  COPY_TRY(qkv_mha_kv_cache_size(&m.attn, 1, COPY_T, &kv_bytes));
  COPY_TRY(qkv_mha_kv_cache_init(&kv, 1, COPY_T));
  /* The largest call is the prefill of L + 1 tokens. */
  COPY_TRY(qkv_mha_decode_workspace_size(&m.attn, &kv, COPY_L + 1, 1, &ws_bytes));
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
    COPY_TRY(qkv_mha_kv_cache_init(&kv, 1, COPY_T));
    /* Prefill "w1 ... wL |", then feed back each generated word. */
    COPY_TRY(qkv_embedding_forward(&m.emb, 1, n, pos, all, m.params + m.off_tok, m.params + m.off_pos, x, COPY_D, &bad));
    for (i = 0; i < COPY_L; ++i) {
      COPY_TRY(qkv_mha_decode(&m.attn, m.params + m.off_attn, &kv, kv_buf, kv_bytes, n, x, y, ws, ws_bytes));
      COPY_TRY(copy_head_forward(&m, 1, y + (n - 1) * COPY_D, logits));
      next = copy_argmax(logits);
      out[i] = next;
      right += next == all[COPY_L + 1 + i];
      pos += n;
      n = 1;
      ++tokens;
      if (i + 1 < COPY_L)
        COPY_TRY(qkv_embedding_forward(&m.emb, 1, 1, pos, &next, m.params + m.off_tok, m.params + m.off_pos, x, COPY_D,
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
