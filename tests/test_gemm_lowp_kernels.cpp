// SPDX-License-Identifier: MIT
// The reduced-precision kernel contract of kernels/gemm_lowp/gemm_lowp.hpp,
// on each runnable ISA's bf16 and int8 tables directly: pack op(A) and op(B)
// (transposed or not; edge sizes around mr, nr and kg), run the micro-kernel
// over two kc blocks (load false, then true) and compare with an exact
// reference. Also: padded rows and columns give zero rows and columns (the
// packers zero-pad), the packers write nothing past their panels' byte sizes,
// and the micro-kernel nothing outside its mr x nr tile.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/attn/attn.hpp"
#include "kernels/attn_bwd/attn_bwd.hpp"
#include "kernels/convert/convert.hpp"
#include "kernels/gemm/gemm.hpp"
#include "dispatch/amx.hpp"
#include "kernels/gemm_lowp/gemm_lowp.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "ops/gemm_ex.hpp"
#include "util/copy.hpp"
#include "kernels/kv/kv.hpp"
#include "kernels/loss/loss.hpp"
#include "kernels/optim/optim.hpp"
#include "kernels/softmax/softmax.hpp"
#include "kernels/vec/vec.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

using qkv::kern::gemm_bf16_kernels;
using qkv::kern::gemm_s8_kernels;

constexpr std::size_t kGuard = 64;
constexpr unsigned char kPoison = 0xA5;

std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

// 64-byte aligned bytes, poisoned, with kGuard poisoned bytes after `n`.
struct aligned_bytes {
  explicit aligned_bytes(std::size_t n) : n_(n), store_(n + 64 + kGuard, kPoison) {
    const auto addr = reinterpret_cast<std::uintptr_t>(store_.data());
    p_ = store_.data() + (64 - addr % 64) % 64;
  }
  unsigned char* data() { return p_; }
  bool guard_intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (p_[n_ + i] != kPoison) return false;
    return true;
  }

 private:
  std::size_t n_;
  std::vector<unsigned char> store_;
  unsigned char* p_;
};

// The two tables behind one face. Panel sizes of bf16 (no size functions in
// its table): mr (nr) times kc rounded up to the pair (AMX: the tile step),
// 2 bytes each.
struct s8_face {
  using elem = std::int8_t;
  using acc = std::int32_t;
  const gemm_s8_kernels& t;
  std::size_t mr() const { return t.mr; }
  std::size_t nr() const { return t.nr; }
  std::size_t a_bytes(std::size_t kc) const { return t.a_panel_bytes(kc); }
  std::size_t b_bytes(std::size_t kc) const { return t.b_panel_bytes(kc); }
  void pack_a(bool tr, std::size_t mc, std::size_t kc, const elem* a, std::size_t lda, unsigned char* d) const {
    t.pack_a(tr, mc, kc, a, lda, d);
  }
  void pack_b(bool tr, std::size_t kc, std::size_t nc, const elem* b, std::size_t ldb, unsigned char* d) const {
    t.pack_b(tr, kc, nc, b, ldb, d);
  }
  void ukernel(std::size_t kc, const unsigned char* a, const unsigned char* b, acc* c, std::size_t ldc,
               bool load) const {
    t.ukernel(kc, a, b, c, ldc, load);
  }
  static double value(elem x) { return x; }
};

struct bf16_face {
  using elem = std::uint16_t;
  using acc = float;
  const gemm_bf16_kernels& t;
  std::size_t kpad = 2;  // k padding of the panels (AMX: its tile step)
  std::size_t mr() const { return t.mr; }
  std::size_t nr() const { return t.nr; }
  std::size_t a_bytes(std::size_t kc) const { return t.mr * round_up(kc, kpad) * 2; }
  std::size_t b_bytes(std::size_t kc) const { return t.nr * round_up(kc, kpad) * 2; }
  void pack_a(bool tr, std::size_t mc, std::size_t kc, const elem* a, std::size_t lda, unsigned char* d) const {
    t.pack_a(tr, mc, kc, a, lda, reinterpret_cast<std::uint16_t*>(d));
  }
  void pack_b(bool tr, std::size_t kc, std::size_t nc, const elem* b, std::size_t ldb, unsigned char* d) const {
    t.pack_b(tr, kc, nc, b, ldb, reinterpret_cast<std::uint16_t*>(d));
  }
  void ukernel(std::size_t kc, const unsigned char* a, const unsigned char* b, acc* c, std::size_t ldc,
               bool load) const {
    t.ukernel(kc, reinterpret_cast<const std::uint16_t*>(a), reinterpret_cast<const std::uint16_t*>(b), c, ldc,
              load);
  }
  static double value(elem x) {
    const std::uint32_t bits = static_cast<std::uint32_t>(x) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

#ifdef QKV_HAVE_AMX
// An AMX table's micro-kernel runs on the tile configuration of its thread:
// each call here is bracketed as the driver brackets a run of tiles.
template <class Face>
struct amx_face : Face {
  void ukernel(std::size_t kc, const unsigned char* a, const unsigned char* b, typename Face::acc* c,
               std::size_t ldc, bool load) const {
    qkv::kern::amx_tiles_begin();
    Face::ukernel(kc, a, b, c, ldc, load);
    qkv::kern::amx_tiles_end();
  }
};
#endif

enum class fill { random, extreme_neg, extreme_mixed };

std::int8_t gen_s8(qkv_test::rng& r, fill f, bool is_a) {
  switch (f) {
    case fill::extreme_neg: return -128;
    case fill::extreme_mixed: return is_a ? std::int8_t{-128} : std::int8_t{127};
    default: return static_cast<std::int8_t>(static_cast<int>(r.next() & 0xff) - 128);
  }
}

// Normal bf16 values in (-2, 2) (truncated fp32), one in 8 an exact zero:
// no subnormal input, so only the flush of partial sums needs an allowance.
std::uint16_t gen_bf16(qkv_test::rng& r) {
  if ((r.next() & 7) == 0) return 0;
  float x = r.uniform(-2.f, 2.f);
  std::uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return static_cast<std::uint16_t>(bits >> 16);
}

template <class Face>
typename Face::elem gen(qkv_test::rng& r, fill f, bool is_a) {
  if constexpr (sizeof(typename Face::elem) == 1)
    return gen_s8(r, f, is_a);
  else
    return gen_bf16(r);
}

struct shape {
  bool ta, tb;
  std::size_t mc, nc, kc1, kc2;
};

// C[mc x nc] through packed panels over two kc blocks; checks the packers'
// guards and returns false (with Catch failures) on any mismatch.
template <class Face>
void check_shape(const Face& face, const shape& s, fill f, std::uint64_t seed) {
  using elem = typename Face::elem;
  using acc_t = typename Face::acc;
  const std::size_t mr = face.mr(), nr = face.nr(), K = s.kc1 + s.kc2;
  INFO("ta " << s.ta << " tb " << s.tb << " mc " << s.mc << " nc " << s.nc << " kc " << s.kc1 << "+" << s.kc2
             << " fill " << static_cast<int>(f));
  // op(A)(i,k) at a[ta ? k*lda + i : i*lda + k], op(B)(k,j) at b[tb ? j*ldb + k : k*ldb + j];
  // leading dimensions with slack, so rows are not contiguous.
  const std::size_t lda = s.ta ? s.mc + 3 : K + 3, ldb = s.tb ? K + 2 : s.nc + 2;
  std::vector<elem> a((s.ta ? K : s.mc) * lda), b((s.tb ? s.nc : K) * ldb);
  qkv_test::rng r(seed);
  for (auto& x : a) x = gen<Face>(r, f, true);
  for (auto& x : b) x = gen<Face>(r, f, false);
  auto A = [&](std::size_t i, std::size_t k) { return a[s.ta ? k * lda + i : i * lda + k]; };
  auto B = [&](std::size_t k, std::size_t j) { return b[s.tb ? j * ldb + k : k * ldb + j]; };

  const std::size_t mp = (s.mc + mr - 1) / mr, np = (s.nc + nr - 1) / nr;
  const std::size_t rows = mp * mr, cols = np * nr, ldacc = cols + 3;
  // One spare row and 3 spare columns: nothing may be written there. The
  // tile starts as a canary, which load = false must ignore.
  acc_t canary;
  std::memset(&canary, kPoison, sizeof canary);
  std::vector<acc_t> acc((rows + 1) * ldacc, canary);

  std::size_t k0 = 0;
  for (std::size_t kc : {s.kc1, s.kc2}) {
    const elem* ablk = s.ta ? a.data() + k0 * lda : a.data() + k0;
    const elem* bblk = s.tb ? b.data() + k0 : b.data() + k0 * ldb;
    const std::size_t ab = face.a_bytes(kc), bb = face.b_bytes(kc);
    aligned_bytes ap(mp * ab), bp(np * bb);
    face.pack_a(s.ta, s.mc, kc, ablk, lda, ap.data());
    face.pack_b(s.tb, kc, s.nc, bblk, ldb, bp.data());
    CHECK(ap.guard_intact());
    CHECK(bp.guard_intact());
    for (std::size_t ti = 0; ti < mp; ++ti)
      for (std::size_t tj = 0; tj < np; ++tj)
        face.ukernel(kc, ap.data() + ti * ab, bp.data() + tj * bb, acc.data() + ti * mr * ldacc + tj * nr, ldacc,
                     k0 != 0);
    k0 += kc;
  }

  std::size_t bad = 0;
  for (std::size_t i = 0; i <= rows; ++i)
    for (std::size_t j = 0; j < ldacc; ++j) {
      const acc_t got = acc[i * ldacc + j];
      if (i == rows || j >= cols) {  // outside every tile: untouched
        if (std::memcmp(&got, &canary, sizeof got) != 0 && bad++ < 5) FAIL_CHECK("written outside tile " << i << "," << j);
        continue;
      }
      if (i >= s.mc || j >= s.nc) {  // padded row or column: zero codes give 0
        if (!(got == 0) && bad++ < 5) FAIL_CHECK("padding " << i << "," << j << " = " << got);
        continue;
      }
      double ref = 0, mag = 0;
      for (std::size_t k = 0; k < K; ++k) {
        const double p = Face::value(A(i, k)) * Face::value(B(k, j));
        ref += p;  // exact for int8 (|sum| < 2^53) and for bf16 products (16 significant bits each)
        mag += std::fabs(p);
      }
      if constexpr (sizeof(elem) == 1) {
        if (static_cast<double>(got) != ref && bad++ < 5) FAIL_CHECK("C(" << i << "," << j << ") = " << got << " want " << ref);
      } else {
        // The products of bf16 are exact in fp32 (8 + 8 significant bits
        // <= 24), so C is a sum of K exact terms in k order, continued
        // across the two calls through the fp32 tile. vdpbf16ps (x86) adds
        // them one at a time, rounded to nearest: at most K roundings of
        // relative error u = 2^-24, |error| <= gamma_K * sum|a||b| with
        // gamma_K = Ku/(1-Ku) <= 2Ku = K * 2^-23 (Ku <= 1/2). BFDOT (Arm,
        // FPCR.EBF 0) sums each pair, then adds the sum to the accumulator,
        // both rounded to odd (error < 1 ulp: relative 2^-23); a pair with
        // one product (kc odd) sums exactly, the first add into a zero tile
        // is exact. A term thus sees at most sum over calls of ceil(kc/2)
        // roundings of 2^-23: at most K/2 + 1 <= 5K/6 for K >= 3, one for
        // K <= 2, so again within K * 2^-23 * sum|a||b|.
        // Flush to zero: a product, a pair sum or a partial sum below
        // 2^-126 may be lost; per k at most 2 * 2^-126 (a pair of two k
        // loses at most its two products or its sum, plus one accumulation;
        // inputs here are normal, never flushed themselves).
        const double tol = static_cast<double>(K) * (std::ldexp(mag, -23) + std::ldexp(2.0, -126));
        if (!(std::fabs(static_cast<double>(got) - ref) <= tol) && bad++ < 5)
          FAIL_CHECK("C(" << i << "," << j << ") = " << got << " want " << ref << " tol " << tol);
      }
    }
  CHECK(bad == 0);
}

// Edge sizes around the tile and the k grouping, both blocks, every transpose.
template <class Face>
void check_table(const Face& face, std::size_t kg, std::uint64_t seed) {
  const std::size_t mr = face.mr(), nr = face.nr();
  std::vector<std::size_t> ms = {1, mr, mr + 1, 2 * mr + 3, 37}, ns = {1, nr, nr + 1, 2 * nr + 5, 41};
  if (mr > 1) ms.push_back(mr - 1);
  if (nr > 1) ns.push_back(nr - 1);
  const std::pair<std::size_t, std::size_t> ks[] = {{1, 1},          {1, 3},          {2, 5},   {3, kg},
                                                    {kg, kg + 1},    {kg + 1, kg - 1}, {7, 13},  {31, 2 * kg},
                                                    {8 * kg + 1, 2}, {64, 67},        {256, 17}};
  for (std::size_t m : ms)
    for (std::size_t n : ns)
      for (const auto& kk : ks)
        for (int t = 0; t < 4; ++t) check_shape(face, {(t & 1) != 0, (t & 2) != 0, m, n, kk.first, kk.second},
                                                fill::random, seed++);
}

}  // namespace

TEST_CASE("gemm_lowp int8 micro-kernels: exact on every ISA, edges, padding, guards", "[gemm][lowp]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    const gemm_s8_kernels& t = qkv::kern::gemm_s8_for(isa);
    INFO("table " << t.name);
    REQUIRE(t.name != nullptr);
    REQUIRE(t.mr > 0);
    REQUIRE(t.nr > 0);
    REQUIRE(t.kg > 0);
    for (std::size_t kc : {1, 3, 4, 5, 64, 255, 256, 1000}) {
      CHECK(t.a_panel_bytes(kc) % 64 == 0);
      CHECK(t.b_panel_bytes(kc) % 64 == 0);
      CHECK(t.a_panel_bytes(kc) >= t.mr * round_up(kc, t.kg));
      CHECK(t.b_panel_bytes(kc) >= t.nr * round_up(kc, t.kg));
    }
    const s8_face face{t};
    check_table(face, t.kg, 1000 * static_cast<std::uint64_t>(isa));
    // Extreme codes: -128 x -128 and -128 x 127 everywhere (the bias and
    // correction arithmetic at its limits; 16384 * 2048 < 2^31).
    for (fill f : {fill::extreme_neg, fill::extreme_mixed})
      for (int tr = 0; tr < 4; ++tr)
        check_shape(face, {(tr & 1) != 0, (tr & 2) != 0, 2 * t.mr + 1, t.nr + 3, 1023, 1025}, f, 7);
  });
}

TEST_CASE("gemm_lowp bf16 micro-kernels: within the fp32 summation bound on every ISA", "[gemm][lowp]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    const gemm_bf16_kernels& t = qkv::kern::gemm_bf16_for(isa);
    REQUIRE(t.name != nullptr);
    INFO("table " << t.name);
    if (t.mr == 0) {  // no bf16 dot product: the driver widens to fp32
      CHECK(std::strcmp(t.name, "none") == 0);
      CHECK(t.nr == 0);
      CHECK(t.pack_a == nullptr);
      CHECK(t.pack_b == nullptr);
      CHECK(t.ukernel == nullptr);
      return;
    }
    REQUIRE(t.nr > 0);
    REQUIRE(t.pack_a != nullptr);
    REQUIRE(t.pack_b != nullptr);
    REQUIRE(t.ukernel != nullptr);
    check_table(bf16_face{t}, 2, 5000 * static_cast<std::uint64_t>(isa));
  });
}

TEST_CASE("extension sets run their base set's tables but for gemm_lowp's own", "[isa][lowp]") {
  namespace k = qkv::kern;
  const std::pair<qkv_isa, qkv_isa> ext_base[] = {{QKV_ISA_AVX512_BF16, QKV_ISA_AVX512},
                                                  {QKV_ISA_NEON64_DOT, QKV_ISA_NEON64},
                                                  {QKV_ISA_NEON64_BF16, QKV_ISA_NEON64}};
  for (const auto& eb : ext_base) {
    const qkv_isa ext = eb.first, base = eb.second;
    int compiled = 0;
    REQUIRE(qkv_isa_query(ext, &compiled, nullptr) == QKV_OK);
    if (!compiled) continue;
    INFO("isa " << qkv_isa_name(ext) << " over " << qkv_isa_name(base));
    CHECK(&k::gemm_for(ext) == &k::gemm_for(base));
    CHECK(&k::vec_for(ext) == &k::vec_for(base));
    CHECK(&k::softmax_for(ext) == &k::softmax_for(base));
    CHECK(&k::loss_for(ext) == &k::loss_for(base));
    CHECK(&k::optim_for(ext) == &k::optim_for(base));
    CHECK(&k::attn_for(ext) == &k::attn_for(base));
    CHECK(&k::attn_bwd_for(ext) == &k::attn_bwd_for(base));
    CHECK(&k::convert_for(ext) == &k::convert_for(base));
    CHECK(&k::kv_for(ext) == &k::kv_for(base));
    CHECK(&k::gemm_s8_for(ext) != &k::gemm_s8_for(base));
    CHECK(&k::gemm_s8_for(ext) != &k::gemm_s8_scalar);
    CHECK(&k::gemm_bf16_for(ext) != &k::gemm_bf16_scalar);
  }
}

TEST_CASE("AMX use needs the CPU's tile and type bits, the OS's XCR0 state and its permission", "[isa][lowp][amx]") {
  using qkv::dispatch::amx_from;
  constexpr std::uint32_t tile = 1u << 24, bf16 = 1u << 22, int8 = 1u << 25;
  constexpr std::uint64_t xcr0 = (1u << 17) | (1u << 18) | 0xE7;  // tile config + data, x87..AVX-512 state
  const auto all = amx_from(tile | bf16 | int8, xcr0, true);
  CHECK(all.bf16);
  CHECK(all.int8);
  const auto only_bf16 = amx_from(tile | bf16, xcr0, true), only_int8 = amx_from(tile | int8, xcr0, true);
  CHECK((only_bf16.bf16 && !only_bf16.int8));
  CHECK((!only_int8.bf16 && only_int8.int8));
  for (const auto& none : {amx_from(bf16 | int8, xcr0, true),                  // no AMX-TILE
                           amx_from(tile | bf16 | int8, xcr0 & ~(1u << 18), true),  // tile data not enabled
                           amx_from(tile | bf16 | int8, xcr0 & ~(1u << 17), true),  // tile config not enabled
                           amx_from(tile | bf16 | int8, xcr0, false),               // the OS refused
                           amx_from(tile, xcr0, true)}) {                           // tiles without a type
    CHECK(!none.bf16);
    CHECK(!none.int8);
  }
}

#ifdef QKV_HAVE_AMX
TEST_CASE("gemm_ex plans AMX tiles exactly where dispatch::amx() allows them", "[gemm_ex][amx]") {
  const char* off = std::getenv("QKV_AMX");
  const auto& amx = qkv::dispatch::amx();
  if (off && std::strcmp(off, "0") == 0) {  // the env_amx_off run
    CHECK(!amx.bf16);
    CHECK(!amx.int8);
  }
  auto args = [](qkv_dtype t) {
    auto p = qkv::util::zeroed<qkv::ops::gemm_ex_args>();
    p.M = p.N = 100;
    p.K = 1000;  // several K blocks: kc a multiple of the tile step
    p.at = p.bt = t;
    p.ct = t == QKV_DTYPE_I8 ? QKV_DTYPE_I32 : QKV_DTYPE_F32;
    p.lda = 1000;
    p.ldb = p.ldc = 100;
    p.alpha = 1.f;
    return p;
  };
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const auto bf = qkv::ops::describe_gemm_ex(isa, args(QKV_DTYPE_BF16));
    const auto s8 = qkv::ops::describe_gemm_ex(isa, args(QKV_DTYPE_I8));
    const bool here = isa == QKV_ISA_AVX512_BF16;
    INFO("isa " << qkv_isa_name(isa) << ": " << bf.kernel << ", " << s8.kernel);
    CHECK((std::strcmp(bf.kernel, "gemm_bf16_amx_32x32") == 0) == (here && amx.bf16));
    CHECK((std::strcmp(s8.kernel, "gemm_s8_amx_32x32") == 0) == (here && amx.int8));
    if (here && amx.bf16) CHECK(bf.kc % qkv::kern::kAmxBf16K == 0);
    if (here && amx.int8) CHECK(s8.kc % qkv::kern::kAmxS8K == 0);
  });
}

TEST_CASE("gemm_lowp AMX tiles: int8 exact, bf16 within the bound, edges, padding, guards", "[gemm][lowp][amx]") {
  const auto& amx = qkv::dispatch::amx();
  if (!amx.bf16 && !amx.int8) {
    WARN("this CPU or OS offers no AMX: its kernels are not run here");
    return;
  }
  if (amx.int8) {
    const gemm_s8_kernels& t = qkv::kern::gemm_s8_amx;
    INFO("table " << t.name);
    CHECK(t.mr == 32);
    CHECK(t.nr == 32);
    for (std::size_t kc : {1, 63, 64, 65, 1000})
      CHECK((t.a_panel_bytes(kc) == 32 * round_up(kc, qkv::kern::kAmxS8K) &&
             t.b_panel_bytes(kc) == 32 * round_up(kc, qkv::kern::kAmxS8K)));
    const amx_face<s8_face> face{{t}};
    check_table(face, qkv::kern::kAmxS8K, 77000);
    for (fill f : {fill::extreme_neg, fill::extreme_mixed})
      for (int tr = 0; tr < 4; ++tr) check_shape(face, {(tr & 1) != 0, (tr & 2) != 0, 65, 35, 1023, 1025}, f, 7);
  }
  if (amx.bf16) {
    const gemm_bf16_kernels& t = qkv::kern::gemm_bf16_amx;
    INFO("table " << t.name);
    CHECK(t.mr == 32);
    CHECK(t.nr == 32);
    check_table(amx_face<bf16_face>{{t, qkv::kern::kAmxBf16K}}, qkv::kern::kAmxBf16K, 78000);
  }
}
#endif
