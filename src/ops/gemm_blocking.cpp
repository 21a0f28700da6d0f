// SPDX-License-Identifier: MIT
#include "ops/gemm_blocking.hpp"

#include <cstdlib>

#include "ops/gemm_table.hpp"

namespace qkv::ops {
// The caches' model and the QKV_BLOCKING parser serve hosted builds only:
// bare metal runs the kernel table's blocks (decide below), so there they
// would be code nothing calls.
#ifdef QKV_HOSTED
namespace {

constexpr std::size_t kFloat = sizeof(float);

std::size_t clamp(std::size_t v, std::size_t lo, std::size_t hi) { return v < lo ? lo : v > hi ? hi : v; }

// Rounds down to a multiple of `step` (>= step), then clamps to [lo, hi]
// rounded the same way.
std::size_t fit(std::size_t v, std::size_t step, std::size_t lo, std::size_t hi) {
  const std::size_t lo_r = (lo + step - 1) / step * step, hi_r = hi / step * step;
  return clamp(v / step * step, lo_r < step ? step : lo_r, hi_r < step ? step : hi_r);
}

// kc in steps of 8 (the micro-kernels unroll k by up to 4), within the
// limits and the kernel set's kc_max (its stack panels).
std::size_t fit_kc(const kern::gemm_kernels& t, std::size_t kc) {
  const gemm_block_limits& L = kGemmBlockLimits;
  return fit(kc, 8, L.kc_min, t.kc_max < L.kc_max ? t.kc_max : L.kc_max);
}

gemm_blocks finish(const kern::gemm_kernels& t, std::size_t mc, std::size_t kc, std::size_t nc,
                   qkv_blocking_source source) {
  const gemm_block_limits& L = kGemmBlockLimits;
  gemm_blocks b;
  b.kc = fit_kc(t, kc);
  b.mc = fit(mc, t.mr, t.mr, L.mc_max);
  b.nc = fit(nc, t.nr, t.nr, L.nc_max);
  b.source = source;
  return b;
}

}  // namespace

gemm_blocks model_gemm_blocks(const kern::gemm_kernels& t, const dispatch::cache_info& c,
                              gemm_model_choice u) noexcept {
  // One way of L1 (or an eighth, associativity unknown) is left to C's
  // lines and the stack.
  const std::size_t w1 = c.l1d.ways ? c.l1d.ways : 8;
  const std::size_t l1 = c.l1d.bytes - c.l1d.bytes / w1;
  // The macro-kernel (ops/gemm.cpp) keeps one A micro-panel in L1 while
  // B's micro-panels stream past it from the B block: the A panel takes 2/3
  // of those bytes, the streaming lines of B the rest. (An A and a B panel
  // both resident, BLIS's rule for B's panel outside, halves kc, and each
  // further K block is another pass over C and over the packers:
  // bench/README.md, session 31.) Where the FMAs leave L1 time to spare
  // (u.a_fills_l1), the A panel takes all of it, B's lines coming from L2
  // while the FMAs run (bench/README.md, session 33).
  const std::size_t kc = fit_kc(t, (u.a_fills_l1 ? l1 : l1 * 2 / 3) / (t.mr * kFloat));
  // The B block: 3/4 of L2, or, where the L3 is fast enough for it
  // (b_in_l3), a quarter of L3 where that is more. Each A micro-panel
  // streams the whole block, 4 bytes per 2*mr FLOPs, while every further
  // column block costs a pass over op(A) to pack it again (from memory, for
  // a large A): which of the two costs more is the microarchitecture's.
  const std::size_t l2_area = c.l2.bytes / 4 * 3;
  const std::size_t b_area = u.b_in_l3 && c.l3.bytes / 4 > l2_area ? c.l3.bytes / 4 : l2_area;
  // The A block: 1/8 of L2.
  auto blocks = [&](std::size_t k) {
    return finish(t, c.l2.bytes / 8 / (k * kFloat), k, b_area / (k * kFloat), QKV_BLOCKING_CACHES);
  };
  gemm_blocks b = blocks(kc);
  const gemm_blocks pair = blocks(fit_kc(t, l1 / ((t.mr + t.nr) * kFloat)));
  b.lowp_mc = pair.mc;
  b.lowp_kc = pair.kc;
  b.lowp_nc = pair.nc;
  return b;
}

bool parse_gemm_blocks(const char* text, const kern::gemm_kernels& t, gemm_blocks* out) noexcept {
  std::size_t v[3] = {0, 0, 0};
  const char* p = text;
  for (int i = 0; i < 3; ++i) {
    if (*p < '0' || *p > '9') return false;
    for (; *p >= '0' && *p <= '9'; ++p) {
      v[i] = v[i] * 10 + static_cast<std::size_t>(*p - '0');
      if (v[i] > (std::size_t{1} << 30)) return false;
    }
    if (i < 2 && *p++ != ',') return false;
  }
  if (*p != '\0') return false;
  *out = finish(t, v[0], v[1], v[2], QKV_BLOCKING_ENVIRONMENT);
  return true;
}

#endif  // QKV_HOSTED

namespace {

#ifdef QKV_HOSTED
// The in-place B rule's limits (gemm_blocks) for the AVX-512 sets on CPUs
// where dispatch/uarch turned it on and the caches are known: M within
// that many micro-panels, a slab of B (kc rows) within 3/4 of L2 as a
// packed block would be, and all of B within the B block's area, so that
// it streams from cache, not memory: read in place, a micro-panel is kc
// rows ldb apart, more streams than a prefetcher follows from memory.
void set_inplace_b(qkv_isa isa, const kern::gemm_kernels& t, gemm_blocks* b) {
  const dispatch::cache_info& c = dispatch::caches();
  const unsigned panels = dispatch::uarch().gemm_b_inplace_panels;
  if (panels == 0 || c.source == dispatch::cache_source::defaults) return;
  if (isa != QKV_ISA_AVX512 && isa != QKV_ISA_AVX512_BF16) return;
  b->inplace_b_rows = panels * t.mr;
  b->inplace_b_slab = c.l2.bytes / 4 * 3;
  b->inplace_b_whole = b->kc * b->nc * kFloat;
}
#endif

gemm_blocks decide(qkv_isa isa) {
  const kern::gemm_kernels& t = gemm_table(isa);
#ifdef QKV_HOSTED
  gemm_blocks b;
  const char* env = std::getenv("QKV_BLOCKING");
  if (!env || !parse_gemm_blocks(env, t, &b)) {
    if (dispatch::caches().source == dispatch::cache_source::defaults)
      return gemm_blocks{t.mc, t.kc, t.nc, QKV_BLOCKING_BUILT_IN};
    const dispatch::uarch_choice& u = dispatch::uarch();
    b = model_gemm_blocks(t, dispatch::caches(), {u.gemm_b_in_l3, u.gemm_a_fills_l1});
  }
  set_inplace_b(isa, t, &b);
  return b;
#else
  return gemm_blocks{t.mc, t.kc, t.nc, QKV_BLOCKING_BUILT_IN};
#endif
}

}  // namespace

const gemm_blocks& gemm_blocks_for(qkv_isa isa) noexcept {
  static const struct all_isas {
    gemm_blocks b[QKV_ISA_COUNT];
    all_isas() {
      for (int i = 0; i < QKV_ISA_COUNT; ++i) b[i] = decide(static_cast<qkv_isa>(i));
    }
  } blocks;
  const int i = static_cast<int>(isa);
  return blocks.b[i >= 0 && i < QKV_ISA_COUNT ? i : 0];
}

qkv_gemm_blocking describe_gemm_blocking(qkv_isa isa) noexcept {
  const kern::gemm_kernels& t = gemm_table(isa);
  const gemm_blocks& b = gemm_blocks_for(isa);
  const dispatch::cache_info& c = dispatch::caches();
  const bool known = c.source != dispatch::cache_source::defaults;
  qkv_gemm_blocking r;
  r.mr = t.mr;
  r.nr = t.nr;
  r.mc = b.mc;
  r.kc = b.kc;
  r.nc = b.nc;
  r.l1d_bytes = known ? c.l1d.bytes : 0;
  r.l2_bytes = known ? c.l2.bytes : 0;
  r.l3_bytes = known ? c.l3.bytes : 0;
  r.l1d_ways = known ? c.l1d.ways : 0;
  r.l2_ways = known ? c.l2.ways : 0;
  r.source = b.source;
  r.kernel = t.name;
  r.cpu_class = dispatch::uarch().name;
  return r;
}

}  // namespace qkv::ops
