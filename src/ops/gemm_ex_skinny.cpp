// SPDX-License-Identifier: MIT
// ops/gemm_ex_skinny - gemm_ex for M <= 8 rows against bf16, fp16 or int8
// weights (the reasons, the layout and the order of operations:
// gemm_ex_skinny.hpp).
#include "ops/gemm_ex_skinny.hpp"

#include <cstdint>

#include "kernels/convert/convert.hpp"
#include "kernels/vec/vec.hpp"
#include "ops/threads.hpp"
#include "ops/ws_carver.hpp"
#include "util/copy.hpp"
#include "util/half.hpp"
#include "util/size_math.hpp"

#ifdef QKV_HOSTED  // kSkinnyPath
namespace qkv::ops {
namespace {

std::size_t min_sz(std::size_t a, std::size_t b) { return a < b ? a : b; }

// Columns of C per task. A transposed B's columns are dotted with A's M
// rows kKcDotFloats / M elements of K at a time (at least kKcDot): the
// chunk of A's rows, 24 KiB (3/4 of the smallest L1d of the hosted CPUs
// qkv meets, 32 KiB), stays in L1 while the columns stream past, and each
// chunk costs a call and M reductions per column (at 512 elements these
// were ~20 % of a 768-deep product at M 1). A B as stored goes through all
// of K at once (vec's rows_times_lowp).
constexpr std::size_t kNb = 128, kKcDot = 512, kKcDotFloats = 6144;

// Sizes in floats, from the shape and B's transposition only.
struct skinny_plan {
  std::size_t nb, kc;  // columns per task, the K chunk (B transposed; else K)
  std::size_t slot;    // per task: the M x nb sums (a multiple of 16: 64-byte aligned)
};

skinny_plan make_plan(const gemm_ex_args& p) {
  skinny_plan s;
  s.nb = min_sz(kNb, p.N);
  const std::size_t dot = kKcDotFloats / p.M > kKcDot ? kKcDotFloats / p.M : kKcDot;
  s.kc = p.tb ? min_sz(dot, p.K) : p.K;
  s.slot = util::round_up(p.M * s.nb, 16);
  return s;
}

// The widened A (M x K, rows contiguous), then one slot per task slot.
// The same code sizes the workspace and cuts it. False on overflow.
bool carve(const skinny_plan& s, const gemm_ex_args& p, int threads, void* base, float** a, float** slots,
           std::size_t* bytes) {
  ws_carver c(base);
  std::size_t na = 0, ns = 0;
  if (!util::mul_ok(p.M, p.K, &na) || !util::mul_ok(s.slot, static_cast<std::size_t>(threads), &ns)) return false;
  *a = c.take<float>(na);
  *slots = c.take<float>(ns);
  return c.size(bytes);
}

std::size_t dtype_bytes(qkv_dtype t) { return t == QKV_DTYPE_I8 ? 1 : t == QKV_DTYPE_F32 ? 4 : 2; }

// n contiguous elements of a BF16, F16 or I8 operand as fp32 (int8: the
// code, scale 1).
void widen_b(const kern::convert_kernels& cv, qkv_dtype t, const void* src, std::size_t n, float* dst) {
  if (t == QKV_DTYPE_BF16)
    cv.bf16_to_f32(n, static_cast<const std::uint16_t*>(src), dst);
  else if (t == QKV_DTYPE_F16)
    cv.f16_to_f32(n, static_cast<const std::uint16_t*>(src), dst);
  else
    cv.dequantize_s8(n, static_cast<const std::int8_t*>(src), 1.f, dst);
}

// op(A) (F32, BF16 or F16) as M x K fp32 rows at dst: exact.
void widen_a(const kern::convert_kernels& cv, const gemm_ex_args& p, float* dst) {
  const std::size_t eb = dtype_bytes(p.at);
  const unsigned char* a = static_cast<const unsigned char*>(p.A);
  for (std::size_t i = 0; i < p.M; ++i, dst += p.K) {
    if (!p.ta) {
      const void* row = a + i * p.lda * eb;
      if (p.at == QKV_DTYPE_F32)
        util::copy_floats(dst, static_cast<const float*>(row), p.K);
      else
        widen_b(cv, p.at, row, p.K, dst);
      continue;
    }
    for (std::size_t k = 0; k < p.K; ++k) {  // column i of the stored K x M
      const unsigned char* e = a + (k * p.lda + i) * eb;
      if (p.at == QKV_DTYPE_F32) {
        util::copy_bytes(dst + k, e, 4);
      } else {
        std::uint16_t h;
        util::copy_bytes(&h, e, 2);
        dst[k] = p.at == QKV_DTYPE_BF16 ? util::bf16_to_f32(h) : util::f16_to_f32(h);
      }
    }
  }
}

// C columns [j0, j0 + n): the sums of rows 0..M into acc (M x s.nb, the
// task slot's), then the epilogue.
void run_block(const kern::vec_kernels& vec, const gemm_ex_args& p, const skinny_plan& s, const float* aw,
               std::size_t j0, float* acc) {
  const std::size_t n = min_sz(s.nb, p.N - j0), eb = dtype_bytes(p.bt);
  const unsigned char* b = static_cast<const unsigned char*>(p.B);
  if (p.tb) {  // column j of op(B) is row j of B: dot products over K
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k0 = 0; k0 < p.K; k0 += s.kc) {
        const std::size_t kc = min_sz(s.kc, p.K - k0);
        float d[kSkinnyMaxM];
        vec.dot_rows_lowp(p.bt, p.M, kc, aw + k0, p.K, b + ((j0 + j) * p.ldb + k0) * eb, d);
        for (std::size_t i = 0; i < p.M; ++i) {
          float* c = acc + i * s.nb + j;
          *c = k0 ? *c + d[i] : d[i];
        }
      }
  } else {  // B as stored: all M rows against n columns, widened as read
    vec.rows_times_lowp(p.bt, p.M, p.K, n, aw, p.K, b + j0 * eb, p.ldb, acc, s.nb);
  }
  gemm_ex_store_rows(p, acc, s.nb, j0, n);
}

}  // namespace

bool gemm_ex_is_skinny(const gemm_ex_args& p) noexcept {
  return p.M <= kSkinnyMaxM && p.at != QKV_DTYPE_I8 &&
         (p.bt == QKV_DTYPE_BF16 || p.bt == QKV_DTYPE_F16 || p.bt == QKV_DTYPE_I8);
}

bool gemm_ex_skinny_workspace_bytes(const gemm_ex_args& p, int threads, std::size_t* bytes) noexcept {
  float *a = nullptr, *slots = nullptr;
  std::size_t used = 0;
  if (!carve(make_plan(p), p, threads, nullptr, &a, &slots, &used)) return false;
  return util::add_ok(used, ws_carver::kAlign, bytes);  // slack: any workspace pointer works
}

gemm_ex_info describe_gemm_ex_skinny(qkv_isa, const gemm_ex_args& p) noexcept {
  const skinny_plan s = make_plan(p);
  return gemm_ex_info{"skinny", p.tb ? "vec_dot_rows" : "vec_rows_times", p.M, s.kc, s.nb};
}

void gemm_ex_skinny(const exec& x, const gemm_ex_args& p, void* ws, std::size_t ws_bytes) {
  const skinny_plan s = make_plan(p);
  std::size_t bytes = ws_bytes, need1 = 0;
  char* base = align_workspace(ws, &bytes);
  float *aw = nullptr, *slots = nullptr;
  carve(s, p, 1, nullptr, &aw, &slots, &need1);  // the caller checked that the workspace holds this
  const std::size_t tasks = (p.N + s.nb - 1) / s.nb;
  int nth = threads_for(x, streamed_flops(p.M, p.N, p.K), tasks);
  const std::size_t fit = (bytes - need1) / (s.slot * sizeof(float)) + 1;  // each further slot
  if (static_cast<std::size_t>(nth) > fit) nth = static_cast<int>(fit);
  carve(s, p, nth, base, &aw, &slots, &need1);
  const kern::convert_kernels& cv = kern::convert_for(x.isa);
  const kern::vec_kernels& vec = kern::vec_for(x.isa);
  widen_a(cv, p, aw);
  parallel_for_tasks(x, nth, tasks, [&](std::size_t t, int slot) {
    run_block(vec, p, s, aw, t * s.nb, slots + static_cast<std::size_t>(slot) * s.slot);
  });
}

}  // namespace qkv::ops
#endif  // QKV_HOSTED
