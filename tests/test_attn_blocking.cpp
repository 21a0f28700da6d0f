// SPDX-License-Identifier: MIT
// The fused attention forward's key chunk (src/ops/attn_blocking.hpp): the
// model on made-up L1 caches, and the accumulate kernel giving the same bits
// for any chunk on every ISA.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "kernels/attn/attn.hpp"
#include "ops/attn_blocking.hpp"
#include "support/isa.hpp"
#include "support/random.hpp"

namespace {
qkv::dispatch::cache_level l1(std::size_t kib, std::size_t ways) { return {kib * 1024, ways, 64}; }
}  // namespace

TEST_CASE("attention key chunk from the L1 geometry", "[sdpa][blocking]") {
  using qkv::ops::attn_key_chunk;
  // 48 KiB 12-way (Zen 5, Sapphire Rapids): 64 sets.
  CHECK(attn_key_chunk(l1(48, 12), 64, 64) == 128);   // contiguous heads: 16 sets x 8 ways, P^T bound 128
  CHECK(attn_key_chunk(l1(48, 12), 768, 64) == 32);   // interleaved heads: 4 sets x 8 ways
  CHECK(attn_key_chunk(l1(48, 12), 2304, 64) == 32);  // fused QKV rows: 144 lines apart, 4 sets
  CHECK(attn_key_chunk(l1(48, 12), 1024, 64) == 8);   // 4 KiB apart: one set, 8 ways
  CHECK(attn_key_chunk(l1(48, 12), 65, 64) == 128);   // not a whole number of lines: every set
  // 32 KiB 8-way (Skylake, Zen 3): 64 sets, 5 of 8 ways for V.
  CHECK(attn_key_chunk(l1(32, 8), 64, 64) == 80);
  CHECK(attn_key_chunk(l1(32, 8), 768, 64) == 16);
  // Smaller tiles of queries leave room for more keys, within the key tile.
  CHECK(attn_key_chunk(l1(48, 12), 64, 16) == 128);
  // Unknown or nonsense geometry: the old constant.
  CHECK(attn_key_chunk(qkv::dispatch::cache_level{}, 64, 64) == 32);
  CHECK(attn_key_chunk(qkv::dispatch::cache_level{1024, 64, 64}, 64, 64) == 32);
}

TEST_CASE("the accumulate kernel gives the same bits for any key chunk", "[sdpa][blocking]") {
  for (qkv_isa isa : qkv_test::runnable_isas()) {
    const qkv::kern::attn_kernels& kn = qkv::kern::attn_for(isa);
    INFO("isa " << qkv_isa_name(isa));
    const std::size_t br = kn.br;
    for (std::size_t kb : {std::size_t(1), std::size_t(7), std::size_t(33), std::size_t(128)})
      for (std::size_t dv : {std::size_t(1), std::size_t(13), std::size_t(64)}) {
        INFO("kb " << kb << " dv " << dv);
        const std::size_t ldv = dv + 3;
        const std::vector<float> pt = qkv_test::random_vector(kb * br, 21 + kb);
        const std::vector<float> v = qkv_test::random_vector(kb * ldv, 22 + dv);
        const std::vector<float> alpha = qkv_test::random_vector(br, 23);
        const std::vector<float> ot0 = qkv_test::random_vector(dv * br, 24);
        std::vector<float> want = ot0;
        kn.accumulate(kb, dv, pt.data(), v.data(), ldv, alpha.data(), want.data(), kb);  // one chunk
        for (std::size_t chunk : {std::size_t(1), std::size_t(8), std::size_t(24), std::size_t(32)}) {
          std::vector<float> got = ot0;
          kn.accumulate(kb, dv, pt.data(), v.data(), ldv, alpha.data(), got.data(), chunk);
          INFO("chunk " << chunk);
          REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        }
      }
  }
}
