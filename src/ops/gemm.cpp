// SPDX-License-Identifier: MIT
#include "ops/gemm.hpp"

#include <atomic>
#include <cstdint>

#include "kernels/gemm/gemm.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/gemm_blocking.hpp"
#include "ops/gemm_table.hpp"
#include "ops/gemm_team.hpp"
#include "ops/gemm_tiny.hpp"
#include "ops/rows.hpp"
#include "ops/threads.hpp"
#include "util/copy.hpp"
#include "util/size_math.hpp"

namespace qkv::ops {
namespace {

using kern::gemm_kernels;

constexpr std::size_t kAlignFloats = 16;  // 64 bytes

using util::round_up;
std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }
std::size_t max_sz(std::size_t a, std::size_t b) { return a > b ? a : b; }

// Block sizes for one problem: the ISA's (ops/gemm_blocking), clipped to the problem.
struct blocks {
  std::size_t mc, kc, nc;
  std::size_t a_floats, b_floats;  // one packed A block, the B block (0: read in place); aligned sizes
#ifdef QKV_HOSTED
  bool own_b;     // a team's members each pack all of B into their own block (see run_own_b)
  bool one_band;  // a few rows, A and B read in place: B streams from memory once
#endif
};

// B blocks per thread: 1 with own_b, else 0 (bare metal: never; its code is budgeted).
std::size_t own_b_blocks(const blocks& bl) {
#ifdef QKV_HOSTED
  return bl.own_b ? 1 : 0;
#else
  static_cast<void>(bl);
  return 0;
#endif
}

blocks blocks_for(qkv_isa isa, const gemm_kernels& t, bool ta, bool tb, std::size_t M, std::size_t N,
                  std::size_t K) {
  const gemm_blocks& g = gemm_blocks_for(isa);
  blocks b{};
  // The deepest K block: the kernels' kc_max, and for a transposed B
  // (hosted) one whose panel fits the workspace-less path's stack block,
  // which must pack it (the same kc on both paths: the same bits).
#ifdef QKV_HOSTED
  const std::size_t cap = tb ? min_sz(t.kc_max, kern::kGemmStackBFloats / t.nr / 8 * 8) : t.kc_max;
#else
  const std::size_t cap = t.kc_max;
#endif
  const std::size_t kc0 = min_sz(g.kc, cap);
  // K in ceil(K / kc) blocks of near-equal depth (no thin last block, which
  // costs a pass over C for little work); a K up to 1.5 kc stays whole
  // where the kernels take it (one pass over C instead of two: the K 768 of
  // d 768 layers, bench/README.md, session 32).
  std::size_t k_blocks = K / kc0 + (K % kc0 != 0);  // no K + kc - 1: K may be near SIZE_MAX
  if (k_blocks == 2 && K <= kc0 + kc0 / 2 && K <= cap) k_blocks = 1;
  b.kc = min_sz(min_sz(round_up(K / k_blocks + (K % k_blocks != 0), 8), K), cap);
  // A shallower K (kc < g.kc) leaves the blocks the same area in the cache:
  // wider blocks mean fewer passes over op(A) (one per nc columns) and over
  // op(B)'s packing. Still within the limits, and within the area the
  // workspace bound of qkv/gemm.h counts.
  // (At least one tile: a K kept whole up to 1.5 kc makes kc > g.kc.)
  const std::size_t mc_area = max_sz(g.mc * g.kc / b.kc / t.mr * t.mr, t.mr);
  const std::size_t nc_area = max_sz(g.nc * g.kc / b.kc / t.nr * t.nr, t.nr);
  b.mc = min_sz(min_sz(mc_area, kGemmBlockLimits.mc_max / t.mr * t.mr), round_up(M, t.mr));
  b.nc = column_block(N, min_sz(nc_area, kGemmBlockLimits.nc_max / t.nr * t.nr), t.nr);
  // Packing A pays off when each A micro-panel meets enough B panels
  // (N > pack_a_min_n), and always for a transposed A deeper than one KC
  // block: read in place, its micro-panel is kc rows lda apart, which alias
  // in L1. Otherwise the micro-kernel reads A in place. A shape property,
  // so the same for any thread count. (The measurements behind these rules:
  // bench/README.md, "What decides the speed".)
  //
  // A that fits one in-place row tile (B not transposed: decode's
  // projections) leaves both in place: each element of B would meet one
  // micro-kernel call, so packing either operand is a pass that buys no
  // reuse (measurements: bench/README.md, "Few-row GEMMs without packing").
  // Hosted builds (bare metal: its code is budgeted, and a Cortex-M's
  // flash and SRAM have no cache hierarchy for this to matter in).
#ifdef QKV_HOSTED
  const bool one_band = !tb && M <= (t.block_inplace ? kern::kBlockInplaceRows : t.mr);
  b.one_band = one_band;
#else
  constexpr bool one_band = false;
#endif
  b.a_floats = !one_band && (N > t.pack_a_min_n || (ta && K > g.kc)) ? round_up(b.mc * b.kc, kAlignFloats) : 0;
  // A small, non-transposed B is read in place (no B block) where the ISA
  // allows it (kc*N <= inplace_b_max): packing it costs more than it saves.
  // So is a narrow one whose last nr-wide column panel would be at most
  // half used (N = 1..16 or 33..48 for nr 32) where the ISA has its own
  // in-place tiling: with A in place too, block_inplace's 6 x 64 tiles (one
  // masked vector at most) waste fewer FMA lanes than half-empty panels.
  const std::size_t last_panel = N - (N - 1) / t.nr * t.nr;
  const bool narrow_inplace = t.block_inplace && b.a_floats == 0 && N <= 2 * t.nr && 2 * last_panel <= t.nr;
  // And where dispatch/uarch turned it on, a B likely in cache that meets
  // few A micro-panels (M <= inplace_b_rows): a packed B element would be
  // read M / mr times, too few to pay for the packing pass (and, on a team,
  // the wait for the shared block). gemm_blocks states the cache limits.
#ifdef QKV_HOSTED
  const bool cached_b = M <= g.inplace_b_rows && N <= g.inplace_b_slab / sizeof(float) / b.kc &&
                        K <= g.inplace_b_whole / sizeof(float) / N;
#else
  constexpr bool cached_b = false;
#endif
  const bool inplace_b = !tb && (b.kc * N <= t.inplace_b_max || narrow_inplace || one_band || cached_b);
  b.b_floats = inplace_b ? 0 : round_up(b.kc * b.nc, kAlignFloats);
#ifdef QKV_HOSTED
  // One packed B block (K and N each in one block) that own_b_fits: a
  // team's members each pack all of it (run_own_b). A shape property, so
  // the same rule for any thread count.
  b.own_b = b.b_floats != 0 && b.kc >= K && b.nc >= N && own_b_fits(g, b.kc * N * sizeof(float));
#endif
  return b;
}

// C = beta*C; beta == 0 writes zeros without reading C.
void scale_c(std::size_t M, std::size_t N, float beta, float* C, std::size_t ldc) {
  if (beta == 1.f) return;
  for (std::size_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f)
      for (std::size_t j = 0; j < N; ++j) c[j] = 0.f;
    else
      for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

struct problem {
  bool ta, tb;
  std::size_t M, N, K;
  float alpha;
  const float* A;
  std::size_t lda;
  const float* B;
  std::size_t ldb;
  float beta;
  float* C;
  std::size_t ldc;
  const float* bias;  // sgemm_bias: C starts as this row in every row (beta is 1)
};

// Where the macro-kernel reads A: a packed block, or op(A) in place with
// op(A)(i,k) = a[i*rs + k*cs].
struct a_view {
  const float* a;
  std::size_t rs, cs;
  bool packed;
};

// Where it reads B: the packed block (rs == 0), or op(B) in place with
// op(B)(k,j) = b[k*rs + j].
struct b_view {
  const float* b;
  std::size_t rs;
};

// The macro-kernel: A block (mc x kc) times the packed B columns [j0, j1)
// (multiples of nr except at the end) into C. ir outside jr: one A
// micro-panel stays in L1 while the B micro-panels stream from the B block
// in L2, and C is walked one row band at a time (few pages, TLB friendly).
//
// bias (first K block of sgemm_bias only): each C tile is set to the bias
// row just before its micro-kernel call, which then adds to it (beta 1).
// The tile is in L1 by then; a separate pass over all of C would make the
// kernel re-read C from memory.
void macro_kernel(const gemm_kernels& t, std::size_t mc, std::size_t j0, std::size_t j1, std::size_t kc, float alpha,
                  const a_view& av, const b_view& bv, float beta, float* C, std::size_t ldc, const float* bias) {
  // rows x n of C (leading dimension ldc) = the bias row from column j.
  auto set_bias = [&](float* c, std::size_t rows, std::size_t j, std::size_t n) {
    for (std::size_t i = 0; i < rows; ++i) util::copy_floats(c + i * ldc, bias + j, n);
  };
  if (!av.packed && bv.rs && t.block_inplace) {  // nothing packed: the ISA's own tiling
    if (bias) set_bias(C + j0, mc, j0, j1 - j0);
    t.block_inplace(mc, j1 - j0, kc, alpha, av.a, av.rs, av.cs, bv.b + j0, bv.rs, beta, C + j0, ldc);
    return;
  }
  // op(A) read in place with rows a multiple of 4 KiB apart: every row's
  // line for the same k lands in one L1 set, and 14 of them overflow a
  // 12-way L1 (48 KiB on current x86 cores), so each broadcast missed.
  // Tiles of at most 12 rows there (same operations per element, same
  // bits).
  constexpr std::size_t kL1Ways = 12;
  const bool aliased_rows = !av.packed && av.cs == 1 && av.rs * sizeof(float) % 4096 == 0;
  const std::size_t mr = aliased_rows && t.mr > kL1Ways ? kL1Ways : t.mr;
  for (std::size_t ir = 0; ir < mc; ir += mr) {
    const std::size_t m = min_sz(mr, mc - ir);
    for (std::size_t jr = j0; jr < j1; jr += t.nr) {
      const std::size_t n = min_sz(t.nr, j1 - jr);
      const float* b = bv.rs ? bv.b + jr : bv.b + jr * kc;
      float* c = C + ir * ldc + jr;
      if (bias) set_bias(c, m, jr, n);
      if (av.packed && !bv.rs && m == t.mr && n == t.nr) {
        t.ukernel(kc, alpha, av.a + ir * kc, b, beta, c, ldc);
      } else if (av.packed) {  // a packed A panel is op(A) with rs 1, cs mr
        t.ukernel_strided(m, n, kc, alpha, av.a + ir * kc, 1, t.mr, b, bv.rs, beta, c, ldc);
      } else {
        t.ukernel_strided(m, n, kc, alpha, av.a + ir * av.rs, av.rs, av.cs, b, bv.rs, beta, c, ldc);
      }
    }
  }
}

#ifdef QKV_HOSTED
// A product that is one B block (bl.own_b) on a team of nth >= 2: member k
// packs all of op(B) into its own block at ws + k * (b_floats + a_floats)
// (its A block follows it), then takes runs of M tiles from a shared
// counter (guided_tiles: at most an A block, shrinking toward the end).
// Sharing one packed B would cost more than packing it twice: the
// members wait for each other's panels, and each write to a line the other
// core read in the last call is a cross-core invalidation (at 256^3 and
// 2 threads the shared block's packing took ~3x its 1-thread time). No
// member waits for another; each C tile is computed by one member over the
// whole K, with the same kernels and packed values as on one thread.
template <class Rows>
void run_own_b(const exec& x, const gemm_kernels& t, const problem& p, const blocks& bl, float* ws, int nth,
               const Rows& rows) {
  const std::size_t per_member = bl.b_floats + bl.a_floats;
  std::atomic<std::size_t> ticket{0};
  run_team(x, nth, [&](int k, int n) {
    float* own = ws + static_cast<std::size_t>(k) * per_member;
    t.pack_b(p.tb, p.K, p.N, p.B, p.ldb, own);
    float* a_block = bl.a_floats ? own + bl.b_floats : nullptr;
    for_each_tile_run(ticket, p.M, t.mr, static_cast<std::size_t>(n), bl.mc / t.mr,
                      [&](std::size_t ic, std::size_t mc) {
                        rows(a_block, 0, 0, p.K, b_view{own, 0}, ic, mc, 0, p.N);
                      });
  });
}
#endif

// The packed algorithm on a team of up to `nth` (BLIS loops jc, pc, ic).
// Where B is packed, each (jc, pc) block is one run_b_block (ops/gemm_team
// run_b_blocks):
// the members pack the B block's panels together (panel_states), then take
// M tiles from a shared counter (a member that starts late leaves its share
// to the others); the join at its end is what lets the next block overwrite
// B (several blocks on an OpenMP team: one team for them all,
// run_b_blocks_on_one_team, a barrier between blocks instead of a join). Where B is read in place,
// one team run covers all blocks, each member its own M (or N) range.
// Member k packs A into its own block ap + k*a_floats. Outside
// run_b_blocks_on_one_team no member waits for another, so any executor runs it
// (qkv/runtime.h); every C tile is computed by one member per K block, K
// blocks in order, so the bits never depend on the team.
void run_packed(const exec& x, const gemm_kernels& t, const problem& p, const blocks& bl, float* bp, float* ap,
                int nth) {
  const bool pack_a = bl.a_floats != 0;
  const std::size_t m_tiles = (p.M + t.mr - 1) / t.mr;
  // Rows [ic, ic + mc) of op(A) against block columns [j0, j1) of (jc, pc).
  auto rows = [&](float* a_block, std::size_t jc, std::size_t pc, std::size_t kc, const b_view& bv, std::size_t ic,
                  std::size_t mc, std::size_t j0, std::size_t j1) {
    const float* a = p.ta ? p.A + pc * p.lda + ic : p.A + ic * p.lda + pc;
    a_view av{a, p.ta ? 1 : p.lda, p.ta ? p.lda : 1, false};
    if (pack_a) {
      t.pack_a(p.ta, mc, kc, a, p.lda, a_block);
      av = a_view{a_block, 0, 0, true};
    }
    macro_kernel(t, mc, j0, j1, kc, p.alpha, av, bv, pc == 0 ? p.beta : 1.f, p.C + ic * p.ldc + jc, p.ldc,
                 pc == 0 && p.bias ? p.bias + jc : nullptr);
  };
  // Member k of n's share of [0, total): [total*k/n, total*(k+1)/n).
  auto share = [](std::size_t total, int k, int n, std::size_t* lo, std::size_t* hi) {
    *lo = total * static_cast<std::size_t>(k) / static_cast<std::size_t>(n);
    *hi = total * (static_cast<std::size_t>(k) + 1) / static_cast<std::size_t>(n);
  };
  if (bl.b_floats == 0) {  // B in place: no block is shared, one run
    run_team(x, nth, [&](int k, int n) {
      float* a_block = pack_a ? ap + static_cast<std::size_t>(k) * bl.a_floats : nullptr;
      const bool by_m = m_tiles >= static_cast<std::size_t>(n);
      std::size_t lo = 0, hi = m_tiles;
      if (by_m) share(m_tiles, k, n, &lo, &hi);
      for (std::size_t jc = 0; jc < p.N; jc += bl.nc) {
        const std::size_t nc = min_sz(bl.nc, p.N - jc);
        const std::size_t panels = (nc + t.nr - 1) / t.nr;
        std::size_t j0 = 0, j1 = nc;
        if (!by_m) {
          std::size_t q0, q1;
          share(panels, k, n, &q0, &q1);
          j0 = q0 * t.nr;
          j1 = min_sz(q1 * t.nr, nc);
          if (j0 >= j1) continue;
        }
        for (std::size_t pc = 0; pc < p.K; pc += bl.kc) {
          const std::size_t kc = min_sz(bl.kc, p.K - pc);
          const b_view bv{p.B + pc * p.ldb + jc, p.ldb};
          for (std::size_t ic = lo * t.mr; ic < min_sz(hi * t.mr, p.M); ic += bl.mc)
            rows(a_block, jc, pc, kc, bv, ic, min_sz(bl.mc, min_sz(hi * t.mr, p.M) - ic), j0, j1);
        }
      }
    });
    return;
  }
#ifdef QKV_HOSTED
  if (bl.own_b && nth > 1) {  // bp: the members' blocks, B then A each
    run_own_b(x, t, p, bl, bp, nth, rows);
    return;
  }
#endif
  // Block (jc, pc)'s panels [q0, q1), and member k's rows against it.
  auto pack = [&](std::size_t jc, std::size_t nc, std::size_t pc, std::size_t kc, std::size_t q0, std::size_t q1) {
    const std::size_t j = q0 * t.nr;
    const float* b = p.tb ? p.B + (jc + j) * p.ldb + pc : p.B + pc * p.ldb + jc + j;
    t.pack_b(p.tb, kc, min_sz(q1 * t.nr, nc) - j, b, p.ldb, bp + j * kc);
  };
  auto member_rows = [&](int k, std::size_t jc, std::size_t, std::size_t pc, std::size_t kc, std::size_t ic,
                         std::size_t mc, std::size_t j0, std::size_t j1) {
    rows(pack_a ? ap + static_cast<std::size_t>(k) * bl.a_floats : nullptr, jc, pc, kc, b_view{bp, 0}, ic, mc, j0, j1);
  };
  run_b_blocks(x, nth, p.M, t.mr, bl.mc, p.N, bl.nc, t.nr, p.K, bl.kc, pack, member_rows);
}

int threads_for_gemm(const exec& x, const gemm_kernels& t, const blocks& bl, std::size_t M, std::size_t N,
                     std::size_t K) {
  const std::size_t m_tiles = (M + t.mr - 1) / t.mr;
  const std::size_t n_panels = (bl.nc + t.nr - 1) / t.nr;
  float flops = 2.0f * static_cast<float>(M) * static_cast<float>(N) * static_cast<float>(K);
#ifdef QKV_HOSTED
  if (bl.one_band) flops = streamed_flops(M, N, K);
#endif
  return threads_for(x, flops, m_tiles > n_panels ? m_tiles : n_panels);
}

#ifdef QKV_HOSTED
// sgemm without a workspace: op(A) read in place, and a packed B block in a
// kGemmStackBFloats stack array, its width clipped to whole panels that fit;
// a B deeper than one panel of the array (kc > kGemmKcLimit, B not
// transposed: blocks_for) is read in place. Neither mc, nc nor where A and B
// are read changes any element's operations (K is still split at kc), so
// the bits equal the workspace path's. Not inlined: the 64 KiB frame exists
// only on this path.
[[gnu::noinline]] void run_stack_b(const exec& x, const gemm_kernels& t, const problem& p, blocks bl, int nth) {
  alignas(64) float b_block[kern::kGemmStackBFloats];
  bl.a_floats = 0;
  bl.own_b = false;  // one block, shared
  if (bl.b_floats && bl.kc * t.nr > kern::kGemmStackBFloats) bl.b_floats = 0;  // !p.tb (blocks_for)
  if (bl.b_floats) {
    const std::size_t nc = kern::kGemmStackBFloats / bl.kc / t.nr * t.nr;  // >= nr: kc*nr fits (above)
    if (nc < bl.nc) bl.nc = nc;
    bl.b_floats = round_up(bl.kc * bl.nc, kAlignFloats);
  }
  run_packed(x, t, p, bl, bl.b_floats ? b_block : nullptr, nullptr, nth);
}
#endif

#ifdef QKV_HOSTED
// A few rows of A against a transposed B ([N][K]: the tied LM head of
// generation, logits = h E^T): each C element is one dot product of a row
// of A and a row of B, both contiguous, so B is read once, in place, with
// no transposing pack (which cost ~3x the product at M = 1). Columns in
// fixed blocks of kDotCols, each computed by one task: the bits do not
// depend on the team.
constexpr std::size_t kDotMaxM = 8, kDotCols = 64;

bool dot_path(bool ta, bool tb, std::size_t M) { return tb && !ta && M <= kDotMaxM; }

void run_dot_rows(const exec& x, const problem& p) {
  const kern::vec_kernels& v = kern::vec_for(x.isa);
  const std::size_t tasks = (p.N + kDotCols - 1) / kDotCols;
  parallel_for_tasks(x, threads_for(x, streamed_flops(p.M, p.N, p.K), tasks), tasks, [&](std::size_t t, int) {
    const std::size_t j0 = t * kDotCols, j1 = min_sz(p.N, j0 + kDotCols);
    auto store = [&](std::size_t i, std::size_t j, float d) {
      float* c = p.C + i * p.ldc + j;
      *c = p.beta == 0.f ? p.alpha * d : p.alpha * d + p.beta * *c;
    };
    if (p.M == 1) {  // B's rows as dot_rows' rows: A's row loaded once per group of them (same bits)
      float d[kDotCols];
      v.dot_rows(j1 - j0, p.K, p.B + j0 * p.ldb, p.ldb, p.A, d);
      for (std::size_t j = j0; j < j1; ++j) store(0, j, d[j - j0]);
      return;
    }
    for (std::size_t j = j0; j < j1; ++j) {
      float d[kDotMaxM];
      v.dot_rows(p.M, p.K, p.A, p.lda, p.B + j * p.ldb, d);
      for (std::size_t i = 0; i < p.M; ++i) store(i, j, d[i]);
    }
  });
}
#endif

}  // namespace

std::size_t sgemm_workspace_bytes(qkv_isa isa, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K,
                                  int threads) {
  if (M == 0 || N == 0 || K == 0 || sgemm_is_small(M, N, K)) return 0;
#ifdef QKV_HOSTED
  if (dot_path(ta, tb, M)) return 0;
#endif
  const gemm_kernels& t = gemm_table(isa);
  const blocks bl = blocks_for(isa, t, ta, tb, M, N, K);
  if (bl.a_floats == 0 && bl.b_floats == 0) return 0;  // both operands read in place
  const std::size_t th = threads < 1 ? 1 : static_cast<std::size_t>(threads);
  return ((1 + (th - 1) * own_b_blocks(bl)) * bl.b_floats + th * bl.a_floats) * sizeof(float) + 64;
}

void sgemm_general(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                   const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                   std::size_t ldc, void* ws, std::size_t ws_bytes, const float* bias) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.f) {  // A and B are not read (BLAS semantics)
    if (bias) broadcast_rows(M, N, bias, C, ldc);  // then beta is 1
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const gemm_kernels& t = gemm_table(x.isa);
  if (!sgemm_is_small(M, N, K)) {  // small: only before the first dispatch decision, or with a bias
    problem p{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias};
#ifdef QKV_HOSTED
    if (dot_path(ta, tb, M)) {
      if (bias) {  // C = bias, then added to
        broadcast_rows(M, N, bias, C, ldc);
        p.beta = 1.f;
      }
      run_dot_rows(x, p);
      return;
    }
#endif
    const blocks bl = blocks_for(x.isa, t, ta, tb, M, N, K);
    int nth = threads_for_gemm(x, t, bl, M, N, K);
    if (bl.a_floats == 0 && bl.b_floats == 0) {  // both operands read in place
      run_packed(x, t, p, bl, nullptr, nullptr, nth);
      return;
    }
#ifdef QKV_HOSTED
    if (!ws) {
      run_stack_b(x, t, p, bl, nth);
      return;
    }
#endif
    // Caller workspace: [B block | A block of thread 0 | A block of thread 1 | ...]
    // or, with own_b, [B block | A block] per thread
    // (bare-metal stacks are small: without one, no 64 KiB stack block there).
    const std::size_t need1 = ws ? sgemm_workspace_bytes(x.isa, ta, tb, M, N, K, 1) : 0;
    if (ws && ws_bytes >= need1) {
      const std::size_t extra = bl.a_floats + own_b_blocks(bl) * bl.b_floats;  // per extra thread
      if (extra) {
        const std::size_t fit = (ws_bytes - need1) / (extra * sizeof(float)) + 1;
        if (static_cast<std::size_t>(nth) > fit) nth = static_cast<int>(fit);
      }
      float* base = util::align_up(ws, 64);
      run_packed(x, t, p, bl, base, bl.a_floats ? base + bl.b_floats : nullptr, nth);
      return;
    }
  }
  // Unpacked (small, a workspace short of the query, or none on bare metal).
  // The unpacked kernel has no bias epilogue: C = bias first, then beta 1.
  if (bias) broadcast_rows(M, N, bias, C, ldc);
  t.direct(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
           std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc, void* ws,
           std::size_t ws_bytes) {
  if (!sgemm_tiny(x.isa, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    sgemm_general(x, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws, ws_bytes);
}

void sgemm_bias(const exec& x, bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                std::size_t lda, const float* B, std::size_t ldb, const float* bias, float* C, std::size_t ldc,
                void* ws, std::size_t ws_bytes) {
  sgemm_general(x, ta, tb, M, N, K, 1.f, A, lda, B, ldb, 1.f, C, ldc, ws, ws_bytes, bias);
}

}  // namespace qkv::ops
