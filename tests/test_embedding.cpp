// SPDX-License-Identifier: MIT
// Token + position embedding: forward and backward against the reference
// (tests/ref/ref_embedding.h) on every ISA (bitwise: the forward is one fp32
// add per element and the backward's order of accumulation is part of the
// contract), finite differences, 1 vs 2 threads bitwise, bad ids, oversize T
// and validation.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "support/isa.hpp"
#include "support/teams.hpp"
#include "support/random.hpp"
#include "support/ref_embedding.hpp"

namespace {

constexpr float kCanary = 4242.f;

struct case_t {
  std::size_t vocab, dim, max_pos, batch, seq, offset, pad;
};

// dim around every vector width; no position table; offsets; padded rows.
const case_t kCases[] = {{1, 1, 1, 1, 1, 0, 0},    {5, 3, 4, 2, 3, 1, 2},    {7, 16, 8, 3, 8, 0, 0},
                         {11, 17, 9, 2, 5, 4, 3},  {50, 64, 0, 3, 7, 0, 1},  {13, 100, 12, 2, 9, 3, 5},
                         {3, 33, 16, 4, 16, 0, 0}, {64, 768, 32, 2, 16, 8, 16}};

std::vector<std::int32_t> random_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
  qkv_test::rng r(seed);
  std::vector<std::int32_t> ids(n);
  for (auto& id : ids) id = static_cast<std::int32_t>(r.next() % vocab);
  return ids;
}

qkv_embedding_desc desc_of(const case_t& c) {
  qkv_embedding_desc d;
  d.vocab = c.vocab;
  d.dim = c.dim;
  d.max_positions = c.max_pos;
  return d;
}

}  // namespace

TEST_CASE("embedding forward equals tok[id] + pos[t] bitwise on every ISA", "[embedding]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& c : kCases) {
      INFO("vocab " << c.vocab << " dim " << c.dim << " max_pos " << c.max_pos << " B " << c.batch << " T "
                    << c.seq << " offset " << c.offset);
      const auto d = desc_of(c);
      const std::size_t rows = c.batch * c.seq, ld = c.dim + c.pad;
      const auto tok = qkv_test::random_vector(c.vocab * c.dim, 1 + c.dim);
      const auto pos = qkv_test::random_vector(c.max_pos * c.dim, 2 + c.dim);
      const auto ids = random_ids(rows, c.vocab, 3 + c.dim);
      std::vector<float> out(rows * ld + 1, kCanary);
      REQUIRE(qkv_embedding_forward(&d, c.batch, c.seq, c.offset, ids.data(), tok.data(),
                                    c.max_pos ? pos.data() : nullptr, out.data(), ld, nullptr) == QKV_OK);
      // The reference's double sum, rounded once: the fp32 tok + pos.
      const auto want = qkv_test::ref_embedding_forward(d, c.batch, c.seq, c.offset, ids.data(), tok.data(), pos.data());
      bool same = true;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = 0; j < c.dim; ++j) same = same && out[r * ld + j] == float(want[r * c.dim + j]);
        for (std::size_t j = c.dim; j < ld && r + 1 < rows; ++j) same = same && out[r * ld + j] == kCanary;
      }
      CHECK(same);
      CHECK(out.back() == kCanary);
    }
  });
}

TEST_CASE("embedding backward accumulates in token order, bitwise, on every ISA", "[embedding]") {
  qkv_test::for_each_isa([](qkv_isa) {
    for (const auto& c : kCases) {
      INFO("vocab " << c.vocab << " dim " << c.dim << " max_pos " << c.max_pos << " B " << c.batch << " T "
                    << c.seq << " offset " << c.offset);
      const auto d = desc_of(c);
      const std::size_t rows = c.batch * c.seq, ld = c.dim + c.pad;
      const auto dout = qkv_test::random_vector(rows * ld, 4 + c.dim);
      const auto ids = random_ids(rows, c.vocab, 5 + c.dim);
      // Start from nonzero gradients: the call accumulates.
      auto dtok = qkv_test::random_vector(c.vocab * c.dim, 6);
      auto dpos = qkv_test::random_vector(c.max_pos * c.dim, 7);
      // The reference (tests/ref/ref_embedding.h): the fp32 sums in token
      // order (the library's bits) and the token table's in double.
      auto want_tok = dtok, want_pos = dpos;
      std::vector<double> dbl_tok(want_tok.begin(), want_tok.end()), mag(dbl_tok.size(), 0.0);
      qkv_ref_embedding_grads want{};
      want.tok = dbl_tok.data();
      want.tok_mag = mag.data();
      want.tok_f32 = want_tok.data();
      want.pos_f32 = want_pos.data();
      qkv_ref_embedding_backward(&d, c.batch, c.seq, c.offset, ids.data(), dout.data(), ld, &want);
      REQUIRE(qkv_embedding_backward(&d, c.batch, c.seq, c.offset, ids.data(), dout.data(), ld, dtok.data(),
                                     c.max_pos ? dpos.data() : nullptr, nullptr) == QKV_OK);
      CHECK(std::memcmp(dtok.data(), want_tok.data(), dtok.size() * sizeof(float)) == 0);
      // memcmp with an empty vector's data() (may be NULL) is undefined.
      CHECK((dpos.empty() || std::memcmp(dpos.data(), want_pos.data(), dpos.size() * sizeof(float)) == 0));
      // And close to the exact sums: one rounding per accumulated term.
      for (std::size_t i = 0; i < dtok.size(); ++i)
        CHECK(std::fabs(dtok[i] - dbl_tok[i]) <=
              double(rows + 1) * std::numeric_limits<float>::epsilon() * (mag[i] + 1.0));

      // NULL skips a table.
      auto dtok2 = dtok;
      REQUIRE(qkv_embedding_backward(&d, c.batch, c.seq, c.offset, ids.data(), dout.data(), ld, nullptr,
                                     c.max_pos ? dpos.data() : nullptr, nullptr) == QKV_OK);
      CHECK(dtok2 == dtok);
    }
  });
}

TEST_CASE("embedding gradients match finite differences of the forward", "[embedding][fd]") {
  // L = sum_{r,j} w[r][j] * out[r][j]; dL/dtok and dL/dpos come from the
  // backward with dout = w. L is linear, so central differences are exact up
  // to the fp32 rounding of out (|out| <= 2, h = 1e-2: error <= ~rows*2*eps/h).
  const case_t c{6, 5, 7, 2, 4, 2, 1};
  const auto d = desc_of(c);
  const std::size_t rows = c.batch * c.seq, ld = c.dim + c.pad;
  auto tok = qkv_test::random_vector(c.vocab * c.dim, 8);
  auto pos = qkv_test::random_vector(c.max_pos * c.dim, 9);
  auto ids = random_ids(rows, c.vocab, 10);
  ids[3] = ids[0];  // a repeated id: its gradient sums two rows
  const auto w = qkv_test::random_vector(rows * ld, 11);
  std::vector<float> dtok(tok.size(), 0.f), dpos(pos.size(), 0.f), out(rows * ld);
  REQUIRE(qkv_embedding_backward(&d, c.batch, c.seq, c.offset, ids.data(), w.data(), ld, dtok.data(), dpos.data(),
                                 nullptr) == QKV_OK);
  auto loss = [&] {
    REQUIRE(qkv_embedding_forward(&d, c.batch, c.seq, c.offset, ids.data(), tok.data(), pos.data(), out.data(), ld,
                                  nullptr) == QKV_OK);
    double l = 0;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = 0; j < c.dim; ++j) l += double(w[r * ld + j]) * out[r * ld + j];
    return l;
  };
  const float h = 1e-2f;
  auto fd = [&](std::vector<float>& table, const std::vector<float>& grad) {
    for (std::size_t i = 0; i < table.size(); ++i) {
      const float x0 = table[i];
      table[i] = x0 + h;
      const double lp = loss();
      table[i] = x0 - h;
      const double lm = loss();
      table[i] = x0;
      const double step = double(x0 + h) - double(x0 - h);
      CHECK(std::fabs((lp - lm) / step - grad[i]) <= 1e-4);
    }
  };
  qkv_test::for_each_isa([&](qkv_isa) {
    fd(tok, dtok);
    fd(pos, dpos);
  });
}

TEST_CASE("embedding is bitwise identical for 1 and 2 threads", "[embedding][threads]") {
  // Enough work (8 per element by the driver's estimate: rows * dim >= 250 K)
  // for the library to start two threads, at every scale.
  const case_t c{97, 1000, 600, 2, qkv_test::small_tests() ? std::size_t{300} : std::size_t{512}, 3, 8};
  const auto d = desc_of(c);
  const std::size_t rows = c.batch * c.seq, ld = c.dim + c.pad;
  const auto tok = qkv_test::random_vector(c.vocab * c.dim, 12);
  const auto pos = qkv_test::random_vector(c.max_pos * c.dim, 13);
  const auto ids = random_ids(rows, c.vocab, 14);
  const auto dout = qkv_test::random_vector(rows * ld, 15);
  qkv_test::for_each_isa([&](qkv_isa) {
    std::vector<float> out[2], dtok[2], dpos[2];
    for (int t = 1; t <= 2; ++t) {
      qkv_test::threads_scope ts(t);
      qkv_test::team_watch watch;
      out[t - 1].assign(rows * ld, 0.f);
      dtok[t - 1].assign(tok.size(), 0.f);
      dpos[t - 1].assign(pos.size(), 0.f);
      REQUIRE(qkv_embedding_forward(&d, c.batch, c.seq, c.offset, ids.data(), tok.data(), pos.data(),
                                    out[t - 1].data(), ld, nullptr) == QKV_OK);
      REQUIRE(qkv_embedding_backward(&d, c.batch, c.seq, c.offset, ids.data(), dout.data(), ld, dtok[t - 1].data(),
                                     dpos[t - 1].data(), nullptr) == QKV_OK);
      if (t == 2) QKV_CHECK_TEAM(watch);
    }
    CHECK(out[0] == out[1]);
    CHECK(std::memcmp(dtok[0].data(), dtok[1].data(), tok.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(dpos[0].data(), dpos[1].data(), pos.size() * sizeof(float)) == 0);
  });
}

TEST_CASE("embedding reports the first bad id and writes nothing", "[embedding][args]") {
  const qkv_embedding_desc d{4, 2, 3};
  const float tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, pos[6] = {0.5f, 0.5f, 1, 1, 2, 2}, dout[12] = {1, 1, 1, 1, 1, 1,
                                                                                             1, 1, 1, 1, 1, 1};
  float out[12], dtok[8], dpos[6];
  for (float& x : out) x = kCanary;
  for (float& x : dtok) x = kCanary;
  for (float& x : dpos) x = kCanary;
  for (std::int32_t bad : {4, -1, std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::min()}) {
    std::int32_t ids[6] = {0, 1, 2, 3, bad, bad};  // first bad at flat index 4 = (b 1, t 1)
    std::size_t where = 99;
    CHECK(qkv_embedding_forward(&d, 2, 3, 0, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_TOKEN);
    CHECK(where == 4);
    where = 99;
    CHECK(qkv_embedding_backward(&d, 2, 3, 0, ids, dout, 2, dtok, dpos, &where) == QKV_ERR_BAD_TOKEN);
    CHECK(where == 4);
    CHECK(qkv_embedding_forward(&d, 2, 3, 0, ids, tok, pos, out, 2, nullptr) == QKV_ERR_BAD_TOKEN);
  }
  const std::int32_t ids[6] = {0, 1, 2, 3, 0, 1};
  std::size_t where = 99;
  // T beyond the position table, directly or through the offset.
  CHECK(qkv_embedding_forward(&d, 1, 4, 0, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_embedding_forward(&d, 2, 2, 2, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_embedding_forward(&d, 1, 1, SIZE_MAX, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_embedding_backward(&d, 1, 4, 0, ids, dout, 2, dtok, dpos, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(where == 99);
  // Shapes, strides, pointers, sizes.
  const qkv_embedding_desc no_vocab{0, 2, 3}, no_dim{4, 0, 3}, huge{SIZE_MAX / 2, 4, 0};
  CHECK(qkv_embedding_forward(nullptr, 1, 3, 0, ids, tok, pos, out, 2, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_forward(&no_vocab, 1, 3, 0, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_embedding_forward(&no_dim, 1, 3, 0, ids, tok, pos, out, 2, &where) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_embedding_forward(&huge, 1, 3, 0, ids, tok, pos, out, 4, &where) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, ids, tok, pos, out, 1, &where) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_embedding_backward(&d, 1, 3, 0, ids, dout, 1, dtok, dpos, &where) == QKV_ERR_BAD_STRIDE);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, ids, tok, pos, out, SIZE_MAX / 4, &where) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, nullptr, tok, pos, out, 2, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, ids, nullptr, pos, out, 2, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, ids, tok, nullptr, out, 2, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_forward(&d, 1, 3, 0, ids, tok, pos, nullptr, 2, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_backward(&d, 1, 3, 0, ids, nullptr, 2, dtok, dpos, &where) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_embedding_backward(&d, 1, 3, 0, nullptr, dout, 2, dtok, dpos, &where) == QKV_ERR_NULL_POINTER);
  CHECK(where == 99);
  for (float x : out) CHECK(x == kCanary);
  for (float x : dtok) CHECK(x == kCanary);
  for (float x : dpos) CHECK(x == kCanary);
  // Empty batches are no-ops; no position table means pos is not needed.
  CHECK(qkv_embedding_forward(&d, 0, 3, 0, nullptr, nullptr, nullptr, nullptr, 2, nullptr) == QKV_OK);
  const qkv_embedding_desc no_pos{4, 2, 0};
  REQUIRE(qkv_embedding_forward(&no_pos, 1, 2, 100, ids, tok, nullptr, out, 2, nullptr) == QKV_OK);
  CHECK((out[0] == 1.f && out[1] == 2.f && out[2] == 3.f && out[3] == 4.f));
}
