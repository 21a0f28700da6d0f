// SPDX-License-Identifier: MIT
// The self-attention walkthrough of chapter 3 of "Build a Large Language
// Model (from Scratch)": the sentence "Your journey starts with one step",
// six tokens with 3-d embeddings. The expected numbers are the book's (as
// recorded in shared/data/book-chapter3.json), embedded here so the test
// needs no file at run time; printed to 4 decimals like the book, compared
// with an absolute tolerance of 1.5e-4 (the book rounds its weights to 4
// decimals, which moves results by up to 7.5e-5, plus the printed rounding).
#include <cmath>
#include <cstdio>
#include <vector>

#include "ops/self_attention.hpp"
#include "support/isa.hpp"

namespace {

constexpr double kTol = 1.5e-4;
constexpr std::size_t kT = 6, kDin = 3;

const float kInputs[kT][kDin] = {{0.43f, 0.15f, 0.89f}, {0.55f, 0.87f, 0.66f}, {0.57f, 0.85f, 0.64f},
                                 {0.22f, 0.58f, 0.33f}, {0.77f, 0.25f, 0.10f}, {0.05f, 0.80f, 0.55f}};

void print_row(const char* name, const float* x, std::size_t n) {
  std::printf("  %-22s [", name);
  for (std::size_t i = 0; i < n; ++i) std::printf("%s%.4f", i ? ", " : "", double(x[i]));
  std::printf("]\n");
}

void check_row(const float* got, const std::vector<double>& want) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(double(got[i]) - want[i]) <= kTol);
  }
}

}  // namespace

TEST_CASE("book chapter 3: simple self-attention without trainable weights", "[book][sdpa]") {
  qkv_test::for_each_isa([](qkv_isa isa) {
    std::printf("chapter 3, simple attention (%s):\n", qkv_isa_name(isa));
    // Scores of query 1 ("journey"): dot products with every input.
    float scores[kT];
    for (std::size_t j = 0; j < kT; ++j) REQUIRE(qkv_sdot(kDin, kInputs[1], kInputs[j], &scores[j]) == QKV_OK);
    print_row("attn_scores_row1", scores, kT);
    check_row(scores, {0.9544, 1.4950, 1.4754, 0.8434, 0.7070, 1.0865});
    float weights[kT];
    REQUIRE(qkv_softmax(1, kT, 1.0f, scores, kT, weights, kT) == QKV_OK);
    print_row("attn_weights_row1", weights, kT);
    check_row(weights, {0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581});

    // All context vectors at once: Q = K = V = inputs, unscaled scores.
    qkv_sdpa_desc d{};
    d.batch = d.heads = 1;
    d.q_len = d.kv_len = kT;
    d.head_dim = kDin;
    d.q = d.k = d.v = d.o = {kT * kDin, kT * kDin, kDin};
    d.scale = 1.0f;
    std::size_t bytes = 0;
    REQUIRE(qkv_sdpa_workspace_size(&d, 1, &bytes) == QKV_OK);
    std::vector<unsigned char> ws(bytes);
    float ctx[kT][kDin];
    REQUIRE(qkv_sdpa_forward(&d, &kInputs[0][0], &kInputs[0][0], &kInputs[0][0], &ctx[0][0], nullptr, ws.data(),
                             bytes) == QKV_OK);
    print_row("context_row0", ctx[0], kDin);
    print_row("context_row1", ctx[1], kDin);
    print_row("context_row5", ctx[5], kDin);
    check_row(ctx[0], {0.4421, 0.5931, 0.5790});
    check_row(ctx[1], {0.4419, 0.6515, 0.5683});
    check_row(ctx[5], {0.4177, 0.6503, 0.5645});
  });
}

TEST_CASE("book chapter 3: trainable single-head self-attention", "[book][sdpa]") {
  constexpr std::size_t kDout = 2;
  const float wq[kDin][kDout] = {{0.2961f, 0.5166f}, {0.2517f, 0.6886f}, {0.0740f, 0.8665f}};
  const float wk[kDin][kDout] = {{0.1366f, 0.1025f}, {0.1841f, 0.7264f}, {0.3153f, 0.6871f}};
  const float wv[kDin][kDout] = {{0.0756f, 0.1966f}, {0.3164f, 0.4017f}, {0.1186f, 0.8274f}};
  const double want_ctx[kT][kDout] = {{0.2996, 0.8053}, {0.3061, 0.8210}, {0.3058, 0.8203},
                                      {0.2948, 0.7939}, {0.2927, 0.7891}, {0.2990, 0.8040}};
  qkv_test::for_each_isa([&](qkv_isa isa) {
    std::printf("chapter 3, trainable single head (%s):\n", qkv_isa_name(isa));
    const qkv::ops::self_attention_dims dims{kT, kDin, kDout, false};
    std::size_t bytes = 0;
    REQUIRE(qkv::ops::self_attention_workspace_bytes(dims, 1, &bytes));
    std::vector<unsigned char> ws(bytes);
    float q[kT][kDout], k[kT][kDout], v[kT][kDout], ctx[kT][kDout];
    qkv::ops::self_attention_forward(qkv::ops::current_exec(), dims, &kInputs[0][0], kDin, &wq[0][0], &wk[0][0], &wv[0][0], kDout, &q[0][0],
                                     &k[0][0], &v[0][0], &ctx[0][0], kDout, nullptr, ws.data(), bytes);
    print_row("query_row1", q[1], kDout);
    check_row(q[1], {0.4306, 1.4551});
    float scores[kT], weights[kT];
    for (std::size_t j = 0; j < kT; ++j) REQUIRE(qkv_sdot(kDout, q[1], k[j], &scores[j]) == QKV_OK);
    print_row("unscaled_scores_row1", scores, kT);
    check_row(scores, {1.2705, 1.8524, 1.8111, 1.0795, 0.5577, 1.5440});
    REQUIRE(qkv_softmax(1, kT, 1.0f / std::sqrt(float(kDout)), scores, kT, weights, kT) == QKV_OK);
    print_row("attn_weights_row1", weights, kT);
    check_row(weights, {0.1500, 0.2264, 0.2199, 0.1311, 0.0906, 0.1820});
    for (std::size_t i = 0; i < kT; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "context_row%zu", i);
      print_row(name, ctx[i], kDout);
      check_row(ctx[i], {want_ctx[i][0], want_ctx[i][1]});
    }
  });
}
