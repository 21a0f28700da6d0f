// SPDX-License-Identifier: MIT
// Fuzz target: embedding.h - qkv_embedding_forward, qkv_embedding_backward.
// qkv-fuzz-requires: src/ops/embedding.hpp
//
// Token ids from the input bytes (mostly valid, sometimes negative, == vocab
// or any int32). Reference (tests/ref/ref_embedding.h): forward
// out = tok[id] + pos[pos_offset + t], one fp32 addition (exact in double,
// rounded once), so bitwise equal; backward the documented order (b, then t)
// of fp32 additions onto the prior gradient, so bitwise equal too.
// BAD_TOKEN must report the flat index of the first bad id.
#include "fuzz/harness.hpp"
#include "ref/ref_embedding.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qkv_fuzz;
  stats().target = "embedding";
  input in(data, size);
  in.runtime();
  const bool backward = in.flag();
  qkv_embedding_desc d{in.dim(40), in.dim(20), in.flag() ? 0 : in.dim(30)};
  const std::size_t B = in.dim(4), T = in.dim(12);
  const std::size_t pos_offset = in.one_in(8) ? in.edge() : in.in<std::size_t>(0, 8);
  const std::size_t ld = in.ld(d.dim);
  const values kind = in.kind();

  std::size_t n_ids, e_tok, e_pos, e_out;
  const bool ok_ids = !__builtin_mul_overflow(B, T, &n_ids);
  const bool ok_tok = extent(d.vocab, d.dim, d.dim, &e_tok), ok_pos = extent(d.max_positions, d.dim, d.dim, &e_pos);
  const bool ok_out = ok_ids && extent(n_ids, d.dim, ld, &e_out);
  const bool overflow = !(ok_ids && ok_tok && ok_pos && ok_out);
  if (!overflow && !(fits(n_ids) && fits(e_tok) && fits(e_pos) && fits(e_out))) return 0;
  const bool small = overflow;
  guarded ids(ok_ids && fits(n_ids) ? n_ids * 4 : 64), tok(small ? 64 : e_tok * 4), pos(small ? 64 : e_pos * 4),
      out(small ? 64 : e_out * 4), bad(sizeof(std::size_t));
  const std::uint64_t seed = in.seed();
  fill(tok, kind, seed);
  fill(pos, kind, seed + 1);
  fill(out, kind, seed + 2);
  std::vector<std::int32_t> id(ids.floats());
  std::size_t first_bad = SIZE_MAX;
  for (std::size_t i = 0; i < id.size(); ++i) {
    switch (in.in(0, 19)) {
      case 17: id[i] = -1; break;
      case 18: id[i] = static_cast<std::int32_t>(d.vocab); break;
      case 19: id[i] = in.raw().ConsumeIntegral<std::int32_t>(); break;
      default: id[i] = static_cast<std::int32_t>(in.in<std::size_t>(0, d.vocab ? std::min<std::size_t>(d.vocab - 1, 1000) : 0));
    }
    if (i < n_ids && first_bad == SIZE_MAX && (id[i] < 0 || static_cast<std::size_t>(id[i]) >= d.vocab)) first_bad = i;
  }
  if (!id.empty()) std::memcpy(ids.data(), id.data(), id.size() * 4);
  const std::int32_t* ip = in.maybe_null(static_cast<const std::int32_t*>(ids.data()));
  std::size_t* bp = in.one_in(3) ? nullptr : static_cast<std::size_t*>(bad.data());
  const bool pos_end_ok = d.max_positions == 0 || (pos_offset <= d.max_positions && T <= d.max_positions - pos_offset);

  qkv_status st;
  std::vector<guarded*> outs;
  std::vector<float> tok0(tok.f(), tok.f() + tok.floats()), pos0(pos.f(), pos.f() + pos.floats());
  bad.snapshot();
  bool pointers, skip_tok = false, skip_pos = false;
  if (!backward) {
    const float* tp = in.maybe_null(tok.f());
    const float* pp = in.maybe_null(pos.f());
    float* op = in.maybe_null(out.f());
    pointers = ip && tp && op && (pp || d.max_positions == 0);
    out.snapshot();
    outs.push_back(&out);
    st = count(qkv_embedding_forward(&d, B, T, pos_offset, ip, tp, pp, op, ld, bp));
  } else {
    const float* gp = in.maybe_null(out.f());
    float* dt = in.maybe_null(tok.f());
    float* dp = in.maybe_null(pos.f());
    pointers = ip && gp;  // dtok and dpos may be NULL: that gradient is skipped
    skip_tok = !dt;
    skip_pos = !dp;
    tok.snapshot();
    pos.snapshot();
    outs.push_back(&tok);
    outs.push_back(&pos);
    st = count(qkv_embedding_backward(&d, B, T, pos_offset, ip, gp, ld, dt, dp, bp));
  }
  for (guarded* g : {&ids, &tok, &pos, &out, &bad}) QKV_FUZZ_CHECK(g->canaries_intact());
  const bool valid = d.vocab && d.dim && !small && pointers && ld >= d.dim && first_bad == SIZE_MAX && pos_end_ok;
  if (st != QKV_OK) {
    for (guarded* g : outs) QKV_FUZZ_CHECK(g->unchanged());
    if (st == QKV_ERR_BAD_TOKEN) {
      QKV_FUZZ_CHECK(first_bad != SIZE_MAX);
      if (bp) QKV_FUZZ_CHECK(*bp == first_bad);
    } else {
      QKV_FUZZ_CHECK(bad.unchanged());
    }
    QKV_FUZZ_CHECK(!valid || n_ids == 0);
    return 0;
  }
  QKV_FUZZ_CHECK(bad.unchanged());
  if (n_ids == 0) {
    for (guarded* g : outs) QKV_FUZZ_CHECK(g->unchanged());
    return 0;
  }
  QKV_FUZZ_CHECK(valid);
  const bool use_pos = d.max_positions != 0;
  if (!backward) {
    std::vector<double> want(n_ids * d.dim);
    qkv_ref_embedding_forward(&d, B, T, pos_offset, id.data(), tok0.data(), pos0.data(), want.data());
    for (std::size_t r = 0; r < n_ids; ++r)
      for (std::size_t j = 0; j < ld && r * ld + j < out.floats(); ++j) {
        if (j >= d.dim) {
          QKV_FUZZ_CHECK(out.same_bits(r * ld + j));
          continue;
        }
        const float ref = static_cast<float>(want[r * d.dim + j]);
        const float got = out.f()[r * ld + j];
        QKV_FUZZ_CHECK(std::memcmp(&got, &ref, 4) == 0 || (std::isnan(got) && std::isnan(ref)));
      }
  } else {
    qkv_ref_embedding_grads want{};  // the fp32 sums in token order, onto the prior gradients
    want.tok_f32 = tok0.data();
    want.pos_f32 = pos0.data();
    qkv_ref_embedding_backward(&d, B, T, pos_offset, id.data(), out.f(), ld, &want);
    if (skip_tok) QKV_FUZZ_CHECK(tok.unchanged());
    for (std::size_t i = 0; !skip_tok && i < tok0.size(); ++i)
      QKV_FUZZ_CHECK(std::memcmp(&tok0[i], tok.f() + i, 4) == 0 || (std::isnan(tok0[i]) && std::isnan(tok.f()[i])));
    if (!use_pos || skip_pos) QKV_FUZZ_CHECK(pos.unchanged());
    for (std::size_t i = 0; use_pos && !skip_pos && i < pos0.size(); ++i)
      QKV_FUZZ_CHECK(std::memcmp(&pos0[i], pos.f() + i, 4) == 0 || (std::isnan(pos0[i]) && std::isnan(pos.f()[i])));
  }
  ++stats().compared;
  return 0;
}
