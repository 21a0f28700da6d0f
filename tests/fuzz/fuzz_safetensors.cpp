// SPDX-License-Identifier: MIT
// Fuzz target: safetensors.h - qkv_safetensors_read_size, _read, _metadata,
// _write, _copy_f32 and qkv_mha_param_load over arbitrary bytes.
// qkv-fuzz-requires: src/io/safetensors.hpp
//
// The input is the file (in a heap block of exactly its size, so ASan sees a
// read one byte past it), followed by two option bytes read from its end:
// the capacity and workspace offered (exact, one short), the metadata key
// looked up and its buffer, NULL-ness of the diagnostic. Properties:
//  - a refused file: a status of the enum, every output and canary unchanged
//    (the diagnostic, when given, says something); the metadata lookup
//    refuses it with the same status as the size query (same header rules);
//  - an accepted file: views sorted by offset that tile the data section
//    inside the file exactly, names unique and NUL-terminated, bytes =
//    product(shape) x dtype size; written back and read again, the same
//    views (names, dtypes, shapes, bytes); F32 views copy bit for bit; a
//    layer loaded from the views either matches them or is refused untouched.
#include "fuzz/harness.hpp"

namespace {

using qkv_fuzz::guarded;

bool same_view(const qkv_tensor_view& a, const qkv_tensor_view& b) {
  if (std::strcmp(a.name, b.name) != 0 || a.dtype != b.dtype || a.rank != b.rank || a.bytes != b.bytes) return false;
  for (std::size_t d = 0; d < a.rank; ++d)
    if (a.shape[d] != b.shape[d]) return false;
  return a.bytes == 0 || std::memcmp(a.data, b.data, a.bytes) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace qkv_fuzz;
  stats().target = "safetensors";
  FuzzedDataProvider in(data, size);
  const std::uint8_t opt = in.ConsumeIntegral<std::uint8_t>();
  const std::uint8_t opt2 = in.ConsumeIntegral<std::uint8_t>();
  const std::vector<std::uint8_t> bytes = in.ConsumeRemainingBytes<std::uint8_t>();
  // The file alone in an allocation of its exact size.
  std::unique_ptr<std::uint8_t[]> file(new std::uint8_t[bytes.size() ? bytes.size() : 1]);
  if (!bytes.empty()) std::memcpy(file.get(), bytes.data(), bytes.size());
  const std::size_t n = bytes.size();
  qkv_safetensors_diag diag_mem;
  qkv_safetensors_diag* diag = (opt & 1) ? nullptr : &diag_mem;

  std::size_t tensors = 12345, ws = 54321;
  std::memset(&diag_mem, 0, sizeof diag_mem);
  const qkv_status scan = count(qkv_safetensors_read_size(file.get(), n, &tensors, &ws, diag));
  if (scan != QKV_OK) {
    QKV_FUZZ_CHECK(tensors == 12345 && ws == 54321);
    if (diag) QKV_FUZZ_CHECK(diag_mem.what != nullptr && diag_mem.offset <= n);
  }

  // The metadata lookup: same header rules, so the same refusal.
  static const char* const keys[] = {"format", "k", "qkv.model", "", "__metadata__", "dtype"};
  const char* key = keys[(opt >> 1) % 6];
  const std::size_t vcap = (opt2 & 3) == 0 ? 0 : (opt2 & 3) == 1 ? 1 : 64;
  guarded value(vcap);
  value.snapshot();
  std::size_t len = 999;
  const qkv_status ms = count(qkv_safetensors_metadata(
      file.get(), n, key, vcap ? static_cast<char*>(value.data()) : nullptr, vcap, &len, nullptr));
  QKV_FUZZ_CHECK(value.canaries_intact());
  if (scan != QKV_OK) QKV_FUZZ_CHECK(ms == scan);
  if (ms != QKV_OK) {
    QKV_FUZZ_CHECK(len == 999 && value.unchanged());
    QKV_FUZZ_CHECK(ms == scan || ms == QKV_ERR_NOT_FOUND || ms == QKV_ERR_BAD_FORMAT || ms == QKV_ERR_CAPACITY);
    if (ms == QKV_ERR_CAPACITY) QKV_FUZZ_CHECK(vcap > 0);
  } else if (vcap) {
    QKV_FUZZ_CHECK(len < vcap && static_cast<char*>(value.data())[len] == 0);
  }
  if (scan != QKV_OK) return 0;
  QKV_FUZZ_CHECK(tensors <= n / 8 + 1);  // each entry takes more than 8 header bytes

  // The full read, with the capacity and workspace the options choose.
  const bool short_cap = (opt & 16) && tensors > 0, short_ws = (opt & 32) && ws > 0;
  const std::size_t cap = short_cap ? tensors - 1 : tensors;
  guarded views(cap * sizeof(qkv_tensor_view)), work(short_ws ? ws - 1 : ws);
  views.snapshot();
  std::size_t got = 777;
  const qkv_status st =
      count(qkv_safetensors_read(file.get(), n, cap ? static_cast<qkv_tensor_view*>(views.data()) : nullptr, cap, &got,
                                 work.size() ? work.data() : nullptr, work.size(), diag));
  QKV_FUZZ_CHECK(views.canaries_intact() && work.canaries_intact());
  if (short_cap) {
    QKV_FUZZ_CHECK(st == QKV_ERR_CAPACITY || (cap == 0 && st == QKV_ERR_NULL_POINTER));
  } else if (short_ws) {
    QKV_FUZZ_CHECK(st == QKV_ERR_WORKSPACE_TOO_SMALL || (work.size() == 0 && st == QKV_ERR_NULL_POINTER));
  }
  if (st != QKV_OK) {
    QKV_FUZZ_CHECK(got == 777 && views.unchanged());
    QKV_FUZZ_CHECK(short_cap || short_ws || st == QKV_ERR_BAD_FORMAT);  // only the rules needing the workspace remain
    return 0;
  }
  QKV_FUZZ_CHECK(got == tensors);
  const auto* v = static_cast<const qkv_tensor_view*>(views.data());

  // The views: inside the file, sorted, tiling the data section exactly.
  const std::size_t header = static_cast<std::size_t>(file[0]) | static_cast<std::size_t>(file[1]) << 8 |
                             static_cast<std::size_t>(file[2]) << 16 | static_cast<std::size_t>(file[3]) << 24;
  const std::uint8_t* next = file.get() + 8 + header;
  for (std::size_t i = 0; i < tensors; ++i) {
    QKV_FUZZ_CHECK(std::memchr(v[i].name, 0, QKV_SAFETENSORS_MAX_NAME) != nullptr);
    std::size_t es = 0;
    QKV_FUZZ_CHECK(qkv_dtype_size(v[i].dtype, &es) == QKV_OK && v[i].rank <= QKV_SAFETENSORS_MAX_RANK);
    std::size_t want = es;
    for (std::size_t d = 0; d < v[i].rank; ++d) QKV_FUZZ_CHECK(!__builtin_mul_overflow(want, v[i].shape[d], &want));
    QKV_FUZZ_CHECK(want == v[i].bytes);
    QKV_FUZZ_CHECK(static_cast<const std::uint8_t*>(v[i].data) == next);
    next += v[i].bytes;
    for (std::size_t j = 0; j < i; ++j) QKV_FUZZ_CHECK(std::strcmp(v[i].name, v[j].name) != 0);
  }
  QKV_FUZZ_CHECK(next == file.get() + n);

  // Written back (the reference layout) and read again: the same views.
  std::size_t wsize = 0;
  if (count(qkv_safetensors_write(v, tensors, nullptr, 0, nullptr, 0, &wsize)) == QKV_OK && wsize <= kMaxBytes) {
    std::vector<std::uint8_t> again(wsize);
    std::size_t written = 0;
    QKV_FUZZ_CHECK(count(qkv_safetensors_write(v, tensors, nullptr, 0, again.data(), wsize, &written)) == QKV_OK);
    QKV_FUZZ_CHECK(written == wsize);
    std::size_t c2 = 0, w2 = 0;
    QKV_FUZZ_CHECK(count(qkv_safetensors_read_size(again.data(), wsize, &c2, &w2, nullptr)) == QKV_OK && c2 == tensors);
    std::vector<qkv_tensor_view> back(c2 + 1);
    std::vector<unsigned char> work2(w2 + 1);
    QKV_FUZZ_CHECK(count(qkv_safetensors_read(again.data(), wsize, back.data(), c2, &c2, work2.data(), w2, nullptr)) ==
                   QKV_OK);
    for (std::size_t i = 0; i < tensors; ++i) QKV_FUZZ_CHECK(same_view(v[i], back[i]));
    ++stats().compared;  // the reference here: the file read again
  }

  // F32 views copy bit for bit.
  for (std::size_t i = 0; i < tensors; ++i) {
    if (v[i].dtype != QKV_DTYPE_F32 || v[i].bytes > kMaxBytes) continue;
    guarded out(v[i].bytes);
    QKV_FUZZ_CHECK(count(qkv_safetensors_copy_f32(&v[i], v[i].rank, v[i].shape, v[i].bytes ? out.f() : nullptr)) ==
                   QKV_OK);
    QKV_FUZZ_CHECK(out.canaries_intact() && (v[i].bytes == 0 || std::memcmp(out.data(), v[i].data, v[i].bytes) == 0));
  }

  // A small layer from the views: loaded exactly, or refused untouched.
  qkv_mha_desc d{};
  d.d_in = 1 + (opt2 >> 2 & 3), d.d_out = 2, d.num_heads = 1, d.causal = 1, d.qkv_bias = opt2 >> 4 & 1,
  d.out_proj = opt2 >> 5 & 1;
  std::size_t np = 0;
  QKV_FUZZ_CHECK(qkv_mha_param_count(&d, &np) == QKV_OK);
  guarded params(np * sizeof(float));
  params.snapshot();
  const char* prefix = (opt2 & 64) ? "attn." : "";
  const qkv_status ls = count(qkv_mha_param_load(&d, prefix, v, tensors, params.f(), diag));
  QKV_FUZZ_CHECK(params.canaries_intact());
  if (ls != QKV_OK) {
    QKV_FUZZ_CHECK(params.unchanged());
    QKV_FUZZ_CHECK(ls == QKV_ERR_NOT_FOUND || ls == QKV_ERR_BAD_DTYPE || ls == QKV_ERR_BAD_SHAPE);
  } else {
    std::size_t nv = 0;
    qkv_tensor_view mine[8];
    QKV_FUZZ_CHECK(qkv_mha_param_views(&d, params.f(), prefix, mine, 8, &nv) == QKV_OK);
    for (std::size_t i = 0; i < nv; ++i) {
      std::size_t at = 0;
      QKV_FUZZ_CHECK(qkv_safetensors_find(v, tensors, mine[i].name, &at) == QKV_OK);
      QKV_FUZZ_CHECK(same_view(mine[i], v[at]));
    }
  }
  return 0;
}
