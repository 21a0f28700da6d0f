// SPDX-License-Identifier: MIT
// Fuzz target: layer_int8.h - param_layout, the workspace queries,
// calibrate and forward, and the affine (de)quantization.
// qkv-fuzz-requires: src/ops/mha_int8.hpp tests/ref/ref_int8.h
//
// The description is drawn as fuzz_layer draws it (RoPE and soft-capping
// included: refused as QKV_ERR_UNSUPPORTED). Calibration runs on drawn fp32
// parameters and inputs (special values included: QKV_ERR_NOT_FINITE with
// the buffer untouched). The forward runs either on the calibrated buffer or
// on the same buffer with drawn bytes overwritten (any header field,
// multiplier or code): a refusal must be QKV_ERR_BAD_FORMAT with y
// untouched, an acceptance must equal the exact integer oracle
// (tests/ref/ref_int8.c) bit for bit. Workspaces are guarded by canaries.
#include <vector>

#include "fuzz/harness.hpp"
#include "ref/ref_int8.h"

namespace {
using namespace qkv_fuzz;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "layer_int8";
  input in(data, size);
  in.runtime();
  qkv_mha_desc d{};
  d.d_in = in.dim(12), d.num_heads = in.dim(4);
  d.d_out = d.num_heads && in.flag() ? d.num_heads * in.in<std::size_t>(1, 4) : in.dim(16);
  d.causal = in.flag(), d.qkv_bias = in.flag(), d.out_proj = in.flag();
  if (in.flag() && d.num_heads && d.num_heads < 64) {
    std::size_t g = in.in<std::size_t>(1, d.num_heads);
    while (d.num_heads % g != 0) --g;
    d.num_kv_heads = g;
  }
  if (in.flag()) d.window = in.one_in(8) ? in.edge() : in.in<std::size_t>(1, 10);
  if (in.one_in(8)) d.rope = 1;
  if (in.one_in(8)) d.softcap = 30.0f;
  const std::size_t B = in.dim(3), T = in.dim(12);
  if (double(B) * double(T) * double(T + 1) * double(d.d_out + d.d_in + 1) > 2e7) return 0;

  qkv_mha_int8_layout l;
  const qkv_status lst = count(qkv_mha_int8_param_layout(&d, &l));
  std::size_t cal_ws = 0, fwd_ws = 0;
  const qkv_status cst = count(qkv_mha_int8_calibrate_workspace_size(&d, B, T, 1, &cal_ws));
  const qkv_status fst = count(qkv_mha_int8_forward_workspace_size(&d, B, T, 1, &fwd_ws));
  if (d.rope || d.softcap != 0.0f) QKV_FUZZ_CHECK(lst != QKV_OK);  // UNSUPPORTED, or an earlier status
  QKV_FUZZ_CHECK(cst == fst);
  if (lst != QKV_OK || cst != QKV_OK || !fits(l.bytes / 4) || !fits(cal_ws / 4) || !fits(fwd_ws / 4)) return 0;
  std::size_t np = 0;
  QKV_FUZZ_CHECK(count(qkv_mha_param_count(&d, &np)) == QKV_OK);
  if (!fits(np) || !fits(B * T * (d.d_in + d.d_out))) return 0;

  // Calibration.
  guarded params(np * 4), x(B * T * d.d_in * 4), q(l.bytes), ws(in.workspace(cal_ws));
  QKV_FUZZ_CHECK(count(qkv_mha_init(&d, params.f(), in.seed())) == QKV_OK);
  const values kind = in.one_in(6) ? values::special : (in.flag() ? values::unit : values::wide);
  fill(x, kind, in.seed());
  q.snapshot();
  const qkv_status st = count(qkv_mha_int8_calibrate(&d, params.f(), B, T, x.f(), q.data(), l.bytes, ws.data(),
                                                     ws.size()));
  QKV_FUZZ_CHECK(ws.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(q.unchanged());
    QKV_FUZZ_CHECK(st == QKV_ERR_WORKSPACE_TOO_SMALL || st == QKV_ERR_NULL_POINTER || st == QKV_ERR_NOT_FINITE ||
                   st == QKV_ERR_UNSUPPORTED);
    if (st == QKV_ERR_NOT_FINITE) QKV_FUZZ_CHECK(!finite_kind(kind));
    return 0;
  }
  const auto* h = static_cast<const qkv_mha_int8_header*>(q.data());
  std::vector<std::int8_t> xq(B * T * d.d_in), want(B * T * d.d_out);
  QKV_FUZZ_CHECK(count(qkv_quantize_affine_s8(xq.size(), x.f(), h->x, xq.data())) == QKV_OK);

  // Corrupt some bytes now and then (the header mostly).
  const bool corrupt = in.one_in(3);
  if (corrupt) {
    auto* b = static_cast<unsigned char*>(q.data());
    const int n = in.in(1, 4);
    for (int i = 0; i < n; ++i)
      b[in.flag() ? in.in<std::size_t>(0, sizeof(qkv_mha_int8_header) - 1) : in.in<std::size_t>(0, l.bytes - 1)] =
          in.in<unsigned char>(0, 255);
  }
  guarded y(B * T * d.d_out), fws(in.workspace(fwd_ws));
  y.snapshot();
  const qkv_status fs = count(qkv_mha_int8_forward(&d, q.data(), l.bytes, B, T, xq.data(),
                                                   static_cast<std::int8_t*>(y.data()), fws.data(), fws.size()));
  QKV_FUZZ_CHECK(fws.canaries_intact() && y.canaries_intact());
  if (fs != QKV_OK) {
    QKV_FUZZ_CHECK(y.unchanged());
    QKV_FUZZ_CHECK(fs == QKV_ERR_WORKSPACE_TOO_SMALL || fs == QKV_ERR_NULL_POINTER || (corrupt && fs == QKV_ERR_BAD_FORMAT));
    return 0;
  }
  std::vector<std::int32_t> scratch(qkv_ref_mha_int8_scratch(&d, B, T));
  qkv_ref_mha_int8_forward(&d, q.data(), B, T, xq.data(), want.data(), scratch.data());
  QKV_FUZZ_CHECK(std::memcmp(want.data(), y.data(), want.size()) == 0);
  ++stats().compared;
  return 0;
}
