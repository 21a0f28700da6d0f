// SPDX-License-Identifier: MIT
// SGEMM against the double oracle: the XNNPACK-style shape matrix around each
// ISA's tile and cache blocks, all transposes, padded leading dimensions,
// alpha/beta sets, canaries around C and NaN in every byte that must not be
// read; plus 1-vs-2-thread bitwise identity and concurrent callers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "qkv/gemm.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"
#include "support/ref_gemm.hpp"

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kCanary = -12345.75f;
constexpr std::size_t kGuard = 16;

// The register tile of each ISA's micro-kernel (src/kernels/gemm/gemm_*.cpp):
// edge shapes are chosen around it.
struct tile {
  std::size_t mr, nr;
};
tile tile_of(qkv_isa isa) {
  switch (isa) {
    case QKV_ISA_SSE2: return {6, 8};
    case QKV_ISA_AVX2: return {6, 16};
    case QKV_ISA_AVX512:
    case QKV_ISA_AVX512_BF16: return {14, 32};  // fp32 tables alias avx512's
    case QKV_ISA_NEON: return {4, 8};
    case QKV_ISA_NEON64:
    case QKV_ISA_NEON64_DOT:
    case QKV_ISA_NEON64_BF16: return {8, 8};  // fp32 tables alias neon64's
    default: return {4, 4};
  }
}

enum class api { plain, ws };

struct gemm_case {
  bool ta, tb;
  std::size_t M, N, K;
  float alpha, beta;
  std::size_t pad;  // extra elements per row of A, B and C
};

std::string describe(const gemm_case& c) {
  return std::string(c.ta ? "T" : "N") + (c.tb ? "T" : "N") + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " pad=" + std::to_string(c.pad);
}

// A stored rows x cols matrix with leading dimension cols + pad; the padding
// is NaN, so reading it would poison the result.
std::vector<float> stored(std::size_t rows, std::size_t cols, std::size_t pad, std::uint64_t seed) {
  std::vector<float> m(rows * (cols + pad) + 1, kNaN);
  qkv_test::rng r(seed);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) m[i * (cols + pad) + j] = r.uniform();
  return m;
}

// Runs one case through the chosen entry point; checks values and canaries.
// Returns the computed C block (M x N) for bitwise comparisons.
std::vector<float> check_case(const gemm_case& c, api which, std::uint64_t seed, bool against_ref = true) {
  INFO(describe(c) << (which == api::ws ? " via qkv_sgemm_ws" : ""));
  const std::size_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const std::size_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const std::size_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  auto A = stored(a_rows, a_cols, c.pad, seed);
  auto B = stored(b_rows, b_cols, c.pad, seed + 1);
  std::vector<float> Cbuf(2 * kGuard + c.M * ldc, kCanary);
  float* C = Cbuf.data() + kGuard;
  qkv_test::rng r(seed + 2);
  for (std::size_t i = 0; i < c.M; ++i)
    for (std::size_t j = 0; j < c.N; ++j) C[i * ldc + j] = c.beta == 0.f ? kNaN : r.uniform();
  qkv_test::gemm_ref_result ref;
  if (against_ref)
    ref = qkv_test::ref_sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C, ldc);

  const qkv_trans ta = c.ta ? QKV_TRANS : QKV_NO_TRANS, tb = c.tb ? QKV_TRANS : QKV_NO_TRANS;
  if (which == api::plain) {
    REQUIRE(qkv_sgemm(ta, tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C, ldc) == QKV_OK);
  } else {
    std::size_t bytes = 0;
    REQUIRE(qkv_sgemm_workspace_size(ta, tb, c.M, c.N, c.K, 2, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes + 3);  // +3: an unaligned start must work
    REQUIRE(qkv_sgemm_ws(ta, tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C, ldc,
                         bytes ? ws.data() + 3 : nullptr, bytes) == QKV_OK);
  }
  std::vector<float> out(c.M * c.N);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < c.M; ++i)
    for (std::size_t j = 0; j < c.N; ++j) {
      const float got = C[i * ldc + j];
      out[i * c.N + j] = got;
      if (!against_ref) continue;
      const double want = ref.value[i * c.N + j];
      if (!(std::fabs(double(got) - want) <= ref.bound[i * c.N + j]) && bad++ < 3) {
        INFO("C(" << i << "," << j << ") = " << got << ", reference " << want << " +- " << ref.bound[i * c.N + j]);
        CHECK(false);
      }
    }
  CHECK(bad == 0);
  std::size_t smashed = 0;
  for (std::size_t i = 0; i < kGuard; ++i) smashed += (Cbuf[i] != kCanary) + (Cbuf[Cbuf.size() - 1 - i] != kCanary);
  for (std::size_t i = 0; i < c.M; ++i)
    for (std::size_t j = c.N; j < ldc; ++j) smashed += C[i * ldc + j] != kCanary;
  CHECK(smashed == 0);
  return out;
}

const float kAlphas[] = {1.f, -0.5f};
const float kBetas[] = {0.f, 1.f, 0.3f};
const std::size_t kPads[] = {0, 3, 16};

// All four transposes for each shape, with alpha, beta, padding and entry
// point rotating with a counter (every combination occurs across the set).
void run_shapes(const std::vector<std::size_t>& ms, const std::vector<std::size_t>& ns,
                const std::vector<std::size_t>& ks, std::uint64_t seed, int trans_first = 0, int trans_count = 4) {
  std::size_t n = 0;
  for (std::size_t M : ms)
    for (std::size_t N : ns)
      for (std::size_t K : ks)
        for (int tt = trans_first; tt < trans_first + trans_count; ++tt, ++n) {
          const int t = tt % 4;
          const gemm_case c{(t & 1) != 0, (t & 2) != 0, M, N, K, kAlphas[n % 2], kBetas[(n / 2) % 3],
                            kPads[(n / 6) % 3]};
          check_case(c, (n / 18) % 2 ? api::ws : api::plain, seed + n);
        }
}

std::vector<std::size_t> edge_dims(std::size_t tile, bool small) {
  std::vector<std::size_t> d = {1, 2, tile - 1, tile, tile + 1, 2 * tile - 1, 2 * tile + 1, 17};
  if (!small) d.insert(d.end(), {31, 67});
  std::vector<std::size_t> out;
  for (std::size_t x : d)
    if (x >= 1 && std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  return out;
}

}  // namespace

TEST_CASE("sgemm edge shapes around the tile on every ISA", "[gemm]") {
  const bool small = qkv_test::small_tests();
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const tile t = tile_of(isa);
    const auto ms = edge_dims(t.mr, small);
    auto ns = edge_dims(t.nr, small);
    if (!small) ns.push_back(t.mr + 1);
    // Every M x N x small K, all transposes.
    const std::uint64_t seed = 1000 * static_cast<std::uint64_t>(isa);
    run_shapes(ms, ns, small ? std::vector<std::size_t>{1, 5} : std::vector<std::size_t>{1, 2, 7, 33}, seed);
    // K across the 256-deep k block (two blocks, the second 1 deep): every M
    // and every N once, transposes rotating.
    if (small) return;
    for (std::size_t x = 0; x < ms.size() || x < ns.size(); ++x)
      run_shapes({ms[x % ms.size()]}, {ns[(3 * x + 1) % ns.size()]}, {x % 2 ? 255u : 257u}, seed + 500 + 7 * x,
                 static_cast<int>(x), 1);
  });
}

TEST_CASE("sgemm small shapes: every column width of the unpacked path on every ISA", "[gemm]") {
  // M*N*K <= 4096 runs unpacked. AVX-512: C's columns go in 16-, 8-, 4-, 2-
  // and 1-wide steps, and a transposed B narrower than 8 is gathered per k
  // rather than copied; the portable kernels copy a transposed B at least
  // one vector wide. Every N from 1 to 17 crosses each step and remainder;
  // M across the 4- and 2-row groups.
  const bool small = qkv_test::small_tests();
  std::vector<std::size_t> ns;
  for (std::size_t n = 1; n <= 17; ++n) ns.push_back(n);
  const std::vector<std::size_t> ms =
      small ? std::vector<std::size_t>{1, 6, 7} : std::vector<std::size_t>{1, 2, 3, 5, 6, 7, 9};
  const std::vector<std::size_t> ks = small ? std::vector<std::size_t>{3} : std::vector<std::size_t>{1, 3, 4, 9};
  qkv_test::for_each_isa([&](qkv_isa isa) { run_shapes(ms, ns, ks, 70000 + 1000 * static_cast<std::uint64_t>(isa)); });
}

TEST_CASE("sgemm large shapes cross every cache block on every ISA", "[gemm]") {
  // Past MC (<= 352 rows), NC (1024 columns) and KC (256), sampled
  // rather than crossed: the oracle is O(MNK) in double.
  const bool small = qkv_test::small_tests();
  qkv_test::for_each_isa([&](qkv_isa isa) {
    const int t0 = static_cast<int>(isa);  // a different transpose per ISA and shape
    if (small) {
      run_shapes({127}, {67}, {257}, 7, t0, 1);
      return;
    }
    run_shapes({1000}, {31}, {127}, 11, t0, 2);
    run_shapes({35}, {1100}, {257}, 13, t0 + 1, 2);
    run_shapes({353}, {40}, {520}, 17, t0 + 2, 1);
    // Narrow N with the last column panel at most half used, A and B as
    // stored: AVX-512 reads both in place in its 6 x 64 tiles.
    run_shapes({353}, {40, 48, 16}, {300}, 19, 0, 1);
    // A few rows against a large B (decode's projections, the tied LM
    // head): as stored, both read in place where M fits the in-place row
    // tile (6 on AVX-512, mr elsewhere); B transposed, one dot product per
    // element up to M = 8; packed again past those. N past NC, K past KC,
    // every transpose.
    run_shapes({1, 6, 7, 8, 9}, {1100}, {520}, 29, t0, 4);
    // A read in place with rows 4 KiB apart (lda 1024): AVX-512 runs tiles
    // of at most 12 rows there; M = 61 ends in a short one.
    check_case(gemm_case{false, false, 61, 100, 300, -0.5f, 0.3f, 724}, api::plain, 23);
  });
}

TEST_CASE("sgemm with beta == 0 never reads C, alpha == 0 never reads A or B", "[gemm]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (std::size_t n : {3, 40}) {  // the small path and the packed path
      std::vector<float> A(n * n, 1.f), B(n * n, 2.f), C(n * n, kNaN);
      REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C.data(), n) == QKV_OK);
      for (float x : C) REQUIRE(x == 2.f * float(n));
      std::fill(A.begin(), A.end(), kNaN);
      REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, n, n, n, 0.f, A.data(), n, B.data(), n, 0.5f, C.data(), n) ==
              QKV_OK);
      for (float x : C) REQUIRE(x == float(n));
      std::fill(C.begin(), C.end(), kNaN);
      REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, n, n, n, 0.f, A.data(), n, B.data(), n, 0.f, C.data(), n) ==
              QKV_OK);
      for (float x : C) REQUIRE(x == 0.f);
    }
  });
}

TEST_CASE("sgemm with K == 0 scales C by beta; empty M or N touches nothing", "[gemm]") {
  std::vector<float> C = {1.f, 2.f, 3.f, 4.f};
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 2, 2, 0, 1.f, nullptr, 0, nullptr, 2, 0.5f, C.data(), 2) == QKV_OK);
  CHECK(C == std::vector<float>{0.5f, 1.f, 1.5f, 2.f});
  std::fill(C.begin(), C.end(), kNaN);
  REQUIRE(qkv_sgemm(QKV_TRANS, QKV_TRANS, 2, 2, 0, 1.f, nullptr, 2, nullptr, 0, 0.f, C.data(), 2) == QKV_OK);
  CHECK(C == std::vector<float>{0.f, 0.f, 0.f, 0.f});
  // M == 0: A and C are empty (NULL is fine), B still has elements.
  std::vector<float> B(15, kNaN);
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 0, 5, 3, 1.f, nullptr, 3, B.data(), 5, 0.f, nullptr, 5) == QKV_OK);
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_NO_TRANS, 4, 0, 3, 1.f, C.data(), 3, nullptr, 0, 0.f, nullptr, 0) == QKV_OK);
  std::size_t bytes = 99;
  REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_NO_TRANS, 0, 5, 3, 1, &bytes) == QKV_OK);
  CHECK(bytes == 0);
}

TEST_CASE("sgemm is bitwise identical for 1 and 2 threads and both entry points", "[gemm][threads]") {
  const bool small = qkv_test::small_tests();
  // Big enough to start two threads: split over M tiles, and (M = 5) over N panels.
  // (threads_for starts a second thread from 2 MFLOP: every case is above it.)
  const std::vector<gemm_case> cases =
      small ? std::vector<gemm_case>{{false, false, 40, 100, 260, 1.f, 0.3f, 1},
                                     {false, true, 5, 400, 520, 1.f, 1.f, 2},
                                     {false, false, 4, 1200, 400, 1.f, 0.3f, 1}}
            : std::vector<gemm_case>{{false, false, 150, 100, 129, 1.f, 0.3f, 1},
                                     {true, true, 121, 95, 200, -0.5f, 0.f, 0},
                                     // M <= 8, B transposed: one dot product per C element, columns split
                                     {false, true, 5, 1500, 300, 1.f, 1.f, 2},
                                     // M = 4, B as stored: A and B in place, N split between the threads
                                     {false, false, 4, 2000, 300, 1.f, 0.3f, 1},
                                     // N > 192: AVX-512 packs A; M split between the threads
                                     {true, false, 300, 800, 270, 1.f, 0.3f, 0},
                                     // N = 48: AVX-512 reads A and B in place (6 x 64 tiles)
                                     {false, false, 300, 48, 300, 1.f, 0.3f, 3},
                                     // lda 1024: in-place A in tiles of at most 12 rows
                                     {false, false, 61, 100, 300, 1.f, 0.f, 724},
                                     // K 700, one block where the kernels take it (AVX-512, B as
                                     // stored: qkv_sgemm reads B in place, its panel past the stack
                                     // block); B transposed: two blocks on every path
                                     {false, false, 60, 200, 700, 1.f, 0.3f, 1},
                                     {false, true, 60, 200, 700, -1.f, 0.f, 2}};
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& c : cases) {
      std::vector<float> one, two, two_ws;
      {
        qkv_test::threads_scope th(1);
        one = check_case(c, api::plain, 5);
      }
      INFO(describe(c));
      {
        qkv_test::threads_scope th(2);
        qkv_test::team_watch watch;
        two = check_case(c, api::plain, 5, false);
        two_ws = check_case(c, api::ws, 5, false);
        QKV_CHECK_TEAM(watch);
      }
      CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
      CHECK(std::memcmp(one.data(), two_ws.data(), one.size() * sizeof(float)) == 0);
    }
  });
}

TEST_CASE("sgemm: several packed B blocks run on one team per call, 1, 2 and 3 threads bit for bit",
          "[gemm][threads]") {
  // K deeper than kc (and, the last, N wider than AVX-512's nc): several B
  // blocks, which an OpenMP team runs in one parallel region with a barrier
  // between blocks (ops/gemm.cpp run_one_team); M = 7: fewer M tiles than
  // threads, each member its own panels.
  const bool small = qkv_test::small_tests();
  const std::vector<gemm_case> cases =
      small ? std::vector<gemm_case>{{false, false, 40, 300, 600, 1.f, 0.3f, 1},
                                     {false, true, 7, 400, 520, 1.f, 1.f, 3}}
            : std::vector<gemm_case>{{false, false, 100, 700, 600, 1.f, 0.3f, 1},
                                     {false, true, 7, 1100, 520, 1.f, 1.f, 3},
                                     {true, false, 120, 1700, 500, -0.5f, 0.f, 0}};
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const auto& c : cases) {
      INFO(describe(c));
      std::vector<float> one, one_ws;
      {
        qkv_test::threads_scope th(1);
        one = check_case(c, api::plain, 9);
        one_ws = check_case(c, api::ws, 9, false);
      }
      CHECK(std::memcmp(one.data(), one_ws.data(), one.size() * sizeof(float)) == 0);
      for (int threads : {2, 3}) {
        INFO("threads " << threads);
        qkv_test::threads_scope th(threads);
        std::vector<float> plain, ws;
        {
          qkv_test::team_watch watch;
          ws = check_case(c, api::ws, 9, false);
          QKV_CHECK_TEAM(watch);
          if (qkv_test::team_counting()) CHECK(watch.regions() == 1);  // one team for every block
        }
        plain = check_case(c, api::plain, 9, false);
        CHECK(std::memcmp(one.data(), ws.data(), one.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(one.data(), plain.data(), one.size() * sizeof(float)) == 0);
      }
    }
  });
}

TEST_CASE("sgemm: one packed B block, a copy per thread: the query counts it, the bits are 1 thread's",
          "[gemm][threads]") {
  // K and N in one block each (B transposed: always packed) and B at most
  // four A blocks: each member of a team packs all of B into its own block.
  // The workspace for t threads holds t B blocks; one sized for fewer
  // threads runs fewer, never differently.
  qkv_test::for_each_isa([&](qkv_isa isa) {
    qkv_gemm_blocking bl;
    REQUIRE(qkv_get_gemm_blocking(&bl) == QKV_OK);
    const std::size_t nr = tile_of(isa).nr;
    const std::size_t M = 303, N = std::max<std::size_t>(3 * nr + 5, 61), K = std::min<std::size_t>(bl.kc, 130) - 1;
    INFO(qkv_isa_name(isa) << " M=" << M << " N=" << N << " K=" << K);
    std::size_t ws[4] = {0, 0, 0, 0};
    for (int t = 1; t <= 3; ++t) REQUIRE(qkv_sgemm_workspace_size(QKV_NO_TRANS, QKV_TRANS, M, N, K, t, &ws[t]) == QKV_OK);
    CHECK(ws[2] - ws[1] >= K * N * sizeof(float));  // a B block per extra thread
    CHECK(ws[3] - ws[2] == ws[2] - ws[1]);
    const auto A = stored(M, K, 0, 41), B = stored(N, K, 0, 42);
    auto run = [&](int threads, std::size_t bytes) {
      qkv_test::threads_scope th(threads);
      std::vector<unsigned char> w(bytes + 5);
      std::vector<float> C(M * N, kNaN);
      REQUIRE(qkv_sgemm_ws(QKV_NO_TRANS, QKV_TRANS, M, N, K, 0.75f, A.data(), K, B.data(), K, 0.f, C.data(), N,
                           w.data() + 5, bytes) == QKV_OK);
      return C;
    };
    const std::vector<float> one = run(1, ws[1]);
    const qkv_test::gemm_ref_result ref =
        qkv_test::ref_sgemm(false, true, M, N, K, 0.75f, A.data(), K, B.data(), K, 0.f, one.data(), N);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < M * N; ++i) bad += !(std::fabs(double(one[i]) - ref.value[i]) <= ref.bound[i]);
    CHECK(bad == 0);
    qkv_test::team_watch watch;
    for (const auto& [threads, bytes] : {std::pair<int, std::size_t>{2, ws[2]}, {3, ws[3]}, {3, ws[1]}, {3, ws[2]}}) {
      INFO(threads << " threads, workspace " << bytes);
      const std::vector<float> got = run(threads, bytes);
      CHECK(std::memcmp(one.data(), got.data(), one.size() * sizeof(float)) == 0);
    }
    QKV_CHECK_TEAM(watch);
  });
}

#if QKV_TEST_OPENMP
TEST_CASE("sgemm is safe when several threads call it at once", "[gemm][threads]") {
  // Each caller packs B into a block on its own stack; all must be right.
  const bool small = qkv_test::small_tests();
  const std::size_t M = small ? 40 : 150, N = small ? 40 : 70, K = small ? 100 : 300;
  const int reps = small ? 2 : 8;
  auto A = stored(M, K, 0, 21), B = stored(N, K, 0, 22);
  std::vector<float> want(M * N);
  // B transposed: always packed, so the stack blocks are exercised.
  REQUIRE(qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, want.data(), N) == QKV_OK);
  int failures = 0;
#pragma omp parallel num_threads(4) reduction(+ : failures)
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<float> C(M * N, kNaN);
    if (qkv_sgemm(QKV_NO_TRANS, QKV_TRANS, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C.data(), N) != QKV_OK ||
        std::memcmp(C.data(), want.data(), C.size() * sizeof(float)) != 0)
      ++failures;
  }
  CHECK(failures == 0);
}
#endif
