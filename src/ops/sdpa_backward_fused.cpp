// SPDX-License-Identifier: MIT
// The fused attention backward (FlashAttention-2 on a CPU). Per (b, h), key
// tile j and query tile i, with P recomputed from Q, K and the saved lse:
//   S = Qs_i K_jᵀ with Qs = fl(scale Q), dP = dO_i V_jᵀ, P = exp(S - lse),
//   m = dropout mask, dS = P (dP m - D) with D = rowsum(dO ∘ O),
//   (soft-capping: S <- c tanh(S / c) before the masks, and dS <- dS (1 - tanh²),
//   the factor from the same recomputed S; the chain through scale as without),
//   dV_j += (P m)ᵀ dO_i,  dK_j += dSᵀ Qs_i,  dQ_i += dS K_j (times scale once, at the end).
// S is the fused forward's score bit for bit (the same products of Qs and K,
// summed in the same order with the same fma) and P uses its exp: with its
// lse, a one-hot row's weight is exactly 1, however large the logits (an ulp
// of a logit of 1e4 is 1e-3 of the weight).
// Tiles no query of the tile sees (above the causal diagonal, before the
// window, past a sequence's length) are skipped; the additive mask and the
// window's edge are applied to S as the forward does (-INFINITY gives P 0).
// Grouped-query attention: the query heads of a K/V head's group all add
// into its dK and dV. Determinism without atomics: dK_j and dV_j are owned
// by the task of key tile j of a K/V head, which walks the group's heads,
// then i, in order; dQ_i is summed over j in order. Two schedules give the
// same bits:
//  - per_head: one task per (b, K/V head) walks blocks of key tiles, in each
//    the group's query tiles, and also accumulates dQ (10 matmul units of
//    work for the 8 counted);
//  - split: tasks over key blocks (dK, dV) and over query groups (dQ, which
//    recomputes S and dP: 14 units), for when B*H is too small to share.
// Every GEMM is called with the same tile shapes in both and sums each
// element in a fixed order, so which schedule and thread ran it is invisible.
#include <cmath>
#include <cstdint>

#include "kernels/attn_bf16/attn_bf16.hpp"
#include "kernels/attn_bf16/attn_bf16_amx.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/dropout_rng.hpp"
#include "ops/sdpa_backward.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using fused_step::key_range;
using fused_step::keys_of_row;
using fused_step::keys_of_rows;
using fused_step::seq;
using fused_step::seq_of;
using fused_step::sees_whole_block;

constexpr std::size_t kBr = 64;           // query rows per tile
constexpr std::size_t kBc = 64;           // keys per tile
constexpr std::size_t kBlockTiles = 4;    // key tiles held at once: amortizes packing Q_i and dO_i
constexpr std::size_t kGroupTiles = 8;    // query tiles per dQ task (split): amortizes packing K_j, V_j
constexpr std::size_t kDqBudget = 1u << 20;  // bytes of a per-head dQ accumulator copy
// Whether dQ accumulates in a copy also where the caller's rows could take
// it (hosted builds; bare metal keeps the workspace small).
#ifdef QKV_HOSTED
constexpr bool kDqCopyAlways = true;
#else
constexpr bool kDqCopyAlways = false;
#endif
constexpr std::size_t kPad = kern::kAttnBwdPad;
constexpr std::size_t kChunk = 12;        // rows / keys per product on a causal-diagonal tile (2 x MR)

using util::round_up;
std::size_t ceil_div(std::size_t x, std::size_t m) { return (x + m - 1) / m; }

enum class schedule { per_head, split };

// Whether any ISA of this build has an attn_bf16 set: where none does (bare
// metal among others) bf16 mode's branches compile away.
#ifdef QKV_HAVE_AVX512_BF16
constexpr bool kDotBuilt = true;
#else
constexpr bool kDotBuilt = false;
#endif

// bf16 mode's kernels: where the plan asks for it and the forward multiplied
// in bf16 too (sdpa_bf16_dot_usable: the same decision).
const kern::attn_bf16_kernels* dot_set(const sdpa_plan& p) {
#ifdef QKV_HAVE_AMX
  // The backward of an AMX forward: bf16 mode with its products on AMX tiles,
  // whose scores are the forward's bits (attn_bf16_amx.hpp).
  if (p.amx_scores && sdpa_amx_forward(p, QKV_DTYPE_BF16)) return kern::attn_bf16_amx_set();
#endif
  return kDotBuilt && p.bf16_dot && sdpa_bf16_dot_usable(p) ? kern::attn_bf16_for(p.x.isa) : nullptr;
}
std::size_t half(std::size_t n) { return (n + 1) / 2; }

struct geometry {
  std::size_t B, H, KVH, G, Tq, Tk, D, Dv;  // G = H / KVH query heads per K/V head
  std::size_t br, bc, bcp, dp, dvp, nq, nk, nkb, gr, ng;
  // dQ accumulates in a contiguous padded copy, scaled into the caller's rows
  // at the end: always when head_dim is not a multiple of kPad, and (hosted)
  // whenever per_head's copy of a group fits kDqBudget: every tile pair reads
  // and writes its dQ rows, which in the caller's tensor are token strides
  // apart (a [B,T,H,d] tile's rows crowd a few L1 sets and span ~a page each).
  bool dq_copy;
  const kern::attn_bf16_kernels* dot;  // bf16 mode (plan bf16_dot): the products on bf16 pairs; else null
#ifdef QKV_HAVE_AMX
  bool amx;       // dot is the AMX set: tasks configure the tiles
  bool amx_room;  // the plan asks for amx_scores: bf16 mode's buffers are sized on any CPU
#endif

  explicit geometry(const sdpa_plan& p)
      : B(p.batch), H(p.heads), KVH(p.kv_heads), G(p.group), Tq(p.q_len), Tk(p.kv_len), D(p.head_dim),
        Dv(p.v_dim), dot(dot_set(p)) {
#ifdef QKV_HAVE_AMX
    amx_room = p.amx_scores;
    amx = dot && dot == kern::attn_bf16_amx_set();
#endif
    br = Tq < kBr ? Tq : kBr;
    bc = Tk < kBc ? Tk : kBc;
    bcp = round_up(bc, kPad);
    dp = round_up(D, kPad);
    dvp = round_up(Dv, kPad);
    nq = ceil_div(Tq, br);
    nk = ceil_div(Tk, bc);
    nkb = ceil_div(nk, kBlockTiles);
    gr = br * kGroupTiles < Tq ? br * kGroupTiles : Tq;
    ng = ceil_div(Tq, gr);
    dq_copy = D % kPad != 0 || (kDqCopyAlways && G * Tq * dp * sizeof(float) <= kDqBudget);
  }
  // per_head holds the dQ of a whole group when it accumulates in a padded copy.
  bool dq_fits_per_head() const { return !dq_copy || G * Tq * dp * sizeof(float) <= kDqBudget; }
};

// Packed key tile j and its gradient accumulators.
struct key_bufs {
  float *kt, *vt;  // K_jᵀ [D][bcp], V_jᵀ [Dv][bcp], zero-padded columns
  float *kp;       // K_j rows [bc][dp]
  float *dk, *dv;  // accumulators [bc][dp], [bc][dvp]; dv first stages V_j rows for the transpose
  // bf16 mode, in kt, vt and kp's places (the same struct layout: Cortex-M
  // code size): K_j and V_j paired along features, [D/2][bcp] and
  // [Dv/2][bcp] (zero keys to bcp), and K_j paired along keys [bc/2][dp].
  std::uint32_t* kc() const { return reinterpret_cast<std::uint32_t*>(kt); }
  std::uint32_t* vc() const { return reinterpret_cast<std::uint32_t*>(vt); }
  std::uint32_t* kr() const { return reinterpret_cast<std::uint32_t*>(kp); }
};

// One thread's scratch.
struct tbufs {
  key_bufs key[kBlockTiles];
  float *qp, *dop;       // Q rows [rows][dp], dO rows [rows][dvp]
  float *s, *dpm, *drop; // [br][bcp]: scores -> P m, dP -> dS, dropout multipliers
  float* dcap;           // [br][bcp]: 1 - tanh² of the soft-capped scores (softcap != 0)
  float *dq;             // dQ accumulator [rows][dp] (dq_copy)
  float* Dr;             // D = rowsum(dO ∘ O) for [rows]
  std::size_t* valid;    // visible keys per row of the current tile [br]
  // bf16 mode: Q and dO paired along features (bf16 rows, in qp and dop's
  // places) [rows][D/2], [rows][Dv/2] and along rows [rows/2][dp],
  // [rows/2][dvp]; P m and dS paired along rows [br/2][bcp], dS along keys
  // (rows) [br][bcp/2].
  std::uint32_t* qc() const { return reinterpret_cast<std::uint32_t*>(qp); }
  std::uint32_t* doc() const { return reinterpret_cast<std::uint32_t*>(dop); }
  std::uint32_t *qr, *dor, *pr, *dsr, *dsc;
};

// Layout of one thread's scratch; `rows` = query rows a task holds at once
// (G * Tq per K/V head, gr for a dQ group, br for a key tile).
tbufs carve(ws_carver& w, const geometry& g, schedule sc, bool dropout, bool softcap) {
  const std::size_t rows = sc == schedule::per_head ? g.G * g.Tq : g.gr;
  const std::size_t prow = sc == schedule::per_head ? g.br : g.gr;  // rows of packed Q / dO
  auto t = util::zeroed<tbufs>();
  // A block holds at most nk key tiles: the others are never carved (null).
  const bool f = !kDotBuilt || !g.dot;  // the fp32 products' buffers, or bf16 mode's (4-byte pairs)
  for (std::size_t i = 0; i < kBlockTiles && i < g.nk; ++i) {
    key_bufs& k = t.key[i];
    k.kt = w.take<float>(f ? g.D * g.bcp : half(g.D) * g.bcp);
    k.vt = w.take<float>(f ? g.Dv * g.bcp : half(g.Dv) * g.bcp);
    k.kp = w.take<float>(f ? g.bc * g.dp : half(g.bc) * g.dp);
    k.dk = w.take<float>(g.bc * g.dp);
    k.dv = w.take<float>(g.bc * g.dvp);
  }
  t.qp = w.take<float>(f ? prow * g.dp : prow * half(g.D));
  t.dop = w.take<float>(f ? prow * g.dvp : prow * half(g.Dv));
  if (!f) {
    t.qr = w.take<std::uint32_t>(half(prow) * g.dp);
    t.dor = w.take<std::uint32_t>(half(prow) * g.dvp);
    t.pr = w.take<std::uint32_t>(half(g.br) * g.bcp);
    t.dsr = w.take<std::uint32_t>(half(g.br) * g.bcp);
    t.dsc = w.take<std::uint32_t>(half(g.bcp) * g.br);
  }
  t.s = w.take<float>(g.br * g.bcp);
  t.dpm = w.take<float>(g.br * g.bcp);
  t.drop = w.take<float>(dropout ? g.br * g.bcp : 0);
  t.dcap = w.take<float>(softcap ? g.br * g.bcp : 0);
  t.dq = w.take<float>(g.dq_copy ? rows * g.dp : 0);
  t.Dr = w.take<float>(rows);
  t.valid = w.take<std::size_t>(g.br);
  return t;
}

bool thread_bytes(const geometry& g, schedule sc, bool dropout, bool softcap, std::size_t* bytes) {
  ws_carver w;
  carve(w, g, sc, dropout, softcap);
  if (!w.size(bytes)) return false;
#ifdef QKV_HAVE_AMX
  if (g.amx_room && !g.dot) {  // the AMX backward's bf16 mode on another CPU: room for it too
    geometry b = g;
    b.dot = kern::attn_bf16_for(QKV_ISA_AVX512_BF16);
    ws_carver v;
    carve(v, b, sc, dropout, softcap);
    std::size_t other;
    if (!v.size(&other)) return false;
    if (other > *bytes) *bytes = other;
  }
#endif
  return true;
}

// A row-major operand: base pointer and leading dimension.
struct mat {
  float* p;
  std::size_t ld;
  float* row(std::size_t r) const { return p + r * ld; }
};
struct cmat {
  const float* p;
  std::size_t ld;
  const float* row(std::size_t r) const { return p + r * ld; }
};

// bf16 mode: a block of query rows as pairs, Q and dO along features (bf16
// rows: row r at qc + r hd, hd = ceil(D/2) pairs) and along rows (rows r,
// r + 1 at qr + r/2 dp).
struct qpairs {
  const std::uint32_t *qc, *doc, *qr, *dor;
  std::size_t hd, hdv, dp, dvp;
  qpairs at(std::size_t r0) const {  // r0 even
    return {qc + r0 * hd, doc + r0 * hdv, qr ? qr + r0 / 2 * dp : nullptr, dor ? dor + r0 / 2 * dvp : nullptr,
            hd, hdv, dp, dvp};
  }
};

class fused_backward {
 public:
  fused_backward(const sdpa_bwd_args& a, const geometry& g)
      : a_(a), p_(a.plan), g_(g), kern_(kern::attn_bwd_for(a.plan.x.isa)), bk_(g.dot),
        dot_(kern::vec_for(a.plan.x.isa).dot) {
    dropout_ = p_.dropout_p > 0.f;
    thresh_ = dropout::threshold(p_.dropout_p);
    drop_scale_ = 1.0f / (1.0f - p_.dropout_p);
  }

  // Task of schedule per_head: everything of K/V head `bg` (b * KVH + K/V
  // head) and its group of query heads.
  void run_head(std::size_t bg, const tbufs& t) const {
    const std::size_t b = bg / g_.KVH, h0 = bg % g_.KVH * g_.G;
    for (std::size_t gi = 0; gi < g_.G; ++gi) {
      const head h = head_at(b * g_.H + h0 + gi);
      zero_rows(group_dq(h, gi, t), g_.Tq, g_.D);
      row_dots(h, 0, g_.Tq, t.Dr + gi * g_.Tq);
    }
    for (std::size_t jb = 0; jb < g_.nkb; ++jb) key_block(bg, jb, t, true);
    for (std::size_t gi = 0; gi < g_.G; ++gi) {
      const head h = head_at(b * g_.H + h0 + gi);
      finish_dq(group_dq(h, gi, t), mat{h.dq, p_.q.token}, g_.Tq);
    }
  }

  // Tasks of schedule split: key block `jb` of K/V head `bg` (dK, dV) ...
  void run_key_block(std::size_t bg, std::size_t jb, const tbufs& t) const { key_block(bg, jb, t, false); }

  // ... and query group `gi` of head `bh` (dQ).
  void run_query_group(std::size_t bh, std::size_t gi, const tbufs& t) const {
    const head h = head_at(bh);
    const std::size_t g0 = gi * g_.gr, rows = g_.Tq - g0 < g_.gr ? g_.Tq - g0 : g_.gr;
    const cmat q = bk() ? cmat{} : query_operand(h, g0, rows, t.qp);
    const cmat dout = bk() ? cmat{} : dout_operand(h, g0, rows, t.dop);
    const qpairs qp = bk() ? query_pairs(h, g0, rows, t, false) : qpairs{};
    const mat dq = g_.dq_copy ? mat{t.dq, g_.dp} : mat{h.dq + g0 * p_.q.token, p_.q.token};
    zero_rows(dq, rows, g_.D);
    row_dots(h, g0, rows, t.Dr);
    const key_range seen = keys_of_rows(p_, h.s, g0, rows);
    for (std::size_t j = 0; j < g_.nk; ++j) {
      const std::size_t j0 = j * g_.bc;
      const std::size_t bcj = key_count(j);
      if (seen.empty() || j0 >= seen.hi) break;  // later key tiles are hidden as well
      if (j0 + bcj <= seen.lo) continue;         // before the window of every row
      pack_keys(h, j0, bcj, t.key[0]);
      for (std::size_t i0 = g0; i0 < g0 + rows; i0 += g_.br) {
        const std::size_t bri = g0 + rows - i0 < g_.br ? g0 + rows - i0 : g_.br;
        if (!visible(h, i0, bri, j0, bcj)) continue;
        const std::size_t r0 = i0 - g0;
        const qpairs qt = bk() ? qp.at(r0) : qpairs{};
        const bool full = scores(h, i0, bri, j0, bcj, t.key[0], cmat{q.row(r0), q.ld}, cmat{dout.row(r0), dout.ld},
                                 bk() ? &qt : nullptr, t.Dr + r0, t);
        if (bk()) round_ds(bri, bcj, t);
        add_dq(bri, bcj, full, t, t.key[0], mat{dq.row(r0), dq.ld});
      }
    }
    finish_dq(dq, mat{h.dq + g0 * p_.q.token, p_.q.token}, rows);
  }

 private:
  // Query head h of sequence b, with its K/V head's tensors.
  struct head {
    std::size_t b, h;
    seq s;
    const float *q, *k, *v, *o, *dout, *lse;
    float *dq, *dk, *dv;
  };

  [[gnu::noinline]] head head_at(std::size_t bh) const {  // one copy: called from every task kind
    const std::size_t b = bh / g_.H, hh = bh % g_.H, hk = hh / g_.G;
    auto off = [&](const qkv_sdpa_strides& s, std::size_t n) { return b * s.batch + n * s.head; };
    return {b,
            hh,
            seq_of(p_, b),
            a_.q + off(p_.q, hh),
            a_.k + off(p_.k, hk),
            a_.v + off(p_.v, hk),
            a_.out + off(p_.o, hh),
            a_.dout + off(p_.o, hh),
            a_.lse + bh * g_.Tq,
            a_.dq + off(p_.q, hh),
            a_.dk + off(p_.k, hk),
            a_.dv + off(p_.v, hk)};
  }

  // per_head: the dQ accumulator of the group's gi-th head (in place, or its padded copy).
  mat group_dq(const head& h, std::size_t gi, const tbufs& t) const {
    return g_.dq_copy ? mat{t.dq + gi * g_.Tq * g_.dp, g_.dp} : mat{h.dq, p_.q.token};
  }

  std::size_t key_count(std::size_t j) const { return g_.Tk - j * g_.bc < g_.bc ? g_.Tk - j * g_.bc : g_.bc; }

  // Does any of query rows [i0, i0 + rows) see any of keys [j0, j0 + n)?
  bool visible(const head& h, std::size_t i0, std::size_t rows, std::size_t j0, std::size_t n) const {
    const key_range r = keys_of_rows(p_, h.s, i0, rows);
    return !r.empty() && j0 < r.hi && j0 + n > r.lo;
  }

  // Touch the cache lines of row r + kAhead while row r is copied: strided
  // rows (one per token) defeat the hardware prefetchers, and each tile is
  // the first touch of its part of the caller's tensors.
  static constexpr std::size_t kAhead = 8;
  static void prefetch_row(const float* p, std::size_t cols) {
    for (std::size_t c = 0; c < cols; c += 16) __builtin_prefetch(p + c);
  }
  static void prefetch_row_for_write(float* p, std::size_t cols) {
    for (std::size_t c = 0; c < cols; c += 16) __builtin_prefetch(p + c, 1);
  }
  static void zero_rows(const mat& m, std::size_t rows, std::size_t cols) {
    for (std::size_t r = 0; r < rows; ++r) {
      if (r + kAhead < rows) prefetch_row_for_write(m.row(r + kAhead), cols);
      util::zero_floats(m.row(r), cols);
    }
  }
  static void copy_rows(const mat& from, const mat& to, std::size_t rows, std::size_t cols) {
    for (std::size_t r = 0; r < rows; ++r) {
      if (r + kAhead < rows) prefetch_row_for_write(to.row(r + kAhead), cols);
      util::copy_floats(to.row(r), from.row(r), cols);
    }
  }
  // Rows of `src` into a zero-padded [rows][cols_pad] copy.
  static void pack_rows(const float* src, std::size_t ld, std::size_t rows, std::size_t cols, std::size_t cols_pad,
                        float* dst) {
    for (std::size_t r = 0; r < rows && r < kAhead; ++r) prefetch_row(src + r * ld, cols);
    for (std::size_t r = 0; r < rows; ++r) {
      if (r + kAhead < rows) prefetch_row(src + (r + kAhead) * ld, cols);
      util::copy_floats(dst + r * cols_pad, src + r * ld, cols);
      if (cols_pad > cols) util::zero_floats(dst + r * cols_pad + cols, cols_pad - cols);
    }
  }
  // Q / dO rows [i0, i0 + rows) as GEMM operands: always contiguous, padded
  // copies. In place, a [B,T,H,d] layout's token stride (H d floats, a
  // multiple of 4 KiB / 64 lines) maps a tile's rows onto a few L1 sets.
  // Q is packed as Qs = fl(scale Q), the fused forward's pack_qt.
  cmat query_operand(const head& h, std::size_t i0, std::size_t rows, float* buf) const {
    kern_.scale_rows(rows, g_.D, g_.dp, p_.scale, h.q + i0 * p_.q.token, p_.q.token, buf, g_.dp);
    return {buf, g_.dp};
  }
  cmat dout_operand(const head& h, std::size_t i0, std::size_t rows, float* buf) const {
    pack_rows(h.dout + i0 * p_.o.token, p_.o.token, rows, g_.Dv, g_.dvp, buf);
    return {buf, g_.dvp};
  }

  // bf16 mode: query rows [i0, i0 + rows) as pairs (t.qc(), t.doc(); with
  // `rows_too` also t.qr, t.dor, for dK and dV).
  qpairs query_pairs(const head& h, std::size_t i0, std::size_t rows, const tbufs& t, bool rows_too) const {
    const float* q = h.q + i0 * p_.q.token;
    const float* g = h.dout + i0 * p_.o.token;
    const std::size_t hd = half(g_.D), hdv = half(g_.Dv);
    bk()->round_rows(rows, g_.D, q, p_.q.token, reinterpret_cast<std::uint16_t*>(t.qc()), 2 * hd);
    bk()->round_rows(rows, g_.Dv, g, p_.o.token, reinterpret_cast<std::uint16_t*>(t.doc()), 2 * hdv);
    if (rows_too) {
      bk()->pair_rows(rows, g_.D, g_.dp, q, p_.q.token, t.qr, g_.dp);
      bk()->pair_rows(rows, g_.Dv, g_.dvp, g, p_.o.token, t.dor, g_.dvp);
    }
    return {t.qc(), t.doc(), rows_too ? t.qr : nullptr, rows_too ? t.dor : nullptr, hd, hdv, g_.dp, g_.dvp};
  }

  // bf16 mode: dS rows paired along keys (t.dsc), for dQ.
  void round_ds(std::size_t bri, std::size_t bcj, const tbufs& t) const {
    bk()->round_rows(bri, bcj, t.dpm, g_.bcp, reinterpret_cast<std::uint16_t*>(t.dsc), g_.bcp);
  }

  // D_i = dO_i . O_i for rows [i0, i0 + rows).
  void row_dots(const head& h, std::size_t i0, std::size_t rows, float* Dr) const {
    const float* o = h.o + i0 * p_.o.token;
    const float* g = h.dout + i0 * p_.o.token;
    const std::size_t ld = p_.o.token;
    for (std::size_t r = 0; r < rows; ++r) {
      if (r + kAhead < rows) prefetch_row(o + (r + kAhead) * ld, g_.Dv), prefetch_row(g + (r + kAhead) * ld, g_.Dv);
      Dr[r] = dot_(g_.Dv, g + r * ld, o + r * ld);
    }
  }

  // dQ = scale (sum_j dS K_j): the accumulated rows [rows][D], scaled once
  // into the caller's dQ (in place when the accumulator is dQ itself).
  void finish_dq(const mat& acc, const mat& dq, std::size_t rows) const {
    kern_.scale_rows(rows, g_.D, g_.D, p_.scale, acc.p, acc.ld, dq.p, dq.ld);
  }

  // K_j rows (padded) and K_jᵀ, V_jᵀ for keys [j0, j0 + bcj). V_j's rows
  // are staged in the dV accumulator, which the caller zeroes afterwards.
  void pack_keys(const head& h, std::size_t j0, std::size_t bcj, const key_bufs& kb) const {
    if (bk()) {  // bf16 mode: the pairs instead
      const float *k = h.k + j0 * p_.k.token, *v = h.v + j0 * p_.v.token;
      bk()->pair_cols(bcj, g_.bcp, g_.D, k, p_.k.token, kb.kc(), g_.bcp);
      bk()->pair_cols(bcj, g_.bcp, g_.Dv, v, p_.v.token, kb.vc(), g_.bcp);
      bk()->pair_rows(bcj, g_.D, g_.dp, k, p_.k.token, kb.kr(), g_.dp);
      return;
    }
    pack_rows(h.k + j0 * p_.k.token, p_.k.token, bcj, g_.D, g_.dp, kb.kp);
    kern_.transpose(bcj, g_.D, kb.kp, g_.dp, kb.kt, g_.bcp);
    pack_rows(h.v + j0 * p_.v.token, p_.v.token, bcj, g_.Dv, g_.dvp, kb.dv);
    kern_.transpose(bcj, g_.Dv, kb.dv, g_.dvp, kb.vt, g_.bcp);
  }

  // Tile (i, j): t.s <- P m, t.dpm <- dS, for query rows [i0, i0 + bri),
  // keys [j0, j0 + bcj). Returns whether every row sees every key; if not (a
  // tile on the causal diagonal), the products run in chunks of kChunk rows
  // or keys that skip what no row of the chunk sees.
  bool scores(const head& h, std::size_t i0, std::size_t bri, std::size_t j0, std::size_t bcj, const key_bufs& kb,
              const cmat& q, const cmat& dout, const qpairs* qp, const float* Dr, const tbufs& t) const {
    const std::size_t ld = g_.bcp;
    const float* lse = h.lse + i0;
    bool full = true;
    bool cut = false;  // some row's window starts inside the tile, or a mask is added
    // A tile that every row sees whole (fused_step::sees_whole_block) gets
    // its counts without a keys_of_row call per row (hosted builds; bare
    // metal keeps the smaller code).
#ifdef QKV_HOSTED
    const bool inside = sees_whole_block(p_, h.s, i0, bri, j0, bcj);
#else
    constexpr bool inside = false;
#endif
    if (inside) {
      for (std::size_t r = 0; r < bri; ++r) {
        t.valid[r] = lse[r] == -INFINITY ? 0 : bcj;  // a row that sees no key has P = 0
        full = full && t.valid[r] == bcj;
      }
    } else {
      for (std::size_t r = 0; r < bri; ++r) {
        const key_range kr = keys_of_row(p_, h.s, i0 + r);
        std::size_t v = kr.hi <= j0 ? 0 : (kr.hi - j0 < bcj ? kr.hi - j0 : bcj);
        if (kr.empty() || kr.lo >= j0 + bcj || lse[r] == -INFINITY) v = 0;  // a row that sees no key has P = 0
        t.valid[r] = v;
        full = full && v == bcj;
        cut = cut || (v && kr.lo > j0);
      }
    }
#ifdef QKV_HAVE_AMX
    // AMX tiles: a whole diagonal tile costs less than its chunks (32-row
    // blocks); the keys a row does not see are zeros after softmax_grad.
    if (g_.amx) full = true;
#endif
    for (std::size_t r0 = 0; r0 < bri; r0 += full ? bri : kChunk) {
      const std::size_t rows = full ? bri : (bri - r0 < kChunk ? bri - r0 : kChunk);
      const std::size_t seen = max_valid(t, r0, rows);
      if (seen == 0) continue;  // softmax_grad zeroes these rows without reading them
      const std::size_t n = round_up(seen, kPad);
      if (kDotBuilt && qp) {  // S = scale (Q K^T) as the forward's bf16 scores, dP = dO V^T
        bk()->gemm_pairs(rows, n, qp->hd, qp->qc + r0 * qp->hd, qp->hd, 1, kb.kc(), ld, p_.scale, t.s + r0 * ld, ld, 0);
        bk()->gemm_pairs(rows, n, qp->hdv, qp->doc + r0 * qp->hdv, qp->hdv, 1, kb.vc(), ld, 1.f, t.dpm + r0 * ld, ld,
                        0);
        continue;
      }
      kern_.gemm(rows, n, g_.D, q.row(r0), q.ld, 1, kb.kt, ld, t.s + r0 * ld, ld, 0);
      kern_.gemm(rows, n, g_.Dv, dout.row(r0), dout.ld, 1, kb.vt, ld, t.dpm + r0 * ld, ld, 0);
    }
    const bool whole = full && bcj == ld;  // every row keeps every column: one block of bri * ld
    if (p_.softcap != 0.f && whole)  // the forward's cap, with its derivative, on the keys each row keeps
      fused_step::softcap_scores(p_, bri * ld, t.s, t.dcap);
    else if (p_.softcap != 0.f)
      for (std::size_t r = 0; r < bri; ++r)
        if (t.valid[r]) fused_step::softcap_scores(p_, t.valid[r], t.s + r * ld, t.dcap + r * ld);
    if (cut || p_.mask) mask_scores(h, i0, bri, j0, t);
    if (dropout_) {
      for (std::size_t r = 0; r < bri; ++r) {
        const std::uint64_t key = dropout::row_key(p_.dropout_seed, h.b, h.h, i0 + r);
        float* m = t.drop + r * ld;
        for (std::size_t c = 0; c < t.valid[r]; ++c) m[c] = dropout::keep(key, j0 + c, thresh_) ? drop_scale_ : 0.f;
      }
    }
    kern_.softmax_grad(bri, round_up(bcj, kPad), t.valid, lse, Dr, dropout_ ? t.drop : nullptr, t.s, t.dpm, ld);
    if (p_.softcap != 0.f)  // dS of the raw scores: times d(c tanh(s/c))/ds
      for (std::size_t r = 0; r < (whole ? 1 : bri); ++r) {
        float* ds = t.dpm + r * ld;
        const float* dc = t.dcap + r * ld;
        const std::size_t n = whole ? bri * ld : t.valid[r];
        for (std::size_t c = 0; c < n; ++c) ds[c] *= dc[c];
      }
    return full;
  }

  // The forward's masking of the scores rows [i0, i0 + bri) x keys from j0
  // (fused_step::add_masks, a one-row tile per row of the [bri][bcp]
  // layout; the cap came first, in scores()): the additive mask, then
  // -INFINITY before each row's window; only the valid[r] keys a row keeps
  // are touched (all below its end).
  void mask_scores(const head& h, std::size_t i0, std::size_t bri, std::size_t j0, const tbufs& t) const {
    for (std::size_t r = 0; r < bri; ++r)
      fused_step::add_masks(p_, h.s, h.b, h.h, 1, i0 + r, 1, j0, t.valid[r], t.s + r * g_.bcp);
  }

  static std::size_t max_valid(const tbufs& t, std::size_t r0, std::size_t rows) {
    std::size_t m = 0;
    for (std::size_t r = r0; r < r0 + rows; ++r) m = t.valid[r] > m ? t.valid[r] : m;
    return m;
  }

  // dQ_i += dS K_j ; per row chunk only over the keys it sees.
  void add_dq(std::size_t bri, std::size_t bcj, bool full, const tbufs& t, const key_bufs& kb, const mat& dq) const {
    for (std::size_t r0 = 0; r0 < bri; r0 += full ? bri : kChunk) {
      const std::size_t rows = full ? bri : (bri - r0 < kChunk ? bri - r0 : kChunk);
      const std::size_t k = full ? bcj : max_valid(t, r0, rows);
      if (k && bk())  // dS paired along keys (t.dsc) times K_j paired along keys
        bk()->gemm_pairs(rows, g_.dp, half(k), t.dsc + r0 * (g_.bcp / 2), g_.bcp / 2, 1, kb.kr(), g_.dp, 1.f,
                        dq.row(r0), dq.ld, 1);
      else if (k)
        kern_.gemm(rows, g_.dp, k, t.dpm + r0 * g_.bcp, g_.bcp, 1, kb.kp, g_.dp, dq.row(r0), dq.ld, 1);
    }
  }

  // acc_j += tileᵀ X_i (dV with P m and dO, dK with dS and Qs): A read
  // transposed from the tile; per key chunk only over the rows that see it.
  void add_keys(std::size_t bri, std::size_t bcj, bool full, const tbufs& t, const float* tile, const cmat& x,
                std::size_t n, const mat& acc) const {
    for (std::size_t c0 = 0; c0 < bcj; c0 += full ? bcj : kChunk) {
      const std::size_t keys = full ? bcj : (bcj - c0 < kChunk ? bcj - c0 : kChunk);
      std::size_t r = 0;  // the first row that sees key c0 (so any key of the chunk)
      if (!full)
        while (r < bri && t.valid[r] <= c0) ++r;
      if (r < bri)
        kern_.gemm(keys, n, bri - r, tile + r * g_.bcp + c0, 1, g_.bcp, x.row(r), x.ld, acc.row(c0), acc.ld, 1);
    }
  }

  // bf16 mode's add_keys: the tile paired along rows (t.pr or t.dsr) and X
  // paired along rows (ldx = n): from the pair of the first row that sees
  // the chunk (rows that see none of its keys hold zeros there).
  void add_keys_pairs(std::size_t bri, std::size_t bcj, bool full, const tbufs& t, const std::uint32_t* tile,
                      const std::uint32_t* x, std::size_t n, const mat& acc) const {
    for (std::size_t c0 = 0; c0 < bcj; c0 += full ? bcj : kChunk) {
      const std::size_t keys = full ? bcj : (bcj - c0 < kChunk ? bcj - c0 : kChunk);
      std::size_t r = 0;
      if (!full)
        while (r < bri && t.valid[r] <= c0) ++r;
      if (r < bri)
        bk()->gemm_pairs(keys, n, half(bri) - r / 2, tile + r / 2 * g_.bcp + c0, 1, g_.bcp, x + r / 2 * n, n, 1.f,
                        acc.row(c0), acc.ld, 1);
    }
  }

  // Key block jb (up to kBlockTiles key tiles) of K/V head bg: dK_j and dV_j
  // over every query head of its group (in order) and every query tile that
  // sees them, query tiles outer so each Q_i, dO_i is packed once per block;
  // with `with_dq` (per_head) also dQ of each head, t.Dr then holding D for
  // every row of the group. For each i the key tiles still come in
  // ascending order.
  void key_block(std::size_t bg, std::size_t jb, const tbufs& t, bool with_dq) const {
    const std::size_t b = bg / g_.KVH, h0 = bg % g_.KVH * g_.G;
    const std::size_t jfirst = jb * kBlockTiles;
    const std::size_t nj = g_.nk - jfirst < kBlockTiles ? g_.nk - jfirst : kBlockTiles;
    const head kvh = head_at(b * g_.H + h0);  // K, V, dK, dV are the group's
    for (std::size_t jj = 0; jj < nj; ++jj) {
      const key_bufs& kb = t.key[jj];
      const std::size_t j0 = (jfirst + jj) * g_.bc, bcj = key_count(jfirst + jj);
      pack_keys(kvh, j0, bcj, kb);
      zero_rows(mat{kb.dk, g_.dp}, bcj, g_.dp);
      zero_rows(mat{kb.dv, g_.dvp}, bcj, g_.dvp);
    }
    const std::size_t jend = (jfirst + nj - 1) * g_.bc + key_count(jfirst + nj - 1);
    for (std::size_t gi = 0; gi < g_.G; ++gi) {
      const head h = head_at(b * g_.H + h0 + gi);
      const mat dq = with_dq ? group_dq(h, gi, t) : mat{nullptr, 0};
      for (std::size_t i0 = 0; i0 < g_.Tq; i0 += g_.br) {
        const std::size_t bri = g_.Tq - i0 < g_.br ? g_.Tq - i0 : g_.br;
        if (!visible(h, i0, bri, jfirst * g_.bc, jend - jfirst * g_.bc)) continue;
        const cmat q = bk() ? cmat{} : query_operand(h, i0, bri, t.qp);
        const cmat dout = bk() ? cmat{} : dout_operand(h, i0, bri, t.dop);
        const qpairs qp = bk() ? query_pairs(h, i0, bri, t, true) : qpairs{};
        const float* Dr = with_dq ? t.Dr + gi * g_.Tq + i0 : t.Dr;
        if (!with_dq) row_dots(h, i0, bri, t.Dr);
        for (std::size_t jj = 0; jj < nj; ++jj) {
          const key_bufs& kb = t.key[jj];
          const std::size_t j0 = (jfirst + jj) * g_.bc, bcj = key_count(jfirst + jj);
          if (!visible(h, i0, bri, j0, bcj)) continue;
          const bool full = scores(h, i0, bri, j0, bcj, kb, q, dout, bk() ? &qp : nullptr, Dr, t);
          if (bk()) {  // P m and dS as pairs: dV_j += (P m)ᵀ dO_i, dK_j += dSᵀ Q_i (scaled at the end)
            const std::size_t cp = round_up(bcj, kPad);
            bk()->pair_rows(bri, cp, cp, t.s, g_.bcp, t.pr, g_.bcp);
            bk()->pair_rows(bri, cp, cp, t.dpm, g_.bcp, t.dsr, g_.bcp);
            add_keys_pairs(bri, bcj, full, t, t.pr, qp.dor, g_.dvp, mat{kb.dv, g_.dvp});
            add_keys_pairs(bri, bcj, full, t, t.dsr, qp.qr, g_.dp, mat{kb.dk, g_.dp});
            if (with_dq) {
              round_ds(bri, bcj, t);
              add_dq(bri, bcj, full, t, kb, mat{dq.row(i0), dq.ld});
            }
            continue;
          }
          add_keys(bri, bcj, full, t, t.s, dout, g_.dvp, mat{kb.dv, g_.dvp});   // dV_j += (P m)ᵀ dO_i
          add_keys(bri, bcj, full, t, t.dpm, q, g_.dp, mat{kb.dk, g_.dp});      // dK_j += dSᵀ Qs_i
          if (with_dq) add_dq(bri, bcj, full, t, kb, mat{dq.row(i0), dq.ld});
        }
      }
    }
    for (std::size_t jj = 0; jj < nj; ++jj) {
      const std::size_t j0 = (jfirst + jj) * g_.bc, bcj = key_count(jfirst + jj);
      if (bk())  // bf16 mode summed dSᵀ Q: the scale once, here
        kern_.scale_rows(bcj, g_.D, g_.D, p_.scale, t.key[jj].dk, g_.dp, kvh.dk + j0 * p_.k.token, p_.k.token);
      else
        copy_rows(mat{t.key[jj].dk, g_.dp}, mat{kvh.dk + j0 * p_.k.token, p_.k.token}, bcj, g_.D);
      copy_rows(mat{t.key[jj].dv, g_.dvp}, mat{kvh.dv + j0 * p_.v.token, p_.v.token}, bcj, g_.Dv);
    }
  }

  const sdpa_bwd_args& a_;
  const sdpa_plan& p_;
  const geometry& g_;
  const kern::attn_bwd_kernels& kern_;
  const kern::attn_bf16_kernels* bk_;  // bf16 mode, else null (read through bk())
  const kern::attn_bf16_kernels* bk() const { return kDotBuilt ? bk_ : nullptr; }
  float (*dot_)(std::size_t, const float*, const float*);
  bool dropout_;
  std::uint32_t thresh_;
  float drop_scale_;
};

// per_head when the heads share out evenly enough that its lower work
// (10 units vs 14) wins: at least 70 % of the threads busy on average.
schedule pick(const geometry& g, int threads) {
  if (!g.dq_fits_per_head()) return schedule::split;
  if (threads <= 1) return schedule::per_head;
  const std::size_t bh = g.B * g.KVH, t = static_cast<std::size_t>(threads);
  const std::size_t rounds = ceil_div(bh, t);
  return static_cast<float>(bh) >= 0.7f * static_cast<float>(t * rounds) ? schedule::per_head : schedule::split;
}

std::size_t max_tasks(const geometry& g) { return g.B * (g.KVH * g.nkb + g.H * g.ng); }

bool total_bytes(const geometry& g, schedule sc, bool dropout, bool softcap, int threads, std::size_t* bytes) {
  std::size_t per;
  if (!thread_bytes(g, sc, dropout, softcap, &per)) return false;
  return !__builtin_mul_overflow(per, static_cast<std::size_t>(threads), bytes) &&
         !__builtin_add_overflow(*bytes, ws_carver::kAlign, bytes);  // slack to align the base
}

}  // namespace

bool sdpa_backward_fused_workspace(const sdpa_plan& p, int threads, std::size_t* bytes) noexcept {
  const geometry g(p);
  const bool dropout = p.dropout_p > 0.f, softcap = p.softcap != 0.f;
  std::size_t tasks = max_tasks(g);
  const int t = static_cast<std::size_t>(threads) < tasks ? threads : static_cast<int>(tasks);
  // An upper bound over every thread count <= t: the larger per-thread layout, t times.
  std::size_t a = 0, b = 0;
  if (g.dq_fits_per_head() && !total_bytes(g, schedule::per_head, dropout, softcap, t, &a)) return false;
  if (!total_bytes(g, schedule::split, dropout, softcap, t, &b)) return false;
  *bytes = a > b ? a : b;
  return true;
}

bool sdpa_backward_fused(const sdpa_bwd_args& a, void* workspace, std::size_t bytes) noexcept {
  const geometry g(a.plan);
  const bool dropout = a.plan.dropout_p > 0.f, softcap = a.plan.softcap != 0.f;
  char* base = align_workspace(workspace, &bytes);

  const float flops = 10.0f * float(g.B * g.H) * float(g.Tq) * float(g.Tk) * float(g.D + g.Dv) / 2;
  int threads = threads_for(a.plan.x, flops, max_tasks(g));
  schedule sc = pick(g, threads);
  std::size_t need = 0, per = 0;
  auto fits = [&](schedule s, int t) {
    return total_bytes(g, s, dropout, softcap, t, &need) && need - ws_carver::kAlign <= bytes;
  };
  while (threads > 1 && !fits(sc, threads)) sc = pick(g, --threads);
  if (!fits(sc, threads)) {
    sc = schedule::split;  // the smallest layout when a head's dQ does not fit
    if (!fits(sc, 1)) return false;
  }
  thread_bytes(g, sc, dropout, softcap, &per);

  const fused_backward run(a, g);
  const std::size_t kv_count = g.B * g.KVH;
  const std::size_t tasks = sc == schedule::per_head ? kv_count : max_tasks(g);
  auto task = [&](std::size_t id, int tid) {
    ws_carver w(base + static_cast<std::size_t>(tid) * per);
    const tbufs t = carve(w, g, sc, dropout, softcap);
#ifdef QKV_HAVE_AMX
    if (g.amx) kern::amx_tiles_begin();  // the AMX set's gemm_pairs run on them (~150 cycles a task)
#endif
    if (sc == schedule::per_head) {
      run.run_head(id, t);
    } else if (id < kv_count * g.nkb) {  // key blocks first: causal ones at j = 0 are the longest
      run.run_key_block(id / g.nkb, id % g.nkb, t);
    } else {
      const std::size_t q = id - kv_count * g.nkb;
      run.run_query_group(q / g.ng, g.ng - 1 - q % g.ng, t);  // longest (last rows) first
    }
#ifdef QKV_HAVE_AMX
    if (g.amx) kern::amx_tiles_end();
#endif
  };
  parallel_for_tasks(a.plan.x, threads, tasks, task);
  return true;
}

}  // namespace qkv::ops
