// SPDX-License-Identifier: MIT
// harness.hpp - what every qkv fuzz target shares.
//
// The property each target checks, per input:
//   - the call returns QKV_OK: every canary is intact, nothing outside the
//     declared output extents changed, and for small problems the result
//     equals a double-precision reference within a stated tolerance;
//   - the call returns an error: every output buffer and every canary is
//     byte-for-byte unchanged (the C boundary writes nothing on error);
//   - never a crash, hang, out-of-bounds access or UB (ASan + UBSan + libFuzzer).
// Input bytes choose shapes, strides, flags, NULL-ness of each pointer,
// buffer and workspace sizes (one byte short included), values, ISA and
// thread count. Shapes that would need more memory than the cap are only
// passed when the harness's own arithmetic says the call must fail first
// (a size overflow); then the buffers are small real ones, so a library that
// wrongly accepted would overflow them and ASan would say so.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "fuzz/c_callers.h"
#include "qkv/qkv.h"

namespace qkv_fuzz {

// Largest buffer a target allocates (bytes) and largest problem it compares
// with the double reference (multiply-adds): keeps one input well under 10 ms.
constexpr std::size_t kMaxBytes = std::size_t{1} << 22;
constexpr double kMaxRefWork = 2e5;
constexpr double kEps = std::numeric_limits<float>::epsilon();
// The library's own element limit (src/capi/checked.hpp): offsets must fit ptrdiff_t in bytes.
constexpr std::size_t kMaxElems = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(float);

[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "qkv-fuzz: property violated at %s:%d: %s\n", file, line, what);
  std::abort();  // libFuzzer reports it as a crash and saves the input
}
#define QKV_FUZZ_CHECK(cond) \
  do {                       \
    if (!(cond)) ::qkv_fuzz::fail(__FILE__, __LINE__, #cond); \
  } while (0)

// ---- figures printed at exit: calls made, accepted, refused by status -----
struct tally {
  const char* target = "?";
  unsigned long long calls = 0, ok = 0, compared = 0, by_status[16] = {};
  ~tally() {
    unsigned long long bad = calls - ok;
    std::fprintf(stderr, "qkv-fuzz: %s: %llu calls, %llu QKV_OK (%llu compared with the reference), %llu refused:",
                 target, calls, ok, compared, bad);
    for (int s = 1; s < 16; ++s)
      if (by_status[s]) std::fprintf(stderr, " %s=%llu", qkv_status_string(static_cast<qkv_status>(-s)), by_status[s]);
    std::fprintf(stderr, "\n");
  }
};
inline tally& stats() {
  static tally t;
  return t;
}
// Records a status; returns it, so `if (count(st = f(...)) == QKV_OK)` reads well.
inline qkv_status count(qkv_status st) {
  tally& t = stats();
  ++t.calls;
  if (st == QKV_OK)
    ++t.ok;
  else if (st < 0 && st > -16)
    ++t.by_status[-st];
  else
    fail(__FILE__, __LINE__, "status outside the enum");
  return st;
}

// ---- a buffer with guard canaries, snapshot and comparison ----------------
class guarded {
 public:
  static constexpr std::size_t kGuard = 64;
  static constexpr unsigned char kCanary = 0xA5;

  // `bytes` of payload (64-byte aligned) between two 64-byte canaries; the
  // allocation is exact, so ASan also sees any access past the canaries.
  explicit guarded(std::size_t bytes = 0) : bytes_(bytes) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes + 2 * kGuard) != 0) std::abort();
    mem_ = static_cast<unsigned char*>(p);
    std::memset(mem_, kCanary, kGuard);
    std::memset(mem_ + kGuard + bytes, kCanary, kGuard);
    std::memset(mem_ + kGuard, 0x5A, bytes);
  }
  ~guarded() { std::free(mem_); }
  guarded(const guarded&) = delete;
  guarded& operator=(const guarded&) = delete;

  std::size_t size() const { return bytes_; }
  void* data() { return mem_ + kGuard; }
  const void* data() const { return mem_ + kGuard; }
  float* f() { return reinterpret_cast<float*>(mem_ + kGuard); }
  const float* f() const { return reinterpret_cast<const float*>(mem_ + kGuard); }
  std::size_t floats() const { return bytes_ / sizeof(float); }

  bool canaries_intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (mem_[i] != kCanary || mem_[kGuard + bytes_ + i] != kCanary) return false;
    return true;
  }
  void snapshot() { saved_.assign(mem_, mem_ + bytes_ + 2 * kGuard); }
  // Everything (canaries included) equal to the last snapshot?
  bool unchanged() const { return saved_.size() == bytes_ + 2 * kGuard && std::memcmp(saved_.data(), mem_, saved_.size()) == 0; }
  // Float i of the payload as it was at the snapshot.
  float saved(std::size_t i) const {
    float v;
    std::memcpy(&v, saved_.data() + kGuard + i * sizeof(float), sizeof v);
    return v;
  }
  bool same_bits(std::size_t i) const {
    return std::memcmp(saved_.data() + kGuard + i * sizeof(float), mem_ + kGuard + i * sizeof(float), sizeof(float)) == 0;
  }
  // Payload bytes [at, at + n) as they were at the snapshot (elements of any size).
  bool same_bytes(std::size_t at, std::size_t n) const {
    return std::memcmp(saved_.data() + kGuard + at, mem_ + kGuard + at, n) == 0;
  }

 private:
  unsigned char* mem_ = nullptr;
  std::size_t bytes_;
  std::vector<unsigned char> saved_;
};

// ---- value generators -----------------------------------------------------
enum class values { unit, wide, huge_logits, tiny, special, count };

class splitmix {
 public:
  explicit splitmix(std::uint64_t s) : s_(s) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }

 private:
  std::uint64_t s_;
};

// Harness bookkeeping (fills, references) is not what coverage should steer.
#define QKV_FUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

// One value of a family: `special` mixes zeros, signed zeros, denormals,
// +-1e4, and (with probability ~1/8) NaN and +-Inf.
QKV_FUZZ_NO_COVERAGE inline float value(splitmix& r, values kind) {
  switch (kind) {
    case values::unit: return r.uniform(-1.f, 1.f);
    case values::wide: return r.uniform(-100.f, 100.f);
    case values::huge_logits: return r.uniform(-1e4f, 1e4f);
    case values::tiny: return r.uniform(-1.f, 1.f) * 1e-39f;  // denormal
    case values::special:
    default: {
      static const float pal[] = {0.f, -0.f, 1.f, -1.f, 1e-45f, -1e-40f, 1e4f, -1e4f, 3e38f, -3e38f, 0.5f, 2.f,
                                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::quiet_NaN(), 1e-20f};
      const std::uint64_t k = r.next();
      return (k & 7) ? r.uniform(-2.f, 2.f) : pal[(k >> 3) % (sizeof pal / sizeof pal[0])];
    }
  }
}
inline bool finite_kind(values v) { return v != values::special; }

// ---- the input reader -----------------------------------------------------
class input {
 public:
  input(const std::uint8_t* data, std::size_t size) : p_(data, size) {}
  FuzzedDataProvider& raw() { return p_; }

  bool flag() { return p_.ConsumeBool(); }
  template <class T>
  T in(T lo, T hi) { return p_.ConsumeIntegralInRange<T>(lo, hi); }
  // true with probability ~1/n. (An exhausted provider returns the low end
  // of every range, so the low end is always the ordinary choice.)
  bool one_in(unsigned n) { return p_.ConsumeIntegralInRange<unsigned>(0, n - 1) == n - 1; }

  // A dimension: mostly small (0..typical), sometimes a value near SIZE_MAX
  // or one that makes products overflow.
  std::size_t dim(std::size_t typical) {
    switch (p_.ConsumeIntegralInRange<int>(0, 15)) {
      case 14: return edge();
      case 15: return 0;
      default: return p_.ConsumeIntegralInRange<std::size_t>(1, typical);
    }
  }
  // A leading dimension / stride for rows of `cols`: usually cols + a small
  // pad, sometimes one short (invalid), 0, or huge.
  std::size_t ld(std::size_t cols) {
    switch (p_.ConsumeIntegralInRange<int>(0, 15)) {
      case 13: return edge();
      case 14: return cols ? cols - 1 : 0;
      case 15: return 0;
      default: return cols + p_.ConsumeIntegralInRange<std::size_t>(0, 5);
    }
  }
  std::size_t edge() {
    static const std::size_t v[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2, SIZE_MAX / 4 + 1, kMaxElems, kMaxElems + 1,
                                    std::size_t{1} << 32, (std::size_t{1} << 31) + 1, std::size_t{1} << 62, 65537};
    return v[p_.ConsumeIntegralInRange<std::size_t>(0, sizeof v / sizeof v[0] - 1)];
  }
  // NULL with probability ~1/12, else p.
  template <class T>
  T* maybe_null(T* p) { return one_in(12) ? nullptr : p; }
  // Workspace bytes offered when `need` are needed: usually exact or more,
  // sometimes exactly one byte short, or nothing.
  std::size_t workspace(std::size_t need) {
    switch (p_.ConsumeIntegralInRange<int>(0, 7)) {
      case 5: return need ? need - 1 : 0;
      case 6: return 0;
      case 7: return need + p_.ConsumeIntegralInRange<std::size_t>(1, 256);
      default: return need;
    }
  }
  values kind() { return static_cast<values>(p_.ConsumeIntegralInRange<int>(0, static_cast<int>(values::count) - 1)); }
  std::uint64_t seed() { return p_.ConsumeIntegral<std::uint64_t>(); }
  float scalar() {
    switch (p_.ConsumeIntegralInRange<int>(0, 9)) {
      case 6: return std::numeric_limits<float>::quiet_NaN();
      case 7: return std::numeric_limits<float>::infinity();
      case 8: return -1.f;
      case 9: return 0.f;
      default: return p_.ConsumeFloatingPointInRange<float>(0.05f, 4.f);
    }
  }

  // Picks a runnable ISA and a thread count (1..3) for this input.
  void runtime() {
    static const std::vector<qkv_isa> isas = [] {
      std::vector<qkv_isa> out;
      for (int i = 0; i < QKV_ISA_COUNT; ++i) {
        int s = 0;
        if (qkv_isa_query(static_cast<qkv_isa>(i), nullptr, &s) == QKV_OK && s) out.push_back(static_cast<qkv_isa>(i));
      }
      return out;
    }();
    if (qkv_set_isa(isas[p_.ConsumeIntegralInRange<std::size_t>(0, isas.size() - 1)]) != QKV_OK) std::abort();
    if (qkv_set_num_threads(p_.ConsumeIntegralInRange<int>(1, 3)) != QKV_OK) std::abort();
  }

 private:
  FuzzedDataProvider p_;
};

// Fills floats [0, n) of `b` with values of `kind` from `seed`.
QKV_FUZZ_NO_COVERAGE inline void fill(guarded& b, values kind, std::uint64_t seed) {
  splitmix r(seed);
  float* p = b.f();
  for (std::size_t i = 0; i < b.floats(); ++i) p[i] = value(r, kind);
}

// Elements spanned by rows x cols with leading dimension ld (0 when empty);
// false on overflow or beyond the library's element limit.
inline bool extent(std::size_t rows, std::size_t cols, std::size_t ld, std::size_t* elems) {
  if (rows == 0 || cols == 0) {
    *elems = 0;
    return true;
  }
  std::size_t e;
  if (__builtin_mul_overflow(rows - 1, ld, &e) || __builtin_add_overflow(e, cols, &e) || e > kMaxElems) return false;
  *elems = e;
  return true;
}

// Bytes for `elems` floats, or false when over the harness cap.
inline bool fits(std::size_t elems) { return elems <= kMaxBytes / sizeof(float); }

}  // namespace qkv_fuzz
