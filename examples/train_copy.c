/* SPDX-License-Identifier: MIT */
/* train_copy: trains the tiny decoder of copy_task.h from scratch with AdamW
 * until it copies held-out sentences, then saves it for decode_copy.
 *
 *   train_copy MODEL_PATH [seconds] [target_accuracy] [f32|bf16]
 *
 * MODEL_PATH is written as a safetensors file (copy_task.h says what it holds).
 * Prints the loss every 10 steps, a progress line, the held-out accuracy on
 * the copied halves, and the throughput. Exits 0 when the target accuracy
 * (default 0.95) is reached within the time budget (default 60 s).
 * "bf16" trains the attention layer in bf16 mixed precision (compute_type
 * QKV_DTYPE_BF16: bf16 GEMM operands, fp32 master weights, gradients and
 * AdamW state; AdamW writes a bf16 mirror of the params as it updates them,
 * which the layer reads its weights from: qkv_adamw_step_mirror and
 * qkv_mha_forward_mirror / qkv_mha_backward_mirror); the saved model is fp32
 * either way.
 * Deterministic for a fixed seed: same bits on every run and thread count. */
#define _POSIX_C_SOURCE 199309L
#include "copy_task.h"

/* Model inputs and targets of one tokenized example of 2L+1 ids: the model
 * reads the first 2L; position p >= L must predict id p + 1. */
static void copy_inputs_targets(const int32_t* all, int32_t* in, int32_t* target) {
  int p;
  for (p = 0; p < COPY_T; ++p) {
    in[p] = all[p];
    target[p] = p >= COPY_L ? all[p + 1] : COPY_IGNORE;
  }
}

/* Saves the model as a safetensors file: tensors named by copy_model_views(),
 * the configuration and qkv's version in the metadata. */
static int copy_model_save(const copy_model* m, const char* path) {
  qkv_tensor_view views[COPY_MAX_TENSORS];
  qkv_safetensors_meta meta[3];
  char config[256];
  size_t n = 0, size = 0;
  unsigned char* buf;
  FILE* f;
  int ok;
  EXAMPLE_TRY(copy_model_views(m, views, &n));
  copy_model_config(m, config, sizeof config);
  meta[0].key = "format", meta[0].value = "pt"; /* what safetensors.torch.save_file writes */
  meta[1].key = "qkv.version", meta[1].value = qkv_version_string();
  meta[2].key = "qkv.model", meta[2].value = config;
  EXAMPLE_TRY(qkv_safetensors_write(views, n, meta, 3, NULL, 0, &size)); /* the size */
  buf = (unsigned char*)malloc(size);
  if (!buf) return 0;
  EXAMPLE_TRY(qkv_safetensors_write(views, n, meta, 3, buf, size, &size));
  f = fopen(path, "wb");
  ok = f && fwrite(buf, 1, size, f) == size;
  if (f && fclose(f) != 0) ok = 0;
  free(buf);
  return ok;
}

#define BATCH 32
#define ROWS (BATCH * COPY_T)
#define MAX_STEPS 3000
#define EVAL_SEQS 256



typedef struct buffers {
  int32_t ids[ROWS], targets[ROWS];
  float x[ROWS * COPY_D], y[ROWS * COPY_D], logits[ROWS * COPY_V];
  float dx[ROWS * COPY_D], dy[ROWS * COPY_D];
  void *cache, *fws, *bws;
  size_t cache_bytes, fws_bytes, bws_bytes;
  uint16_t* mirror; /* bf16: all params rounded to bf16 (NULL in fp32) */
} buffers;

/* A batch of fresh random sentences, tokenized by the example's tokenizer. */
static void make_batch(uint64_t* rng, int n, int32_t* ids, int32_t* targets) {
  int b;
  for (b = 0; b < n; ++b) {
    char text[256];
    int32_t all[2 * COPY_L + 1];
    copy_make_text(rng, text, sizeof text);
    if (copy_tokenize(text, all, 2 * COPY_L + 1) != 2 * COPY_L + 1) exit(2);
    copy_inputs_targets(all, ids + b * COPY_T, targets + b * COPY_T);
  }
}

/* Forward to logits for BATCH sequences (training fills the cache). */
static void forward(const copy_model* m, buffers* w, int training) {
  size_t bad = 0;
  EXAMPLE_TRY(qkv_embedding_forward(&m->emb, BATCH, COPY_T, 0, w->ids, m->params + m->off_tok, m->params + m->off_pos, w->x,
                            COPY_D, &bad));
  if (w->mirror)
    EXAMPLE_TRY(qkv_mha_forward_mirror(&m->attn, m->params + m->off_attn, w->mirror + m->off_attn, BATCH, COPY_T, w->x,
                                       w->y, training, w->cache, w->cache_bytes, w->fws, w->fws_bytes));
  else
    EXAMPLE_TRY(qkv_mha_forward(&m->attn, m->params + m->off_attn, BATCH, COPY_T, w->x, w->y, training, w->cache,
                        w->cache_bytes, w->fws, w->fws_bytes));
  EXAMPLE_TRY(copy_head_forward(m, ROWS, w->y, w->logits));
}

/* Accuracy of the copied halves over held-out sentences (teacher forcing). */
static double evaluate(const copy_model* m, buffers* w, uint64_t seed) {
  uint64_t rng = seed;
  int done, r, right = 0, total = 0;
  for (done = 0; done < EVAL_SEQS; done += BATCH) {
    make_batch(&rng, BATCH, w->ids, w->targets);
    forward(m, w, 0);
    for (r = 0; r < ROWS; ++r)
      if (w->targets[r] != COPY_IGNORE) {
        right += copy_argmax(w->logits + (size_t)r * COPY_V) == w->targets[r];
        ++total;
      }
  }
  return (double)right / (double)total;
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "copy_model.safetensors";
  const double budget = argc > 2 ? atof(argv[2]) : 60.0;
  const double target = argc > 3 ? atof(argv[3]) : 0.95;
  const int bf16 = argc > 4 && strcmp(argv[4], "bf16") == 0;
  static buffers w;
  copy_model m;
  float *grads, *adam;
  size_t adam_floats = 0, s;
  uint64_t rng = 2024; /* training data stream; held-out data uses another seed */
  qkv_adamw_config opt;
  double t0, acc = 0.0, loss_avg = 0.0;
  int step, threads = 1;
  float loss = 0.0f;

  EXAMPLE_TRY(copy_model_setup(&m));
  if (bf16) m.attn.compute_type = QKV_DTYPE_BF16;
  EXAMPLE_TRY(qkv_get_num_threads(&threads));
  /* Parameters: nn.Linear-style init for the layer and head, N(0,1)-like
   * uniform for the embedding tables. */
  EXAMPLE_TRY(qkv_init_uniform(m.params + m.off_tok, COPY_V * COPY_D, 1.0f, 1));
  EXAMPLE_TRY(qkv_init_uniform(m.params + m.off_pos, COPY_T * COPY_D, 1.0f, 2));
  EXAMPLE_TRY(qkv_mha_init(&m.attn, m.params + m.off_attn, 3));
  EXAMPLE_TRY(qkv_init_uniform(m.params + m.off_head_w, COPY_D * COPY_V + COPY_V, 0.125f, 4));

  EXAMPLE_TRY(qkv_mha_cache_size(&m.attn, BATCH, COPY_T, &w.cache_bytes));
  EXAMPLE_TRY(qkv_mha_forward_workspace_size(&m.attn, BATCH, COPY_T, threads, &w.fws_bytes));
  EXAMPLE_TRY(qkv_mha_backward_workspace_size(&m.attn, BATCH, COPY_T, threads, &w.bws_bytes));
  EXAMPLE_TRY(qkv_adamw_state_floats(m.count, &adam_floats));
  w.cache = malloc(w.cache_bytes);
  w.fws = malloc(w.fws_bytes);
  w.bws = malloc(w.bws_bytes);
  grads = (float*)calloc(m.count, sizeof(float));
  adam = (float*)calloc(adam_floats ? adam_floats : 1, sizeof(float));
  if (!w.cache || !w.fws || !w.bws || !grads || !adam) return 1;
  if (bf16) { /* the mirror of the initial params; AdamW keeps it current */
    w.mirror = (uint16_t*)malloc(m.count * sizeof(uint16_t));
    if (!w.mirror) return 1;
    EXAMPLE_TRY(qkv_convert(m.count, QKV_DTYPE_F32, m.params, QKV_DTYPE_BF16, w.mirror));
  }

  opt.lr = 3e-3f;
  opt.beta1 = 0.9f;
  opt.beta2 = 0.98f;
  opt.eps = 1e-8f;
  opt.weight_decay = 0.01f;

  printf("training: %d-word sentences, vocab %d, d %d, %d heads, batch %d, AdamW, %d thread(s), attention GEMMs in %s\n",
         COPY_L, COPY_V, COPY_D, COPY_HEADS, BATCH, threads, bf16 ? "bf16 (fp32 master weights)" : "fp32");
  t0 = copy_now_s();
  for (step = 1; step <= MAX_STEPS; ++step) {
    size_t bad = 0;
    make_batch(&rng, BATCH, w.ids, w.targets);
    forward(&m, &w, 1);
    /* Loss and dlogits in one pass (in place), then the head: dW_head, db_head, dY. */
    EXAMPLE_TRY(qkv_cross_entropy_forward_backward(ROWS, COPY_V, w.logits, COPY_V, w.targets, COPY_IGNORE, 1.0f, &loss,
                                           w.logits, COPY_V));
    EXAMPLE_TRY(qkv_sgemm(QKV_TRANS, QKV_NO_TRANS, COPY_D, COPY_V, ROWS, 1.0f, w.y, COPY_D, w.logits, COPY_V, 1.0f,
                  grads + m.off_head_w, COPY_V));
    for (s = 0; s < ROWS; ++s) EXAMPLE_TRY(qkv_saxpy(COPY_V, 1.0f, w.logits + s * COPY_V, grads + m.off_head_b));
    EXAMPLE_TRY(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, ROWS, COPY_D, COPY_V, 1.0f, w.logits, COPY_V, m.params + m.off_head_w,
                  COPY_V, 0.0f, w.dy, COPY_D));
    if (w.mirror)
      EXAMPLE_TRY(qkv_mha_backward_mirror(&m.attn, m.params + m.off_attn, w.mirror + m.off_attn, BATCH, COPY_T, w.x,
                                          w.cache, w.cache_bytes, w.dy, w.dx, grads + m.off_attn, w.bws, w.bws_bytes));
    else
      EXAMPLE_TRY(qkv_mha_backward(&m.attn, m.params + m.off_attn, BATCH, COPY_T, w.x, w.cache, w.cache_bytes, w.dy,
                           w.dx, grads + m.off_attn, w.bws, w.bws_bytes));
    EXAMPLE_TRY(qkv_embedding_backward(&m.emb, BATCH, COPY_T, 0, w.ids, w.dx, COPY_D, grads + m.off_tok, grads + m.off_pos,
                               &bad));
    if (w.mirror) { /* the update, the mirror and zeroed gradients in one pass */
      EXAMPLE_TRY(qkv_adamw_step_mirror(&opt, (uint64_t)step, 1.0f, 1, m.count, m.params, grads, adam, w.mirror));
    } else {
      EXAMPLE_TRY(qkv_adamw_step(&opt, (uint64_t)step, m.count, m.params, grads, adam));
      EXAMPLE_TRY(qkv_zero(grads, m.count));
    }

    loss_avg = step == 1 ? loss : 0.9 * loss_avg + 0.1 * loss;
    if (step % 10 == 0) {
      acc = evaluate(&m, &w, 99);
      printf("  step %4d  loss %.4f  held-out accuracy %5.1f%%  (%.1f s)\n", step, loss_avg, 100.0 * acc,
             copy_now_s() - t0);
      fflush(stdout);
      if (acc >= target || copy_now_s() - t0 > budget) break;
    }
  }
  {
    const double secs = copy_now_s() - t0;
    const int steps = step > MAX_STEPS ? MAX_STEPS : step;
    printf("trained %d steps in %.2f s: %.0f tokens/s, final held-out accuracy %.1f%% (target %.0f%%)\n", steps,
           secs, (double)steps * ROWS / secs, 100.0 * acc, 100.0 * target);
  }
  if (!copy_model_save(&m, path)) {
    fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  printf("saved the model to %s\n", path);
  free(w.cache), free(w.fws), free(w.bws), free(w.mirror), free(grads), free(adam), free(m.params);
  return acc >= target ? 0 : 3;
}
