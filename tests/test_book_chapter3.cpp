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
