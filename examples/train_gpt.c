/* SPDX-License-Identifier: MIT */
/* train_gpt: trains a small byte-level GPT (gpt.h) on English text, the
 * fortune cookies of Debian's `fortunes` package, from plain C, then writes a
 * few samples through the blocks' KV caches. llm.c's train_gpt2.c, on qkv.
 *
 *   train_gpt [options]
 *     --data PATH        a text file, or a directory whose plain files are read
 *                        in name order (.dat indexes, .u8 copies, symlinks and
 *                        subdirectories skipped); default /usr/share/games/fortunes
 *     --time S           stop training after S seconds (default 60)
 *     --steps N          at most N steps, also the LR schedule's length; 0
 *                        (default): as many as --time allows, the schedule
 *                        then running on the clock (elapsed / budget)
 *     --layers L --d D --heads H --ctx T --batch B --dff F   (default 2 128 4 128 16, F = 4 D)
 *     --norm layer|rms --ffn gelu|swiglu                     (default layer gelu)
 *     --compute f32|bf16 every GEMM's operands (default f32); bf16: mixed
 *                        precision (fp32 master weights, AdamW and gradients;
 *                        the optimizer keeps a bf16 mirror the GEMMs read)
 *     --lr X --min-lr-frac F --warmup W --wd X --dropout P   (6e-3 0.1 50 0.1 0)
 *     --seed S --threads N
 *     --print-every K --eval-every M --eval-batches E        (10 100 8)
 *     --resume FILE      start from a checkpoint (weights, AdamW state, step)
 *     --save FILE        write a checkpoint at the end
 *     --samples N --sample-len N                             (3 200; 0 samples: none)
 *     --expect-below-baseline   exit 3 unless the final validation loss is
 *                               below the unigram baseline
 *
 * Data: bytes (vocabulary 256); the last 10% of the concatenated files is the
 * validation split. The unigram baseline is the cross-entropy (nats/byte) on
 * the validation split of the training split's byte frequencies with add-one
 * smoothing: what a model that ignores context can do.
 * Training: random windows of T + 1 bytes (a counter-based generator of
 * (seed, step, row)), AdamW (betas 0.9, 0.95; weight decay on the weight
 * matrices and embeddings only, gpt.h), global gradient clipping at 1.0,
 * linear warmup then cosine decay to min-lr-frac of the peak.
 * Validation: the same fixed windows every M steps and at the end.
 * Deterministic: the same options and --steps N (reached within --time)
 * give a byte-identical checkpoint for any thread count; with --steps 0 the
 * LR follows the clock, so the run depends on the machine's speed.
 * Checkpoint format: gpt.h (little-endian host order).
 * Exit: 0; 1 error; 2 bad usage; 3 --expect-below-baseline missed; 77 no data. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "gpt.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Data --------------------------------------------------------------- */

typedef struct text {
  unsigned char* bytes;
  size_t n, files;
} text;

static int append_file(text* t, const char* path) {
  FILE* f = fopen(path, "rb");
  long n;
  unsigned char* grown;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    if (f) fclose(f);
    return 0;
  }
  grown = (unsigned char*)realloc(t->bytes, t->n + (size_t)n + 1);
  if (!grown) {
    fclose(f);
    return 0;
  }
  t->bytes = grown;
  if (fread(t->bytes + t->n, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    return 0;
  }
  fclose(f);
  t->n += (size_t)n;
  t->files++;
  return 1;
}

static int cmp_names(const void* a, const void* b) { return strcmp(*(char* const*)a, *(char* const*)b); }

static int ends_with(const char* s, const char* suffix) {
  const size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A file, or a directory's plain files in sorted name order. 0 if none. */
static int load_text(const char* path, text* t) {
  struct stat st;
  DIR* dir;
  struct dirent* e;
  char **names = NULL, full[4096];
  size_t count = 0, i;
  int ok = 1;
  memset(t, 0, sizeof *t);
  if (stat(path, &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) return append_file(t, path);
  if (!(dir = opendir(path))) return 0;
  while ((e = readdir(dir)) != NULL) {
    char** grown;
    if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8")) continue;
    snprintf(full, sizeof full, "%s/%s", path, e->d_name);
    if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue; /* symlinks, subdirectories */
    grown = (char**)realloc(names, (count + 1) * sizeof *names);
    if (!grown) break;
    names = grown;
    names[count] = (char*)malloc(strlen(e->d_name) + 1);
    if (!names[count]) break;
    strcpy(names[count++], e->d_name);
  }
  closedir(dir);
  qsort(names, count, sizeof *names, cmp_names);
  for (i = 0; i < count; ++i) {
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    ok = ok && append_file(t, full);
    free(names[i]);
  }
  free(names);
  return ok && t->n > 0;
}

/* Cross-entropy (nats/byte) on val of train's add-one smoothed byte frequencies. */
static double unigram_baseline(const unsigned char* train, size_t n_train, const unsigned char* val, size_t n_val) {
  double counts[256], sum = 0.0;
  size_t i;
  for (i = 0; i < 256; ++i) counts[i] = 1.0;
  for (i = 0; i < n_train; ++i) counts[train[i]] += 1.0;
  for (i = 0; i < n_val; ++i) sum -= log(counts[val[i]] / ((double)n_train + 256.0));
  return sum / (double)n_val;
}

/* Window b of a batch: inputs bytes [s, s + T), targets [s + 1, s + T + 1). */
static void set_window(gpt_acts* a, size_t b, const unsigned char* data, size_t start) {
  size_t t;
  for (t = 0; t < a->T; ++t) {
    a->ids[b * a->T + t] = data[start + t];
    a->targets[b * a->T + t] = data[start + t + 1];
  }
}

/* ---- Options ------------------------------------------------------------ */

typedef struct options {
  const char *data, *resume, *save;
  double time, lr, min_lr_frac, wd, dropout;
  long steps, layers, d, heads, ctx, batch, dff, warmup, seed, threads, print_every, eval_every, eval_batches;
  long samples, sample_len;
  int expect_below, rms, swiglu, bf16;
} options;

static int usage(const char* why) {
  fprintf(stderr, "train_gpt: %s (the options are listed at the top of examples/train_gpt.c)\n", why);
  return 2;
}

static int parse(int argc, char** argv, options* o) {
  int i;
  memset(o, 0, sizeof *o);
  o->data = "/usr/share/games/fortunes";
  o->time = 60, o->lr = 6e-3, o->min_lr_frac = 0.1, o->wd = 0.1;
  o->layers = 2, o->d = 128, o->heads = 4, o->ctx = 128, o->batch = 16, o->warmup = 50, o->seed = 1;
  o->threads = 0, o->print_every = 10, o->eval_every = 100, o->eval_batches = 8, o->samples = 3, o->sample_len = 200;
  for (i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--expect-below-baseline") == 0) {
      o->expect_below = 1;
      continue;
    }
    if (!v) return 0;
    ++i;
#define STR(name, field) if (strcmp(a, name) == 0) o->field = v; else
#define NUM(name, field) if (strcmp(a, name) == 0) o->field = atof(v); else
#define INT(name, field) if (strcmp(a, name) == 0) o->field = atol(v); else
    STR("--data", data) STR("--resume", resume) STR("--save", save)
    NUM("--time", time) NUM("--lr", lr) NUM("--min-lr-frac", min_lr_frac) NUM("--wd", wd) NUM("--dropout", dropout)
    INT("--steps", steps) INT("--layers", layers) INT("--d", d) INT("--heads", heads) INT("--ctx", ctx)
    INT("--batch", batch) INT("--dff", dff) INT("--warmup", warmup) INT("--seed", seed) INT("--threads", threads)
    INT("--print-every", print_every) INT("--eval-every", eval_every) INT("--eval-batches", eval_batches)
    INT("--samples", samples) INT("--sample-len", sample_len)
    if (strcmp(a, "--norm") == 0) o->rms = strcmp(v, "rms") == 0; else
    if (strcmp(a, "--ffn") == 0) o->swiglu = strcmp(v, "swiglu") == 0; else
    if (strcmp(a, "--compute") == 0 && (strcmp(v, "f32") == 0 || strcmp(v, "bf16") == 0)) o->bf16 = v[0] == 'b'; else
      return 0;
#undef STR
#undef NUM
#undef INT
  }
  return o->layers > 0 && o->d > 0 && o->heads > 0 && o->ctx > 0 && o->batch > 0 && o->steps >= 0 &&
         o->print_every > 0 && o->eval_every > 0 && o->eval_batches > 0 && o->time > 0;
}

/* ---- Evaluation and sampling -------------------------------------------- */

/* Mean loss over E batches of fixed windows spread evenly over the split. */
static float evaluate(const gpt_model* m, const float* params, gpt_acts* a, const unsigned char* val, size_t n_val,
                      long batches) {
  const size_t windows = (size_t)batches * a->B, span = n_val - a->T - 1;
  size_t i, b;
  double sum = 0.0;
  for (i = 0; i < (size_t)batches; ++i) {
    float loss = 0.0f;
    for (b = 0; b < a->B; ++b) {
      const size_t w = i * a->B + b;
      set_window(a, b, val, windows > 1 ? w * span / (windows - 1) : 0);
    }
    EXAMPLE_TRY(gpt_forward(m, params, a, 0, 0));
    EXAMPLE_TRY(gpt_loss(m, a, &loss));
    sum += loss;
  }
  return (float)(sum / (double)batches);
}

/* Top-k sampling at a temperature from logits[V], with uniform u in (0, 1). */
static int32_t sample_top_k(const float* logits, size_t V, int k, float temperature, double u) {
  int32_t top[256] = {0};
  double p[256], sum = 0.0;
  int n = 0, i, j;
  size_t v;
  for (v = 0; v < V && v < 256; ++v) { /* insertion into the sorted top k */
    if (n == k && logits[v] <= logits[top[n - 1]]) continue;
    j = n < k ? n++ : k - 1;
    while (j > 0 && logits[top[j - 1]] < logits[v]) top[j] = top[j - 1], --j;
    top[j] = (int32_t)v;
  }
  for (i = 0; i < n; ++i) sum += p[i] = exp((double)(logits[top[i]] - logits[top[0]]) / temperature);
  u *= sum;
  for (i = 0; i < n - 1; ++i)
    if ((u -= p[i]) < 0.0) break;
  return top[i];
}

/* Writes prompt + len sampled bytes: the prompt is prefilled through the KV
 * caches, then each sampled byte is appended; once T tokens are cached the
 * rest recomputes over the last T tokens (the cache is full). */
static void generate(const gpt_model* m, const float* params, gpt_decoder* g, const char* prompt, long len,
                     uint64_t seed) {
  const size_t T = m->cfg.seq_len, np = strlen(prompt);
  int32_t* ids = (int32_t*)malloc((np + (size_t)len) * sizeof(int32_t));
  size_t n = 0, i;
  long s;
  if (!ids) return;
  for (i = 0; i < np; ++i) ids[n++] = (unsigned char)prompt[i];
  gpt_decoder_reset(m, g);
  EXAMPLE_TRY(np <= T ? gpt_decode(m, params, g, ids, n) : gpt_recompute(m, params, g, ids + n - T, T));
  for (s = 0; s < len; ++s) {
    ids[n] = sample_top_k(g->logits, m->cfg.vocab, 40, 0.8f, gpt_uniform(gpt_hash(seed ^ gpt_hash((uint64_t)s))));
    ++n;
    if (s + 1 == len) break;
    if (g->len < T && g->len + 1 == n)
      EXAMPLE_TRY(gpt_decode(m, params, g, ids + n - 1, 1));
    else
      EXAMPLE_TRY(gpt_recompute(m, params, g, ids + (n > T ? n - T : 0), n > T ? T : n));
  }
  printf("  ---- \"%s\" ->\n  ", prompt);
  for (i = 0; i < n; ++i) {
    const int c = ids[i];
    if (c == '\n')
      printf("\n  ");
    else
      putchar((c >= 32 && c < 127) || c == '\t' ? c : '?');
  }
  printf("\n");
  free(ids);
}

int main(int argc, char** argv) {
  options o;
  gpt_config cfg;
  gpt_model m;
  gpt_acts a, ev;
  text txt;
  float *params, *grads, *adam;
  uint16_t* mirror = NULL; /* --compute bf16: the params rounded, kept by the optimizer */
  size_t n_train, n_val, adam_floats = 0;
  const unsigned char *train, *val;
  qkv_adamw_config opt;
  uint64_t step = 0, first_step, warmup;
  double t0, t_last, t_warm = 0.0, baseline, loss_ema = 0.0, elapsed = 0.0, eval_s = 0.0;
  float val_loss = 0.0f, loss = 0.0f, norm = 0.0f;
  int threads = 1;

  if (!parse(argc, argv, &o)) return usage("bad or missing option value");
  if (o.threads > 0) EXAMPLE_TRY(qkv_set_num_threads((int)o.threads));
  EXAMPLE_TRY(qkv_get_num_threads(&threads));

  /* Data: the last 10% of the bytes is the validation split. */
  if (!load_text(o.data, &txt)) {
    printf("SKIP: no text at %s (Debian: apt-get install fortunes)\n", o.data);
    return 77;
  }
  n_val = txt.n / 10, n_train = txt.n - n_val;
  train = txt.bytes, val = txt.bytes + n_train;
  if (n_val < (size_t)o.ctx + 2 || n_train < (size_t)o.ctx + 2) {
    free(txt.bytes);
    return usage("too little text for this --ctx");
  }
  baseline = unigram_baseline(train, n_train, val, n_val);
  printf("data: %lu files, %lu bytes from %s: %lu train, %lu validation; unigram baseline %.4f nats/byte\n",
         (unsigned long)txt.files, (unsigned long)txt.n, o.data, (unsigned long)n_train, (unsigned long)n_val,
         baseline);

  /* Model, gradients, AdamW state. */
  cfg = gpt_config_default(256, (size_t)o.ctx, (size_t)o.d, (size_t)o.layers, (size_t)o.heads);
  if (o.dff > 0) cfg.d_ff = (size_t)o.dff;
  if (o.rms) cfg.norm = QKV_NORM_RMS;
  if (o.swiglu) cfg.ffn = QKV_FFN_SWIGLU;
  cfg.dropout = (float)o.dropout;
  if (o.bf16) cfg.compute_type = QKV_DTYPE_BF16;
  EXAMPLE_TRY(gpt_setup(&m, &cfg));
  EXAMPLE_TRY(qkv_adamw_state_floats(m.count, &adam_floats));
  params = (float*)malloc(m.count * sizeof(float));
  grads = (float*)calloc(m.count, sizeof(float));
  adam = (float*)calloc(adam_floats, sizeof(float));
  if (!params || !grads || !adam) return 1;
  gpt_init(&m, params, (uint64_t)o.seed);
  if (o.resume) {
    int has_adam = 0;
    if (!gpt_load(&m, o.resume, params, adam, &has_adam, &step)) {
      free(params), free(grads), free(adam), free(txt.bytes);
      return 1;
    }
    printf("resumed from %s at step %lu%s\n", o.resume, (unsigned long)step,
           has_adam ? " (with its AdamW state)" : " (weights only)");
    if (!has_adam) step = 0;
  }
  first_step = step;
  EXAMPLE_TRY(gpt_acts_alloc(&m, &a, (size_t)o.batch, cfg.seq_len, 1, threads));
  EXAMPLE_TRY(gpt_acts_alloc(&m, &ev, (size_t)o.batch, cfg.seq_len, 0, threads));
  if (o.bf16) {
    mirror = (uint16_t*)malloc(m.count * sizeof(uint16_t));
    if (!mirror) return 1;
    EXAMPLE_TRY(qkv_convert(m.count, QKV_DTYPE_F32, params, QKV_DTYPE_BF16, mirror));
    a.mirror = ev.mirror = mirror;
  }
  printf("model: %lu layers, d %lu, %lu heads, d_ff %lu, T %lu, %s, %s, tied head: %lu parameters (%.2f M)%s\n",
         (unsigned long)cfg.layers, (unsigned long)cfg.d_model, (unsigned long)cfg.heads, (unsigned long)cfg.d_ff,
         (unsigned long)cfg.seq_len, o.rms ? "RMSNorm" : "LayerNorm", o.swiglu ? "SwiGLU" : "GELU (tanh)",
         (unsigned long)m.count, (double)m.count / 1e6, o.bf16 ? ", bf16 compute" : "");
  printf("training: batch %ld x %lu tokens, AdamW lr %g (warmup %ld, cosine to %g x), wd %g (matrices, embeddings), "
         "clip 1.0, dropout %g, %d thread(s), budget %g s%s\n",
         o.batch, (unsigned long)cfg.seq_len, o.lr, o.warmup, o.min_lr_frac, o.wd, o.dropout, threads, o.time,
         o.steps ? "" : " (the schedule on the clock)");
  val_loss = evaluate(&m, params, &ev, val, n_val, o.eval_batches);
  printf("step %5lu | val loss %.4f (unigram baseline %.4f)\n", (unsigned long)step, val_loss, baseline);

  opt.beta1 = 0.9f, opt.beta2 = 0.95f, opt.eps = 1e-8f, opt.weight_decay = (float)o.wd;
  warmup = (uint64_t)o.warmup;
  t0 = t_last = now_s();
  for (;;) {
    const size_t span = n_train - cfg.seq_len - 1;
    double lr;
    size_t b;
    ++step;
    for (b = 0; b < a.B; ++b)
      set_window(&a, b, train, gpt_hash((uint64_t)o.seed ^ gpt_hash(step * a.B + b)) % span);
    /* LR: linear warmup, then cosine from lr to min_lr_frac * lr, its
     * progress p counted in steps up to --steps N or, with --steps 0, on the
     * clock up to the time budget (which a shared machine's changing speed
     * cannot make end early or late). */
    if (step <= warmup) {
      lr = o.lr * (double)step / (double)warmup;
    } else {
      double p = o.steps ? (double)(step - warmup) / (double)((uint64_t)o.steps > warmup ? o.steps - warmup : 1)
                         : (elapsed - t_warm) / (o.time - t_warm);
      p = p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
      lr = o.lr * (o.min_lr_frac + (1.0 - o.min_lr_frac) * 0.5 * (1.0 + cos(3.141592653589793 * p)));
    }
    opt.lr = (float)lr;
    EXAMPLE_TRY(gpt_forward(&m, params, &a, 1, (uint64_t)o.seed ^ gpt_hash(step)));
    EXAMPLE_TRY(gpt_backward(&m, params, &a, grads, &loss));
    EXAMPLE_TRY(gpt_optimizer_step_mirror(&m, &opt, step, 1.0f, params, grads, adam, &norm, mirror)); /* zeroes grads */
    loss_ema = step == first_step + 1 ? loss : 0.9 * loss_ema + 0.1 * loss;
    elapsed = now_s() - t0;

    if (step == warmup) t_warm = elapsed;
    if (step % (uint64_t)o.print_every == 0) {
      const double t = now_s();
      printf("step %5lu | loss %.4f (avg %.4f) | lr %.2e | grad norm %.3f | %.1f ms/step | %.0f tok/s | %.1f s\n",
             (unsigned long)step, loss, loss_ema, lr, norm, 1e3 * (t - t_last) / (double)o.print_every,
             (double)o.print_every * (double)(a.B * a.T) / (t - t_last), t - t0);
      fflush(stdout);
      t_last = t;
    }
    if ((o.steps && step >= (uint64_t)o.steps) || elapsed >= o.time) break;
    if (step % (uint64_t)o.eval_every == 0) {
      const double te = now_s();
      val_loss = evaluate(&m, params, &ev, val, n_val, o.eval_batches);
      printf("step %5lu | val loss %.4f (unigram baseline %.4f)\n", (unsigned long)step, val_loss, baseline);
      eval_s += now_s() - te;
      t_last += now_s() - te; /* the speeds printed are training's alone */
    }
  }
  elapsed = now_s() - t0;
  val_loss = evaluate(&m, params, &ev, val, n_val, o.eval_batches);
  printf("trained %lu steps in %.1f s (%.1f s of it validating; %.0f tokens/s training, %d thread(s)): "
         "train loss %.4f (avg of the last steps %.4f)\n",
         (unsigned long)(step - first_step), elapsed, eval_s,
         (double)(step - first_step) * (double)(a.B * a.T) / (elapsed - eval_s), threads, loss, loss_ema);
  printf("val loss %.4f (unigram baseline %.4f) nats/byte\n", val_loss, baseline);
  fflush(stdout);

  if (o.save) {
    if (!gpt_save(&m, o.save, params, adam, step)) return 1;
    printf("saved %s (step %lu)\n", o.save, (unsigned long)step);
  }
  if (o.samples > 0) {
    static const char* const prompts[] = {"The ", "Q: ", "A man ", "Life is ", "You will "};
    gpt_decoder g;
    long i;
    EXAMPLE_TRY(gpt_decoder_alloc(&m, &g));
    printf("samples (temperature 0.8, top-k 40, KV cache of %lu tokens):\n", (unsigned long)cfg.seq_len);
    for (i = 0; i < o.samples; ++i)
      generate(&m, params, &g, prompts[i % 5], o.sample_len, gpt_hash((uint64_t)o.seed + 1000 + (uint64_t)i));
    gpt_decoder_free(&m, &g);
  }
  gpt_acts_free(&m, &a);
  gpt_acts_free(&m, &ev);
  free(params), free(grads), free(adam), free(mirror), free(txt.bytes);
  if (o.expect_below && !(val_loss < baseline)) {
    fprintf(stderr, "train_gpt: validation loss %.4f is not below the unigram baseline %.4f\n", val_loss, baseline);
    return 3;
  }
  return 0;
}
