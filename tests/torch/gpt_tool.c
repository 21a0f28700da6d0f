/* SPDX-License-Identifier: MIT */
/* gpt_tool: the C side of tests/torch/gpt_check.py (public API and
 * examples/gpt.h only).
 *
 *   gpt_tool DIR
 *
 * A tiny GPT of gpt.h: vocab 64, T 32, d 48, 4 heads, 2 blocks (pre-LN,
 * LayerNorm, GELU tanh, biases, d_ff 192), tied head, dropout 0, GPT-2
 * initialisation (seed 7), then W_q, W_k (std 0.2) and W_v, W_o (0.15)
 * redrawn larger (GPT-2's 0.02 leaves the attention nearly uniform and its
 * weights' gradients ~1e-5 of the others, so that the check would see
 * little of them), and every bias
 * and norm parameter set to small random values (their gradients and the
 * norms' affine parts tested away from 0 and 1); a batch of 2 random
 * sequences and targets.
 * Runs the training forward and the backward, then two AdamW steps (lr 1e-3,
 * betas 0.9 / 0.95, eps 1e-8, weight decay 0.1 on gpt.h's decayed set) from
 * those gradients, and writes to DIR as raw little-endian data:
 *   ids.bin, targets.bin  int32 [2][32]
 *   params.bin            float32, the flat buffer (gpt.h's order, x*W layout)
 *   logits.bin [64][64], grads.bin, adam1.bin, adam2.bin (params after each step)
 *   decode_logits.bin [28][64]  sequence 0's logits at positions 4..31 from
 *                        gpt_decode (KV caches: a prefill of 5 tokens, then 1 by 1)
 *   loss.txt              the loss as %.9g
 *   layout.txt            "name offset count" per tensor, in buffer order
 * Exit 0 on success, 1 with a message on any error. */
#include "../../examples/gpt.h"

#define B 2
#define T 32

static int save(const char* dir, const char* name, const void* data, size_t bytes) {
  char path[4096];
  FILE* f;
  int ok;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return 0;
  f = fopen(path, "wb");
  ok = f && fwrite(data, 1, bytes, f) == bytes;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "gpt_tool: cannot write %s\n", path);
  return ok;
}

static void put(FILE* f, const char* name, size_t l, size_t off, size_t n) {
  if (off == SIZE_MAX) return;
  if (l == SIZE_MAX)
    fprintf(f, "%s %lu %lu\n", name, (unsigned long)off, (unsigned long)n);
  else
    fprintf(f, "h%lu.%s %lu %lu\n", (unsigned long)l, name, (unsigned long)off, (unsigned long)n);
}

int main(int argc, char** argv) {
  gpt_config cfg = gpt_config_default(64, T, 48, 2, 4);
  gpt_model m;
  gpt_acts a;
  qkv_adamw_config opt;
  float *params, *grads, *adam, *logits, loss = 0.0f;
  size_t i, l, d, H, adam_floats = 0;
  char path[4096];
  FILE* f;
  if (argc != 2) {
    fprintf(stderr, "usage: gpt_tool DIR\n");
    return 2;
  }
  EXAMPLE_TRY(gpt_setup(&m, &cfg));
  d = cfg.d_model, H = cfg.d_ff;
  EXAMPLE_TRY(qkv_adamw_state_floats(m.count, &adam_floats));
  params = (float*)malloc(m.count * sizeof(float));
  grads = (float*)calloc(m.count, sizeof(float));
  adam = (float*)calloc(adam_floats, sizeof(float));
  logits = (float*)malloc((size_t)B * T * cfg.vocab * sizeof(float));
  if (!params || !grads || !adam || !logits) return 1;
  gpt_init(&m, params, 7);
  for (l = 0; l < cfg.layers; ++l) { /* biases and norms away from 0 and 1 */
    float* p = gpt_block(&m, params, l);
    const qkv_block_layout* y = &m.lay;
    const size_t offs[10] = {y->norm1_g, y->norm1_b, y->b_q, y->b_k, y->b_v, y->b_o, y->norm2_g, y->norm2_b,
                             y->b_up, y->b_down};
    gpt_fill_normal(p + y->w_q, d * d, 0.2f, 200 + l);
    gpt_fill_normal(p + y->w_k, d * d, 0.2f, 300 + l);
    gpt_fill_normal(p + y->w_v, d * d, 0.15f, 400 + l);
    gpt_fill_normal(p + y->w_o, d * d, 0.15f, 500 + l);
    for (i = 0; i < 10; ++i) {
      const size_t n = offs[i] == y->b_up ? H : d;
      const int gain = offs[i] == y->norm1_g || offs[i] == y->norm2_g;
      size_t j;
      for (j = 0; j < n; ++j) p[offs[i] + j] = (gain ? 1.0f : 0.0f) + 0.1f * gpt_normal(100 + 16 * l + i, j);
    }
  }
  for (i = 0; i < d; ++i) {
    params[m.off_lnf_g + i] = 1.0f + 0.1f * gpt_normal(99, i);
    params[m.off_lnf_b + i] = 0.1f * gpt_normal(98, i);
  }
  EXAMPLE_TRY(gpt_acts_alloc(&m, &a, B, T, 1, 1));
  for (i = 0; i < (size_t)B * T; ++i) {
    a.ids[i] = (int32_t)(gpt_hash(1000 + i) % cfg.vocab);
    a.targets[i] = (int32_t)(gpt_hash(5000 + i) % cfg.vocab);
  }
  EXAMPLE_TRY(gpt_forward(&m, params, &a, 1, 0));
  memcpy(logits, a.logits, (size_t)B * T * cfg.vocab * sizeof(float));
  { /* Sequence 0 again through the KV caches: a prefill of 5 tokens, then one at a time. */
    gpt_decoder g;
    float* dec = (float*)malloc((T - 4) * cfg.vocab * sizeof(float));
    size_t t;
    if (!dec) return 1;
    EXAMPLE_TRY(gpt_decoder_alloc(&m, &g));
    for (t = 4; t < T; ++t) {
      EXAMPLE_TRY(gpt_decode(&m, params, &g, a.ids + (t == 4 ? 0 : t), t == 4 ? 5 : 1));
      memcpy(dec + (t - 4) * cfg.vocab, g.logits, cfg.vocab * sizeof(float));
    }
    if (!save(argv[1], "decode_logits.bin", dec, (T - 4) * cfg.vocab * sizeof(float))) return 1;
    gpt_decoder_free(&m, &g);
    free(dec);
  }
  EXAMPLE_TRY(gpt_backward(&m, params, &a, grads, &loss));
  if (!save(argv[1], "ids.bin", a.ids, (size_t)B * T * sizeof(int32_t)) ||
      !save(argv[1], "targets.bin", a.targets, (size_t)B * T * sizeof(int32_t)) ||
      !save(argv[1], "params.bin", params, m.count * sizeof(float)) ||
      !save(argv[1], "logits.bin", logits, (size_t)B * T * cfg.vocab * sizeof(float)) ||
      !save(argv[1], "grads.bin", grads, m.count * sizeof(float)))
    return 1;
  opt.lr = 1e-3f, opt.beta1 = 0.9f, opt.beta2 = 0.95f, opt.eps = 1e-8f, opt.weight_decay = 0.1f;
  EXAMPLE_TRY(gpt_adamw_step(&m, &opt, 1, params, grads, adam));
  if (!save(argv[1], "adam1.bin", params, m.count * sizeof(float))) return 1;
  EXAMPLE_TRY(gpt_adamw_step(&m, &opt, 2, params, grads, adam));
  if (!save(argv[1], "adam2.bin", params, m.count * sizeof(float))) return 1;

  snprintf(path, sizeof path, "%s/loss.txt", argv[1]);
  if (!(f = fopen(path, "w"))) return 1;
  fprintf(f, "%.9g\n", loss);
  fclose(f);
  snprintf(path, sizeof path, "%s/layout.txt", argv[1]);
  if (!(f = fopen(path, "w"))) return 1;
  put(f, "wte", SIZE_MAX, m.off_wte, cfg.vocab * d);
  put(f, "wpe", SIZE_MAX, m.off_wpe, cfg.seq_len * d);
  for (l = 0; l < cfg.layers; ++l) {
    const qkv_block_layout* y = &m.lay;
    const size_t base = m.off_blocks + l * m.block_floats;
    put(f, "norm1_g", l, base + y->norm1_g, d);
    put(f, "norm1_b", l, base + y->norm1_b, d);
    put(f, "w_q", l, base + y->w_q, d * d);
    put(f, "w_k", l, base + y->w_k, d * d);
    put(f, "w_v", l, base + y->w_v, d * d);
    put(f, "b_q", l, base + y->b_q, d);
    put(f, "b_k", l, base + y->b_k, d);
    put(f, "b_v", l, base + y->b_v, d);
    put(f, "w_o", l, base + y->w_o, d * d);
    put(f, "b_o", l, base + y->b_o, d);
    put(f, "norm2_g", l, base + y->norm2_g, d);
    put(f, "norm2_b", l, base + y->norm2_b, d);
    put(f, "w_up", l, base + y->w_up, d * H);
    put(f, "b_up", l, base + y->b_up, H);
    put(f, "w_down", l, base + y->w_down, H * d);
    put(f, "b_down", l, base + y->b_down, d);
  }
  put(f, "lnf_g", SIZE_MAX, m.off_lnf_g, d);
  put(f, "lnf_b", SIZE_MAX, m.off_lnf_b, d);
  fclose(f);
  printf("gpt_tool: %lu parameters, loss %.6f\n", (unsigned long)m.count, loss);
  gpt_acts_free(&m, &a);
  free(params), free(grads), free(adam), free(logits);
  return 0;
}
