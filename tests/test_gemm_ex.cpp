// SPDX-License-Identifier: MIT
// qkv_gemm_ex (qkv/gemm_ex.h): every operand type pair and C type on every
// ISA this machine runs, against a double reference computed from the same
// (already rounded) inputs; bitwise identity across thread counts and
// executors; the statuses in the header's order; the workspace rule.
//
// Tolerance (the header's bound, with room for the epilogue's few roundings):
//   |C - ref| <= (K + 4) * 2^-23 * (|alpha| * sum_k |a(i,k)||b(k,j)| + |beta * C0(i,j)|)
//                + 2^-8 |ref|          (bf16 C: the result rounded once)
//                + 2 (K + 1) * 2^-126  (the bf16 kind may flush partial sums, and BFDOT also
//                                      products and pair sums: under 2 * 2^-126 per k;
//                                      the inputs here are never subnormal)
// where a, b are the operands' values as given (int8: code * scale, exact
// in double). An I32 C is the exact integer sum: compared for equality.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/gemm/gemm.hpp"
#include "kernels/gemm_lowp/gemm_lowp.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "ops/gemm_ex.hpp"
#include "ops/gemm_ex_pack.hpp"
#include "qkv/qkv.h"
#include "support/isa.hpp"
#include "support/random.hpp"
#include "support/teams.hpp"
#include "util/half.hpp"

namespace {

using qkv_test::rng;

std::size_t esize(qkv_dtype t) { return t == QKV_DTYPE_I8 ? 1 : (t == QKV_DTYPE_BF16 || t == QKV_DTYPE_F16) ? 2 : 4; }

// A stored matrix: its bytes and each element's value as the library reads it.
struct stored {
  qkv_dtype t;
  std::size_t rows, cols, ld;
  std::vector<unsigned char> raw;
  std::vector<double> val;  // rows x ld (int8: the code; scales apply by op index)
  const void* data() const { return raw.data(); }
};

stored make_stored(qkv_dtype t, std::size_t rows, std::size_t cols, std::size_t ld, std::uint64_t seed) {
  stored s{t, rows, cols, ld, std::vector<unsigned char>(rows * ld * esize(t) + 1), std::vector<double>(rows * ld)};
  rng r(seed);
  for (std::size_t e = 0; e < rows * ld; ++e) {
    const float x = r.uniform(-2.f, 2.f);
    unsigned char* p = s.raw.data() + e * esize(t);
    if (t == QKV_DTYPE_F32) {
      std::memcpy(p, &x, 4);
      s.val[e] = x;
    } else if (t == QKV_DTYPE_BF16) {
      const std::uint16_t h = qkv::util::f32_to_bf16(x);
      std::memcpy(p, &h, 2);
      s.val[e] = qkv::util::bf16_to_f32(h);
    } else if (t == QKV_DTYPE_F16) {
      const std::uint16_t h = qkv::util::f32_to_f16(x);
      std::memcpy(p, &h, 2);
      s.val[e] = qkv::util::f16_to_f32(h);
    } else if (t == QKV_DTYPE_I8) {
      const auto q = static_cast<std::int8_t>(static_cast<int>(r.next() % 256) - 128);
      std::memcpy(p, &q, 1);
      s.val[e] = q;
    } else {  // I32 C
      const auto q = static_cast<std::int32_t>(r.next() % 20001) - 10000;
      std::memcpy(p, &q, 4);
      s.val[e] = q;
    }
  }
  return s;
}

std::vector<float> scales(std::size_t n, std::uint64_t seed) {
  return qkv_test::random_vector(n, seed, 0.001f, 0.05f);
}

double c_value(const stored& c, std::size_t i, std::size_t j) {
  const unsigned char* p = c.raw.data() + (i * c.ld + j) * esize(c.t);
  if (c.t == QKV_DTYPE_F32) {
    float x;
    std::memcpy(&x, p, 4);
    return x;
  }
  if (c.t == QKV_DTYPE_BF16) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return qkv::util::bf16_to_f32(h);
  }
  std::int32_t q;
  std::memcpy(&q, p, 4);
  return q;
}

// Fills C with what beta 0 must never read: NaN (fp), a sentinel (int32).
void poison(stored& c) {
  for (std::size_t e = 0; e < c.rows * c.ld; ++e) {
    unsigned char* p = c.raw.data() + e * esize(c.t);
    if (c.t == QKV_DTYPE_F32) {
      const float x = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(p, &x, 4);
    } else if (c.t == QKV_DTYPE_BF16) {
      const std::uint16_t h = 0x7fc0;
      std::memcpy(p, &h, 2);
    } else {
      const std::int32_t q = 0x7fffffff;
      std::memcpy(p, &q, 4);
    }
  }
}

struct shape {
  std::size_t M, N, K;
  bool ta, tb;
  float alpha, beta;
  std::size_t pad;
  bool with_scales;
};

struct problem {
  qkv_gemm_ex_desc d;
  stored a, b, c;
  std::vector<float> sa, sb;
};

problem make_problem(qkv_dtype at, qkv_dtype bt, qkv_dtype ct, const shape& s, std::uint64_t seed) {
  problem p{};
  qkv_gemm_ex_desc& d = p.d;
  d.ta = s.ta ? QKV_TRANS : QKV_NO_TRANS;
  d.tb = s.tb ? QKV_TRANS : QKV_NO_TRANS;
  d.M = s.M;
  d.N = s.N;
  d.K = s.K;
  d.a_type = at;
  d.b_type = bt;
  d.c_type = ct;
  const bool i32 = ct == QKV_DTYPE_I32;
  d.alpha = i32 ? 1.f : s.alpha;
  d.beta = i32 ? (s.beta == 0.f ? 0.f : 1.f) : s.beta;
  const std::size_t ar = s.ta ? s.K : s.M, ac = s.ta ? s.M : s.K, br = s.tb ? s.N : s.K, bc = s.tb ? s.K : s.N;
  d.lda = ac + s.pad;
  d.ldb = bc + 2 * s.pad;
  d.ldc = s.N + s.pad;
  p.a = make_stored(at, ar, ac, d.lda, seed);
  p.b = make_stored(bt, br, bc, d.ldb, seed + 1);
  p.c = make_stored(ct, s.M, s.N, d.ldc, seed + 2);
  if (d.beta == 0.f) poison(p.c);
  if (s.with_scales && !i32) {
    if (at == QKV_DTYPE_I8) p.sa = scales(s.M, seed + 3);
    if (bt == QKV_DTYPE_I8) p.sb = scales(s.N, seed + 4);
  }
  d.a_scales = p.sa.empty() ? nullptr : p.sa.data();
  d.b_scales = p.sb.empty() ? nullptr : p.sb.data();
  return p;
}

double op_a(const problem& p, std::size_t i, std::size_t k) {
  const double v = p.d.ta == QKV_TRANS ? p.a.val[k * p.d.lda + i] : p.a.val[i * p.d.lda + k];
  return p.sa.empty() ? v : v * p.sa[i];
}
double op_b(const problem& p, std::size_t k, std::size_t j) {
  const double v = p.d.tb == QKV_TRANS ? p.b.val[j * p.d.ldb + k] : p.b.val[k * p.d.ldb + j];
  return p.sb.empty() ? v : v * p.sb[j];
}

qkv_status run(problem& p, std::vector<unsigned char>* ws_out = nullptr, std::size_t offset = 1) {
  std::size_t bytes = 0;
  REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  std::vector<unsigned char> ws(bytes + offset + 1);
  const qkv_status s = qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), bytes ? ws.data() + offset : nullptr, bytes);
  if (ws_out) *ws_out = ws;
  return s;
}

// Runs p and checks every element against the reference, and C's padding.
void check(problem p) {
  const stored c0 = p.c;
  REQUIRE(run(p) == QKV_OK);
  const bool bf16_kind = p.d.a_type == QKV_DTYPE_BF16 && p.d.b_type == QKV_DTYPE_BF16;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < p.d.M; ++i) {
    for (std::size_t j = 0; j < p.d.N; ++j) {
      double exact = 0, mag = 0;
      for (std::size_t k = 0; k < p.d.K; ++k) {
        const double x = op_a(p, i, k) * op_b(p, k, j);
        exact += x;
        mag += std::fabs(x);
      }
      const double old = p.d.beta == 0.f ? 0.0 : c_value(c0, i, j);
      const double ref = p.d.alpha * exact + p.d.beta * old;
      const double got = c_value(p.c, i, j);
      if (p.d.c_type == QKV_DTYPE_I32) {
        if (got != ref && bad++ < 5) FAIL_CHECK("i32 C(" << i << "," << j << ") = " << got << ", want " << ref);
        continue;
      }
      double tol = (static_cast<double>(p.d.K) + 4) * std::ldexp(1.0, -23) *
                   (std::fabs(p.d.alpha) * mag + std::fabs(p.d.beta * old));
      if (p.d.c_type == QKV_DTYPE_BF16) tol += std::ldexp(std::fabs(ref), -8);
      if (bf16_kind) tol += (static_cast<double>(p.d.K) + 1) * std::ldexp(2.0, -126);
      if (!(std::fabs(got - ref) <= tol) && bad++ < 5)
        FAIL_CHECK("C(" << i << "," << j << ") = " << got << ", want " << ref << " +- " << tol);
    }
    for (std::size_t j = p.d.N; j < p.d.ldc; ++j)  // padding untouched
      if (std::memcmp(&p.c.raw[(i * p.d.ldc + j) * esize(p.d.c_type)], &c0.raw[(i * p.d.ldc + j) * esize(p.d.c_type)],
                      esize(p.d.c_type)) != 0 && bad++ < 5)
        FAIL_CHECK("padding C(" << i << "," << j << ") written");
  }
  CHECK(bad == 0);
}

const qkv_dtype kOperands[] = {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_F16, QKV_DTYPE_I8};

// Shapes: 1, primes, tile edges of every kernel (mr 4..16, nr 4..64), K
// split into blocks for every kind (fp32 kc <= 512; bf16 and int8 from the
// L1 size: 1048 and 2096 elements at 48 KiB), padded strides, each
// transpose, beta 0 / 1 / other.
const shape kShapes[] = {
    {1, 1, 1, false, false, 1.f, 0.f, 0, true},
    {17, 33, 29, true, false, 0.75f, 0.f, 3, true},
    {31, 47, 515, false, true, -1.25f, 0.5f, 1, false},
    {5, 13, 2100, true, true, 1.f, 1.f, 2, true},
    {64, 65, 64, false, false, 1.f, -0.5f, 5, true},
    {97, 3, 131, true, true, 2.f, 0.f, 0, false},
    {2, 129, 4099, false, false, 0.5f, 0.f, 1, true},
    // Whole tiles with alpha = beta = 1 and K split: the bf16 kind sums in C
    // from C's old value (dW += X^T dY).
    {29, 67, 1100, false, false, 1.f, 1.f, 0, false},
};

}  // namespace

TEST_CASE("gemm_ex matches the double reference for every type pair, ISA and shape", "[gemm_ex]") {
  qkv_test::for_each_isa([](qkv_isa) {
    std::uint64_t seed = 1;
    for (qkv_dtype at : kOperands)
      for (qkv_dtype bt : kOperands)
        for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_I32}) {
          if (ct == QKV_DTYPE_I32 && !(at == QKV_DTYPE_I8 && bt == QKV_DTYPE_I8)) continue;
          for (const shape& s : kShapes) {
            if (qkv_test::small_tests() && s.K > 1000) continue;  // emulated: the native run splits K
            INFO(qkv_dtype_name(at) << " x " << qkv_dtype_name(bt) << " -> " << qkv_dtype_name(ct) << ", M" << s.M
                                    << " N" << s.N << " K" << s.K << (s.ta ? " A^T" : "") << (s.tb ? " B^T" : "")
                                    << " alpha " << s.alpha << " beta " << s.beta);
            check(make_problem(at, bt, ct, s, seed += 10));
          }
        }
  });
}

// The skinny path (ops/gemm_ex_skinny.hpp: M <= 8, A F32/BF16/F16, B
// BF16/F16/I8): every M from 1 to 8 (and 9, the blocked path next to it),
// K and N prime, odd and around 16, 32 and the path's chunks (K 64 / 512,
// N 128), padded strides, both transposes, scales, alpha and beta.
const shape kSkinnyShapes[] = {
    {1, 1, 1, false, false, 1.f, 0.f, 0, true},     {1, 31, 33, false, true, 1.f, 0.f, 0, true},
    {2, 17, 16, true, false, -0.5f, 1.f, 3, true},   {3, 33, 65, false, false, 1.25f, 0.5f, 1, true},
    {4, 129, 31, true, true, 1.f, -1.f, 2, false},   {5, 15, 513, false, true, 0.75f, 0.f, 1, true},
    {6, 257, 129, false, false, 2.f, 0.f, 5, true},  {7, 32, 1031, true, true, 1.f, 0.25f, 0, true},
    {8, 131, 97, false, true, -1.f, 0.f, 2, true},   {8, 64, 200, true, false, 1.f, 1.f, 1, false},
    {9, 37, 41, false, true, 1.f, 0.5f, 1, true},
};

TEST_CASE("gemm_ex's skinny path matches the double reference on every ISA", "[gemm_ex]") {
  qkv_test::for_each_isa([](qkv_isa) {
    std::uint64_t seed = 5000;
    for (qkv_dtype at : {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_F16})
      for (qkv_dtype bt : {QKV_DTYPE_BF16, QKV_DTYPE_F16, QKV_DTYPE_I8})
        for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_BF16})
          for (const shape& s : kSkinnyShapes) {
            INFO(qkv_dtype_name(at) << " x " << qkv_dtype_name(bt) << " -> " << qkv_dtype_name(ct) << ", M" << s.M
                                    << " N" << s.N << " K" << s.K << (s.ta ? " A^T" : "") << (s.tb ? " B^T" : "")
                                    << " alpha " << s.alpha << " beta " << s.beta);
            check(make_problem(at, bt, ct, s, seed += 10));
          }
  });
}

TEST_CASE("gemm_ex: K == 0 and alpha == 0 scale C without reading A or B", "[gemm_ex]") {
  for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_BF16}) {
    problem p = make_problem(QKV_DTYPE_BF16, QKV_DTYPE_I8, ct, shape{3, 4, 5, false, false, 0.f, 0.5f, 1, false}, 7);
    const stored c0 = p.c;
    std::size_t bytes = 1;
    REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 1, &bytes) == QKV_OK);
    CHECK(bytes == 0);
    REQUIRE(qkv_gemm_ex(&p.d, nullptr, nullptr, p.c.raw.data(), nullptr, 0) == QKV_ERR_NULL_POINTER);
    REQUIRE(qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), nullptr, 0) == QKV_OK);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 4; ++j) CHECK(c_value(p.c, i, j) == Approx(0.5 * c_value(c0, i, j)).epsilon(1e-2));
    p.d.K = 0;
    p.d.alpha = 1.f;
    p.d.beta = 0.f;
    poison(p.c);
    REQUIRE(qkv_gemm_ex(&p.d, nullptr, nullptr, p.c.raw.data(), nullptr, 0) == QKV_OK);
    for (std::size_t i = 0; i < 3; ++i)
      for (std::size_t j = 0; j < 4; ++j) CHECK(c_value(p.c, i, j) == 0.0);
  }
}

TEST_CASE("gemm_ex is bitwise identical for 1, 2, 3 threads and a caller's executor", "[gemm_ex][threads]") {
  const std::size_t deep = qkv_test::small_tests() ? 600 : 1100;
  // The blocked path (K in blocks for bf16 and f32; K = 230: one B block,
  // which each member packs for itself), and the skinny one with either
  // transpose of B (N in 3 column blocks; 2 M N K over 2 MFLOP, so the team
  // has 2 or 3 members; only the combos the skinny path takes).
  const shape shapes[] = {{150, 140, qkv_test::small_tests() ? std::size_t{300} : std::size_t{1100}, false, true, 1.5f, 0.5f, 3, true},
                          {150, 140, 230, true, false, 1.f, 0.f, 2, true},
                          {8, 300, deep, false, true, 1.5f, 0.5f, 3, true},
                          {6, 301, deep, true, false, -0.5f, 0.f, 1, true}};
  struct combo {
    qkv_dtype a, b, c;
  };
  const combo combos[] = {{QKV_DTYPE_BF16, QKV_DTYPE_BF16, QKV_DTYPE_BF16}, {QKV_DTYPE_BF16, QKV_DTYPE_BF16, QKV_DTYPE_F32},
                          {QKV_DTYPE_I8, QKV_DTYPE_I8, QKV_DTYPE_F32},      {QKV_DTYPE_I8, QKV_DTYPE_I8, QKV_DTYPE_I32},
                          {QKV_DTYPE_F32, QKV_DTYPE_I8, QKV_DTYPE_F32},     {QKV_DTYPE_F16, QKV_DTYPE_BF16, QKV_DTYPE_BF16},
                          {QKV_DTYPE_F32, QKV_DTYPE_F32, QKV_DTYPE_F32}};
  // An executor that runs the tasks in turn, last first (members that start
  // late, or never side by side).
  qkv_executor e{};
  e.parallel_for = [](void*, size_t n, qkv_task_fn task, void* arg) {
    for (size_t i = n; i-- > 0;) task(arg, i);
  };
  e.workers = 3;
  for (const shape& s : shapes) {
    for (const combo& c : combos) {
      if (s.M <= 8 && (c.a == QKV_DTYPE_I8 || c.b == QKV_DTYPE_F32)) continue;
      INFO(qkv_dtype_name(c.a) << " x " << qkv_dtype_name(c.b) << " -> " << qkv_dtype_name(c.c) << ", M" << s.M);
      std::vector<std::vector<unsigned char>> outs;
      qkv_test::team_watch watch;
      for (int th : {1, 2, 3}) {
        qkv_test::threads_scope ts(th);
        problem p = make_problem(c.a, c.b, c.c, s, 99);
        std::size_t bytes = 0;
        REQUIRE(qkv_gemm_ex_workspace_size(&p.d, th, &bytes) == QKV_OK);
        std::vector<unsigned char> ws(bytes + 3);
        REQUIRE(qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), ws.data() + 3, bytes) == QKV_OK);
        outs.push_back(p.c.raw);
      }
      QKV_CHECK_TEAM(watch);
      {
        REQUIRE(qkv_set_executor(&e) == QKV_OK);
        problem p = make_problem(c.a, c.b, c.c, s, 99);
        std::size_t bytes = 0;
        REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 3, &bytes) == QKV_OK);
        std::vector<unsigned char> ws(bytes + 5);
        const qkv_status st = qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), ws.data() + 5, bytes);
        REQUIRE(qkv_set_executor(nullptr) == QKV_OK);
        REQUIRE(st == QKV_OK);
        outs.push_back(p.c.raw);
      }
      for (std::size_t r = 1; r < outs.size(); ++r) CHECK((outs[r] == outs[0]));
    }
  }
}

TEST_CASE("gemm_ex statuses come in the header's order and write nothing", "[gemm_ex][args]") {
  problem p = make_problem(QKV_DTYPE_I8, QKV_DTYPE_I8, QKV_DTYPE_F32, shape{20, 30, 40, false, false, 1.f, 0.f, 1, true}, 5);
  std::size_t bytes = 0;
  REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  REQUIRE(bytes > 0);
  std::vector<unsigned char> ws(bytes + 1);
  const std::vector<unsigned char> snapshot = p.c.raw;
  auto call = [&](const qkv_gemm_ex_desc& d, const void* A, const void* B, void* C, void* w, std::size_t wb) {
    const qkv_status s = qkv_gemm_ex(&d, A, B, C, w, wb);
    CHECK((p.c.raw == snapshot));
    return s;
  };
  const void* A = p.a.data();
  const void* B = p.b.data();
  void* C = p.c.raw.data();
  void* W = ws.data() + 1;
  CHECK(qkv_gemm_ex(&p.d, A, B, C, W, bytes) == QKV_OK);  // the valid call writes; then each fault must not
  CHECK(!(p.c.raw == snapshot));
  std::memcpy(C, snapshot.data(), snapshot.size());
  CHECK(qkv_gemm_ex(nullptr, A, B, C, W, bytes) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_gemm_ex_workspace_size(nullptr, 1, &bytes) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_gemm_ex_workspace_size(&p.d, 1, nullptr) == QKV_ERR_NULL_POINTER);

  // Each fault together with every later one: the earliest is reported.
  qkv_gemm_ex_desc d = p.d;
  std::memset(&d.ta, 0x55, sizeof d.ta);  // not a qkv_trans value
  d.a_type = QKV_DTYPE_U8;
  CHECK(call(d, nullptr, nullptr, nullptr, nullptr, 0) == QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_ERR_BAD_ARGUMENT);
  d = p.d;
  std::memset(&d.tb, 0x7f, sizeof d.tb);
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_ARGUMENT);

  // Types: operands, C, I32 C with other operands, scales of a non-I8 operand.
  for (qkv_dtype bad : {QKV_DTYPE_U8, QKV_DTYPE_I32, QKV_DTYPE_F64, QKV_DTYPE_COUNT}) {
    d = p.d;
    d.a_type = bad;
    d.M = 0;  // later faults too: a shape that would need no pointers
    d.lda = 0;
    CHECK(call(d, nullptr, nullptr, nullptr, nullptr, 0) == QKV_ERR_BAD_DTYPE);
    d = p.d;
    d.b_type = bad;
    CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_DTYPE);
  }
  for (qkv_dtype bad : {QKV_DTYPE_F16, QKV_DTYPE_I8, QKV_DTYPE_U16, QKV_DTYPE_F64}) {
    d = p.d;
    d.c_type = bad;
    CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_DTYPE);
  }
  d = p.d;
  d.a_type = QKV_DTYPE_BF16;  // a_scales kept: scales of a non-I8 operand
  d.c_type = QKV_DTYPE_I32;
  d.alpha = 2.f;
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_DTYPE);
  d = p.d;
  d.b_type = QKV_DTYPE_F32;  // b_scales kept
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_ERR_BAD_DTYPE);
  {
    qkv_gemm_ex_desc e = p.d;
    e.a_scales = e.b_scales = nullptr;
    e.a_type = QKV_DTYPE_F32;
    e.c_type = QKV_DTYPE_I32;
    CHECK(call(e, A, B, C, W, bytes) == QKV_ERR_BAD_DTYPE);
  }

  // I32 C: scales, alpha != 1, beta not 0 / 1 (then K too large, NULL C).
  d = p.d;
  d.c_type = QKV_DTYPE_I32;
  d.K = 131073;
  CHECK(call(d, A, B, nullptr, W, bytes) == QKV_ERR_BAD_ARGUMENT);  // scales
  d.a_scales = d.b_scales = nullptr;
  d.alpha = 0.5f;
  CHECK(call(d, A, B, nullptr, W, bytes) == QKV_ERR_BAD_ARGUMENT);
  d.alpha = 1.f;
  d.beta = 0.5f;
  CHECK(call(d, A, B, nullptr, W, bytes) == QKV_ERR_BAD_ARGUMENT);
  d.beta = 1.f;
  CHECK(call(d, A, B, nullptr, W, bytes) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_ERR_BAD_SHAPE);
  d.K = 131072;  // the largest: fine as far as shape goes; C NULL next
  CHECK(call(d, A, B, nullptr, W, bytes) == QKV_ERR_NULL_POINTER);

  // Pointers, then strides, then extents.
  d = p.d;
  d.ldc = 1;
  CHECK(call(d, nullptr, B, C, W, bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(d, A, nullptr, C, W, bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_ERR_BAD_STRIDE);
  d = p.d;
  d.lda = d.K - 1;
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_BAD_STRIDE);
  d = p.d;
  d.ldb = SIZE_MAX / 2;  // fits elements, not bytes... K-1 rows of it overflow
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_ERR_SIZE_OVERFLOW);
  d = p.d;
  d.c_type = QKV_DTYPE_I32;
  d.a_scales = d.b_scales = nullptr;
  d.M = 2;
  d.ldc = static_cast<std::size_t>(PTRDIFF_MAX) / 4;  // one row: (ld + N) * 4 bytes > PTRDIFF_MAX
  CHECK(call(d, A, B, C, W, bytes) == QKV_ERR_SIZE_OVERFLOW);

  // The workspace last: NULL, then one byte short; the exact size at an odd address works.
  REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 1, &bytes) == QKV_OK);
  CHECK(call(p.d, A, B, C, nullptr, bytes) == QKV_ERR_NULL_POINTER);
  CHECK(call(p.d, A, B, C, W, bytes - 1) == QKV_ERR_WORKSPACE_TOO_SMALL);
  CHECK(qkv_gemm_ex(&p.d, A, B, C, W, bytes) == QKV_OK);
  CHECK((p.c.raw != snapshot));
}

TEST_CASE("gemm_ex workspace: exact, monotone in threads, any alignment", "[gemm_ex][workspace]") {
  for (qkv_dtype t : kOperands) {
    problem p = make_problem(t, t, QKV_DTYPE_BF16, shape{100, 90, qkv_test::small_tests() ? std::size_t{300} : std::size_t{1500}, true, false, 1.f, 0.25f, 1, true}, 11);
    std::size_t one = 0, two = 0, many = 0;
    REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 1, &one) == QKV_OK);
    REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 0, &two) == QKV_OK);  // < 1 counts as 1
    CHECK(two == one);
    REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 2, &two) == QKV_OK);
    REQUIRE(qkv_gemm_ex_workspace_size(&p.d, 64, &many) == QKV_OK);
    CHECK(one < two);
    CHECK(two < many);
    CHECK(qkv_gemm_ex_workspace_size(&p.d, INT32_MAX, &many) == (sizeof(std::size_t) > 4 ? QKV_OK : QKV_ERR_SIZE_OVERFLOW));
    const stored c0 = p.c;
    std::vector<unsigned char> ref;
    for (std::size_t off = 0; off < 4; ++off) {
      p.c = c0;
      std::vector<unsigned char> ws(one + 64);
      CHECK(qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), ws.data() + off, one - 1) ==
            QKV_ERR_WORKSPACE_TOO_SMALL);
      REQUIRE(qkv_gemm_ex(&p.d, p.a.data(), p.b.data(), p.c.raw.data(), ws.data() + off, one) == QKV_OK);
      if (off == 0) ref = p.c.raw;
      CHECK((p.c.raw == ref));
    }
  }
}

TEST_CASE("gemm_ex's stack tile holds every kernel table's tile", "[gemm_ex][kernels]") {
  using namespace qkv;
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    INFO(qkv_isa_name(isa));
    const std::size_t most = isa == QKV_ISA_SCALAR ? ops::kGemmExTileMaxBare : ops::kGemmExTileMaxHosted;
    CHECK(kern::gemm_for(isa).mr * kern::gemm_for(isa).nr <= most);
    CHECK(kern::gemm_s8_for(isa).mr * kern::gemm_s8_for(isa).nr <= most);
    CHECK(kern::gemm_bf16_for(isa).mr * kern::gemm_bf16_for(isa).nr <= most);
    CHECK(kern::gemm_s8_for(isa).kg <= 8);
  }
#ifdef QKV_HAVE_AMX  // built whenever avx512_bf16 is (x86-64), run only where dispatch::amx() allows
  CHECK(kern::gemm_bf16_amx.mr * kern::gemm_bf16_amx.nr <= ops::kGemmExTileMaxHosted);
  CHECK(kern::gemm_s8_amx.mr * kern::gemm_s8_amx.nr <= ops::kGemmExTileMaxHosted);
#endif
}

TEST_CASE("gemm_ex int8: the largest K, every product (-128)(-128)", "[gemm_ex]") {
  // 131072 * 16384 = 2^31: exact in a float C, INT32_MIN (wrapped) in an int32 C.
  const std::size_t K = 131072;
  std::vector<std::int8_t> a(K, -128), b(K, -128);
  qkv_test::for_each_isa([&](qkv_isa) {
    for (qkv_dtype ct : {QKV_DTYPE_F32, QKV_DTYPE_I32}) {
      qkv_gemm_ex_desc d{};
      d.ta = QKV_NO_TRANS, d.tb = QKV_TRANS, d.M = 1, d.N = 1, d.K = K, d.lda = K, d.ldb = K, d.ldc = 1;
      d.a_type = d.b_type = QKV_DTYPE_I8, d.c_type = ct, d.alpha = 1.f, d.beta = 0.f;
      std::size_t bytes = 0;
      REQUIRE(qkv_gemm_ex_workspace_size(&d, 1, &bytes) == QKV_OK);
      std::vector<unsigned char> ws(bytes);
      std::int32_t c[1] = {7};
      REQUIRE(qkv_gemm_ex(&d, a.data(), b.data(), c, ws.data(), bytes) == QKV_OK);
      if (ct == QKV_DTYPE_I32) {
        CHECK(c[0] == INT32_MIN);
      } else {
        float f;
        std::memcpy(&f, c, 4);
        CHECK(f == 2147483648.f);
      }
    }
  });
}

TEST_CASE("gemm_ex's widening packers give util/half.hpp's bits for every fp16 and bf16 pattern", "[gemm_ex][kernels]") {
  // Every 16-bit pattern (NaNs, infinities, subnormals included) through
  // both loop orders of the packer (its four-lane and one-at-a-time paths).
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  for (qkv_dtype t : {QKV_DTYPE_F16, QKV_DTYPE_BF16}) {
    for (bool trans : {false, true}) {
      // op(B) as 256 x 256: kc 256 rows of 256 columns (or transposed), panels of 6 (an edge panel at the end).
      const std::size_t n = 256, R = 6, panels = (n + R - 1) / R;
      std::vector<float> dst(panels * R * n);
      qkv::ops::widen_pack_b(qkv::ops::widen_src{t, all.data(), n, nullptr}, trans, n, n, R, dst.data());
      std::size_t bad = 0;
      for (std::size_t k = 0; k < n; ++k)
        for (std::size_t j = 0; j < n; ++j) {
          const std::uint16_t h = all[trans ? j * n + k : k * n + j];
          const float want = t == QKV_DTYPE_F16 ? qkv::util::f16_to_f32(h) : qkv::util::bf16_to_f32(h);
          const float got = dst[(j / R) * R * n + k * R + j % R];
          if (std::memcmp(&want, &got, 4) != 0 && bad++ < 3) FAIL_CHECK(std::hex << "pattern 0x" << h);
        }
      CHECK(bad == 0);
    }
  }
}
