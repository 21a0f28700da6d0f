/* SPDX-License-Identifier: MIT */
/* Optimizer area: qkv_sgd_step (plain, momentum with dampening, Nesterov,
 * weight decay) and qkv_adamw_step over three steps against PyTorch's rules
 * in double (tests/ref/ref_optim.h), for lengths around the vector widths
 * (1, 3, 5, 7, 13, 17: whole vectors plus a predicated or scalar tail), under
 * every runnable ISA; and a buffer updated in two pieces split at every
 * point equals the buffer updated whole, bit for bit (each element's
 * instructions do not depend on where it sits: optim.hpp's contract). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "ref/ref_optim.h"

#define NMAX 17
#define STEPS 3

static int same_bits(const float* a, const float* b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

typedef struct bufs {
  float *p, *g, *state, *p2, *state2;
  double *wp, *wbuf, *wm, *wv, *dir;
} bufs;

static void check_sgd(const bufs* s, const qkv_sgd_config* cfg, size_t n) {
  size_t floats = 0, i, cut;
  uint64_t t;
  QKV_CHECK_STATUS(qkv_sgd_state_floats(cfg, n, &floats), QKV_OK);
  qkv_check_fill(s->p, n, -1.0f, 1.0f, (unsigned)(61 + n));
  for (i = 0; i < n; ++i) {
    s->wp[i] = s->p[i];
    s->state[i] = NAN; /* ignored at t == 1 */
  }
  for (t = 1; t <= STEPS; ++t) {
    qkv_check_fill(s->g, n, -1.0f, 1.0f, (unsigned)(71 + 3 * n + t));
    qkv_ref_sgd_step(cfg, t, n, s->wp, s->g, cfg->momentum != 0.0f ? s->wbuf : NULL, s->dir);
    QKV_CHECK_STATUS(qkv_sgd_step(cfg, t, n, s->p, s->g, floats ? s->state : NULL), QKV_OK);
    /* p - lr*g': a few roundings of |p| and of lr*|g'| (g' itself a few
     * roundings of the momentum sum); the buffer within a few ulps of itself.
     * 8 u per step. */
    qkv_check_close("sgd params", s->p, s->wp, n, 8.0 * (double)t * QKV_CHECK_FLT_U,
                    qkv_check_max_abs(s->wp, n) + (double)cfg->lr * qkv_check_max_abs(s->dir, n));
    if (floats)
      qkv_check_close("sgd buf", s->state, s->wbuf, n, 8.0 * (double)t * QKV_CHECK_FLT_U, qkv_check_max_abs(s->wbuf, n));
  }
  /* Split invariance, step 2 from the state above (buffer read). */
  qkv_check_fill(s->g, n, -1.0f, 1.0f, (unsigned)(91 + n));
  for (cut = 0; cut <= n; ++cut) {
    memcpy(s->p2, s->p, n * sizeof(float));
    memcpy(s->state2, s->state, n * sizeof(float));
    QKV_CHECK_STATUS(qkv_sgd_step(cfg, 2, cut, s->p2, s->g, floats ? s->state2 : NULL), QKV_OK);
    QKV_CHECK_STATUS(qkv_sgd_step(cfg, 2, n - cut, s->p2 + cut, s->g + cut, floats ? s->state2 + cut : NULL), QKV_OK);
    if (cut == 0) continue;
    {
      float* whole = s->p2 + NMAX; /* scratch past the split copy */
      float* whole_state = s->state2 + NMAX;
      memcpy(whole, s->p, n * sizeof(float));
      memcpy(whole_state, s->state, n * sizeof(float));
      QKV_CHECK_STATUS(qkv_sgd_step(cfg, 2, n, whole, s->g, floats ? whole_state : NULL), QKV_OK);
      QKV_CHECK(same_bits(whole, s->p2, n));
      if (floats) QKV_CHECK(same_bits(whole_state, s->state2, n));
    }
  }
}

static void check_adamw(const bufs* s, size_t n) {
  qkv_adamw_config cfg;
  size_t i, cut;
  uint64_t t;
  cfg.lr = 1e-2f;
  cfg.beta1 = 0.9f;
  cfg.beta2 = 0.999f;
  cfg.eps = 1e-8f;
  cfg.weight_decay = 1e-2f;
  qkv_check_fill(s->p, n, -1.0f, 1.0f, (unsigned)(81 + n));
  for (i = 0; i < n; ++i) {
    s->wp[i] = s->p[i];
    s->state[i] = s->state[n + i] = NAN; /* ignored at t == 1 */
  }
  for (t = 1; t <= STEPS; ++t) {
    qkv_check_fill(s->g, n, -1.0f, 1.0f, (unsigned)(97 + 5 * n + t));
    qkv_ref_adamw_step(&cfg, t, n, s->wp, s->g, s->wm, s->wv, NULL, NULL);
    QKV_CHECK_STATUS(qkv_adamw_step(&cfg, t, n, s->p, s->g, s->state), QKV_OK);
    /* As tests/baremetal/check_layer.c: the parameter moves by about lr at
     * most from |p| (scale max|p| + lr); the moments within a few ulps. */
    qkv_check_close("adamw params", s->p, s->wp, n, 16.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(s->wp, n) + (double)cfg.lr);
    qkv_check_close("adamw m", s->state, s->wm, n, 8.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(s->wm, n));
    qkv_check_close("adamw v", s->state + n, s->wv, n, 8.0 * QKV_CHECK_FLT_U, qkv_check_max_abs(s->wv, n));
  }
  /* Split invariance at step 4: the state is [m | v] of the whole buffer, so
   * each piece gets its own [m | v] copy. */
  qkv_check_fill(s->g, n, -1.0f, 1.0f, (unsigned)(113 + n));
  {
    float* whole = s->p2 + NMAX;
    float* ws = s->state2 + 2 * NMAX;
    memcpy(whole, s->p, n * sizeof(float));
    memcpy(ws, s->state, 2 * n * sizeof(float));
    QKV_CHECK_STATUS(qkv_adamw_step(&cfg, 4, n, whole, s->g, ws), QKV_OK);
    for (cut = 1; cut < n; ++cut) {
      float* st = s->state2; /* [m0 | v0] of the first piece, then [m1 | v1] */
      memcpy(s->p2, s->p, n * sizeof(float));
      memcpy(st, s->state, cut * sizeof(float));
      memcpy(st + cut, s->state + n, cut * sizeof(float));
      memcpy(st + 2 * cut, s->state + cut, (n - cut) * sizeof(float));
      memcpy(st + 2 * cut + (n - cut), s->state + n + cut, (n - cut) * sizeof(float));
      QKV_CHECK_STATUS(qkv_adamw_step(&cfg, 4, cut, s->p2, s->g, st), QKV_OK);
      QKV_CHECK_STATUS(qkv_adamw_step(&cfg, 4, n - cut, s->p2 + cut, s->g + cut, st + 2 * cut), QKV_OK);
      QKV_CHECK(same_bits(whole, s->p2, n));
      QKV_CHECK(same_bits(ws, st, cut) && same_bits(ws + n, st + cut, cut));
      QKV_CHECK(same_bits(ws + cut, st + 2 * cut, n - cut) &&
                same_bits(ws + n + cut, st + 2 * cut + (n - cut), n - cut));
    }
  }
}

void qkv_check_optim(void) {
  static const size_t lens[] = {1, 3, 5, 7, 13, 17};
  qkv_isa isas[QKV_ISA_COUNT];
  const int nisa = qkv_check_isas(isas);
  bufs s;
  qkv_sgd_config sgd[4];
  int k;
  size_t li, ci;
  s.p = qkv_check_alloc(NMAX);
  s.g = qkv_check_alloc(NMAX);
  s.state = qkv_check_alloc(2 * NMAX);
  s.p2 = qkv_check_alloc(2 * NMAX);
  s.state2 = qkv_check_alloc(4 * NMAX);
  s.wp = qkv_check_alloc_double(NMAX);
  s.wbuf = qkv_check_alloc_double(NMAX);
  s.wm = qkv_check_alloc_double(NMAX);
  s.wv = qkv_check_alloc_double(NMAX);
  s.dir = qkv_check_alloc_double(NMAX);
  if (!s.p || !s.g || !s.state || !s.p2 || !s.state2 || !s.wp || !s.wbuf || !s.wm || !s.wv || !s.dir) return;
  /* Plain with weight decay; momentum with dampening; Nesterov; momentum
   * without decay. */
  memset(sgd, 0, sizeof sgd);
  sgd[0].lr = 0.1f;
  sgd[0].weight_decay = 0.01f;
  sgd[1].lr = 0.05f;
  sgd[1].momentum = 0.9f;
  sgd[1].dampening = 0.1f;
  sgd[1].weight_decay = 0.001f;
  sgd[2].lr = 0.05f;
  sgd[2].momentum = 0.8f;
  sgd[2].nesterov = 1;
  sgd[2].weight_decay = 0.01f;
  sgd[3].lr = 0.2f;
  sgd[3].momentum = 0.5f;
  for (k = 0; k < nisa; ++k) {
    QKV_CHECK_STATUS(qkv_set_isa(isas[k]), QKV_OK);
    for (li = 0; li < sizeof lens / sizeof lens[0]; ++li) {
      for (ci = 0; ci < 4; ++ci) check_sgd(&s, &sgd[ci], lens[li]);
      check_adamw(&s, lens[li]);
    }
  }
}
