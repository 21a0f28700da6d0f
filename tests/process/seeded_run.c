/* SPDX-License-Identifier: MIT */
/* seeded_run - a small seeded training run through the public C API whose
 * every intermediate result is appended to a file, so two processes can be
 * compared byte for byte (tests/process/same_seed.cmake).
 *
 * usage: seeded_run OUT_FILE THREADS SEED
 *
 * The "model" is a linear regressor trained by SGD with qkv_sdot and
 * qkv_saxpy on data drawn from a seeded generator; every weight vector is
 * written after every step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <qkv/qkv.h>

#define DIM 37
#define SAMPLES 64
#define EPOCHS 20

static uint64_t rng_state;
static float uniform(void) { /* splitmix64 -> [-1, 1) */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static int check(qkv_status st, const char* what) {
  if (st != QKV_OK) fprintf(stderr, "seeded_run: %s: %s\n", what, qkv_status_string(st));
  return st == QKV_OK;
}

int main(int argc, char** argv) {
  static float x[SAMPLES][DIM], y[SAMPLES], w[DIM], truth[DIM];
  FILE* out;
  int s, i, e;
  if (argc != 4) {
    fprintf(stderr, "usage: seeded_run OUT_FILE THREADS SEED\n");
    return 2;
  }
  rng_state = strtoull(argv[3], NULL, 10);
  if (!check(qkv_set_num_threads(atoi(argv[2])), "threads")) return 1;
  out = fopen(argv[1], "wb");
  if (!out) return 1;

  for (i = 0; i < DIM; ++i) truth[i] = uniform();
  for (s = 0; s < SAMPLES; ++s) {
    for (i = 0; i < DIM; ++i) x[s][i] = uniform();
    if (!check(qkv_sdot(DIM, x[s], truth, &y[s]), "sdot")) return 1;
    y[s] += 0.01f * uniform();
  }
  for (i = 0; i < DIM; ++i) w[i] = 0.1f * uniform();
  for (e = 0; e < EPOCHS; ++e)
    for (s = 0; s < SAMPLES; ++s) {
      float pred = 0.f;
      if (!check(qkv_sdot(DIM, x[s], w, &pred), "sdot")) return 1;
      if (!check(qkv_saxpy(DIM, -0.05f * (pred - y[s]), x[s], w), "saxpy")) return 1;
      if (fwrite(w, sizeof w, 1, out) != 1) return 1;
    }
  return fclose(out) == 0 ? 0 : 1;
}
