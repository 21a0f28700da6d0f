// SPDX-License-Identifier: MIT
// ops::sgemm_bias (the layer's projections with a bias): C = op(A) op(B) +
// bias row. Its contract is bitwise equality with writing the bias into
// every row of C and calling sgemm with alpha = beta = 1, on every path the
// driver takes (small, packed over several K and N blocks, packed A, the
// fallback for a short caller workspace) and for 1 and 2 threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/exec.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_ex.hpp"
#include "ops/rows.hpp"
#include "util/copy.hpp"
#include "util/half.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {

struct bias_case {
  bool ta, tb;
  std::size_t M, N, K;
};

void check_bias_case(const bias_case& c, std::size_t ws_bytes) {
  const std::size_t lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 1, ldc = c.N + 5;
  const std::vector<float> A = qkv_test::random_vector((c.ta ? c.K : c.M) * lda, 11);
  const std::vector<float> B = qkv_test::random_vector((c.tb ? c.N : c.K) * ldb, 12);
  const std::vector<float> bias = qkv_test::random_vector(c.N, 13);
  std::vector<unsigned char> ws(ws_bytes + 64);
  void* w = ws_bytes ? ws.data() : nullptr;
  std::vector<float> want(c.M * ldc, -7.f), got(c.M * ldc, -7.f);
  qkv::ops::broadcast_rows(c.M, c.N, bias.data(), want.data(), ldc);
  qkv::ops::sgemm(qkv::ops::current_exec(), c.ta, c.tb, c.M, c.N, c.K, 1.f, A.data(), lda, B.data(), ldb, 1.f, want.data(), ldc, w, ws_bytes);
  for (int threads : {1, 2}) {
    qkv_test::threads_scope scope(threads);
    std::fill(got.begin(), got.end(), -7.f);
    qkv::ops::sgemm_bias(qkv::ops::current_exec(), c.ta, c.tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, bias.data(), got.data(), ldc, w,
                         ws_bytes);
    INFO("M " << c.M << " N " << c.N << " K " << c.K << " ta " << c.ta << " tb " << c.tb << " threads " << threads
              << " ws " << ws_bytes);
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // padding untouched too
  }
}

}  // namespace

TEST_CASE("sgemm_bias equals bias rows plus sgemm bitwise on every path and ISA", "[gemm]") {
  const std::vector<bias_case> cases = {
      {false, false, 3, 4, 5},      // the small path
      {false, false, 31, 70, 300},  // packed, two K blocks: the bias only in the first
      {true, false, 40, 50, 300},   // transposed A deeper than KC: packed A
      {false, true, 29, 800, 40},   // N > 768: packed A on AVX-512, edge tiles
      {false, false, 100, 1100, 17},  // two NC blocks
      {false, false, 5, 900, 300},   // a few rows: A and B in place
      {false, true, 7, 300, 200}};   // a few rows, B transposed: dot products
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const bias_case& c : cases) {
      check_bias_case(c, 0);  // hosted buffers
      const std::size_t need = qkv::ops::sgemm_workspace_bytes(qkv::ops::current_exec().isa, c.ta, c.tb, c.M, c.N, c.K, 2);
      check_bias_case(c, need);  // caller workspace
      if (need > 64) check_bias_case(c, 64);  // too short: the unpacked fallback
    }
  });
}

// ops::gemm_ex_args::bias (the layer's projections on bf16 / int8 / widened
// operands): bitwise equal to the bias rows written first and the call with
// beta 1, on every accumulator mode (direct fp32 tiles; in C, bf16 with
// alpha 1; a stack tile or the workspace buffer, alpha != 1 over one or
// several K blocks; the skinny path; K == 0), for 1 and 2 threads.
namespace {

struct ex_bias_case {
  qkv_dtype at, bt;
  std::size_t M, N, K;
  float alpha;
};

std::vector<unsigned char> operand(qkv_dtype t, std::size_t n, std::uint64_t seed) {
  const std::vector<float> x = qkv_test::random_vector(n, seed, -2.f, 2.f);
  std::vector<unsigned char> raw(n * (t == QKV_DTYPE_F32 ? 4 : t == QKV_DTYPE_I8 ? 1 : 2) + 1);
  for (std::size_t i = 0; i < n; ++i) {
    if (t == QKV_DTYPE_F32) std::memcpy(raw.data() + 4 * i, &x[i], 4);
    if (t == QKV_DTYPE_BF16) {
      const std::uint16_t h = qkv::util::f32_to_bf16(x[i]);
      std::memcpy(raw.data() + 2 * i, &h, 2);
    }
    if (t == QKV_DTYPE_I8) raw[i] = static_cast<unsigned char>(static_cast<std::int8_t>(x[i] * 60.f));
  }
  return raw;
}

void check_ex_bias(const ex_bias_case& c) {
  const std::size_t ldc = c.N + 3;
  const auto A = operand(c.at, c.M * c.K, 21), B = operand(c.bt, c.K * c.N, 22);
  const std::vector<float> bias = qkv_test::random_vector(c.N, 23), sb = qkv_test::random_vector(c.N, 24, 0.01f, 0.05f);
  qkv::ops::gemm_ex_args g = qkv::util::zeroed<qkv::ops::gemm_ex_args>();
  g.M = c.M, g.N = c.N, g.K = c.K, g.at = c.at, g.bt = c.bt, g.ct = QKV_DTYPE_F32;
  g.A = A.data(), g.lda = c.K, g.B = B.data(), g.ldb = c.N, g.ldc = ldc, g.alpha = c.alpha, g.beta = 1.f;
  g.sb = c.bt == QKV_DTYPE_I8 ? sb.data() : nullptr;
  std::vector<float> want(c.M * ldc, -7.f), got(c.M * ldc, -7.f);
  for (int threads : {1, 2}) {
    qkv_test::threads_scope scope(threads);
    const qkv::ops::exec x = qkv::ops::current_exec();
    std::size_t bytes = 0;
    REQUIRE(qkv::ops::gemm_ex_workspace_bytes(x.isa, g, threads, &bytes));
    std::vector<unsigned char> ws(bytes + 1);
    std::fill(want.begin(), want.end(), -7.f);
    qkv::ops::broadcast_rows(c.M, c.N, bias.data(), want.data(), ldc);
    g.C = want.data(), g.bias = nullptr;
    qkv::ops::gemm_ex(x, g, ws.data(), bytes);
    std::fill(got.begin(), got.end(), -7.f);
    g.C = got.data(), g.bias = bias.data();
    qkv::ops::gemm_ex(x, g, ws.data(), bytes);
    INFO("types " << int(c.at) << " x " << int(c.bt) << " M " << c.M << " N " << c.N << " K " << c.K << " alpha "
                  << c.alpha << " threads " << threads);
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // padding untouched too
  }
}

}  // namespace

TEST_CASE("gemm_ex with a bias equals bias rows plus beta 1 bitwise on every mode and ISA", "[gemm_ex][gemm]") {
  const std::vector<ex_bias_case> cases = {
      {QKV_DTYPE_F32, QKV_DTYPE_F32, 37, 70, 300, 1.f},     // the f32 kind: direct tiles, two K blocks
      {QKV_DTYPE_BF16, QKV_DTYPE_BF16, 37, 70, 45, 1.f},    // bf16: sums in C
      {QKV_DTYPE_BF16, QKV_DTYPE_BF16, 37, 70, 45, 0.5f},   // bf16, alpha: one K block in a stack tile
      {QKV_DTYPE_BF16, QKV_DTYPE_BF16, 29, 50, 1200, 0.5f}, // bf16, alpha, several K blocks: the buffer
      {QKV_DTYPE_BF16, QKV_DTYPE_F32, 31, 40, 77, 1.f},     // mixed: widened into the f32 kind
      {QKV_DTYPE_I8, QKV_DTYPE_I8, 33, 65, 70, 1.f},        // int8 with column scales
      {QKV_DTYPE_BF16, QKV_DTYPE_BF16, 2, 300, 64, 1.f},    // skinny rows
      {QKV_DTYPE_BF16, QKV_DTYPE_BF16, 5, 9, 0, 1.f}};      // K == 0: C is the bias
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const ex_bias_case& c : cases) check_ex_bias(c);
  });
}

TEST_CASE("add_column_sums_to_bf16: add_column_sums' sums and qkv_convert's bf16 bits in one pass", "[gemm]") {
  for (std::size_t cols : {std::size_t{1}, std::size_t{127}, std::size_t{128}, std::size_t{300}}) {
    const std::size_t rows = 37, ldx = cols + 5, ldy = cols + 2;
    const std::vector<float> x = qkv_test::random_vector(rows * ldx, 31, -3.f, 3.f);
    const std::vector<float> acc0 = qkv_test::random_vector(cols, 32);
    qkv_test::for_each_isa([&](qkv_isa) {
      for (int threads : {1, 2}) {
        qkv_test::threads_scope scope(threads);
        std::vector<float> want = acc0, got = acc0;
        qkv::ops::add_column_sums(qkv::ops::current_exec(), rows, cols, x.data(), ldx, want.data());
        std::vector<std::uint16_t> y(rows * ldy, 0xAAAA);
        qkv::ops::add_column_sums_to_bf16(qkv::ops::current_exec(), rows, cols, x.data(), ldx, got.data(), y.data(),
                                          ldy);
        REQUIRE(std::memcmp(got.data(), want.data(), cols * sizeof(float)) == 0);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < ldy; ++c)
            REQUIRE(y[r * ldy + c] == (c < cols ? qkv::util::f32_to_bf16(x[r * ldx + c]) : 0xAAAA));
      }
    });
  }
}
