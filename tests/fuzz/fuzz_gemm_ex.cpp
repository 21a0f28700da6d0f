// SPDX-License-Identifier: MIT
// Fuzz target: gemm_ex.h - qkv_gemm_ex_workspace_size, qkv_gemm_ex.
// qkv-fuzz-requires: src/ops/gemm_ex.hpp
//
// The descriptor's enums are written as a C caller may (any int), types
// mostly valid, scales sometimes given where they are not allowed. On any
// error C is unchanged; on success the M x N block is compared with a double
// reference over the operands' values as given (bf16/fp16 widened, int8
// codes times their scales): each entry is a K-term dot product,
// |C - ref| <= eps (K + 4) (|alpha| sum_k |a||b| + |beta c|) + (K + 1) 2^-126
// (bf16 dot products flush subnormals) + 2^-8 |ref| for a bf16 C; an I32 C
// is exact (modulo 2^32). Nothing outside the block changes.
#include <algorithm>
#include <cmath>

#include "fuzz/harness.hpp"

namespace {

using namespace qkv_fuzz;

std::size_t elem_bytes(int t) { return t == QKV_DTYPE_I8 ? 1 : t == QKV_DTYPE_F32 || t == QKV_DTYPE_I32 ? 4 : 2; }
bool operand(int t) { return t == QKV_DTYPE_F32 || t == QKV_DTYPE_BF16 || t == QKV_DTYPE_F16 || t == QKV_DTYPE_I8; }

// Mostly a valid type for the role, sometimes any int.
int pick_type(input& in, bool for_c) {
  if (in.one_in(12)) return in.raw().ConsumeIntegralInRange<int>(-2, QKV_DTYPE_COUNT + 2);
  static const int ops[] = {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_F16, QKV_DTYPE_I8};
  static const int cs[] = {QKV_DTYPE_F32, QKV_DTYPE_BF16, QKV_DTYPE_I32};
  return for_c ? cs[in.in(0, 2)] : ops[in.in(0, 3)];
}

template <class E>
void set_enum(E* field, int v) {
  static_assert(sizeof(E) == sizeof(int), "qkv's enums are int-sized on the fuzzing host");
  std::memcpy(field, &v, sizeof v);
}

// Fills `b` with elements of type t (values of `kind`; int8: any code).
QKV_FUZZ_NO_COVERAGE void fill_typed(guarded& b, int t, values kind, std::uint64_t seed) {
  splitmix r(seed);
  const std::size_t n = b.size() / elem_bytes(t);
  auto* bytes = static_cast<unsigned char*>(b.data());
  if (t == QKV_DTYPE_I8 || t == QKV_DTYPE_I32) {
    for (std::size_t i = 0; i < b.size(); ++i) bytes[i] = static_cast<unsigned char>(r.next());
    return;
  }
  if (t == QKV_DTYPE_F32) {
    fill(b, kind, seed);
    return;
  }
  std::vector<float> f(n);
  for (float& v : f) v = value(r, kind);
  if (n) qkv_convert(n, QKV_DTYPE_F32, f.data(), static_cast<qkv_dtype>(t), b.data());
}

// Element i of a typed buffer as a double (int8: code * scale, rounded to
// float once as the header says).
double element(const void* p, int t, std::size_t i, float scale) {
  switch (t) {
    case QKV_DTYPE_F32: return static_cast<const float*>(p)[i];
    case QKV_DTYPE_I8: return double(float(static_cast<const std::int8_t*>(p)[i]) * scale);
    case QKV_DTYPE_I32: return double(static_cast<const std::int32_t*>(p)[i]);
    default: {
      float f;
      qkv_convert(1, static_cast<qkv_dtype>(t), static_cast<const std::uint16_t*>(p) + i, QKV_DTYPE_F32, &f);
      return f;
    }
  }
}

// Bytes spanned by rows x cols elements of `eb` bytes, leading dimension ld
// (0 when empty); false past size_t or PTRDIFF_MAX.
bool extent_bytes(std::size_t rows, std::size_t cols, std::size_t ld, std::size_t eb, std::size_t* bytes) {
  *bytes = 0;
  if (rows == 0 || cols == 0) return true;
  std::size_t e;
  if (__builtin_mul_overflow(rows - 1, ld, &e) || __builtin_add_overflow(e, cols, &e) ||
      __builtin_mul_overflow(e, eb, &e) || e > static_cast<std::size_t>(PTRDIFF_MAX))
    return false;
  *bytes = e;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stats().target = "gemm_ex";
  input in(data, size);
  in.runtime();
  qkv_gemm_ex_desc d;
  std::memset(&d, 0, sizeof d);
  const int ta = in.one_in(10) ? in.raw().ConsumeIntegral<int>() : in.in(0, 1);
  const int tb = in.one_in(10) ? in.raw().ConsumeIntegral<int>() : in.in(0, 1);
  const int at = pick_type(in, false), bt = pick_type(in, false), ct = pick_type(in, true);
  set_enum(&d.ta, ta);
  set_enum(&d.tb, tb);
  set_enum(&d.a_type, at);
  set_enum(&d.b_type, bt);
  set_enum(&d.c_type, ct);
  d.M = in.dim(24);
  d.N = in.dim(24);
  d.K = in.one_in(40) ? 131073 : in.dim(40);
  const bool tra = ta == 1, trb = tb == 1;
  const std::size_t ar = tra ? d.K : d.M, ac = tra ? d.M : d.K, br = trb ? d.N : d.K, bc = trb ? d.K : d.N;
  d.lda = in.ld(ac);
  d.ldb = in.ld(bc);
  d.ldc = in.ld(d.N);
  d.alpha = ct == QKV_DTYPE_I32 && !in.one_in(8) ? 1.f : (in.flag() ? 1.f : in.scalar());
  switch (in.in(0, 3)) {
    case 1: d.beta = 1.f; break;
    case 2: d.beta = -0.5f; break;
    case 3: d.beta = in.scalar(); break;
    default: d.beta = 0.f;
  }
  if (in.one_in(8)) d.alpha = 0.f;
  const values kind = in.kind();
  // Scales: usually for int8 operands only; sometimes where they are refused.
  // (Only for shapes a buffer could hold: edge dims such as SIZE_MAX get none.)
  constexpr std::size_t kMaxScales = std::size_t{1} << 20;
  std::vector<float> sa(std::min(d.M, kMaxScales) + 1), sb(std::min(d.N, kMaxScales) + 1);
  splitmix sr(in.seed());
  for (float& s : sa) s = sr.uniform(0.001f, 0.1f);
  for (float& s : sb) s = sr.uniform(0.001f, 0.1f);
  if (d.M < kMaxScales && ((at == QKV_DTYPE_I8 && ct != QKV_DTYPE_I32 && in.flag()) || in.one_in(16)))
    d.a_scales = sa.data();
  if (d.N < kMaxScales && ((bt == QKV_DTYPE_I8 && ct != QKV_DTYPE_I32 && in.flag()) || in.one_in(16)))
    d.b_scales = sb.data();

  const int threads = in.in(1, 3);
  std::size_t need = 0;
  const qkv_status qst = count(qkv_gemm_ex_workspace_size(&d, threads, &need));
  const bool types_ok = operand(at) && operand(bt) && (operand(ct) || ct == QKV_DTYPE_I32);
  const std::size_t ab = types_ok ? elem_bytes(at) : 4, bb = types_ok ? elem_bytes(bt) : 4,
                    cb = types_ok ? elem_bytes(ct) : 4;
  // Bytes each stored matrix spans; overflow: beyond size_t or ptrdiff_t (the header's rule).
  std::size_t xa = 0, xb = 0, xc = 0;
  const bool overflow = !(extent_bytes(ar, ac, d.lda, ab, &xa) && extent_bytes(br, bc, d.ldb, bb, &xb) &&
                          extent_bytes(d.M, d.N, d.ldc, cb, &xc));
  if (!overflow && (xa > kMaxBytes || xb > kMaxBytes || xc > kMaxBytes)) return 0;
  if (!overflow && double(d.M) * double(d.N) * double(d.K) > 4e6) return 0;
  if (qst == QKV_OK && need > kMaxBytes) return 0;
  guarded a(overflow ? 64 : xa), b(overflow ? 64 : xb), c(overflow ? 64 : xc);
  const std::uint64_t seed = in.seed();
  fill_typed(a, types_ok ? at : QKV_DTYPE_F32, kind, seed);
  fill_typed(b, types_ok ? bt : QKV_DTYPE_F32, kind, seed + 1);
  fill_typed(c, types_ok ? ct : QKV_DTYPE_F32, kind, seed + 2);
  if (d.beta == 0.f) std::memset(c.data(), 0xFF, c.size());  // NaN in every float type: must not be read
  const std::size_t ws_bytes = in.workspace(qst == QKV_OK ? need : 0);
  if (ws_bytes > kMaxBytes) return 0;
  guarded ws(ws_bytes);
  c.snapshot();
  std::vector<unsigned char> before(c.size());
  if (c.size()) std::memcpy(before.data(), c.data(), c.size());
  const qkv_status st = count(qkv_gemm_ex(in.one_in(30) ? nullptr : &d, in.maybe_null(a.data()),
                                          in.maybe_null(b.data()), in.maybe_null(c.data()),
                                          in.one_in(12) ? nullptr : ws.data(), ws_bytes));
  QKV_FUZZ_CHECK(a.canaries_intact() && b.canaries_intact() && c.canaries_intact() && ws.canaries_intact());
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(c.unchanged());
    return 0;
  }
  // Accepted: the size query agreed, and the arguments were valid.
  QKV_FUZZ_CHECK(qst == QKV_OK && !overflow && types_ok && ws_bytes >= need);
  QKV_FUZZ_CHECK(ta >= 0 && ta <= 1 && tb >= 0 && tb <= 1 && d.ldc >= d.N);
  if (d.M == 0 || d.N == 0) {
    QKV_FUZZ_CHECK(c.unchanged());
    return 0;
  }
  // Outside the M x N block (the row gaps) nothing changed.
  for (std::size_t i = 0; i + 1 < d.M; ++i)
    QKV_FUZZ_CHECK(std::memcmp(before.data() + (i * d.ldc + d.N) * cb,
                               static_cast<const unsigned char*>(c.data()) + (i * d.ldc + d.N) * cb,
                               (d.ldc - d.N) * cb) == 0);
  if (!finite_kind(kind) || !std::isfinite(d.alpha) || !std::isfinite(d.beta)) return 0;
  if (double(d.M) * double(d.N) * double(d.K) > kMaxRefWork) return 0;
  const bool reads_ab = d.alpha != 0.f && d.K != 0;
  const double eps = kEps, tiny = std::ldexp(1.0, -126);
  for (std::size_t i = 0; i < d.M; ++i)
    for (std::size_t j = 0; j < d.N; ++j) {
      const float si = d.a_scales ? d.a_scales[i] : 1.f, sj = d.b_scales ? d.b_scales[j] : 1.f;
      double acc = 0, mag = 0;
      long long iacc = 0;
      if (reads_ab)
        for (std::size_t k = 0; k < d.K; ++k) {
          const std::size_t ai = tra ? k * d.lda + i : i * d.lda + k, bi = trb ? j * d.ldb + k : k * d.ldb + j;
          if (ct == QKV_DTYPE_I32) {
            iacc += static_cast<long long>(static_cast<const std::int8_t*>(a.data())[ai]) *
                    static_cast<const std::int8_t*>(b.data())[bi];
            continue;
          }
          // int8 x float: the code times its scale; int8 x int8: scaled after the sum.
          const bool both_s8 = at == QKV_DTYPE_I8 && bt == QKV_DTYPE_I8;
          const double x = element(a.data(), at, ai, both_s8 ? 1.f : si);
          const double y = element(b.data(), bt, bi, both_s8 ? 1.f : sj);
          acc += x * y;
          mag += std::fabs(x * y);
        }
      const std::size_t ci = i * d.ldc + j;
      if (ct == QKV_DTYPE_I32) {
        std::int32_t old;
        std::memcpy(&old, static_cast<const unsigned char*>(c.data()) + ci * 4, 4);
        std::int32_t start = 0;
        if (d.beta == 1.f) std::memcpy(&start, before.data() + ci * 4, 4);
        const auto want = static_cast<std::uint32_t>(static_cast<std::uint64_t>(iacc) + static_cast<std::uint32_t>(start));
        QKV_FUZZ_CHECK(static_cast<std::uint32_t>(old) == want);
        continue;
      }
      if (at == QKV_DTYPE_I8 && bt == QKV_DTYPE_I8) {  // exact int32 sum, then scaled
        acc *= double(si) * double(sj);
        mag *= double(si) * double(sj);
      }
      double cprev = 0;
      if (d.beta != 0.f) {
        cprev = element(before.data(), ct, ci, 1.f);
      }
      const double ref = double(d.alpha) * acc + double(d.beta) * cprev;
      double tol = eps * double(d.K + 4) * (std::fabs(double(d.alpha)) * mag + std::fabs(double(d.beta) * cprev)) +
                   double(d.K + 1) * tiny * std::fabs(double(d.alpha)) + 1e-37;
      if (ct == QKV_DTYPE_BF16) tol += std::ldexp(std::fabs(ref), -8) + tiny;
      const double got = element(c.data(), ct, ci, 1.f);
      QKV_FUZZ_CHECK(std::fabs(got - ref) <= tol);
    }
  ++stats().compared;
  return 0;
}
