// SPDX-License-Identifier: MIT
// The decode path (ops/sdpa_decode.cpp: a few query rows per K/V head, the
// keys in the lanes). Its two kernels (kernels/attn/attn.hpp:
// decode_scores, decode_accumulate) on each ISA's table against a double
// reference, decode_scores also against the tile path's `scores` kernel bit
// for bit (the contract: the same products summed in the same order); and
// long contexts, split into fixed chunks whose partial results are merged,
// through the public C API against the double oracle, with 1, 2 and 3
// threads giving the same bits. Shapes: 1, primes, around the vector widths
// (4, 8, 16) and the register blocks (8 rows), leading dimensions padded
// like a [B,T,H,d] tensor; contexts of 2 and 3 chunks, ragged and windowed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/attn/attn.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/ref_attention.hpp"
#include "support/teams.hpp"

namespace {

using qkv::kern::attn_kernels;
constexpr double kEps = std::numeric_limits<float>::epsilon();
constexpr float kCanary = -777.25f;

// s [rows][lds] = q [rows][d] K^T (K: kb rows, ldk apart), and the same
// through the tile kernel (`scores`: st [kb][br] from qt [d][br]) for the
// rows it holds.
void check_scores(const attn_kernels& kn, bool simd, std::size_t rows, std::size_t kb, std::size_t d,
                  std::size_t ldk) {
  INFO("rows " << rows << " kb " << kb << " d " << d << " ldk " << ldk);
  const std::vector<float> q = qkv_test::random_vector(rows * d, rows * 7 + kb, -2.f, 2.f);
  const std::vector<float> k = qkv_test::random_vector((kb - 1) * ldk + d, kb * 11 + d, -2.f, 2.f);
  const std::size_t lds = kb + 3;
  std::vector<float> s(rows * lds, kCanary);
  kn.decode_scores(rows, kb, d, q.data(), k.data(), ldk, s.data(), lds);
  // Error: a dot product of d terms, |q k| <= 4: d eps 4 d.
  const double tol = 4.0 * double(d) * double(d) * kEps + 1e-30;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < kb; ++j) {
      double want = 0;
      for (std::size_t f = 0; f < d; ++f) want += double(q[r * d + f]) * double(k[j * ldk + f]);
      INFO("r " << r << " j " << j);
      REQUIRE(std::fabs(s[r * lds + j] - want) <= tol);
    }
    for (std::size_t j = kb; j < lds; ++j) REQUIRE(s[r * lds + j] == kCanary);
  }
  // The tile kernel, queries in the lanes: qt [d][br], st [kb][br]. SIMD
  // sets only: the scalar set's a*b + c is left to the compiler, which may
  // contract it into a fused multiply-add where the target has one
  // (aarch64), loop by loop; there both kernels hold the tolerance above.
  if (!simd) return;
  const std::size_t br = kn.br, n = std::min(rows, br);
  std::vector<float> qt(d * br, 0.f), st(kb * br);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t f = 0; f < d; ++f) qt[f * br + r] = q[r * d + f];
  kn.scores(kb, d, qt.data(), k.data(), ldk, st.data());
  std::size_t differ = 0;
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < kb; ++j) differ += std::memcmp(&st[j * br + r], &s[r * lds + j], sizeof(float)) != 0;
  INFO(differ << " scores differ from the tile kernel's");
  REQUIRE(differ == 0);
}

// o [rows][dv] = alpha o + p [rows][ldp] V (V: kb rows, ldv apart).
void check_accumulate(const attn_kernels& kn, std::size_t rows, std::size_t kb, std::size_t dv, std::size_t ldv) {
  INFO("rows " << rows << " kb " << kb << " dv " << dv << " ldv " << ldv);
  const std::size_t ldp = kb + 2;
  const std::vector<float> p = qkv_test::random_vector(rows * ldp, rows * 5 + kb, 0.f, 1.f);
  const std::vector<float> v = qkv_test::random_vector((kb - 1) * ldv + dv, kb * 13 + dv, -1.f, 1.f);
  const std::vector<float> alpha = qkv_test::random_vector(rows, rows + 1, 0.f, 1.f);
  const std::vector<float> o0 = qkv_test::random_vector(rows * dv, dv * 3 + 1, -1.f, 1.f);
  std::vector<float> o(o0);
  o.push_back(kCanary);
  kn.decode_accumulate(rows, kb, dv, p.data(), ldp, v.data(), ldv, alpha.data(), o.data());
  // Error: kb + 1 terms of magnitude <= 1, each multiply-add rounding once.
  const double tol = 2.0 * double(kb + 2) * double(kb + 2) * kEps;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t f = 0; f < dv; ++f) {
      double want = double(alpha[r]) * double(o0[r * dv + f]);
      for (std::size_t j = 0; j < kb; ++j) want += double(p[r * ldp + j]) * double(v[j * ldv + f]);
      INFO("r " << r << " f " << f);
      REQUIRE(std::fabs(o[r * dv + f] - want) <= tol);
    }
  REQUIRE(o.back() == kCanary);
}

}  // namespace

TEST_CASE("decode kernels match a double reference on every ISA, scores with the tile kernel's bits",
          "[sdpa][decode][kernels]") {
  std::vector<std::size_t> row_counts = {1, 3, 4, 8, 9, 16}, sizes = {1, 3, 4, 7, 8, 15, 16, 17, 33, 64},
                           dims = {1, 5, 16, 19, 128};
  if (qkv_test::small_tests()) row_counts = {1, 4, 9}, sizes = {1, 5, 16, 17}, dims = {3, 16, 19};
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO("isa " << qkv_isa_name(isa));
    const attn_kernels& kn = qkv::kern::attn_for(isa);
    for (std::size_t rows : row_counts)
      for (std::size_t kb : sizes)
        for (std::size_t d : dims) {
          check_scores(kn, isa != QKV_ISA_SCALAR, rows, kb, d, d);
          check_scores(kn, isa != QKV_ISA_SCALAR, rows, kb, d, 3 * d + 5);  // strided rows, as a [B,T,H,d] tensor
          check_accumulate(kn, rows, kb, d, d);
          check_accumulate(kn, rows, kb, d, 2 * d + 3);
        }
  }
}

TEST_CASE("decode over contexts of several chunks matches the oracle, the same bits on 1, 2 and 3 threads",
          "[sdpa][decode][threads]") {
  // GQA 8/2 (4 query rows per K/V head), q_len 1; the path splits contexts
  // over 1024 keys into chunks of 1024 (fixed, whatever the threads).
  struct shape {
    std::size_t B, Tk, D;
    int causal;
    std::size_t window;
    std::vector<std::size_t> kv_lens;
  };
  std::vector<shape> shapes = {
      {2, 2500, 32, 1, 0, {2500, 1100}},  // 3 chunks; the second sequence's third chunk sees nothing
      {1, 2100, 67, 1, 1500, {}},         // the window starts inside the first chunk
  };
  // (Each over 2 MFLOP, so the driver starts at least 2 threads.)
  if (qkv_test::small_tests()) shapes = {{1, 1100, 64, 1, 0, {}}};
  const std::size_t H = 8, KVH = 2;
  for (const shape& s : shapes) {
    INFO("B " << s.B << " Tk " << s.Tk << " D " << s.D << " window " << s.window);
    qkv_sdpa_desc d{};
    d.batch = s.B, d.heads = H, d.kv_heads = KVH, d.q_len = 1, d.kv_len = s.Tk, d.head_dim = s.D;
    d.q = d.o = {H * s.D, s.D, s.D};
    d.k = d.v = {KVH * s.Tk * s.D, s.Tk * s.D, s.D};
    d.causal = s.causal, d.window = s.window;
    d.kv_lens = s.kv_lens.empty() ? nullptr : s.kv_lens.data();
    const std::vector<float> q = qkv_test::random_vector(s.B * H * s.D, s.Tk, -2.f, 2.f);
    const std::vector<float> k = qkv_test::random_vector(s.B * KVH * s.Tk * s.D, s.Tk + 1, -2.f, 2.f);
    const std::vector<float> v = qkv_test::random_vector(k.size(), s.Tk + 2, -1.f, 1.f);
    std::vector<double> ref_o, ref_lse;
    qkv_test::ref_sdpa_forward(d, q.data(), k.data(), v.data(), ref_o, ref_lse);
    // Error model (test_sdpa_variants.cpp's): the score's dot product
    // 4 D scale eps, O moves by twice that plus Tk eps for the sums (the
    // chunks' merge adds one rescale and one sum per chunk: within it).
    const double se = 4.0 * double(s.D) / std::sqrt(double(s.D)) * kEps;
    const double tol_o = 2 * se + (double(s.Tk) + 16) * kEps;
    qkv_test::for_each_isa([&](qkv_isa) {
      std::vector<float> o1, l1;
      for (int threads : {1, 2, 3}) {
        INFO("threads " << threads);
        qkv_test::threads_scope scope(threads);
        std::size_t bytes = 0;
        REQUIRE(qkv_sdpa_workspace_size(&d, threads, &bytes) == QKV_OK);
        std::vector<unsigned char> ws(bytes + 1);
        std::vector<float> o(q.size() + 1, kCanary), l(s.B * H + 1, kCanary);
        qkv_test::team_watch watch;
        REQUIRE(qkv_sdpa_forward(&d, q.data(), k.data(), v.data(), o.data(), l.data(), ws.data() + 1, bytes) ==
                QKV_OK);
        if (threads > 1) QKV_CHECK_TEAM(watch);
        REQUIRE(o.back() == kCanary);
        REQUIRE(l.back() == kCanary);
        if (threads == 1) {
          for (std::size_t row = 0; row < s.B * H; ++row) {
            INFO("row " << row);
            REQUIRE(std::fabs(l[row] - ref_lse[row]) <= se + (double(s.Tk) + 16 + std::fabs(ref_lse[row])) * kEps);
            for (std::size_t f = 0; f < s.D; ++f) REQUIRE(std::fabs(o[row * s.D + f] - ref_o[row * s.D + f]) <= tol_o);
          }
          o1 = o, l1 = l;
          continue;
        }
        CHECK(std::memcmp(o.data(), o1.data(), o.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(l.data(), l1.data(), l.size() * sizeof(float)) == 0);
      }
    });
  }
}
