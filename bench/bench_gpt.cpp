// SPDX-License-Identifier: MIT
// A whole GPT training step (examples/gpt.h: embeddings, L pre-LN blocks,
// final LayerNorm, tied LM head, cross-entropy; backward; global gradient
// clipping at 1.0; AdamW; zeroing the gradients) in tokens/s, GFLOP/s and %
// of the fp32 FMA peak, for GPT-2 small and for examples/train_gpt.c's demo
// model; and the same step cut into its public calls (BM_gpt_step_breakdown).
//
// FLOPs of a step (matrix products only; norms, activations, softmax, the
// loss and the optimizer are not counted), N = B*T tokens, d_h = d / H:
//   forward = N * L * 2 * (3 d^2 + d^2 + 2 d d_ff)       QKV, out, FFN up + down
//                                                        (SwiGLU: 3 d d_ff)
//           + L * B * H * 4 * d_h * T (T + 1) / 2         causal attention: query t
//                                                        sees t keys, Q K^T and P V
//           + N * 2 * d * V                               tied LM head
//   step    = 3 * forward                                 backward = 2 x forward
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "examples/gpt.h"

namespace {

struct gpt_shape {
  const char* name;
  std::size_t vocab, seq_len, d_model, layers, heads, d_ff;
};

// 0: GPT-2 small (124 M parameters with the tied head). 1: train_gpt.c's
// defaults and scripts/demo.sh step 5 (--layers 2 --d 128 --heads 4 --ctx 128
// --batch 16, bytes).
const gpt_shape kShapes[] = {{"gpt2_small", 50257, 1024, 768, 12, 12, 3072},
                             {"train_gpt_demo", 256, 128, 128, 2, 4, 512}};

gpt_config config_of(const gpt_shape& s, qkv_dtype compute = QKV_DTYPE_F32) {
  gpt_config c = gpt_config_default(s.vocab, s.seq_len, s.d_model, s.layers, s.heads);
  c.d_ff = s.d_ff;
  c.compute_type = compute;
  return c;
}

// The file comment's formula.
double step_flops(const gpt_config& c, std::size_t B) {
  const double N = double(B * c.seq_len), d = double(c.d_model), T = double(c.seq_len), L = double(c.layers);
  const double ffn = (c.ffn == QKV_FFN_SWIGLU ? 3.0 : 2.0) * d * double(c.d_ff);
  const double fwd = N * L * 2.0 * (4.0 * d * d + ffn) + L * double(B) * 4.0 * d * T * (T + 1.0) / 2.0 +
                     N * 2.0 * d * double(c.vocab);
  return 3.0 * fwd;
}

// Seconds of CPU time used by the process (all its threads): on this shared
// host the wall time of a step includes the time other processes held the
// core, its CPU time does not.
double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// One core's FMA peak in GFLOP per CPU-second (the FMA chains of
// bench/peak timed on this thread's CPU clock, best of 5): unlike
// peak_gflops(), not lowered by other processes holding the core.
double cpu_peak_gflops(qkv_isa isa) {
  static std::map<int, double> best;
  auto it = best.find(int(isa));
  if (it != best.end()) return it->second;
  double b = 0;
  for (int rep = 0; rep < 5; ++rep) {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    const double flops = qkv_bench::peak_chains(isa, 5'000'000);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double s = double(t1.tv_sec - t0.tv_sec) + 1e-9 * double(t1.tv_nsec - t0.tv_nsec);
    if (s > 0) b = std::max(b, flops / s * 1e-9);
  }
  return best[int(isa)] = b;
}

void check(qkv_status st, const char* what) {
  if (st != QKV_OK) {
    std::fprintf(stderr, "bench_gpt: %s: %s\n", what, qkv_status_string(st));
    std::abort();
  }
}

// gpt_init draws ~124 M normals for GPT-2 small (seconds): once per shape.
const std::vector<float>& initial_params(int shape) {
  static std::map<int, std::vector<float>> cache;
  auto it = cache.find(shape);
  if (it == cache.end()) {
    gpt_model m;
    const gpt_config c = config_of(kShapes[shape]);
    check(gpt_setup(&m, &c), "gpt_setup");
    std::vector<float> p(m.count);
    gpt_init(&m, p.data(), 1);
    it = cache.emplace(shape, std::move(p)).first;
  }
  return it->second;
}

// A model with its gradients, AdamW state and the activations of B x T tokens.
struct trainer {
  gpt_model m{};
  gpt_acts a{};
  std::vector<float> params, grads, adam;
  qkv_adamw_config opt{6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
  std::uint64_t t = 0;
  std::size_t B;
  int threads;

  std::vector<std::uint16_t> mirror;  // bf16 compute with a weight mirror (gpt_optimizer_step_mirror)

  trainer(int shape, std::size_t batch, int nthreads, qkv_dtype compute = QKV_DTYPE_F32, bool use_mirror = false)
      : B(batch), threads(nthreads) {
    const gpt_config c = config_of(kShapes[shape], compute);
    check(gpt_setup(&m, &c), "gpt_setup");
    params = initial_params(shape);
    grads.assign(m.count, 0.f);
    std::size_t af = 0;
    check(qkv_adamw_state_floats(m.count, &af), "qkv_adamw_state_floats");
    adam.assign(af, 0.f);
    check(gpt_acts_alloc(&m, &a, B, c.seq_len, 1, threads), "gpt_acts_alloc");
    if (use_mirror) {
      mirror.resize(m.count);
      check(qkv_convert(m.count, QKV_DTYPE_F32, params.data(), QKV_DTYPE_BF16, mirror.data()), "qkv_convert");
      a.mirror = mirror.data();
    }
    for (std::size_t k = 0; k < B * c.seq_len; ++k) {  // fixed random tokens
      a.ids[k] = std::int32_t(gpt_hash(2 * k) % c.vocab);
      a.targets[k] = std::int32_t(gpt_hash(2 * k + 1) % c.vocab);
    }
  }
  ~trainer() { gpt_acts_free(&m, &a); }
  trainer(const trainer&) = delete;
  trainer& operator=(const trainer&) = delete;

  // One training step as examples/train_gpt.c takes it (constant learning rate).
  float step() {
    float loss = 0.f, norm = 0.f;
    ++t;
    check(gpt_forward(&m, params.data(), &a, 1, gpt_hash(t)), "gpt_forward");
    check(gpt_backward(&m, params.data(), &a, grads.data(), &loss), "gpt_backward");
    check(gpt_optimizer_step_mirror(&m, &opt, t, 1.0f, params.data(), grads.data(), adam.data(), &norm,
                                    mirror.empty() ? nullptr : mirror.data()),
          "gpt_optimizer_step");  // clip + AdamW + zeroing (and the mirror) in one pass
    return loss;
  }
  double tokens() const { return double(B * m.cfg.seq_len); }
};

// Args: model (index into kShapes), batch, threads. One warm-up step before
// the timed ones (first touch of the activations, caches and AdamW state).
void BM_gpt_train_step(benchmark::State& state) {
  const int shape = int(state.range(0)), threads = int(state.range(2));
  const auto B = std::size_t(state.range(1));
  qkv_set_num_threads(threads);
  trainer tr(shape, B, threads);
  tr.step();
  std::vector<double> ratio;  // per-iteration GFLOP/s over a probe run right after the step
  const double flops = step_flops(tr.m.cfg, B);
  float loss = 0.f;
  double cpu = 0;
  for (auto _ : state) {
    const double t0 = qkv_bench::now_s(), c0 = cpu_s();
    loss = tr.step();
    const double dt = qkv_bench::now_s() - t0;
    cpu += cpu_s() - c0;
    state.PauseTiming();
    const double probe = qkv_bench::probe_gflops(qkv_bench::active_isa(), threads, 2000000);
    if (probe > 0) ratio.push_back(flops * 1e-9 / dt / probe);
    state.ResumeTiming();
  }
  qkv_bench::set_rate(state, flops, threads);
  state.counters["tokens_per_s"] = benchmark::Counter(tr.tokens(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["pct_peak_paired"] = 100.0 * qkv_bench::median(ratio);
  state.counters["loss"] = double(loss);
  // The same work over the CPU time the step used, against one core's peak
  // per CPU-second (with 1 thread: pct_peak without the time other processes
  // held the core; with more, the efficiency per core-second).
  const double peak1 = cpu_peak_gflops(qkv_bench::active_isa());
  state.counters["cpu_peak_gflops"] = peak1;
  state.counters["cpu_ms"] = 1e3 * cpu / double(state.iterations());
  if (peak1 > 0) state.counters["pct_peak_cpu"] = 100.0 * flops * 1e-9 * double(state.iterations()) / cpu / peak1;
  state.SetLabel(std::string(kShapes[shape].name) + "/" + qkv_isa_name(qkv_bench::active_isa()) + "/t" +
                 std::to_string(threads));
}

// The bf16 step against the fp32 one (qkv_block_desc::compute_type BF16 in
// every block; embeddings, final norm and tied head fp32 in both): two
// trainers from the same start, their steps alternating in one process
// (which goes first alternates too). vs_f32 is the median over rounds of the
// fp32 step's time over the bf16 step's; GFLOP/s and pct_peak_paired are
// the bf16 step's, counting the same FLOPs as BM_gpt_train_step.
// Args: model, batch, threads, mirror (1: the bf16 trainer reads its
// weights from a bf16 mirror its optimizer keeps; 0: rounds them per call).
void BM_gpt_train_pair(benchmark::State& state) {
  const int shape = int(state.range(0)), threads = int(state.range(2));
  const auto B = std::size_t(state.range(1));
  qkv_set_num_threads(threads);
  trainer f32(shape, B, threads), b16(shape, B, threads, QKV_DTYPE_BF16, state.range(3) != 0);
  f32.step();
  b16.step();
  const double flops = step_flops(f32.m.cfg, B);
  std::vector<double> ratio, t16, t32, paired;
  float loss32 = 0.f, loss16 = 0.f;
  std::size_t round = 0;
  for (auto _ : state) {
    double t[2];
    for (int k = 0; k < 2; ++k) {
      const int which = (k + int(round)) % 2;
      const double t0 = qkv_bench::now_s();
      (which ? loss16 : loss32) = (which ? b16 : f32).step();
      t[which] = qkv_bench::now_s() - t0;
    }
    ++round;
    state.SetIterationTime(t[1]);
    t32.push_back(t[0]), t16.push_back(t[1]), ratio.push_back(t[0] / t[1]);
    state.PauseTiming();
    const double probe = qkv_bench::probe_gflops(qkv_bench::active_isa(), threads, 2000000);
    if (probe > 0) paired.push_back(flops * 1e-9 / t[1] / probe);
    state.ResumeTiming();
  }
  state.counters["vs_f32"] = qkv_bench::median(ratio);
  state.counters["ms_f32"] = 1e3 * qkv_bench::median(t32);
  state.counters["ms_bf16"] = 1e3 * qkv_bench::median(t16);
  state.counters["GFLOPS"] = flops * 1e-9 / qkv_bench::median(t16);
  state.counters["tokens_per_s"] = b16.tokens() / qkv_bench::median(t16);
  state.counters["pct_peak_paired"] = 100.0 * qkv_bench::median(paired);
  state.counters["loss_f32"] = double(loss32);
  state.counters["loss_bf16"] = double(loss16);
  state.SetLabel(std::string(kShapes[shape].name) + "/" + qkv_isa_name(qkv_bench::active_isa()) + "/t" +
                 std::to_string(threads));
}

// ---- The breakdown ---------------------------------------------------------

// Milliseconds of the calls made inside it, by part name, in order of first
// use: wall time and the process's CPU time (all threads). Calls of one name
// add up within a run (the L blocks, a block's two norms); next() closes a
// run, and a part's figure is its median over the runs.
struct parts {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> wall, cpu;
  std::size_t runs = 0;
  template <class F>
  void time(const std::string& name, F&& f) {
    const double t0 = qkv_bench::now_s(), c0 = cpu_s();
    f();
    const double c1 = cpu_s(), t1 = qkv_bench::now_s();
    if (!wall.count(name)) order.push_back(name);
    for (auto* m : {&wall, &cpu}) (*m)[name].resize(runs + 1, 0.0);
    wall[name][runs] += 1e3 * (t1 - t0);
    cpu[name][runs] += 1e3 * (c1 - c0);
  }
  void next() { ++runs; }
  double median(bool use_cpu, const std::string& name) const {
    const auto& m = use_cpu ? cpu : wall;
    return m.count(name) ? qkv_bench::median(m.at(name)) : 0.0;
  }
};

// The step of trainer::step() with a clock around every top-level call:
// gpt_forward, gpt_backward and the optimizer of examples/gpt.h written out
// call by call (the same calls on the same buffers, in the same order).
void instrumented_step(trainer& tr, parts& p) {
  const gpt_model& m = tr.m;
  gpt_acts& a = tr.a;
  const std::size_t d = m.cfg.d_model, V = m.cfg.vocab, N = a.B * a.T, L = m.cfg.layers;
  float* P = tr.params.data();
  float* G = tr.grads.data();
  std::size_t bad = 0;
  float loss = 0.f, norm = 0.f;
  const std::uint64_t seed = gpt_hash(++tr.t);
  a.dropout_seed = seed;
  p.time("embedding_fwd", [&] {
    check(qkv_embedding_forward(&m.emb, a.B, a.T, 0, a.ids, P + m.off_wte, P + m.off_wpe, a.res, d, &bad), "emb");
  });
  for (std::size_t l = 0; l < L; ++l) {
    const qkv_block_desc b = gpt_block_desc(&m, seed, l);
    p.time("blocks_fwd", [&] {
      check(qkv_block_forward(&b, gpt_block(&m, P, l), a.B, a.T, a.res + l * N * d, a.res + (l + 1) * N * d, 1,
                              a.cache[l], a.cache_bytes, a.ws, a.ws_bytes),
            "block_forward");
    });
  }
  p.time("final_norm_fwd", [&] {
    check(gpt_norm_forward(&m, N, a.res + L * N * d, P + m.off_lnf_g, P + m.off_lnf_b, a.h, a.mean, a.rstd), "lnf");
  });
  p.time("head_gemm_fwd", [&] {
    check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, N, V, d, 1.0f, a.h, d, P + m.off_wte, d, 0.0f, a.logits, V, a.ws,
                       a.ws_bytes),
          "head");
  });
  p.time("cross_entropy", [&] {
    check(qkv_cross_entropy_forward_backward(N, V, a.logits, V, a.targets, -1, 1.0f, &loss, a.logits, V), "ce");
  });
  p.time("head_gemm_bwd_dw", [&] {
    check(qkv_sgemm_ws(QKV_TRANS, QKV_NO_TRANS, V, d, N, 1.0f, a.logits, V, a.h, d, 1.0f, G + m.off_wte, d, a.ws,
                       a.ws_bytes),
          "head dW");
  });
  p.time("head_gemm_bwd_dx", [&] {
    check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, N, d, V, 1.0f, a.logits, V, P + m.off_wte, d, 0.0f, a.dh, d,
                       a.ws, a.ws_bytes),
          "head dX");
  });
  p.time("final_norm_bwd", [&] {
    check(gpt_norm_backward(&m, N, a.res + L * N * d, P + m.off_lnf_g, a.mean, a.rstd, a.dh, a.dx, G + m.off_lnf_g,
                            G + m.off_lnf_b),
          "lnf bwd");
  });
  for (std::size_t l = L; l-- > 0;) {
    const qkv_block_desc b = gpt_block_desc(&m, seed, l);
    p.time("blocks_bwd", [&] {
      check(qkv_block_backward(&b, gpt_block(&m, P, l), a.B, a.T, a.res + l * N * d, a.cache[l], a.cache_bytes, a.dx,
                               a.dx, gpt_block(&m, G, l), a.ws, a.ws_bytes),
            "block_backward");
    });
  }
  p.time("embedding_bwd", [&] {
    check(qkv_embedding_backward(&m.emb, a.B, a.T, 0, a.ids, a.dx, d, G + m.off_wte, G + m.off_wpe, &bad), "emb bwd");
  });
  // gpt_optimizer_step's two calls: the norm and clip factor, then AdamW on
  // the scaled gradient, zeroing it (one pass).
  float scale = 1.f;
  p.time("grad_norm", [&] { check(qkv_grad_clip_scale(G, m.count, 1.0f, &norm, &scale), "clip scale"); });
  p.time("adamw", [&] { check(gpt_adamw_step_ex(&m, &tr.opt, tr.t, scale, 1, P, G, tr.adam.data()), "adamw"); });
}

// One block's forward and backward cut into the public calls the block makes
// internally (src/ops/block.cpp, pre-norm, no dropout), at the step's shapes,
// on layer 0's parameters and input; the whole block calls are timed too, on
// the same data, so that what the cut leaves out shows as "block_other"
// (residual starts, bias column sums, copies).
struct block_cut {
  std::size_t B, T, N, D, F;
  qkv_block_desc bd{};
  qkv_mha_desc ad{};
  qkv_sdpa_desc sd{};
  std::vector<float> G, n1, mean1, rstd1, att, r, n2, mean2, rstd2, pre, h, y, dy, dh, dn, gr, t2;
  std::vector<float> q, k, v, o, lse, dq, dk, dv;
  std::vector<unsigned char> mcache, bcache_raw, ws;
  unsigned char* bcache = nullptr;
  std::size_t mcache_bytes = 0, bcache_bytes = 0;

  block_cut(const trainer& tr) : B(tr.a.B), T(tr.a.T), N(B * T), D(tr.m.cfg.d_model), F(tr.m.cfg.d_ff) {
    const int th = tr.threads;
    bd = tr.m.block;
    check(qkv_block_attention_desc(&bd, &ad), "attention desc");
    G.assign(tr.m.block_floats, 0.f);
    for (auto* v_ : {&n1, &att, &r, &n2, &y, &dy, &dn, &gr, &t2, &q, &k, &v, &o, &dq, &dk, &dv}) v_->assign(N * D, 0.f);
    for (auto* v_ : {&mean1, &rstd1, &mean2, &rstd2}) v_->assign(N, 0.f);
    for (auto* v_ : {&pre, &h, &dh}) v_->assign(N * F, 0.f);
    lse.assign(B * bd.num_heads * T, 0.f);
    for (std::size_t i = 0; i < N * D; ++i) dy[i] = 1e-3f * gpt_normal(7, i);
    check(qkv_mha_cache_size(&ad, B, T, &mcache_bytes), "mha cache");
    mcache.assign(mcache_bytes + 64, 0);
    check(qkv_block_cache_size(&bd, B, T, &bcache_bytes), "block cache");
    bcache_raw.assign(bcache_bytes + 64, 0);
    bcache = bcache_raw.data() + (64 - reinterpret_cast<std::uintptr_t>(bcache_raw.data()) % 64) % 64;
    // The attention core as the layer runs it: Q, K, V, O rows [B][T][H][d_h].
    sd.batch = B, sd.heads = bd.num_heads, sd.q_len = sd.kv_len = T, sd.head_dim = D / bd.num_heads;
    sd.q = sd.k = sd.v = sd.o = qkv_sdpa_strides{T * D, D / bd.num_heads, D};
    sd.causal = 1;
    std::size_t w = 0, s = 0;
    auto grow = [&](qkv_status st) {
      check(st, "workspace query");
      w = std::max(w, s);
    };
    grow(qkv_block_forward_workspace_size(&bd, B, T, th, &s));
    grow(qkv_block_backward_workspace_size(&bd, B, T, th, &s));
    grow(qkv_mha_forward_workspace_size(&ad, B, T, th, &s));
    grow(qkv_mha_backward_workspace_size(&ad, B, T, th, &s));
    grow(qkv_sdpa_workspace_size(&sd, th, &s));
    grow(qkv_sdpa_backward_workspace_size(&sd, th, &s));
    grow(qkv_sgemm_bias_act_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, N, F, D, th, &s));
    const struct {
      qkv_trans ta, tb;
      std::size_t M, Nn, K;
    } g[] = {{QKV_NO_TRANS, QKV_NO_TRANS, N, D, D}, {QKV_NO_TRANS, QKV_NO_TRANS, N, D, F},
             {QKV_TRANS, QKV_NO_TRANS, F, D, N},    {QKV_NO_TRANS, QKV_TRANS, N, F, D},
             {QKV_TRANS, QKV_NO_TRANS, D, F, N},    {QKV_NO_TRANS, QKV_TRANS, N, D, F},
             {QKV_TRANS, QKV_NO_TRANS, D, D, N},    {QKV_NO_TRANS, QKV_TRANS, N, D, D}};
    for (const auto& e : g) grow(qkv_sgemm_workspace_size(e.ta, e.tb, e.M, e.Nn, e.K, th, &s));
    ws.assign(w + 64, 0);
  }

  // Adds to p: the ops of one block forward + backward (names "blk_*"), the
  // attention core on its own ("core_*", also inside "blk_attn_layer_*"), and
  // the whole block calls ("whole_block_*").
  void run(const trainer& tr, parts& p) {
    const float* x = tr.a.res;  // layer 0's input: the embedding output
    const float* P = gpt_block(&tr.m, const_cast<float*>(tr.params.data()), 0);
    const qkv_block_layout& Ly = tr.m.lay;
    const float eps = GPT_NORM_EPS;
    void* W = ws.data();
    const std::size_t Wb = ws.size();
    std::vector<float> dxb(N * D);
    p.time("whole_block_fwd", [&] {
      check(qkv_block_forward(&bd, P, B, T, x, y.data(), 1, bcache, bcache_bytes, W, Wb), "block fwd");
    });
    p.time("whole_block_bwd", [&] {
      check(qkv_block_backward(&bd, P, B, T, x, bcache, bcache_bytes, dy.data(), dxb.data(), G.data(), W, Wb),
            "block bwd");
    });
    // Forward: N1 = LN1(X); A = attn(N1); R = X + A W_o + b_o; N2 = LN2(R);
    // H = gelu(N2 W_up + b_up); Y = R + H W_down + b_down.
    p.time("blk_layernorm_fwd", [&] {
      check(qkv_layernorm_forward(N, D, eps, x, D, P + Ly.norm1_g, P + Ly.norm1_b, n1.data(), D, mean1.data(),
                                  rstd1.data()),
            "ln1");
    });
    p.time("blk_attn_layer_fwd", [&] {
      check(qkv_mha_forward(&ad, P + Ly.w_q, B, T, n1.data(), att.data(), 1, mcache.data(), mcache_bytes, W, Wb),
            "mha fwd");
    });
    std::memcpy(r.data(), x, N * D * sizeof(float));  // the block starts R as X + b_o ("other")
    p.time("blk_gemm_out_fwd", [&] {
      check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, N, D, D, 1.f, att.data(), D, P + Ly.w_o, D, 1.f, r.data(), D,
                         W, Wb),
            "out proj");
    });
    p.time("blk_layernorm_fwd", [&] {
      check(qkv_layernorm_forward(N, D, eps, r.data(), D, P + Ly.norm2_g, P + Ly.norm2_b, n2.data(), D,
                                  mean2.data(), rstd2.data()),
            "ln2");
    });
    p.time("blk_gemm_up_gelu_fwd", [&] {
      check(qkv_sgemm_bias_act(QKV_NO_TRANS, QKV_NO_TRANS, N, F, D, n2.data(), D, P + Ly.w_up, F, P + Ly.b_up,
                               QKV_ACT_GELU_TANH, pre.data(), F, h.data(), F, W, Wb),
            "up");
    });
    std::memcpy(y.data(), r.data(), N * D * sizeof(float));
    p.time("blk_gemm_down_fwd", [&] {
      check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_NO_TRANS, N, D, F, 1.f, h.data(), F, P + Ly.w_down, D, 1.f, y.data(), D, W,
                         Wb),
            "down");
    });
    // Backward, in the block's order.
    float* Gp = G.data();
    p.time("blk_gemm_down_bwd_dw", [&] {
      check(qkv_sgemm_ws(QKV_TRANS, QKV_NO_TRANS, F, D, N, 1.f, h.data(), F, dy.data(), D, 1.f, Gp + Ly.w_down, D, W,
                         Wb),
            "dW_down");
    });
    p.time("blk_gemm_down_bwd_dx", [&] {
      check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, N, F, D, 1.f, dy.data(), D, P + Ly.w_down, D, 0.f, dh.data(), F, W,
                         Wb),
            "dH");
    });
    p.time("blk_gelu_bwd", [&] {
      check(qkv_activation_backward(QKV_ACT_GELU_TANH, N, F, pre.data(), F, dh.data(), F, dh.data(), F), "gelu bwd");
    });
    p.time("blk_gemm_up_bwd_dw", [&] {
      check(qkv_sgemm_ws(QKV_TRANS, QKV_NO_TRANS, D, F, N, 1.f, n2.data(), D, dh.data(), F, 1.f, Gp + Ly.w_up, F, W,
                         Wb),
            "dW_up");
    });
    p.time("blk_gemm_up_bwd_dx", [&] {
      check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, N, D, F, 1.f, dh.data(), F, P + Ly.w_up, F, 0.f, dn.data(), D, W,
                         Wb),
            "dN2");
    });
    std::memcpy(gr.data(), dy.data(), N * D * sizeof(float));  // dR = dY + LN2'(dN2)
    p.time("blk_layernorm_bwd", [&] {
      check(qkv_layernorm_backward(N, D, r.data(), D, P + Ly.norm2_g, mean2.data(), rstd2.data(), dn.data(), D,
                                   gr.data(), D, 1, Gp + Ly.norm2_g, Gp + Ly.norm2_b),
            "ln2 bwd");
    });
    p.time("blk_gemm_out_bwd_dw", [&] {
      check(qkv_sgemm_ws(QKV_TRANS, QKV_NO_TRANS, D, D, N, 1.f, att.data(), D, gr.data(), D, 1.f, Gp + Ly.w_o, D, W,
                         Wb),
            "dW_o");
    });
    p.time("blk_gemm_out_bwd_dx", [&] {
      check(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, N, D, D, 1.f, gr.data(), D, P + Ly.w_o, D, 0.f, t2.data(), D, W, Wb),
            "dA");
    });
    p.time("blk_attn_layer_bwd", [&] {
      check(qkv_mha_backward(&ad, P + Ly.w_q, B, T, n1.data(), mcache.data(), mcache_bytes, t2.data(), dn.data(),
                             Gp + Ly.w_q, W, Wb),
            "mha bwd");
    });
    p.time("blk_layernorm_bwd", [&] {
      check(qkv_layernorm_backward(N, D, x, D, P + Ly.norm1_g, mean1.data(), rstd1.data(), dn.data(), D, gr.data(),
                                   D, 1, Gp + Ly.norm1_g, Gp + Ly.norm1_b),
            "ln1 bwd");
    });
    // The attention core alone (inside blk_attn_layer_*): Q, K, V from N1.
    for (std::size_t i = 0; i < N * D; ++i) q[i] = n1[i], k[i] = n1[(i + D) % (N * D)], v[i] = n1[i] * 0.5f;
    p.time("core_sdpa_fwd", [&] {
      check(qkv_sdpa_forward(&sd, q.data(), k.data(), v.data(), o.data(), lse.data(), W, Wb), "sdpa fwd");
    });
    p.time("core_sdpa_bwd", [&] {
      check(qkv_sdpa_backward(&sd, q.data(), k.data(), v.data(), o.data(), lse.data(), dy.data(), dq.data(), dk.data(),
                              dv.data(), W, Wb),
            "sdpa bwd");
    });
  }
};

// Args: batch, threads (GPT-2 small). Per iteration: one step of
// trainer::step() (step_ms), the same step with a clock around each
// top-level call, and one block cut into its calls three times; every part
// is the median of its runs. Each call is timed on the
// wall clock and on the process's CPU clock; the rows use CPU time with 1
// thread (on this shared host the wall time of one call includes whatever
// time other processes held the core) and wall time with more (the label
// says which). Counters: ms of each part per step (block parts times L) and
// its % of the instrumented step; the table (both clocks, GFLOP/s of the
// products) is printed to stderr.
void BM_gpt_step_breakdown(benchmark::State& state) {
  const auto B = std::size_t(state.range(0));
  const int threads = int(state.range(1));
  const bool use_cpu = threads == 1;
  qkv_set_num_threads(threads);
  trainer tr(0, B, threads);
  tr.step();
  block_cut cut(tr);
  parts top, blk;
  std::vector<double> step_ms, step_cpu_ms;
  for (auto _ : state) {
    const double t0 = qkv_bench::now_s(), c0 = cpu_s();
    tr.step();
    step_cpu_ms.push_back(1e3 * (cpu_s() - c0));
    step_ms.push_back(1e3 * (qkv_bench::now_s() - t0));
    instrumented_step(tr, top);
    top.next();
    for (int rep = 0; rep < 3; ++rep) {  // a block is ~1/L of the step: three cuts per step
      cut.run(tr, blk);
      blk.next();
    }
  }
  const double L = double(tr.m.cfg.layers);
  const double N = double(B * tr.a.T), d = double(tr.m.cfg.d_model), F = double(tr.m.cfg.d_ff);
  const double T = double(tr.a.T), V = double(tr.m.cfg.vocab);
  struct row {
    const char* key;
    std::string name;
    double flops, ms[2];  // per step; ms by wall (0) and CPU (1) time
  };
  std::vector<row> rows;
  double total[2] = {0, 0}, blocks[2] = {0, 0}, cut_sum[2] = {0, 0}, whole[2] = {0, 0};
  for (int c = 0; c < 2; ++c) {
    const parts& tm = top;
    const parts& bm = blk;
    auto avg = [&](const parts& p, const std::string& n) { return p.median(c == 1, n); };
    for (const auto& n : top.order) total[c] += avg(tm, n);
    blocks[c] = avg(tm, "blocks_fwd") + avg(tm, "blocks_bwd");
    whole[c] = avg(bm, "whole_block_fwd") + avg(bm, "whole_block_bwd");
    for (const auto& n : blk.order)
      if (n.rfind("blk_", 0) == 0) cut_sum[c] += avg(bm, n);
    const double core = avg(bm, "core_sdpa_fwd") + avg(bm, "core_sdpa_bwd");
    const double layer = avg(bm, "blk_attn_layer_fwd") + avg(bm, "blk_attn_layer_bwd");
    // One block's calls times L, what the blocks' measured time has beyond
    // them ("block_other"), then the top-level calls as measured.
    std::vector<row> r = {
        {"attn_core", "attention core (sdpa fwd + bwd) x L", L * 3 * 2 * double(B) * d * T * (T + 1), {0, 0}},
        {"attn_proj", "attention layer less its core (Q,K,V GEMMs) x L", L * 18 * N * d * d, {0, 0}},
        {"gemm_out_fwd", "out projection GEMM fwd x L", L * 2 * N * d * d, {0, 0}},
        {"gemm_out_bwd_dw", "out projection bwd dW = A^T dR (TN) x L", L * 2 * N * d * d, {0, 0}},
        {"gemm_out_bwd_dx", "out projection bwd dA = dR W^T (NT) x L", L * 2 * N * d * d, {0, 0}},
        {"gemm_up_gelu_fwd", "FFN up GEMM + bias + GELU fwd x L", L * 2 * N * d * F, {0, 0}},
        {"gemm_up_bwd_dw", "FFN up bwd dW = N2^T dP (TN, d x F x N) x L", L * 2 * N * d * F, {0, 0}},
        {"gemm_up_bwd_dx", "FFN up bwd dN2 = dP W^T (NT, N x d x F) x L", L * 2 * N * d * F, {0, 0}},
        {"gemm_down_fwd", "FFN down GEMM fwd x L", L * 2 * N * d * F, {0, 0}},
        {"gemm_down_bwd_dw", "FFN down bwd dW = H^T dY (TN, F x d x N) x L", L * 2 * N * d * F, {0, 0}},
        {"gemm_down_bwd_dx", "FFN down bwd dH = dY W^T (NT, N x F x d) x L", L * 2 * N * d * F, {0, 0}},
        {"layernorm_fwd", "LayerNorm fwd (2 per block) x L", 0, {0, 0}},
        {"layernorm_bwd", "LayerNorm bwd (2 per block) x L", 0, {0, 0}},
        {"gelu_bwd", "GELU bwd x L", 0, {0, 0}},
        {"block_other", "block other (blocks - L x cut)", 0, {0, 0}},
        {"head_gemm_fwd", "LM head GEMM fwd", 2 * N * d * V, {0, 0}},
        {"head_gemm_bwd_dw", "LM head bwd dWte += dZ^T h (TN, V x d x N)", 2 * N * d * V, {0, 0}},
        {"head_gemm_bwd_dx", "LM head bwd dh = dZ Wte (NN, N x d x V)", 2 * N * d * V, {0, 0}},
        {"cross_entropy", "cross-entropy fwd + bwd", 0, {0, 0}},
        {"final_norm", "final LayerNorm fwd + bwd", 0, {0, 0}},
        {"embedding", "embeddings fwd + bwd", 0, {0, 0}},
        {"grad_norm", "gradient norm, clip factor", 0, {0, 0}},
        {"adamw", "AdamW + clip scaling + zeroing (one pass)", 0, {0, 0}}};
    auto val = [&](const std::string& key) -> double {
      if (key == "attn_core") return L * core;
      if (key == "attn_proj") return L * (layer - core);
      if (key == "block_other") return blocks[c] - L * cut_sum[c];
      if (key == "final_norm") return avg(tm, "final_norm_fwd") + avg(tm, "final_norm_bwd");
      if (key == "embedding") return avg(tm, "embedding_fwd") + avg(tm, "embedding_bwd");
      if (bm.wall.count("blk_" + key)) return L * avg(bm, "blk_" + key);
      return avg(tm, key);
    };
    if (rows.empty()) rows = r;
    for (auto& rw : rows) rw.ms[c] = val(rw.key);
  }
  const int k = use_cpu ? 1 : 0;
  std::fprintf(stderr,
               "\nGPT-2 small step B%zu T%zu, %d thread(s), %s, rows by %s time: step %.1f ms wall, %.1f ms CPU "
               "(median of %zu); instrumented step (sum of the parts' medians) %.1f ms wall, %.1f ms CPU\n",
               B, tr.a.T, threads, qkv_isa_name(qkv_bench::active_isa()), use_cpu ? "CPU" : "wall",
               qkv_bench::median(step_ms), qkv_bench::median(step_cpu_ms), step_ms.size(), total[0], total[1]);
  std::fprintf(stderr,
               "blocks %.1f ms = %zu x %.1f (%s); one block cut into calls %.1f ms, the whole block calls %.1f ms "
               "(cut / whole %.3f)\n",
               blocks[k], tr.m.cfg.layers, blocks[k] / L, use_cpu ? "CPU" : "wall", cut_sum[k], whole[k],
               cut_sum[k] / whole[k]);
  std::fprintf(stderr, "%-50s %9s %9s %6s %8s\n", "part", "wall ms", "CPU ms", "%", "GFLOP/s");
  for (const auto& rw : rows) {
    std::fprintf(stderr, "%-50s %9.1f %9.1f %6.1f", rw.name.c_str(), rw.ms[0], rw.ms[1], 100.0 * rw.ms[k] / total[k]);
    if (rw.flops > 0 && rw.ms[k] > 0)
      std::fprintf(stderr, " %8.1f\n", rw.flops / rw.ms[k] * 1e-6);
    else
      std::fprintf(stderr, "\n");
    state.counters[std::string("ms_") + rw.key] = rw.ms[k];
    state.counters[std::string("pct_") + rw.key] = 100.0 * rw.ms[k] / total[k];
  }
  const double core_f = blk.median(use_cpu, "core_sdpa_fwd"), core_b = blk.median(use_cpu, "core_sdpa_bwd");
  const double core_flops = 4.0 * double(B) * d * T * (T + 1) / 2;  // one layer's forward
  std::fprintf(stderr, "attention core per layer: forward %.1f ms (%.1f GFLOP/s), backward %.1f ms (%.1f GFLOP/s)\n",
               core_f, core_flops / core_f * 1e-6, core_b, 2 * core_flops / core_b * 1e-6);
  state.counters["step_ms"] = qkv_bench::median(use_cpu ? step_cpu_ms : step_ms);
  state.counters["parts_sum_ms"] = total[k];
  state.counters["cut_over_block"] = cut_sum[k] / whole[k];
  state.SetLabel(std::string("gpt2_small/") + qkv_isa_name(qkv_bench::active_isa()) + "/t" +
                 std::to_string(threads) + (use_cpu ? "/cpu-time" : "/wall-time"));
}

BENCHMARK(BM_gpt_train_step)
    ->ArgNames({"model", "batch", "threads"})
    ->Args({0, 1, 1})
    ->Args({0, 1, 2})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_train_step)
    ->ArgNames({"model", "batch", "threads"})
    ->Args({0, 4, 1})
    ->Args({0, 4, 2})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_train_step)
    ->ArgNames({"model", "batch", "threads"})
    ->Args({1, 16, 1})
    ->Args({1, 16, 2})
    ->MinTime(2.0)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_train_pair)
    ->ArgNames({"model", "batch", "threads", "mirror"})
    ->Args({0, 1, 1, 1})
    ->Args({0, 1, 2, 1})
    ->Args({0, 1, 1, 0})
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_train_pair)
    ->ArgNames({"model", "batch", "threads", "mirror"})
    ->Args({1, 16, 1, 1})
    ->Args({1, 16, 2, 1})
    ->Iterations(40)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_step_breakdown)
    ->ArgNames({"batch", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gpt_step_breakdown)
    ->ArgNames({"batch", "threads"})
    ->Args({4, 1})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
