// SPDX-License-Identifier: MIT
#include "ops/gemm_ex.hpp"

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernels/gemm/gemm.hpp"
#include "kernels/gemm/gemm_widen.hpp"
#include "dispatch/amx.hpp"
#include "dispatch/uarch.hpp"
#include "kernels/gemm_lowp/gemm_lowp.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "ops/gemm_blocking.hpp"
#include "ops/gemm_ex_pack.hpp"
#include "ops/gemm_ex_skinny.hpp"
#include "ops/gemm_table.hpp"
#include "ops/gemm_team.hpp"
#include "ops/rows.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"
#include "util/half.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using util::round_up;
std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
std::size_t max_sz(std::size_t a, std::size_t b) { return a > b ? a : b; }

enum class kind { f32, bf16, s8 };

// Where a C tile's sum lives from one K block to the next (chosen from the
// kind, C's type, beta and whether K is split: never from the threads).
enum class acc_mode {
  direct,  // f32 kind, fp32 C: the fp32 tile applies alpha and beta itself
           // (beta on the first K block, 1 after), as qkv_sgemm does
  in_c,    // the sum accumulates in C itself: an int32 C (beta 1 is the
           // starting value), or an fp32 C of the bf16 kind with beta 0
           // (then C *= alpha after the last block) or with alpha and beta 1
           // (C's old value starts the sum: the layer's dW += X^T dY)
  tile,    // K in one block: the sum in a stack tile, then the epilogue
  buffer,  // K split: the sum in the workspace (C's rows x the column
           // block, padded to whole tiles), then the epilogue
};

constexpr std::size_t kTileMax = kGemmExTileMax;

// The f32 kind's fp16/bf16 packers of the ISA (kernels/gemm/gemm_widen.hpp),
// a base of the plan: empty where no ISA has them, so that the plan, and
// the code that zeroes and reads it, are what they were there.
template <bool Has>
struct widen_slot {
  const kern::gemm_widen_kernels* widen() const { return nullptr; }
  void set_widen(const kern::gemm_widen_kernels*) {}
};
template <>
struct widen_slot<true> {
  const kern::gemm_widen_kernels* widen_;
  const kern::gemm_widen_kernels* widen() const { return widen_; }
  void set_widen(const kern::gemm_widen_kernels* w) { widen_ = w; }
};

// Whether a kernel set of this build has a bf16 dot product (x86
// avx512_bf16, aarch64 neon64_bf16). Elsewhere (Cortex-M, armhf, the scalar
// build) the bf16 kind never runs, and plan::kind_of() lets the compiler
// drop its paths (the Cortex-M4's .text budget).
#if defined(QKV_HAVE_AVX512_BF16) || defined(QKV_HAVE_NEON64_BF16)
constexpr bool kBf16Dot = true;
#else
constexpr bool kBf16Dot = false;
#endif

// Whether gemm_ex_args::bias is honoured in the tiles (hosted builds).
#ifdef QKV_HOSTED
constexpr bool kBiasInTiles = true;
#else
constexpr bool kBiasInTiles = false;
#endif

struct plan : widen_slot<kern::kHaveGemmWiden> {
  kind k;
  kind kind_of() const {
    if (!kBf16Dot && k == kind::bf16) __builtin_unreachable();
    return k;
  }
  acc_mode mode;
  const kern::gemm_kernels* f32;
  const kern::gemm_bf16_kernels* bf16;
  const kern::gemm_s8_kernels* s8;
  const char* kernel;
  std::size_t mr, nr, mc, kc, nc, k_blocks;
  std::size_t kpad;    // bf16 kind: the packed panels' k padding (2; AMX: a tile step)
  std::size_t acc_ld;  // buffer mode: the accumulator's row length (elements)
  bool amx;  // the kernels are AMX tiles (driver::rows configures them)
#ifdef QKV_HOSTED
  bool own_b;  // one B block: a team's members each pack their own copy (run_own_b)
#endif
};

std::size_t a_panel_bytes(const plan& pl, std::size_t kc) {
  switch (pl.kind_of()) {
    case kind::s8: return pl.s8->a_panel_bytes(kc);
    case kind::bf16: return round_up(kc, pl.kpad) * pl.mr * sizeof(std::uint16_t);
    default: return kc * pl.mr * sizeof(float);
  }
}
std::size_t b_panel_bytes(const plan& pl, std::size_t kc) {
  switch (pl.kind_of()) {
    case kind::s8: return pl.s8->b_panel_bytes(kc);
    case kind::bf16: return round_up(kc, pl.kpad) * pl.nr * sizeof(std::uint16_t);
    default: return kc * pl.nr * sizeof(float);
  }
}
// One member's packed A block, and the shared B block, at the plan's depth.
std::size_t a_block_bytes(const plan& pl) { return round_up(pl.mc / pl.mr * a_panel_bytes(pl, pl.kc), 64); }
std::size_t b_block_bytes(const plan& pl) { return pl.nc / pl.nr * b_panel_bytes(pl, pl.kc); }
#ifdef QKV_HOSTED
std::size_t own_b_stride(const plan& pl) { return round_up(b_block_bytes(pl), 64); }
#endif

// The plan for a problem with M, N, K >= 1 and alpha != 0.
plan make_plan(qkv_isa isa, const gemm_ex_args& p) {
  plan pl = util::zeroed<plan>();
  std::size_t eb = 4, kg = 1;  // element bytes and k grouping of the packed operands
  const bool s8 = p.at == QKV_DTYPE_I8 && p.bt == QKV_DTYPE_I8;
  const bool bf16 = kBf16Dot && p.at == QKV_DTYPE_BF16 && p.bt == QKV_DTYPE_BF16;
  // AMX tiles (kernels/gemm_lowp/gemm_lowp_amx.hpp) under avx512_bf16 where
  // the process may use them; kc then a multiple of their k step.
#ifdef QKV_HAVE_AMX
  const bool amx = isa == QKV_ISA_AVX512_BF16 && ((s8 && dispatch::amx().int8) || (bf16 && dispatch::amx().bf16));
#else
  constexpr bool amx = false;
#endif
  if (s8) {
    pl.k = kind::s8;
    pl.s8 = &kern::gemm_s8_for(isa);
#ifdef QKV_HAVE_AMX
    if (amx) pl.s8 = &kern::gemm_s8_amx;
#endif
    pl.kernel = pl.s8->name;
    pl.mr = pl.s8->mr;
    pl.nr = pl.s8->nr;
    eb = 1;
    kg = amx ? kern::kAmxS8K : pl.s8->kg;
  } else if (bf16 && kern::gemm_bf16_for(isa).mr != 0 && (amx || dispatch::uarch().bf16_dot)) {
    pl.k = kind::bf16;
    pl.bf16 = &kern::gemm_bf16_for(isa);
#ifdef QKV_HAVE_AMX
    if (amx) pl.bf16 = &kern::gemm_bf16_amx;
#endif
    pl.kernel = pl.bf16->name;
    pl.mr = pl.bf16->mr;
    pl.nr = pl.bf16->nr;
    eb = 2;
    kg = amx ? kern::kAmxBf16K : 2;
    pl.kpad = kg;
  } else {
    pl.k = kind::f32;
    pl.f32 = &gemm_table(isa);
    pl.kernel = pl.f32->name;
    pl.mr = pl.f32->mr;
    pl.nr = pl.f32->nr;
    const kern::gemm_widen_kernels* w = kern::gemm_widen_for(isa);
    if (w && w->mr == pl.mr && w->nr == pl.nr) pl.set_widen(w);
  }
  // The fp32 blocks (ops/gemm_blocking) scaled to the kind. K in
  // near-equal blocks (a multiple of 8 and of kg, but the last), as
  // ops/gemm.cpp splits it. The lowp tiles hold one A micro-panel in L1
  // while the B block's panels stream past it from L2 or L3 (driver::rows):
  // their A panel takes 2/3 of the L1 bytes the fp32 model gives both
  // micro-panels (lowp_kc (mr + nr) fp32 values), or all of them where the
  // fp32 A panel fills L1 too (dispatch/uarch: gemm_a_fills_l1; bf16 1.00-1.03x
  // on Zen 4, int8 unchanged: bench/README.md, session 33); the deeper K block
  // saves round trips of C's tile and per-tile calls (session 30).
  const gemm_blocks& g = gemm_blocks_for(isa);
  const std::size_t step = max_sz(8, kg);
#ifdef QKV_HOSTED
  // The lowp kinds scale the blocks of both fp32 micro-panels in L1
  // (gemm_blocks::lowp_*), the f32 kind runs sgemm's own.
  const bool pair = pl.k != kind::f32 && g.lowp_kc != 0;
  const std::size_t bmc = pair ? g.lowp_mc : g.mc, bkc = pair ? g.lowp_kc : g.kc, bnc = pair ? g.lowp_nc : g.nc;
  const std::size_t a_thirds = dispatch::uarch().gemm_a_fills_l1 ? 3 : 2;
  std::size_t kc_cap =
      pl.k == kind::f32 ? max_sz(step, bkc / step * step)
                        : max_sz(step, bkc * 4 * (pl.mr + pl.nr) * a_thirds / 3 / (pl.mr * eb) / step * step);
#else  // no caches to model: the fp32 block's bytes (int8 twice them)
  const std::size_t bmc = g.mc, bkc = g.kc, bnc = g.nc;
  std::size_t kc_cap = max_sz(step, (pl.k == kind::s8 ? 2 : 1) * bkc * 4 / eb / step * step);
#endif
  std::size_t area_b = bnc * bkc * 4;
#ifdef QKV_HAVE_AMX
  if (amx) {
    // An AMX k step reads 2 KiB of the A and of the B micro-panel for four
    // tile products (64 cycles): the two panels fill L1, and the B block
    // half of L2, whence each A micro-panel reads all of it (the fp32
    // blocks' L3-sized B starved the tiles). Each K block costs a round
    // trip of C's tile and a drain of the tile pipeline, so kc no
    // shallower: 2/3 of L1 lost 15 % at 1024^3 (bench/README.md, AMX).
    const dispatch::cache_info& c = dispatch::caches();
    kc_cap = max_sz(step, c.l1d.bytes / ((pl.mr + pl.nr) * eb) / step * step);
    area_b = c.l2.bytes / 2;
  }
#endif
  pl.k_blocks = p.K / kc_cap + (p.K % kc_cap != 0);
  pl.kc = min_sz(round_up(p.K / pl.k_blocks + (p.K % pl.k_blocks != 0), step), p.K);
  // mc and nc keep the fp32 blocks' area at this depth, within the limits;
  // the bf16 tiles' twice it: at their depth the fp32 area split 2048-wide
  // products into two column blocks, each a pass packing A (3 % at 2048^3;
  // int8's gained nothing from it: bench/README.md, session 30).
  const std::size_t wide = kBf16Dot && pl.k == kind::bf16 && !amx ? 2 : 1;
  const std::size_t area_a = bmc * bkc * 4 * wide, row = pl.kc * eb;
  area_b *= wide;
  pl.mc = max_sz(pl.mr, min_sz(area_a / row, kGemmBlockLimits.mc_max) / pl.mr * pl.mr);
  pl.mc = min_sz(pl.mc, round_up(p.M, pl.mr));
  const std::size_t nc_max = min_sz(kGemmBlockLimits.nc_max, panel_states::kMaxPanels * pl.nr);
  pl.nc = column_block(p.N, max_sz(pl.nr, min_sz(area_b / row, nc_max) / pl.nr * pl.nr), pl.nr);
  if (pl.k == kind::f32 && p.ct == QKV_DTYPE_F32)
    pl.mode = acc_mode::direct;
  else if (p.ct == QKV_DTYPE_I32 ||
           (pl.kind_of() == kind::bf16 && p.ct == QKV_DTYPE_F32 &&
            (p.beta == 0.f || (p.beta == 1.f && p.alpha == 1.f))))
    pl.mode = acc_mode::in_c;
  else
    pl.mode = pl.k_blocks == 1 ? acc_mode::tile : acc_mode::buffer;
  pl.acc_ld = pl.nc;  // a multiple of nr: whole tiles
  pl.amx = amx;  // implies the s8 or bf16 kind (the branches above)
#ifdef QKV_HOSTED
  // One B block (K and N whole) that own_b_fits, as ops/gemm.cpp decides
  // (then no accumulator is shared either).
  pl.own_b = pl.k_blocks == 1 && pl.nc >= p.N && own_b_fits(g, b_block_bytes(pl));
#endif
  return pl;
}

struct ws_layout {
  unsigned char* b;  // the B block
  void* acc;         // buffer mode: round_up(M, mr) x acc_ld fp32/int32
  unsigned char* a;  // member k's A block at a + k * a_block_bytes
};

// The workspace for `threads` members, carved from base (nullptr: sized
// only): the same code sizes it and cuts it. False on overflow.
bool carve(const plan& pl, const gemm_ex_args& p, int threads, void* base, ws_layout* w, std::size_t* bytes) {
  ws_carver c(base);
  std::size_t b = b_block_bytes(pl);
#ifdef QKV_HOSTED  // own_b: member k's B block at b + k * own_b_stride
  if (pl.own_b && !util::mul_ok(own_b_stride(pl), static_cast<std::size_t>(threads), &b)) return false;
#endif
  w->b = c.take<unsigned char>(b);
  std::size_t acc = 0, a = 0;
  if (pl.mode == acc_mode::buffer && !util::mul_ok(round_up(p.M, pl.mr), pl.acc_ld, &acc)) return false;
  w->acc = c.take<std::int32_t>(acc);
  if (!util::mul_ok(a_block_bytes(pl), static_cast<std::size_t>(threads), &a)) return false;
  w->a = c.take<unsigned char>(a);
  return c.size(bytes);
}

std::size_t dtype_bytes(qkv_dtype t) {
  switch (t) {
    case QKV_DTYPE_I8: return 1;
    case QKV_DTYPE_BF16:
    case QKV_DTYPE_F16: return 2;
    default: return 4;
  }
}

// An int32 sum as fp32. Sums of at most 131072 int8 products lie in
// [-2^31 + 2^24, 2^31]: INT32_MIN can only be 2^31 wrapped.
float widen(float a) { return a; }
#if defined(__ARM_FEATURE_MVE)
// arm-none-eabi GCC 12 for MVE cores if-converts the select below into a
// predicated "vcvtne", which its assembler reads as MVE's VCVTN and
// rejects: no select there, the sign bit of -2^31 flipped as an integer.
float widen(std::int32_t a) {
  const float f = static_cast<float>(a);
  std::uint32_t bits;
  __builtin_memcpy(&bits, &f, sizeof bits);
  bits ^= static_cast<std::uint32_t>(a == INT32_MIN) << 31;
  float r;
  __builtin_memcpy(&r, &bits, sizeof r);
  return r;
}
#else
float widen(std::int32_t a) { return a == INT32_MIN ? 2147483648.f : static_cast<float>(a); }
#endif

// One row of an fp32 C: c[j] = (s_row * sb[j]) * acc[j] (+ beta * c[j]).
// -O2 does not vectorise baseline loops with a remainder, so four lanes
// at a time in GCC/Clang vector types (where the target has a vector
// unit: kVectorUnit), the rest one at a time: the same IEEE operations
// either way, at the same columns for any thread count.
template <bool HasSb, bool HasBeta, class T>
void row_f32(const T* a, const float* sb, float s_row, float beta, float* c, std::size_t n) {
  typedef float f4 __attribute__((vector_size(16)));
  typedef T t4 __attribute__((vector_size(16)));
  typedef std::int32_t i4 __attribute__((vector_size(16)));
  std::size_t j = 0;
  for (; kVectorUnit && j + 4 <= n; j += 4) {
    t4 av;
    __builtin_memcpy(&av, a + j, sizeof av);
    f4 v;
    if constexpr (std::is_same<T, float>::value) {
      v = av;
    } else {  // INT32_MIN is 2^31 wrapped (widen)
      const f4 conv = __builtin_convertvector(av, f4), big = {2147483648.f, 2147483648.f, 2147483648.f, 2147483648.f};
      const i4 wrapped = av == INT32_MIN;
      v = wrapped ? big : conv;
    }
    f4 s = {s_row, s_row, s_row, s_row};
    if constexpr (HasSb) {
      f4 bv;
      __builtin_memcpy(&bv, sb + j, sizeof bv);
      s = s * bv;
    }
    v = s * v;
    if constexpr (HasBeta) {
      f4 cv;
      __builtin_memcpy(&cv, c + j, sizeof cv);
      v = v + beta * cv;
    }
    __builtin_memcpy(c + j, &v, sizeof v);
  }
  for (; j < n; ++j) {
    const float s = HasSb ? s_row * sb[j] : s_row;
    c[j] = HasBeta ? s * widen(a[j]) + beta * c[j] : s * widen(a[j]);
  }
}

// The same per element, the conditions tested in the loop: without a
// vector unit there are no four-lane bodies to specialise, so one loop.
template <class T>
void row_f32_scalar(const T* a, const float* sb, float s_row, float beta, float* c, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    const float s = sb ? s_row * sb[j] : s_row;
    c[j] = beta != 0.f ? s * widen(a[j]) + beta * c[j] : s * widen(a[j]);
  }
}

// C rows [i0, i0 + m) x columns [j0, j0 + n) = alpha*sa(i)*sb(j)*acc +
// beta*C, in C's type (fp32 or bf16; beta 0 never reads C); sa the scales of
// all rows or nullptr, sb those of columns j0.. or nullptr. The same
// expression per element whatever the branch: (s_row * sb(j)) * acc
// (+ beta * C), s_row = alpha * sa(i); the conditions are hoisted out of
// the row loops so that these vectorise.
template <class T>
void store_tile(const gemm_ex_args& p, const T* acc, std::size_t ld, std::size_t i0, std::size_t m, std::size_t j0,
                std::size_t n, const float* sa, const float* sb) {
  constexpr std::size_t kRowMax = 64;
  const float beta = p.beta;
  for (std::size_t r = 0; r < m; ++r) {
    const float s_row = sa ? p.alpha * sa[i0 + r] : p.alpha;
    const T* a = acc + r * ld;
    const std::size_t at = (i0 + r) * p.ldc + j0;
    if (p.ct == QKV_DTYPE_F32) {
      float* c = static_cast<float*>(p.C) + at;
      if constexpr (!kVectorUnit)
        row_f32_scalar(a, sb, s_row, beta, c, n);
      else if (sb && beta == 0.f)
        row_f32<true, false>(a, sb, s_row, beta, c, n);
      else if (sb)
        row_f32<true, true>(a, sb, s_row, beta, c, n);
      else if (beta == 0.f)
        row_f32<false, false>(a, sb, s_row, beta, c, n);
      else
        row_f32<false, true>(a, sb, s_row, beta, c, n);
    } else {  // bf16: through a row of fp32 values on the stack
      std::uint16_t* c = static_cast<std::uint16_t*>(p.C) + at;
      float v[kRowMax];
      for (std::size_t c0 = 0; c0 < n; c0 += kRowMax) {
        const std::size_t w = min_sz(kRowMax, n - c0);
        for (std::size_t j = 0; j < w; ++j) v[j] = (sb ? s_row * sb[c0 + j] : s_row) * widen(a[c0 + j]);
        if (beta != 0.f)
          for (std::size_t j = 0; j < w; ++j) v[j] += beta * util::bf16_to_f32(c[c0 + j]);
        for (std::size_t j = 0; j < w; ++j) c[c0 + j] = util::f32_to_bf16(v[j]);
      }
    }
  }
}

// One call's packing, micro-kernel calls and epilogues; the loops and the
// team are run_blocks' below.
class driver {
 public:
  driver(const gemm_ex_args& p, const plan& pl, const ws_layout& w) : p_(p), pl_(pl), w_(w) {}

  // op(A) rows [ic, ic + mc) x K [pc, pc + kc) into the A block at dst.
  void pack_a(unsigned char* dst, std::size_t ic, std::size_t mc, std::size_t pc, std::size_t kc) const {
    const std::size_t off = p_.ta ? pc * p_.lda + ic : ic * p_.lda + pc;
    const void* a = static_cast<const unsigned char*>(p_.A) + off * dtype_bytes(p_.at);
    switch (pl_.kind_of()) {
      case kind::s8: pl_.s8->pack_a(p_.ta, mc, kc, static_cast<const std::int8_t*>(a), p_.lda, dst); break;
      case kind::bf16:
        pl_.bf16->pack_a(p_.ta, mc, kc, static_cast<const std::uint16_t*>(a), p_.lda,
                         reinterpret_cast<std::uint16_t*>(dst));
        break;
      default:
        if (p_.at == QKV_DTYPE_F32)
          pl_.f32->pack_a(p_.ta, mc, kc, static_cast<const float*>(a), p_.lda, reinterpret_cast<float*>(dst));
        else if (widened_by_isa(p_.at))
          pl_.widen()->pack_a(p_.at, p_.ta, mc, kc, static_cast<const std::uint16_t*>(a), p_.lda,
                              reinterpret_cast<float*>(dst));
        else
          widen_pack_a(widen_src{p_.at, a, p_.lda, p_.sa ? p_.sa + ic : nullptr}, p_.ta, mc, kc, pl_.mr,
                       reinterpret_cast<float*>(dst));
    }
  }

  // Panels [q0, q1) of block (jc, pc) in one packer call: every packer
  // writes ceil(n / nr) consecutive panels b_panel_bytes apart.
  void pack_b_panels(std::size_t jc, std::size_t nc, std::size_t q0, std::size_t q1, std::size_t pc,
                     std::size_t kc) const {
    const std::size_t j = jc + q0 * pl_.nr, n = min_sz(q1 * pl_.nr, nc) - q0 * pl_.nr;
    const std::size_t off = p_.tb ? j * p_.ldb + pc : pc * p_.ldb + j;
    const void* b = static_cast<const unsigned char*>(p_.B) + off * dtype_bytes(p_.bt);
    unsigned char* dst = w_.b + q0 * b_panel_bytes(pl_, kc);
    switch (pl_.kind_of()) {
      case kind::s8: pl_.s8->pack_b(p_.tb, kc, n, static_cast<const std::int8_t*>(b), p_.ldb, dst); break;
      case kind::bf16:
        pl_.bf16->pack_b(p_.tb, kc, n, static_cast<const std::uint16_t*>(b), p_.ldb,
                         reinterpret_cast<std::uint16_t*>(dst));
        break;
      default:
        if (p_.bt == QKV_DTYPE_F32)
          pl_.f32->pack_b(p_.tb, kc, n, static_cast<const float*>(b), p_.ldb, reinterpret_cast<float*>(dst));
        else if (widened_by_isa(p_.bt))
          pl_.widen()->pack_b(p_.bt, p_.tb, kc, n, static_cast<const std::uint16_t*>(b), p_.ldb,
                              reinterpret_cast<float*>(dst));
        else
          widen_pack_b(widen_src{p_.bt, b, p_.ldb, p_.sb ? p_.sb + j : nullptr}, p_.tb, kc, n, pl_.nr,
                       reinterpret_cast<float*>(dst));
    }
  }

  // C rows [ic, ic + mc) x block columns [j0, j1) of block (jc, pc): the
  // packed A block at a against the B block's panels j0/nr.. (j0 a multiple
  // of nr).
  void rows(const unsigned char* a, std::size_t jc, std::size_t pc, std::size_t kc, std::size_t ic,
            std::size_t mc, std::size_t j0, std::size_t j1) const {
    const std::size_t ap = a_panel_bytes(pl_, kc), bp = b_panel_bytes(pl_, kc);
    const bool first = pc == 0, last = pc + kc >= p_.K;
    // An int32 C holds the sums itself: its whole tiles go straight to the
    // micro-kernel (tile()'s general path costs as much as a short tile).
    const bool s8_in_c = pl_.kind_of() == kind::s8 && pl_.mode == acc_mode::in_c, load = !first || p_.beta != 0.f;
    const bool bf16_in_c = pl_.kind_of() == kind::bf16 && pl_.mode == acc_mode::in_c && (!last || p_.alpha == 1.f) &&
                           !(biased() && first);
#ifdef QKV_HAVE_AMX
    if (pl_.amx) kern::amx_tiles_begin();
#endif
    const unsigned char* at = a;
    for (std::size_t ir = 0; ir < mc; ir += pl_.mr, at += ap) {
      const std::size_t m = min_sz(pl_.mr, mc - ir);
      const unsigned char* bt = w_.b + j0 / pl_.nr * bp;
      for (std::size_t jr = j0; jr < j1; jr += pl_.nr, bt += bp) {
        const std::size_t n = min_sz(pl_.nr, j1 - jr);
        if (s8_in_c && m == pl_.mr && n == pl_.nr)
          pl_.s8->ukernel(kc, at, bt, static_cast<std::int32_t*>(p_.C) + (ic + ir) * p_.ldc + jc + jr, p_.ldc,
                          load);
        else if (bf16_in_c && m == pl_.mr && n == pl_.nr)
          pl_.bf16->ukernel(kc, reinterpret_cast<const std::uint16_t*>(at), reinterpret_cast<const std::uint16_t*>(bt),
                            static_cast<float*>(p_.C) + (ic + ir) * p_.ldc + jc + jr, p_.ldc, load);
        else
          tile(tile_at{at, bt, ic + ir, jc + jr, jr, m, n, kc, first, last});
      }
    }
#ifdef QKV_HAVE_AMX
    if (pl_.amx) kern::amx_tiles_end();
#endif
  }

 private:
  // Whether an operand of type t is packed by the ISA's widening packers
  // (kernels/gemm/gemm_widen.hpp: fp16 and bf16, the same panels).
  bool widened_by_isa(qkv_dtype t) const { return pl_.widen() && (t == QKV_DTYPE_F16 || t == QKV_DTYPE_BF16); }

  struct tile_at {
    const unsigned char *a, *b;  // the A and B panels
    std::size_t i, j, jb;        // C's row and column, the column within the block
    std::size_t m, n, kc;        // the tile's extent in C, the depth
    bool first, last;            // the first / last K block
  };

  // acc[0:mr, 0:nr] (leading dimension ld) = (load ? acc : 0) + A.B.
  void kernel(const tile_at& t, void* acc, std::size_t ld, bool load) const {
    switch (pl_.kind_of()) {
      case kind::s8: pl_.s8->ukernel(t.kc, t.a, t.b, static_cast<std::int32_t*>(acc), ld, load); break;
      case kind::bf16:
        pl_.bf16->ukernel(t.kc, reinterpret_cast<const std::uint16_t*>(t.a),
                          reinterpret_cast<const std::uint16_t*>(t.b), static_cast<float*>(acc), ld, load);
        break;
      default:
        pl_.f32->ukernel(t.kc, 1.f, reinterpret_cast<const float*>(t.a), reinterpret_cast<const float*>(t.b),
                         load ? 1.f : 0.f, static_cast<float*>(acc), ld);
    }
  }

  // A tile's sums: fp32, or int32 for the s8 kind. Both are 4 bytes, so one
  // tile() serves every kind (one copy in the library, not one per type),
  // typed only where it reads or writes the sums.
  static_assert(sizeof(float) == sizeof(std::int32_t), "sums of either type share one layout");
  union alignas(64) sums {
    float f[kTileMax];
    std::int32_t i[kTileMax];
  };

  // An edge tile summed in C itself (in_c): through st, zeroed first (the
  // kernel's padding lanes), C's m x n elements copied in (load) and out.
  template <class T>
  void edge_in_c(const tile_at& t, T* c, T* st, bool load) const {
    auto copy = [](const T* src, std::size_t ls, T* dst, std::size_t ld, std::size_t m, std::size_t n) {
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t col = 0; col < n; ++col) dst[r * ld + col] = src[r * ls + col];
    };
    for (std::size_t e = 0; e < pl_.mr * pl_.nr; ++e) st[e] = T(0);
    if (load) copy(c, p_.ldc, st, pl_.nr, t.m, t.n);
    kernel(t, st, pl_.nr, load);
    copy(st, pl_.nr, c, p_.ldc, t.m, t.n);
  }

  // The tile's m x n elements of C = the bias row (gemm_ex_args::bias; the
  // driver then runs with beta 1).
  void set_bias(const tile_at& t) const {
    if constexpr (kBiasInTiles) {
      float* c = static_cast<float*>(p_.C) + t.i * p_.ldc + t.j;
      for (std::size_t r = 0; r < t.m; ++r)
        for (std::size_t col = 0; col < t.n; ++col) c[r * p_.ldc + col] = p_.bias[t.j + col];
    }
  }
  bool biased() const { return kBiasInTiles && p_.bias; }

  void tile(const tile_at& t) const {
    const bool full = t.m == pl_.mr && t.n == pl_.nr, s8 = pl_.kind_of() == kind::s8;
    if (biased() && t.first && (pl_.mode == acc_mode::direct || pl_.mode == acc_mode::in_c)) set_bias(t);
    sums st;  // edges and one-block sums
    switch (pl_.mode) {
      case acc_mode::direct: {  // the f32 kind: an edge tile through the
        // table's corner kernel, bit for bit the full tile's values
        float* c = static_cast<float*>(p_.C) + t.i * p_.ldc + t.j;
        const float beta = t.first ? p_.beta : 1.f;
        const float* a = reinterpret_cast<const float*>(t.a);
        const float* b = reinterpret_cast<const float*>(t.b);
        if (full)
          pl_.f32->ukernel(t.kc, p_.alpha, a, b, beta, c, p_.ldc);
        else  // packed panels: A's rs 1 and cs mr, B's rs 0
          pl_.f32->ukernel_strided(t.m, t.n, t.kc, p_.alpha, a, 1, pl_.mr, b, 0, beta, c, p_.ldc);
        return;
      }
      case acc_mode::in_c: {  // C's elements are the sums (int32 C, or fp32 C of the bf16 kind)
        const std::size_t at = t.i * p_.ldc + t.j;
        const bool load = !t.first || p_.beta != 0.f;
        if (s8) {  // an int32 C has alpha 1; rows() runs its whole tiles
          edge_in_c(t, static_cast<std::int32_t*>(p_.C) + at, st.i, load);
          return;
        }
        float* c = static_cast<float*>(p_.C) + at;
        if (full)
          kernel(t, c, p_.ldc, load);
        else
          edge_in_c(t, c, st.f, load);
        if (t.last && p_.alpha != 1.f)
          for (std::size_t r = 0; r < t.m; ++r)
            for (std::size_t col = 0; col < t.n; ++col) c[r * p_.ldc + col] *= p_.alpha;
        return;
      }
      case acc_mode::tile:  // the kernel writes the whole tile (load false)
        if (biased()) set_bias(t);
        if (s8) {
          kernel(t, st.i, pl_.nr, false);
          epilogue(st.i, pl_.nr, t);
        } else {
          kernel(t, st.f, pl_.nr, false);
          epilogue(st.f, pl_.nr, t);
        }
        return;
      case acc_mode::buffer: {
        const std::size_t at = t.i * pl_.acc_ld + t.jb;
        if (biased() && t.last) set_bias(t);
        if (s8) {
          std::int32_t* acc = static_cast<std::int32_t*>(w_.acc) + at;
          kernel(t, acc, pl_.acc_ld, !t.first);
          if (t.last) epilogue(acc, pl_.acc_ld, t);
        } else {
          float* acc = static_cast<float*>(w_.acc) + at;
          kernel(t, acc, pl_.acc_ld, !t.first);
          if (t.last) epilogue(acc, pl_.acc_ld, t);
        }
        return;
      }
    }
  }

  // The tile's epilogue: the f32 kind folded int8 scales into its packed
  // operands, so only the s8 kind applies them here.
  template <class T>
  void epilogue(const T* acc, std::size_t ld, const tile_at& t) const {
    const bool scaled = pl_.kind_of() == kind::s8;
    store_tile(p_, acc, ld, t.i, t.m, t.j, t.n, scaled ? p_.sa : nullptr, scaled && p_.sb ? p_.sb + t.j : nullptr);
  }

  const gemm_ex_args& p_;
  const plan& pl_;
  const ws_layout& w_;
};

// The BLIS loops on a team of up to nth (as ops/gemm.cpp's run_packed with
// B always packed): each (jc, pc) block is one run_b_block (ops/gemm_team
// run_b_blocks; several blocks on an OpenMP team: all on one),
// whose members pack the B panels together and then each pack their own A
// block (member k's at w.a + k * a_block_bytes) for the rows they compute.
// Every C tile is computed by one member per K block, K blocks in order.
void run_blocks(const exec& x, const driver& d, const plan& pl, const gemm_ex_args& p, const ws_layout& w,
                int nth) {
  const std::size_t a_bytes = a_block_bytes(pl);
#ifdef QKV_HOSTED
  if (pl.own_b && nth > 1) {  // as ops/gemm.cpp's run_own_b: each member its own B, guided runs of tiles
    const std::size_t panels = (p.N + pl.nr - 1) / pl.nr;
    std::atomic<std::size_t> ticket{0};
    run_team(x, nth, [&](int k, int n) {
      ws_layout own = w;
      own.b = w.b + static_cast<std::size_t>(k) * own_b_stride(pl);
      unsigned char* a = w.a + static_cast<std::size_t>(k) * a_bytes;
      const driver dk(p, pl, own);
      dk.pack_b_panels(0, p.N, 0, panels, 0, p.K);
      for_each_tile_run(ticket, p.M, pl.mr, static_cast<std::size_t>(n), pl.mc / pl.mr,
                        [&](std::size_t ic, std::size_t m) {
                          dk.pack_a(a, ic, m, 0, p.K);
                          dk.rows(a, 0, 0, p.K, ic, m, 0, p.N);
                        });
    });
    return;
  }
#endif
  auto pack = [&](std::size_t jc, std::size_t nc, std::size_t pc, std::size_t kc, std::size_t q0, std::size_t q1) {
    d.pack_b_panels(jc, nc, q0, q1, pc, kc);
  };
  auto rows = [&](int k, std::size_t jc, std::size_t, std::size_t pc, std::size_t kc, std::size_t ic, std::size_t mc,
                  std::size_t j0, std::size_t j1) {
    unsigned char* a = w.a + static_cast<std::size_t>(k) * a_bytes;
    d.pack_a(a, ic, mc, pc, kc);
    d.rows(a, jc, pc, kc, ic, mc, j0, j1);
  };
  run_b_blocks(x, nth, p.M, pl.mr, pl.mc, p.N, pl.nc, pl.nr, p.K, pl.kc, pack, rows);
}

// K == 0 or alpha == 0: C = beta * C, A and B unread; beta 0 never reads C.
void scale_c(const gemm_ex_args& p) {
  if (p.beta == 1.f) return;
  for (std::size_t i = 0; i < p.M; ++i)
    for (std::size_t j = 0; j < p.N; ++j) {
      const std::size_t at = i * p.ldc + j;
      if (p.ct == QKV_DTYPE_F32) {
        float* c = static_cast<float*>(p.C) + at;
        *c = p.beta == 0.f ? 0.f : p.beta * *c;
      } else if (p.ct == QKV_DTYPE_BF16) {
        std::uint16_t* c = static_cast<std::uint16_t*>(p.C) + at;
        *c = p.beta == 0.f ? std::uint16_t{0} : util::f32_to_bf16(p.beta * util::bf16_to_f32(*c));
      } else {  // int32: beta is 0 here
        static_cast<std::int32_t*>(p.C)[at] = 0;
      }
    }
}

bool multiplies(const gemm_ex_args& p) { return p.M && p.N && p.K && p.alpha != 0.f; }

}  // namespace

#ifdef QKV_HOSTED  // kSkinnyPath
void gemm_ex_store_rows(const gemm_ex_args& p, const float* acc, std::size_t ld, std::size_t j, std::size_t n) {
  store_tile(p, acc, ld, 0, p.M, j, n, nullptr, p.sb ? p.sb + j : nullptr);
}
#endif

#ifdef QKV_HOSTED  // the report line's
gemm_ex_info describe_gemm_ex(qkv_isa isa, const gemm_ex_args& p) noexcept {
  if (!multiplies(p)) return gemm_ex_info{"none", "none", 0, 0, 0};
  if constexpr (kSkinnyPath)
    if (gemm_ex_is_skinny(p)) return describe_gemm_ex_skinny(isa, p);
  const plan pl = make_plan(isa, p);
  const char* k = pl.k == kind::s8 ? "s8" : pl.k == kind::bf16 ? "bf16" : "f32";
  return gemm_ex_info{k, pl.kernel, pl.mc, pl.kc, pl.nc};
}
#endif

bool gemm_ex_workspace_bytes(qkv_isa isa, const gemm_ex_args& p, int threads, std::size_t* bytes) noexcept {
  if (!multiplies(p)) {
    *bytes = 0;
    return true;
  }
  if constexpr (kSkinnyPath)
    if (gemm_ex_is_skinny(p)) return gemm_ex_skinny_workspace_bytes(p, threads < 1 ? 1 : threads, bytes);
  ws_layout w = util::zeroed<ws_layout>();
  std::size_t used = 0;
  if (!carve(make_plan(isa, p), p, threads < 1 ? 1 : threads, nullptr, &w, &used)) return false;
  return util::add_ok(used, ws_carver::kAlign, bytes);  // slack: any workspace pointer works
}

void gemm_ex(const exec& x, const gemm_ex_args& p, void* ws, std::size_t ws_bytes) {
  if (p.M == 0 || p.N == 0) return;
#ifdef QKV_HOSTED
  if (p.bias && (!multiplies(p) || gemm_ex_is_skinny(p))) {  // no tiles: the bias rows first
    broadcast_rows(p.M, p.N, p.bias, static_cast<float*>(p.C), p.ldc);
    gemm_ex_args q = p;
    q.bias = nullptr;
    gemm_ex(x, q, ws, ws_bytes);
    return;
  }
#endif
  if (!multiplies(p)) {
    scale_c(p);
    return;
  }
  if constexpr (kSkinnyPath) {
    if (gemm_ex_is_skinny(p)) {
      gemm_ex_skinny(x, p, ws, ws_bytes);
      return;
    }
  }
  const plan pl = make_plan(x.isa, p);
  std::size_t bytes = ws_bytes, need1 = 0;
  char* base = align_workspace(ws, &bytes);
  ws_layout w = util::zeroed<ws_layout>();
  carve(pl, p, 1, nullptr, &w, &need1);  // the caller checked that the workspace holds this
  const std::size_t m_tiles = (p.M + pl.mr - 1) / pl.mr, n_panels = (pl.nc + pl.nr - 1) / pl.nr;
  const float flops = 2.f * static_cast<float>(p.M) * static_cast<float>(p.N) * static_cast<float>(p.K);
  int nth = threads_for(x, flops, max_sz(m_tiles, n_panels));
  if (nth > 1) {  // each further member needs its own A block (and B block: own_b)
    std::size_t extra = a_block_bytes(pl);
#ifdef QKV_HOSTED
    if (pl.own_b) extra += own_b_stride(pl);
#endif
    const std::size_t fit = (bytes - need1) / extra + 1;
    if (static_cast<std::size_t>(nth) > fit) nth = static_cast<int>(fit);
  }
  carve(pl, p, nth, base, &w, &need1);  // nth members' blocks: fit checked above
  const driver d(p, pl, w);
  run_blocks(x, d, pl, p, w, nth);
}

}  // namespace qkv::ops
