// SPDX-License-Identifier: MIT
// The AMX attention products (kernels/attn_bf16/attn_bf16_amx.hpp) on their
// own, where this CPU and OS allow AMX: each against a double reference of
// the same bf16 inputs, at key counts around the 16-row tile and the 32-key
// step (1 .. 129) and head sizes 32 .. 128. Rows of K and columns of V^T and
// rows of P past kb hold NaN: a kernel that read them would show it. Outputs
// past what the contract writes keep their canaries. The packers and the
// output rounding are exact, so they are compared bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "dispatch/amx.hpp"
#include "kernels/attn_bf16/attn_bf16_amx.hpp"
#include "kernels/gemm_lowp/gemm_lowp_amx.hpp"
#include "support/random.hpp"
#include "util/half.hpp"

#ifdef QKV_HAVE_AMX
namespace {

using qkv::kern::attn_bf16_amx;
using qkv::kern::kAmxAttnBr;
using u16 = std::uint16_t;
using u32 = std::uint32_t;

constexpr std::size_t kBr = kAmxAttnBr;
constexpr u16 kNan16 = 0x7fc1;
constexpr float kCanary = -12345.f;

std::vector<u16> bf16_vector(std::size_t n, std::uint64_t seed) {
  const std::vector<float> f = qkv_test::random_vector(n, seed);
  std::vector<u16> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = qkv::util::f32_to_bf16(f[i]);
  return h;
}
double val(u16 h) { return qkv::util::bf16_to_f32(h); }

// fp32 sums of n pair products (tdpbf16ps: n/2 + 1 roundings, each at most
// 2^-24 of the running magnitude <= sum |products|), plus the flush of
// products and sums below 2^-126.
double bound(std::size_t n, double mass) { return (double(n) / 2 + 2) * std::ldexp(mass, -24) + 1e-36 * double(n); }

struct tiles {
  tiles() { qkv::kern::amx_tiles_begin(); }
  ~tiles() { qkv::kern::amx_tiles_end(); }
};

// Whether this CPU and OS let the tiles run (a warning where not).
bool amx_here() {
  if (qkv::dispatch::amx().bf16) return true;
  WARN("AMX-BF16 not usable here: the AMX attention tiles are not run");
  return false;
}

const std::size_t kKeys[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 64, 65, 100, 128, 129};

}  // namespace

TEST_CASE("AMX attention scores: S^T = scale K Q^T, nothing past kb read or written", "[amx][sdpa]") {
  if (!amx_here()) return;
  tiles t;
  for (std::size_t d : {32, 64, 128})
    for (std::size_t kb : kKeys) {
      CAPTURE(d, kb);
      const std::size_t ldk = d + 16, rows = (kb + 31) / 32 * 32;
      std::vector<u16> k = bf16_vector(rows * ldk, 10 * d + kb);
      for (std::size_t j = kb; j < rows; ++j)
        for (std::size_t f = 0; f < ldk; ++f) k[j * ldk + f] = kNan16;
      std::vector<u16> q = bf16_vector(kBr * d, 7 + d);
      std::vector<u32> qp(d / 2 * kBr);
      for (std::size_t i = 0; i < d / 2; ++i)
        for (std::size_t r = 0; r < kBr; ++r) qp[i * kBr + r] = q[r * d + 2 * i] | u32{q[r * d + 2 * i + 1]} << 16;
      std::vector<float> st((rows + 1) * kBr, kCanary);
      const float scale = 0.125f;
      attn_bf16_amx.scores(kb, d, qp.data(), k.data(), ldk, scale, st.data());
      for (std::size_t j = 0; j < kb; ++j)
        for (std::size_t r = 0; r < kBr; ++r) {
          double s = 0, mass = 0;
          for (std::size_t f = 0; f < d; ++f) {
            s += val(k[j * ldk + f]) * val(q[r * d + f]);
            mass += std::fabs(val(k[j * ldk + f]) * val(q[r * d + f]));
          }
          // the fp32 sum, then one fp32 multiply by the scale
          REQUIRE(std::fabs(st[j * kBr + r] - scale * s) <= scale * (bound(d, mass) + std::ldexp(std::fabs(s), -24)));
        }
      for (std::size_t e = kb * kBr; e < st.size(); ++e) REQUIRE(st[e] == kCanary);
    }
}

TEST_CASE("AMX attention: V^T, Q pairs and the bf16 output are exact rearrangements", "[amx][sdpa]") {
  if (!amx_here()) return;
  for (std::size_t dv : {16, 32, 48, 96})
    for (std::size_t kb : kKeys) {
      CAPTURE(dv, kb);
      const std::size_t ldv = dv + 8, ldvt = (kb + 31) / 32 * 32 + 32;
      const std::vector<u16> v = bf16_vector(kb * ldv, 3 * dv + kb);
      std::vector<u16> vt(dv * ldvt, 0xABCD);
      attn_bf16_amx.transpose_v(kb, dv, v.data(), ldv, vt.data(), ldvt);
      for (std::size_t f = 0; f < dv; ++f)
        for (std::size_t j = 0; j < ldvt; ++j) {
          const u16 want = j < kb ? v[j * ldv + f] : j < (kb + 31) / 32 * 32 ? u16{0} : u16{0xABCD};
          REQUIRE(vt[f * ldvt + j] == want);
        }
    }
  for (std::size_t d : {32, 64, 128})
    for (std::size_t rows : {1, 15, 16, 17, 40, 63, 64}) {
      CAPTURE(d, rows);
      const std::size_t ldq = d + 32;
      const std::vector<u16> q = bf16_vector(rows * ldq, d + rows);
      std::vector<u32> qp(d / 2 * kBr, 0xDEADBEEF);
      attn_bf16_amx.pack_q(rows, d, q.data(), ldq, qp.data());
      for (std::size_t i = 0; i < d / 2; ++i)
        for (std::size_t r = 0; r < kBr; ++r)
          REQUIRE(qp[i * kBr + r] == (r < rows ? q[r * ldq + 2 * i] | u32{q[r * ldq + 2 * i + 1]} << 16 : 0u));
    }
  // O = bf16(ot^T * inv): util::f32_to_bf16 of the fp32 product, specials included.
  const float specials[] = {0.f, -0.f, 1e-40f, -3e-39f, INFINITY, -INFINITY, NAN, 65504.f, 1.00390625f, -2.5f};
  for (std::size_t dv : {16, 64})
    for (std::size_t rows : {1, 16, 33, 64}) {
      CAPTURE(dv, rows);
      std::vector<float> ot = qkv_test::random_vector(dv * kBr, dv + rows, -100.f, 100.f);
      for (std::size_t e = 0; e < ot.size(); e += 7) ot[e] = specials[e / 7 % 10];
      std::vector<float> inv = qkv_test::random_vector(kBr, rows, 0.f, 2.f);
      inv[0] = 1.f;
      const std::size_t ldo = dv + 8;
      std::vector<u16> o(kBr * ldo, 0x1234);
      attn_bf16_amx.store_o(rows, dv, ot.data(), inv.data(), o.data(), ldo);
      for (std::size_t r = 0; r < kBr; ++r)
        for (std::size_t f = 0; f < ldo; ++f) {
          const u16 want = r < rows && f < dv ? qkv::util::f32_to_bf16(ot[f * kBr + r] * inv[r]) : u16{0x1234};
          REQUIRE(o[r * ldo + f] == want);
        }
    }
}

TEST_CASE("AMX attention accumulate: O^T = alpha O^T + V^T P^T over kb keys", "[amx][sdpa]") {
  if (!amx_here()) return;
  tiles t;
  for (std::size_t dv : {32, 64, 128})
    for (std::size_t kb : kKeys) {
      CAPTURE(dv, kb);
      const std::size_t steps = (kb + 31) / 32, ldvt = steps * 32 + 16, pairs = (kb + 1) / 2;
      std::vector<u16> vt = bf16_vector(dv * ldvt, 5 * dv + kb);
      for (std::size_t f = 0; f < dv; ++f)
        for (std::size_t j = kb; j < ldvt; ++j) vt[f * ldvt + j] = kNan16;  // never read
      std::vector<u16> p = bf16_vector(steps * 32 * kBr, 9 + kb);  // P[j][r]
      std::vector<u32> pp(steps * 16 * kBr, u32{kNan16} << 16 | kNan16);  // rows past `pairs`: never read
      for (std::size_t i = 0; i < pairs; ++i)
        for (std::size_t r = 0; r < kBr; ++r) {
          const u16 hi = 2 * i + 1 < kb ? p[(2 * i + 1) * kBr + r] : u16{0};
          pp[i * kBr + r] = p[2 * i * kBr + r] | u32{hi} << 16;
        }
      const std::vector<float> alpha = qkv_test::random_vector(kBr, kb, 0.f, 1.f);
      const std::vector<float> ot0 = qkv_test::random_vector(dv * kBr, dv, -4.f, 4.f);
      std::vector<float> ot = ot0;
      attn_bf16_amx.accumulate(kb, dv, pp.data(), vt.data(), ldvt, alpha.data(), ot.data());
      for (std::size_t f = 0; f < dv; ++f)
        for (std::size_t r = 0; r < kBr; ++r) {
          double s = 0, mass = 0;
          for (std::size_t j = 0; j < kb; ++j) {
            const double x = val(vt[f * ldvt + j]) * val(p[j * kBr + r]);
            s += x;
            mass += std::fabs(x);
          }
          // alpha * ot + the fp32 sum, one fused multiply-add
          const double want = double(alpha[r]) * ot0[f * kBr + r] + s;
          const double tol = bound(kb, mass) + std::ldexp(std::fabs(want) + std::fabs(s), -24);
          REQUIRE(std::fabs(ot[f * kBr + r] - want) <= tol);
        }
    }
}
#endif

#ifdef QKV_HAVE_AMX
TEST_CASE("AMX gemm_pairs: the attn_bf16 contract, and the forward's scores bit for bit", "[amx][sdpa]") {
  if (!amx_here()) return;
  const qkv::kern::attn_bf16_kernels* set = qkv::kern::attn_bf16_amx_set();
  REQUIRE(set != nullptr);
  tiles t;
  // C = acc ? C + S : alpha S over k2 pairs; A by rows (ac 1) or by columns (ar 1).
  for (std::size_t m : {1, 15, 33, 64})
    for (std::size_t n : {16, 48, 64})
      for (std::size_t k2 : {1, 16, 17, 40})
        for (int trans = 0; trans < 2; ++trans)
          for (int acc = 0; acc < 2; ++acc) {
            CAPTURE(m, n, k2, trans, acc);
            const std::size_t ar = trans ? 1 : k2 + 3, ac = trans ? m + 5 : 1, ldb = n + 16, ldc = n + 8;
            const std::vector<u16> ah = bf16_vector(2 * (trans ? k2 * ac : m * ar), m + 100 * k2);
            const std::vector<u16> bh = bf16_vector(2 * k2 * ldb, n + k2);
            auto pair = [](const std::vector<u16>& h, std::size_t i) { return h[2 * i] | u32{h[2 * i + 1]} << 16; };
            std::vector<u32> a(ah.size() / 2), b(bh.size() / 2);
            for (std::size_t i = 0; i < a.size(); ++i) a[i] = pair(ah, i);
            for (std::size_t i = 0; i < b.size(); ++i) b[i] = pair(bh, i);
            const std::vector<float> c0 = qkv_test::random_vector(m * ldc, 77, -2.f, 2.f);
            std::vector<float> c = c0;
            const float alpha = acc ? 1.f : 0.375f;
            set->gemm_pairs(m, n, k2, a.data(), ar, ac, b.data(), ldb, alpha, c.data(), ldc, acc);
            for (std::size_t r = 0; r < m; ++r)
              for (std::size_t j = 0; j < ldc; ++j) {
                if (j >= n) {
                  REQUIRE(c[r * ldc + j] == c0[r * ldc + j]);
                  continue;
                }
                double sum = 0, mass = 0;
                for (std::size_t p = 0; p < k2; ++p) {
                  const u32 x = a[r * ar + p * ac], y = b[p * ldb + j];
                  const double t2 = val(u16(x)) * val(u16(y)) + val(u16(x >> 16)) * val(u16(y >> 16));
                  sum += t2;
                  mass += std::fabs(val(u16(x)) * val(u16(y))) + std::fabs(val(u16(x >> 16)) * val(u16(y >> 16)));
                }
                const double want = acc ? c0[r * ldc + j] + sum : alpha * sum;
                REQUIRE(std::fabs(c[r * ldc + j] - want) <=
                        bound(2 * k2, mass) * (acc ? 1 : alpha) + std::ldexp(std::fabs(want), -24));
              }
          }
  // S = scale Q K^T through gemm_pairs (the backward's bf16 mode) equals the
  // forward's AMX scores element for element.
  for (std::size_t d : {32, 64, 128})
    for (std::size_t kb : {1, 17, 64}) {
      CAPTURE(d, kb);
      const std::size_t rows = 40, hd = d / 2, ld = 64;
      const std::vector<u16> q = bf16_vector(rows * d, d), k = bf16_vector(kb * d, d + kb);
      std::vector<u32> qp(hd * kBr, 0), qr(rows * hd), kc(hd * ld, 0);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < hd; ++i)
          qp[i * kBr + r] = qr[r * hd + i] = q[r * d + 2 * i] | u32{q[r * d + 2 * i + 1]} << 16;
      for (std::size_t j = 0; j < kb; ++j)
        for (std::size_t i = 0; i < hd; ++i) kc[i * ld + j] = k[j * d + 2 * i] | u32{k[j * d + 2 * i + 1]} << 16;
      const float scale = 0.1f;
      std::vector<float> st(64 * kBr), s(rows * ld);
      attn_bf16_amx.scores(kb, d, qp.data(), k.data(), d, scale, st.data());
      set->gemm_pairs(rows, (kb + 15) / 16 * 16, hd, qr.data(), hd, 1, kc.data(), ld, scale, s.data(), ld, 0);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < kb; ++j) REQUIRE(s[r * ld + j] == st[j * kBr + r]);
    }
}
#endif
