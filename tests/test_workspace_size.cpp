// SPDX-License-Identifier: MIT
// Workspaces shrink with the problem (qkv/layer.h, qkv/attention.h: the
// formulas in the size queries' documentation): the book's chapter 3 layer
// (T 6, d_in 3, d_out 2) needs a few KiB for its forward and its decode step,
// not the ~35 KB a fixed 128-key tile once cost, and the sizes grow with T
// and the thread count. That the sizes are enough (and exact) is
// test_workspace_contract's job; that results do not depend on them,
// test_determinism's.
#include <cstddef>
#include <vector>

#include "support/isa.hpp"

namespace {

// The bound for the book's layer: the formula of qkv_mha_forward_workspace_size()
// with br 64 (the widest query tile, AVX-512's) gives about 4.3 KB; Cortex-M
// (br 16) 1,407 bytes. A quarter of a 20 KiB microcontroller RAM at most.
constexpr std::size_t kBookBound = 5 * 1024;

qkv_mha_desc book_layer(std::size_t d_in, std::size_t d_out, std::size_t heads) {
  qkv_mha_desc d{};
  d.d_in = d_in;
  d.d_out = d_out;
  d.num_heads = heads;
  d.causal = 1;  // CausalAttention (decoding needs it); the sizes are those of SelfAttention_v2 too
  return d;
}

std::size_t forward_ws(const qkv_mha_desc& d, std::size_t T, int threads) {
  std::size_t bytes = 0;
  REQUIRE(qkv_mha_forward_workspace_size(&d, 1, T, threads, &bytes) == QKV_OK);
  return bytes;
}

// One new token after T - 1 cached ones (the last decode step of a T-token cache).
std::size_t decode_ws(const qkv_mha_desc& d, std::size_t T, int threads) {
  qkv_mha_kv_state st{};
  REQUIRE(qkv_mha_kv_cache_init(&st, 1, T) == QKV_OK);
  st.length = T - 1;
  std::size_t bytes = 0;
  REQUIRE(qkv_mha_decode_workspace_size(&d, &st, 1, threads, &bytes) == QKV_OK);
  return bytes;
}

std::size_t sdpa_ws(std::size_t T, std::size_t head_dim, int threads) {
  qkv_sdpa_desc s{};
  s.batch = s.heads = 1;
  s.q_len = s.kv_len = T;
  s.head_dim = head_dim;
  s.q = s.k = s.v = s.o = qkv_sdpa_strides{T * head_dim, head_dim, head_dim};
  std::size_t bytes = 0;
  REQUIRE(qkv_sdpa_workspace_size(&s, threads, &bytes) == QKV_OK);
  return bytes;
}

}  // namespace

TEST_CASE("workspace: the book's 6x3 layer needs a few KiB, growing with T and threads", "[workspace][layer]") {
  qkv_test::for_each_isa([](qkv_isa) {
    const qkv_mha_desc book = book_layer(3, 2, 1);
    CHECK(forward_ws(book, 6, 1) <= kBookBound);
    CHECK(decode_ws(book, 6, 1) <= kBookBound);
    // Longer sequences, more heads' width and more threads cost more; the
    // tile stops growing at 128 keys but the layer's arrays keep growing.
    const std::size_t Ts[] = {6, 16, 64, 128, 1024};
    for (std::size_t i = 1; i < sizeof Ts / sizeof Ts[0]; ++i) {
      CAPTURE(Ts[i]);
      CHECK(forward_ws(book, Ts[i], 1) > forward_ws(book, Ts[i - 1], 1));
      CHECK(decode_ws(book, Ts[i], 1) >= decode_ws(book, Ts[i - 1], 1));
      CHECK(sdpa_ws(Ts[i], 2, 1) >= sdpa_ws(Ts[i - 1], 2, 1));
    }
    CHECK(decode_ws(book, 64, 1) > decode_ws(book, 6, 1));
    CHECK(sdpa_ws(64, 2, 1) > sdpa_ws(6, 2, 1));
    CHECK(forward_ws(book_layer(8, 16, 2), 16, 1) > forward_ws(book, 16, 1));
    CHECK(forward_ws(book, 64, 2) > forward_ws(book, 64, 1));
    // The attention's share for 6 keys is 6 x d smaller than for 128+ (the
    // key tile is 8 keys, not 128; the query tile and head_dim are the same).
    CHECK(sdpa_ws(6, 2, 1) * 4 < sdpa_ws(128, 2, 1));
    CHECK(sdpa_ws(128, 2, 1) == sdpa_ws(1024, 2, 1));
  });
}
