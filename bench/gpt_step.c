/* SPDX-License-Identifier: MIT */
/* gpt_step: times qkv's full GPT training step (examples/gpt.h: forward,
 * backward, global gradient clipping at 1.0, AdamW with weight decay on the
 * 2-D tensors, zeroing the gradients) for one configuration, so that another
 * process (bench/compare_torch_gpt.py) can alternate it with PyTorch's step.
 *
 *   gpt_step [--layers L --d D --heads H --dff F --ctx T --batch B --vocab V]
 *            [--threads N] [--steps N | --serve]
 *   defaults: GPT-2 small (12 768 12 3072 1024 1 50257), 1 thread, --steps 3
 *
 * Set-up (not timed): GPT-2 initialisation (gpt_init), fixed random token
 * ids and targets, and one warm-up step (first touch of every buffer). Then
 *   --steps N  runs N steps and prints "ms_per_step <median ms> loss <loss>";
 *   --serve    prints "ready <parameters>" and then answers each line "N" on
 *              standard input with "<wall ms>,<CPU ms> (one pair per step) ...
 *              loss <loss>",
 *              until end of input: the alternating driver keeps one process
 *              (and its initialised model) for all its rounds.
 * Exit: 0; 1 a qkv error (the failing call on stderr); 2 bad usage. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "gpt.h"

static double clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}
static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
/* CPU time of the process, all threads: on a shared host, the wall time less
 * the time other processes held the cores. */
static double cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

typedef struct trainer {
  gpt_model m;
  gpt_acts a;
  float *params, *grads, *adam;
  qkv_adamw_config opt;
  uint64_t t;
} trainer;

/* One training step, as examples/train_gpt.c takes it (constant learning rate). */
static float step(trainer* s) {
  float loss = 0.0f, norm = 0.0f;
  ++s->t;
  EXAMPLE_TRY(gpt_forward(&s->m, s->params, &s->a, 1, gpt_hash(s->t)));
  EXAMPLE_TRY(gpt_backward(&s->m, s->params, &s->a, s->grads, &loss));
  EXAMPLE_TRY(gpt_optimizer_step(&s->m, &s->opt, s->t, 1.0f, s->params, s->grads, s->adam, &norm));
  return loss;
}

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  long layers = 12, d = 768, heads = 12, dff = 0, ctx = 1024, batch = 1, vocab = 50257, threads = 1, steps = 3;
  int serve = 0, i;
  gpt_config cfg;
  trainer s;
  size_t adam_floats = 0, n, k;
  char line[64];
  for (i = 1; i < argc; ++i) {
    const char* a = argv[i];
    long* field = NULL;
    if (strcmp(a, "--serve") == 0) {
      serve = 1;
      continue;
    }
    if (strcmp(a, "--layers") == 0) field = &layers;
    else if (strcmp(a, "--d") == 0) field = &d;
    else if (strcmp(a, "--heads") == 0) field = &heads;
    else if (strcmp(a, "--dff") == 0) field = &dff;
    else if (strcmp(a, "--ctx") == 0) field = &ctx;
    else if (strcmp(a, "--batch") == 0) field = &batch;
    else if (strcmp(a, "--vocab") == 0) field = &vocab;
    else if (strcmp(a, "--threads") == 0) field = &threads;
    else if (strcmp(a, "--steps") == 0) field = &steps;
    if (!field || i + 1 >= argc || ((*field = atol(argv[++i])) <= 0 && field != &dff)) {
      fprintf(stderr, "gpt_step: bad option %s (see the top of bench/gpt_step.c)\n", a);
      return 2;
    }
  }
  EXAMPLE_TRY(qkv_set_num_threads((int)threads));
  cfg = gpt_config_default((size_t)vocab, (size_t)ctx, (size_t)d, (size_t)layers, (size_t)heads);
  if (dff > 0) cfg.d_ff = (size_t)dff;
  memset(&s, 0, sizeof s);
  EXAMPLE_TRY(gpt_setup(&s.m, &cfg));
  EXAMPLE_TRY(qkv_adamw_state_floats(s.m.count, &adam_floats));
  s.params = (float*)malloc(s.m.count * sizeof(float));
  s.grads = (float*)calloc(s.m.count, sizeof(float));
  s.adam = (float*)calloc(adam_floats, sizeof(float));
  if (!s.params || !s.grads || !s.adam) {
    fprintf(stderr, "gpt_step: out of memory\n");
    return 1;
  }
  gpt_init(&s.m, s.params, 1);
  EXAMPLE_TRY(gpt_acts_alloc(&s.m, &s.a, (size_t)batch, (size_t)ctx, 1, (int)threads));
  for (k = 0; k < (size_t)(batch * ctx); ++k) {
    s.a.ids[k] = (int32_t)(gpt_hash(2 * k) % (uint64_t)vocab);
    s.a.targets[k] = (int32_t)(gpt_hash(2 * k + 1) % (uint64_t)vocab);
  }
  s.opt.lr = 6e-4f, s.opt.beta1 = 0.9f, s.opt.beta2 = 0.95f, s.opt.eps = 1e-8f, s.opt.weight_decay = 0.1f;
  step(&s); /* warm-up: every buffer touched once */
  if (serve) {
    printf("ready %lu\n", (unsigned long)s.m.count);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
      float loss = 0.0f;
      n = (size_t)atol(line);
      for (k = 0; k < n; ++k) {
        const double t0 = now_ms(), c0 = cpu_ms();
        loss = step(&s);
        printf("%.3f,%.3f ", now_ms() - t0, cpu_ms() - c0);
      }
      printf("loss %.5f\n", (double)loss);
      fflush(stdout);
    }
  } else {
    double* ms = (double*)malloc((size_t)steps * sizeof(double));
    float loss = 0.0f;
    if (!ms) return 1;
    for (k = 0; k < (size_t)steps; ++k) {
      const double t0 = now_ms();
      loss = step(&s);
      ms[k] = now_ms() - t0;
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_double);
    printf("ms_per_step %.3f loss %.5f (%ld steps, B%ld T%ld, %lu parameters, %ld thread(s))\n", ms[steps / 2],
           (double)loss, steps, batch, ctx, (unsigned long)s.m.count, threads);
    free(ms);
  }
  gpt_acts_free(&s.m, &s.a);
  free(s.params), free(s.grads), free(s.adam);
  return 0;
}
