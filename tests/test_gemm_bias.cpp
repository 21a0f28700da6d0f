// SPDX-License-Identifier: MIT
// ops::sgemm_bias (the layer's projections with a bias): C = op(A) op(B) +
// bias row. Its contract is bitwise equality with writing the bias into
// every row of C and calling sgemm with alpha = beta = 1, on every path the
// driver takes (small, packed over several K and N blocks, packed A, the
// fallback for a short caller workspace) and for 1 and 2 threads.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "ops/gemm.hpp"
#include "ops/rows.hpp"
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
      {false, false, 100, 1100, 17}};  // two NC blocks
  qkv_test::for_each_isa([&](qkv_isa) {
    for (const bias_case& c : cases) {
      check_bias_case(c, 0);  // hosted buffers
      const std::size_t need = qkv::ops::sgemm_workspace_bytes(qkv::ops::current_exec().isa, c.ta, c.tb, c.M, c.N, c.K, 2);
      check_bias_case(c, need);  // caller workspace
      if (need > 64) check_bias_case(c, 64);  // too short: the unpacked fallback
    }
  });
}
