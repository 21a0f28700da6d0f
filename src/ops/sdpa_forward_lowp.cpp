// SPDX-License-Identifier: MIT
// The attention forward on bf16 or fp16 tensors (qkv_sdpa_forward_ex):
//  - fused, bf16, where the ISA has bf16 dot products and the
//    microarchitecture runs them faster than fp32 FMAs (dispatch::uarch
//    bf16_dot, the same choice as the bf16 GEMM): Q^T packed as bf16 pairs,
//    K read in place, S = scale * (Q K^T) summed in fp32, the fp32 online
//    softmax of the ISA's attn set, P rounded to bf16 and paired with V,
//    whose key pairs are packed once per call for every head (a shared
//    workspace region the size of V) rather than once per query tile
//    (kernels/attn_bf16);
//  - fused, bf16, on Intel AMX where dispatch::amx() allows (head_dim and
//    v_dim multiples of 32): the same tiles and softmax, the two products on
//    AMX tiles (kernels/attn_bf16/attn_bf16_amx.hpp), K read in place and V
//    transposed once per call for every head (the shared region);
//  - fused, otherwise: each K and V tile widened (exactly) to fp32 and the
//    fp32 tile kernels run on it, Q^T packed as scale * widened Q;
//  - reference: the tensors widened whole (ops/sdpa_widen) and the fp32
//    reference run on them.
// The fused driver here is the fp32 one too (sdpa_fused_forward, F32 tiles
// read in place), so every type runs the same tiles, task order, causal mask
// and dropout (ops/sdpa_fused_step.hpp); O is rounded to the storage type
// once, at the end, and lse stays fp32. Results do not depend on the thread
// count.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/attn/attn.hpp"
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/attn_bf16/attn_bf16.hpp"
#include "kernels/attn_bf16/attn_bf16_amx.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "kernels/convert/convert.hpp"
#include "dispatch/amx.hpp"
#include "dispatch/uarch.hpp"
#include "ops/attn_blocking.hpp"
#include "ops/sdpa_decode.hpp"
#include "ops/sdpa_forward.hpp"
#include "ops/sdpa_fused_step.hpp"
#include "ops/sdpa_widen.hpp"
#include "ops/threads.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using namespace fused_step;
using util::add_ok;
using util::mul_ok;

constexpr std::size_t kTile = kSdpaKeyTile;  // V's key pairs are packed in steps of it

// Whether this build has the reference drivers (ops/sdpa_plan.hpp): where
// not, their branches compile away.
#ifdef QKV_HOSTED
constexpr bool kReferenceBuilt = true;
#else
constexpr bool kReferenceBuilt = false;
#endif

// Whether any ISA of this build has an attn_bf16 set: where none does (bare
// metal among others) the dot-product branches compile away.
#ifdef QKV_HAVE_AVX512_BF16
constexpr bool kDotBuilt = true;
#else
constexpr bool kDotBuilt = false;
#endif

#ifdef QKV_HAVE_AMX
constexpr bool kAmxBuilt = true;
#else
constexpr bool kAmxBuilt = false;
#endif

// The AMX products for plan p on `type` tensors, or nullptr: bf16 tensors on
// avx512_bf16 where the process may use AMX, whole 32-wide k steps.
const kern::attn_amx_kernels* amx_set(const sdpa_plan& p, qkv_dtype type) {
#ifdef QKV_HAVE_AMX
  if (sdpa_amx_shapes(p, type) && p.x.isa == QKV_ISA_AVX512_BF16 && dispatch::amx().bf16 &&
      kern::attn_for(p.x.isa).br == kern::kAmxAttnBr)
    return &kern::attn_bf16_amx;
#else
  (void)p, (void)type;
#endif
  return nullptr;
}

// V^T of one K/V head on the AMX path: v_dim rows of this many keys.
std::size_t vt_keys(const sdpa_plan& p) { return (p.kv_len + 31) / 32 * 32; }

// F32 K and V whose rows are strided (a [B, T, H, d] layout: a token's
// heads side by side, as the layer's projections leave them) are copied,
// one K/V head at a time, into contiguous rows of the thread's workspace
// before its query tiles read them: a head's query tiles then stream one
// dense block that stays in L2 between them, where strided rows (4 KiB-
// multiple strides among them) crowd a few cache sets and leave the
// prefetchers a stream per row. Only where a head has several query tiles
// (each copy serves them all) and its K and V are at most kPackKvBytes; the
// copies are exact, so the bits are the in-place reads'.
constexpr std::size_t kPackKvBytes = std::size_t(1) << 20;
#ifdef QKV_HOSTED
constexpr bool kPackBuilt = true;
#else
constexpr bool kPackBuilt = false;  // bare metal: no copy, and no code for it
#endif
constexpr std::size_t kPackTagFloats = kSdpaAlign / sizeof(float);  // the packed head's tag, one line

// A call's K/V copy (packs_kv) and Q^T / O moves: where a thread's copy
// starts in its floats (0: no copy), the key chunk for the copied V rows,
// and the ISA's scaled transposes (W x W register blocks: Q^T times the
// scale, O^T into O's rows times 1/l) in place of element loops. Bare
// metal has none: constants, not a member of lowp_call, so the code
// compiles away (and -Os finds no zero fields to memset).
#ifdef QKV_HOSTED
struct copy_plan {
  std::size_t at, chunk;
  const kern::attn_bwd_kernels* tk;
};
#else
struct copy_plan {
  static constexpr std::size_t at = 0, chunk = 0;
  static constexpr const kern::attn_bwd_kernels* tk = nullptr;
};
#endif

bool packs_kv(const sdpa_plan& p, qkv_dtype type) {
  if constexpr (!kPackBuilt) {
    (void)p, (void)type;
    return false;
  }
  if (type != QKV_DTYPE_F32 || (kDotBuilt && p.bf16_dot)) return false;
  if (p.k.token == p.head_dim && p.v.token == p.v_dim) return false;  // dense already
  if (p.q_len <= 2 * attn_br_bound()) return false;                  // fewer than three query tiles
  std::size_t floats;
  return mul_ok(p.kv_len, p.head_dim + p.v_dim, &floats) && floats <= kPackKvBytes / sizeof(float);
}

// Floats of a thread's K/V copy (0 where packs_kv is false): the tag line,
// then K [kv_len][head_dim] and V [kv_len][v_dim], each whole lines.
std::size_t pack_kv_floats(const sdpa_plan& p, qkv_dtype type) {
  if (!packs_kv(p, type)) return 0;
  return kPackTagFloats + util::round_up(p.kv_len * p.head_dim, 16) + util::round_up(p.kv_len * p.v_dim, 16);
}

// One thread's workspace, in floats: Qt, St, Ot, m, l, alpha, then (not
// F32) widened K and V tiles (or packed V pairs), then P pairs, in whole
// lines; then the K/V copy (pack_kv_floats). Rows are attn_br_bound()
// floats (the widest query tile of the sets built in) and key tiles
// attn_key_tile(kv_len) keys (ops/attn_blocking.hpp): a problem smaller
// than a tile gets a share its own size.
bool fused_tile_floats(const sdpa_plan& p, qkv_dtype type, std::size_t* floats) {
  const bool f32 = type == QKV_DTYPE_F32 && !(kDotBuilt && p.bf16_dot);  // bf16_dot: P pairs too
  const std::size_t tile = attn_key_tile(p.kv_len);
  std::size_t rows, tile_rows, kv;
  if (!add_ok(p.head_dim, p.v_dim, &kv) || !add_ok(kv, tile + 3 + (f32 ? 0 : tile / 2), &rows) ||
      !mul_ok(rows, attn_br_bound(), &rows) || !mul_ok(f32 ? 0 : kv, tile, &tile_rows) ||
      !add_ok(rows, tile_rows + 15, floats))
    return false;
  *floats = *floats / 16 * 16;
  return true;
}

bool fused_floats_per_thread(const sdpa_plan& p, qkv_dtype type, std::size_t* floats) {
  if (!fused_tile_floats(p, type, floats) || !add_ok(*floats, pack_kv_floats(p, type), floats)) return false;
  // The decode path's share where it may run (ops/sdpa_decode.hpp).
  std::size_t dec;
  if (!sdpa_decode_floats_per_thread(p, type, &dec)) return false;
  if (dec > *floats) *floats = dec;
  // Round up to whole 64-byte lines, so every thread's share stays aligned.
  std::size_t f = *floats;
  if (!add_ok(f, kSdpaAlign / sizeof(float) - 1, &f)) return false;
  *floats = f / (kSdpaAlign / sizeof(float)) * (kSdpaAlign / sizeof(float));
  return true;
}

// Floats of the V pairs of every K/V head (BF16, or F32 with bf16_dot: vp
// [batch*kv_heads][ceil(kv_len/2)][v_dim] dwords (AMX builds: vt_keys/2
// pairs, room for V^T); F32 then also K rounded,
// [batch*kv_heads][kv_len][head_dim] bf16 after them), or of the decode
// path's partials where more (the two never run in one call), rounded to
// whole lines.
bool vpairs_floats(const sdpa_plan& p, qkv_dtype type, std::size_t* floats) {
  std::size_t n = 0, dec, kr = 0;
  const bool rounded = kDotBuilt && type == QKV_DTYPE_F32 && p.bf16_dot;
  // Builds with AMX: key pairs to a multiple of 16, room for the AMX path's
  // V^T too (keys to a multiple of 32), whatever the CPU, so the size does
  // not depend on it.
  const std::size_t key_pairs = kAmxBuilt ? vt_keys(p) / 2 : (p.kv_len + 1) / 2;
  if ((type == QKV_DTYPE_BF16 || rounded) &&
      (!mul_ok(p.batch, p.kv_heads, &n) || !mul_ok(n, key_pairs, &n) || !mul_ok(n, p.v_dim, &n)))
    return false;
  if (rounded && (!mul_ok(p.batch, p.kv_heads, &kr) || !mul_ok(kr, p.kv_len, &kr) || !mul_ok(kr, p.head_dim, &kr) ||
                  !add_ok(n, (kr + 1) / 2, &n)))
    return false;
  if (!sdpa_decode_shared_floats(p, &dec)) return false;
  if (dec > n) n = dec;
  if (!add_ok(n, kSdpaAlign / sizeof(float) - 1, &n)) return false;
  *floats = n / (kSdpaAlign / sizeof(float)) * (kSdpaAlign / sizeof(float));
  return true;
}

// One fused-forward call on F32 (tiles read in place), BF16 or FP16 (K and
// V tiles widened, O rounded) tensors; the fp32 driver's too
// (sdpa_forward.cpp: sdpa_fused_forward).
struct lowp_call {
  const sdpa_plan& p;
  qkv_dtype type;
  const kern::attn_kernels& kn;
  const kern::attn_bf16_kernels* bk;  // non-null: the bf16 dot-product path (or its softmax, with ax)
  const kern::attn_amx_kernels* ax;   // non-null: the two products on AMX tiles (V^T in vpairs)
  const kern::convert_kernels& cv;
  dropout_cfg drop;
  std::size_t key_chunk;  // for V as accumulate reads it (ldv = v.token for F32, else v_dim)
  std::size_t tile;       // keys per score tile, attn_key_tile(kv_len)
  const void *q, *k, *v;
  void* out;
  float* lse;
  std::uint32_t* vpairs;  // the dot path's packed V of every head
  std::uint16_t* krows;   // F32 on the dot path: K of every head rounded to bf16 (after vpairs)
#ifdef QKV_HOSTED
  copy_plan cp;  // the K/V copy and the transposes
#else
  static constexpr copy_plan cp{};
#endif

  bool wide() const { return type == QKV_DTYPE_F32; }

  // Under a causal mask the F32 tiles (hosted SIMD sets) take the diagonal
  // in stairs: the tile's query vector u sees keys below vhi[u], and skips
  // the rest of a key tile (at BR 64 the diagonal block's upper triangle
  // was 24 % of the products at T 256, 6 % at T 1024). The pairs skipped are
  // keys add_masks sets to -INFINITY (weights exactly 0), so the bits are
  // the whole tiles'. vhi is a running maximum (nondecreasing, as the
  // kernels need; a vector of padding queries takes the one before it) and
  // may claim masked keys: those are computed, then masked. Returns the
  // number of vectors (0: whole tiles).
  std::size_t vector_ends(const seq& sq, std::size_t i0, std::size_t rows, std::size_t* vhi) const {
    if (!kPackBuilt || !p.causal || !wide() || bk || ax || !kn.scores_stairs || kn.lanes == 0) return 0;
    const std::size_t w = kn.lanes, nv = kn.br / w;
    for (std::size_t u = 0; u < nv; ++u) {
      std::size_t hi = 0;
      if (u * w < rows) {
        const key_range kr = keys_of_rows(p, sq, i0 + u * w, rows - u * w < w ? rows - u * w : w);
        hi = kr.empty() ? 0 : kr.hi;
      }
      vhi[u] = u > 0 && vhi[u - 1] > hi ? vhi[u - 1] : hi;
    }
    return nv;
  }

  // vhi relative to the key tile [j0, j0 + kb), in [0, kb]; whether every
  // vector takes the whole tile (then the whole-tile kernels run).
  static bool tile_ends(const std::size_t* vhi, std::size_t nv, std::size_t j0, std::size_t kb, std::size_t* e) {
    for (std::size_t u = 0; u < nv; ++u) e[u] = vhi[u] <= j0 ? 0 : vhi[u] - j0 < kb ? vhi[u] - j0 : kb;
    return e[0] == kb;
  }

  std::size_t krows_head() const { return p.kv_len * p.head_dim; }
  // Element e of t (F32, or 16-bit storage).
  const void* at(const void* t, std::size_t e) const {
    return static_cast<const char*>(t) + e * (wide() ? sizeof(float) : sizeof(std::uint16_t));
  }
  // Dwords of one head's packed V: its key pairs, or (ax) its V^T.
  std::size_t vpairs_head() const { return kAmxBuilt && ax ? p.v_dim * vt_keys(p) / 2 : (p.kv_len + 1) / 2 * p.v_dim; }

  // Qt[f][r] = scale * Q[r][f] (F32 in place; the widen path through the
  // rows widened into tmp) or the bf16 pairs of Q^T (the dot path,
  // unscaled: the scale multiplies the fp32 sums); padding queries are zero.
  void pack_q(const void* qv, std::size_t rows, std::size_t br, float* w, float* tmp) const {
    const std::size_t D = p.head_dim, ld = p.q.token;
    if (wide() && kDotBuilt && bk) {  // fp32 rows rounded into pairs
      bk->pair_cols(rows, br, D, static_cast<const float*>(qv), ld, reinterpret_cast<std::uint32_t*>(w), br);
      return;
    }
    if (wide() && cp.tk) {  // pack_qt's fl(scale q), transposed and scaled in one pass
      cp.tk->transpose_scaled(rows, D, static_cast<const float*>(qv), ld, w, br, br, p.scale, nullptr);
      return;
    }
    if (wide()) {
      pack_qt(static_cast<const float*>(qv), ld, rows, D, p.scale, br, w);
      return;
    }
    const auto* qb = static_cast<const std::uint16_t*>(qv);
    if (kAmxBuilt && ax) {
      ax->pack_q(rows, D, qb, ld, reinterpret_cast<std::uint32_t*>(w));
      return;
    }
    if (!kDotBuilt || !bk) {
      const auto widen = type == QKV_DTYPE_BF16 ? cv.bf16_to_f32 : cv.f16_to_f32;
      for (std::size_t r = 0; r < rows; ++r) widen(D, qb + r * ld, tmp + r * D);
      pack_qt(tmp, D, rows, D, p.scale, br, w);
      return;
    }
    auto* qp = reinterpret_cast<std::uint32_t*>(w);
    const std::size_t pairs = D / 2;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint16_t* row = qb + r * ld;
      for (std::size_t i = 0; i < pairs; ++i) {
        std::uint32_t u;
        std::memcpy(&u, row + 2 * i, 4);
        qp[i * br + r] = u;
      }
      if (D & 1) qp[pairs * br + r] = row[D - 1];
    }
    for (std::size_t i = 0; 2 * i < D; ++i)
      for (std::size_t r = rows; r < br; ++r) qp[i * br + r] = 0;
  }

  void task(std::size_t b, std::size_t h, std::size_t qi, float* w) const {
    const std::size_t br = kn.br, D = p.head_dim, Dv = p.v_dim;
    const std::size_t i0 = qi * br;
    const std::size_t rows = p.q_len - i0 < br ? p.q_len - i0 : br;
    float* qt = w;               // [D][br], or the pairs [ceil(D/2)][br]
    float* st = qt + D * br;     // [tile][br]
    float* ot = st + tile * br;  // [Dv][br]
    float* m = ot + Dv * br;     // [br] each
    float* l = m + br;
    float* alpha = l + br;
    float* kw = alpha + br;      // [tile][D] widened K (not F32)
    float* vw = kw + tile * D;   // [tile][Dv] widened V (not F32)
    auto* pp = reinterpret_cast<std::uint32_t*>(vw + tile * Dv);  // [tile/2][br]

#ifdef QKV_HAVE_AMX
    if (ax) kern::amx_tiles_begin();  // ~150 cycles, once per query tile
#endif
    pack_q(at(q, base(p.q, b, h) + i0 * p.q.token), rows, br, qt, kw);
    for (std::size_t r = 0; r < br; ++r) {
      m[r] = kNegInf;
      l[r] = 0.0f;
    }
    for (std::size_t e = 0; e < Dv * br; ++e) ot[e] = 0.0f;

    const auto widen = type == QKV_DTYPE_BF16 ? cv.bf16_to_f32 : cv.f16_to_f32;
    const seq sq = seq_of(p, b);
    const key_range seen = keys_of_rows(p, sq, i0, rows);
    const std::size_t hk = h / p.group;  // the K/V head of query head h
    const std::size_t kh = base(p.k, b, hk), vh = base(p.v, b, hk);
    const std::uint32_t* vph = vpairs + (b * p.kv_heads + hk) * vpairs_head();  // ax: V^T of the head
    const float* kp = nullptr;  // packs_kv: the head's K and V rows, contiguous
    const float* vp = nullptr;
    if (cp.at) {
      float* tag = w + cp.at;
      float* kc = tag + kPackTagFloats;
      float* vc = kc + util::round_up(p.kv_len * D, 16);
      const std::size_t id = b * p.kv_heads + hk + 1;  // 0: nothing copied yet
      std::size_t held;
      std::memcpy(&held, tag, sizeof held);
      if (held != id) {
        const auto* ks = static_cast<const float*>(k) + kh;
        const auto* vs = static_cast<const float*>(v) + vh;
        for (std::size_t j = 0; j < p.kv_len; ++j) {
          util::copy_floats(kc + j * D, ks + j * p.k.token, D);
          util::copy_floats(vc + j * Dv, vs + j * p.v.token, Dv);
        }
        std::memcpy(tag, &id, sizeof id);
      }
      kp = kc, vp = vc;
    }
    std::size_t vhi[kern::kAttnMaxBr];
    const std::size_t nv = vector_ends(sq, i0, rows, vhi);
    const std::size_t end = seen.empty() ? 0 : seen.hi;
    for (std::size_t j0 = seen.empty() ? 0 : seen.lo / tile * tile; j0 < end; j0 += tile) {
      const std::size_t kb = end - j0 < tile ? end - j0 : tile;
      std::size_t ends[kern::kAttnMaxBr];
      const bool stairs = nv && !tile_ends(vhi, nv, j0, kb, ends);
      const void* kt = at(k, kh + j0 * p.k.token);
      const void* vt = at(v, vh + j0 * p.v.token);
      if (kAmxBuilt && ax) {
        ax->scores(kb, D, reinterpret_cast<const std::uint32_t*>(qt), static_cast<const std::uint16_t*>(kt),
                   p.k.token, p.scale, st);
      } else if (kDotBuilt && bk && wide()) {
        bk->scores(kb, D, reinterpret_cast<const std::uint32_t*>(qt),
                   krows + (b * p.kv_heads + hk) * krows_head() + j0 * D, D, p.scale, st);
      } else if (kDotBuilt && bk) {
        bk->scores(kb, D, reinterpret_cast<const std::uint32_t*>(qt), static_cast<const std::uint16_t*>(kt),
                   p.k.token, p.scale, st);
      } else if (wide()) {
        const float* kr = kp ? kp + j0 * D : static_cast<const float*>(kt);
        const std::size_t ldk = kp ? D : p.k.token;
        if (stairs)
          kn.scores_stairs(kb, D, qt, kr, ldk, st, ends);
        else
          kn.scores(kb, D, qt, kr, ldk, st);
      } else {
        for (std::size_t j = 0; j < kb; ++j)
          widen(D, static_cast<const std::uint16_t*>(kt) + j * p.k.token, kw + j * D);
        kn.scores(kb, D, qt, kw, D, st);
      }
      mask_tile(p, sq, b, h, br, i0, rows, j0, kb, st);
      if (kDotBuilt && bk && !drop.on) {
        bk->softmax_pairs(kb, st, m, l, alpha, pp);
      } else {
        kn.softmax(kb, st, m, l, alpha);  // l and lse are taken before dropout
        drop_weights(p, drop, b, h, br, i0, rows, j0, kb, st);
        if (kDotBuilt && bk) bk->pack_p(kb, st, pp);
      }
      if (kAmxBuilt && ax) {
        ax->accumulate(kb, Dv, pp, reinterpret_cast<const std::uint16_t*>(vph) + j0, vt_keys(p), alpha, ot);
      } else if (kDotBuilt && bk) {
        bk->accumulate(kb, Dv, pp, vph + j0 / 2 * Dv, alpha, ot);
      } else if (wide()) {
        const float* vr = vp ? vp + j0 * Dv : static_cast<const float*>(vt);
        const std::size_t ldv = vp ? Dv : p.v.token, chunk = vp ? cp.chunk : key_chunk;
        if (stairs)
          kn.accumulate_stairs(kb, Dv, st, vr, ldv, alpha, ot, chunk, ends);
        else
          kn.accumulate(kb, Dv, st, vr, ldv, alpha, ot, chunk);
      } else {
        for (std::size_t j = 0; j < kb; ++j)
          widen(Dv, static_cast<const std::uint16_t*>(vt) + j * p.v.token, vw + j * Dv);
        kn.accumulate(kb, Dv, st, vw, Dv, alpha, ot, key_chunk);
      }
    }

    // O = O^T / l (times the dropout scale), rounded once where not F32; a
    // row that saw nothing is zero.
    const auto narrow = type == QKV_DTYPE_BF16 ? cv.f32_to_bf16 : cv.f32_to_f16;
    const std::size_t ob = base(p.o, b, h) + i0 * p.o.token;
    const bool transposed = cp.tk && wide();
    if ((kAmxBuilt && ax) || transposed)  // the rows' 1/l into alpha (free by now)
      for (std::size_t r = 0; r < rows; ++r) alpha[r] = l[r] > 0.0f ? drop.keep_scale / l[r] : 0.0f;
    if (kAmxBuilt && ax)
      ax->store_o(rows, Dv, ot, alpha, static_cast<std::uint16_t*>(const_cast<void*>(at(out, ob))), p.o.token);
    if (transposed)  // O^T transposed into O's rows, each scaled by its 1/l on the way
      cp.tk->transpose_scaled(Dv, rows, ot, br, static_cast<float*>(out) + ob, p.o.token, Dv, 0.f, alpha);
    for (std::size_t r = 0; r < rows; ++r) {
      if (!(kAmxBuilt && ax) && !transposed) {
        const float inv = l[r] > 0.0f ? drop.keep_scale / l[r] : 0.0f;
        void* orow = const_cast<void*>(at(out, ob + r * p.o.token));
        float* o = wide() ? static_cast<float*>(orow) : vw;
        for (std::size_t f = 0; f < Dv; ++f) o[f] = ot[f * br + r] * inv;
        if (!wide()) narrow(Dv, vw, static_cast<std::uint16_t*>(orow));
      }
      if (lse) lse[(b * p.heads + h) * p.q_len + i0 + r] = l[r] > 0.0f ? m[r] + std::log(l[r]) : kNegInf;
    }
#ifdef QKV_HAVE_AMX
    if (ax) kern::amx_tiles_end();
#endif
  }
};

// Where the F32 dot path keeps K rounded: after every head's V pairs.
std::uint16_t* krows_of(const sdpa_plan& p, qkv_dtype type, float* vpairs) {
  if (!kDotBuilt || type != QKV_DTYPE_F32) return nullptr;
  const std::size_t pairs = p.batch * p.kv_heads * ((p.kv_len + 1) / 2 * p.v_dim);
  return reinterpret_cast<std::uint16_t*>(reinterpret_cast<std::uint32_t*>(vpairs) + pairs);
}

// The bf16 dot-product set to use, or nullptr (widen).
const kern::attn_bf16_kernels* dot_set(qkv_isa isa, const kern::attn_kernels& kn) {
  if (!kDotBuilt || !dispatch::uarch().bf16_dot) return nullptr;
  const kern::attn_bf16_kernels* bk = kern::attn_bf16_for(isa);
  return bk && bk->br == kn.br ? bk : nullptr;
}
const kern::attn_bf16_kernels* dot_kernels(const sdpa_plan& p, qkv_dtype type, const kern::attn_kernels& kn) {
  const bool wants = type == QKV_DTYPE_BF16 || (kDotBuilt && type == QKV_DTYPE_F32 && p.bf16_dot);
  return wants ? dot_set(p.x.isa, kn) : nullptr;
}

}  // namespace

#ifdef QKV_HAVE_AMX
bool sdpa_amx_shapes(const sdpa_plan& p, qkv_dtype type) noexcept {
  return type == QKV_DTYPE_BF16 && p.head_dim % 32 == 0 && p.v_dim % 32 == 0;
}
#endif

bool sdpa_amx_forward(const sdpa_plan& p, qkv_dtype type) noexcept {
  return kAmxBuilt && p.algo == QKV_SDPA_FUSED && !sdpa_decode_applies(p) && amx_set(p, type) != nullptr;
}

bool sdpa_bf16_dot_usable(const sdpa_plan& p) noexcept {
  if constexpr (!kDotBuilt) return false;
  return p.algo == QKV_SDPA_FUSED && !sdpa_decode_applies(p) && dot_set(p.x.isa, kern::attn_for(p.x.isa)) != nullptr;
}

void sdpa_fused_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                        float* lse, float* vpairs, float* ws, std::size_t per_thread_floats, int max_threads) {
  if (sdpa_decode_applies(p)) {  // few query rows per K/V head: keys in the lanes
    sdpa_decode_forward(p, type, q, k, v, out, lse, vpairs, ws, per_thread_floats, max_threads);
    return;
  }
  const kern::attn_kernels& kn = kern::attn_for(p.x.isa);
  const kern::attn_amx_kernels* ax = kAmxBuilt ? amx_set(p, type) : nullptr;
#ifdef QKV_HOSTED
  std::size_t tile_floats = 0;
  const copy_plan copies{packs_kv(p, type) && fused_tile_floats(p, type, &tile_floats) ? tile_floats : 0,
                         attn_key_chunk(p.v_dim, kn.br), &kern::attn_bwd_for(p.x.isa)};
#endif
  const lowp_call c{p,
                    type,
                    kn,
                    ax ? kern::attn_bf16_for(p.x.isa) : dot_kernels(p, type, kn),
                    ax,
                    kern::convert_for(p.x.isa),
                    dropout_cfg(p),
                    attn_key_chunk(type == QKV_DTYPE_F32 ? p.v.token : p.v_dim, kn.br),
                    attn_key_tile(p.kv_len),
                    q,
                    k,
                    v,
                    out,
                    lse,
                    reinterpret_cast<std::uint32_t*>(vpairs),
                    krows_of(p, type, vpairs),
#ifdef QKV_HOSTED
                    copies
#endif
  };
  const std::size_t nqt = (p.q_len + kn.br - 1) / kn.br;
  const std::size_t heads = p.batch * p.heads, kv_heads = p.batch * p.kv_heads;
  const std::size_t tasks = heads * nqt;
  float flops = 4.0f * static_cast<float>(heads) * static_cast<float>(p.q_len) * static_cast<float>(p.kv_len) *
                static_cast<float>(p.head_dim + p.v_dim) / 2.0f;
  if (p.causal) flops *= 0.5f;
  if (p.window && p.window < p.kv_len) flops *= static_cast<float>(p.window) / static_cast<float>(p.kv_len);
  int threads = threads_for(p.x, flops, tasks);
  if (threads > max_threads) threads = max_threads;
  if (kDotBuilt && c.bk) {  // V's key pairs or V^T (F32: and K rounded), every head, a key tile per step
    const std::size_t nkt = (p.kv_len + kTile - 1) / kTile;
    parallel_for_static(p.x, threads, kv_heads * nkt, [&](std::size_t t) {
      const std::size_t bh = t / nkt, j0 = t % nkt * kTile;
      const std::size_t kb = p.kv_len - j0 < kTile ? p.kv_len - j0 : kTile;
      if (kAmxBuilt && c.ax) {
        const std::size_t vo = base(p.v, bh / p.kv_heads, bh % p.kv_heads) + j0 * p.v.token;
        c.ax->transpose_v(kb, p.v_dim, static_cast<const std::uint16_t*>(v) + vo, p.v.token,
                          reinterpret_cast<std::uint16_t*>(c.vpairs + bh * c.vpairs_head()) + j0, vt_keys(p));
        return;
      }
      std::uint32_t* vp = c.vpairs + bh * c.vpairs_head() + j0 / 2 * p.v_dim;
      const std::size_t vo = base(p.v, bh / p.kv_heads, bh % p.kv_heads) + j0 * p.v.token;
      if (!c.wide()) {
        c.bk->pack_v(kb, p.v_dim, static_cast<const std::uint16_t*>(v) + vo, p.v.token, vp);
        return;
      }
      c.bk->pair_rows(kb, p.v_dim, p.v_dim, static_cast<const float*>(v) + vo, p.v.token, vp, p.v_dim);
      const std::size_t ko = base(p.k, bh / p.kv_heads, bh % p.kv_heads) + j0 * p.k.token;
      c.bk->round_rows(kb, p.head_dim, static_cast<const float*>(k) + ko, p.k.token,
                       c.krows + bh * c.krows_head() + j0 * p.head_dim, p.head_dim);
    });
  }
  if (c.cp.at)  // no thread holds a K/V copy yet
    for (int s = 0; s < threads; ++s) {
      const std::size_t none = 0;
      std::memcpy(ws + static_cast<std::size_t>(s) * per_thread_floats + c.cp.at, &none, sizeof none);
    }
  // Head after head (a head's K and V stay in L2 across its query tiles),
  // within a head the heaviest (last, under a causal mask) query tiles first.
  parallel_for_tasks(p.x, threads, tasks, [&](std::size_t t, int thread) {
    const std::size_t bh = t / nqt, qi = nqt - 1 - t % nqt;
    c.task(bh / p.heads, bh % p.heads, qi, ws + static_cast<std::size_t>(thread) * per_thread_floats);
  });
}

namespace {

// The reference path: wide Q, K, V and O, then the fp32 reference's workspace.
constexpr sdpa_tensor kWide[4] = {sdpa_tensor::q, sdpa_tensor::k, sdpa_tensor::v, sdpa_tensor::o};

}  // namespace

bool sdpa_forward_workspace_bytes(const sdpa_plan& p, qkv_dtype type, int threads, std::size_t* bytes) noexcept {
  std::size_t floats, inner, total;
  if (kReferenceBuilt && p.algo == QKV_SDPA_REFERENCE) {  // one score matrix whatever the thread count
    if (type == QKV_DTYPE_F32) return sdpa_reference_forward_bytes(p, &total) && add_ok(total, kSdpaAlign - 1, bytes);
    std::size_t at[4];
    if (!sdpa_wide_slots(p, kWide, 4, at, &floats) || !sdpa_forward_workspace_bytes(sdpa_contiguous_plan(p), 1, &inner) ||
        !mul_ok(floats, sizeof(float), &total) || !add_ok(total, inner, &total) ||
        !add_ok(total, kSdpaAlign, &total))
      return false;
    *bytes = total;
    return true;
  }
  std::size_t shared;
  if (!fused_floats_per_thread(p, type, &floats) || !mul_ok(floats, static_cast<std::size_t>(threads), &total) ||
      !vpairs_floats(p, type, &shared) || !add_ok(total, shared, &total) || !mul_ok(total, sizeof(float), &total) ||
      !add_ok(total, kSdpaAlign - 1, &total))
    return false;
  *bytes = total;
  return true;
}

bool sdpa_forward(const sdpa_plan& p, qkv_dtype type, const void* q, const void* k, const void* v, void* out,
                  float* lse, void* ws, std::size_t bytes) noexcept {
  if (!ws) return false;
  const auto addr = reinterpret_cast<std::uintptr_t>(ws);
  const std::size_t pad = (kSdpaAlign - addr % kSdpaAlign) % kSdpaAlign;
  if (bytes < pad) return false;
  float* w = reinterpret_cast<float*>(static_cast<char*>(ws) + pad);
  const std::size_t avail = bytes - pad;
  if (kReferenceBuilt && p.algo == QKV_SDPA_REFERENCE && type == QKV_DTYPE_F32) {
    std::size_t need;
    if (!sdpa_reference_forward_bytes(p, &need) || avail < need) return false;
    sdpa_reference_forward(p, static_cast<const float*>(q), static_cast<const float*>(k),
                           static_cast<const float*>(v), static_cast<float*>(out), lse, w);
    return true;
  }
  if (kReferenceBuilt && p.algo == QKV_SDPA_REFERENCE) {
    std::size_t need;
    if (!sdpa_forward_workspace_bytes(p, type, 1, &need) || bytes < need) return false;
    const kern::convert_kernels& cv = kern::convert_for(p.x.isa);
    const sdpa_plan c = sdpa_contiguous_plan(p);
    std::size_t at[4], floats;
    sdpa_wide_slots(p, kWide, 4, at, &floats);
    float* t[4] = {w + at[0], w + at[1], w + at[2], w + at[3]};
    sdpa_widen(cv, type, p, sdpa_tensor::q, q, t[0]);
    sdpa_widen(cv, type, p, sdpa_tensor::k, k, t[1]);
    sdpa_widen(cv, type, p, sdpa_tensor::v, v, t[2]);
    const std::size_t used = pad + floats * sizeof(float);
    if (!sdpa_forward(c, t[0], t[1], t[2], t[3], lse, w + floats, bytes - used)) return false;
    sdpa_narrow(cv, type, p, sdpa_tensor::o, t[3], out);
    return true;
  }
  std::size_t per, shared;
  if (!fused_floats_per_thread(p, type, &per) || !vpairs_floats(p, type, &shared) || avail / sizeof(float) < shared)
    return false;
  const std::size_t fit = (avail / sizeof(float) - shared) / per;
  if (fit < 1) return false;
  sdpa_fused_forward(p, type, q, k, v, out, lse, w, w + shared, per, fit > 1024 ? 1024 : static_cast<int>(fit));
  return true;
}

}  // namespace qkv::ops
