// SPDX-License-Identifier: MIT
// qkv/safetensors.h: the writer's bytes (the reference implementation's),
// round trips, every reader rule with a crafted file that breaks it (each a
// specific status with nothing written), the workspace rule, and the layer's
// parameters saved and loaded.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "qkv/qkv.h"

namespace {

using bytes = std::vector<unsigned char>;

qkv_tensor_view view(const char* name, qkv_dtype dtype, std::vector<std::size_t> shape, const void* data) {
  qkv_tensor_view v;
  std::memset(&v, 0, sizeof v);
  std::strncpy(v.name, name, sizeof v.name - 1);
  v.dtype = dtype;
  v.rank = shape.size();
  std::size_t n = 1, es = 0;
  qkv_dtype_size(dtype, &es);
  for (std::size_t d = 0; d < shape.size(); ++d) v.shape[d] = shape[d], n *= shape[d];
  v.data = data;
  v.bytes = n * es;
  return v;
}

bytes write(const std::vector<qkv_tensor_view>& t, const std::vector<qkv_safetensors_meta>& m = {}) {
  std::size_t size = 0;
  REQUIRE(qkv_safetensors_write(t.data(), t.size(), m.data(), m.size(), nullptr, 0, &size) == QKV_OK);
  bytes out(size, 0xEE);
  std::size_t written = 0;
  REQUIRE(qkv_safetensors_write(t.data(), t.size(), m.data(), m.size(), out.data(), out.size(), &written) == QKV_OK);
  REQUIRE(written == size);
  return out;
}

// A file from a header's JSON text (not padded) and `data` bytes of data.
bytes craft(const std::string& json, std::size_t data = 0, unsigned char fill = 0) {
  bytes f(8 + json.size() + data, fill);
  const std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(f.data() + 8, json.data(), json.size());
  return f;
}

std::string str(const bytes& b, std::size_t from, std::size_t n) {
  return std::string(b.begin() + from, b.begin() + from + n);
}

// Reads a whole file; on error checks that the views, count and workspace-independent outputs were not touched.
struct read_result {
  qkv_status st;
  std::vector<qkv_tensor_view> views;
  qkv_safetensors_diag diag;
};

read_result read(const bytes& f) {
  read_result r{};
  std::memset(&r.diag, 0, sizeof r.diag);
  std::size_t count = 777, ws = 777;
  qkv_status st = qkv_safetensors_read_size(f.data(), f.size(), &count, &ws, &r.diag);
  if (st != QKV_OK) {
    CHECK(count == 777);
    CHECK(ws == 777);
    CHECK(r.diag.what != nullptr);
    r.st = st;
    return r;
  }
  std::vector<qkv_tensor_view> views(count + 1);
  std::memset(views.data(), 0x5A, views.size() * sizeof(qkv_tensor_view));
  const std::vector<qkv_tensor_view> before = views;
  std::vector<unsigned char> work(ws + 1);
  std::size_t got = 777;
  r.st = qkv_safetensors_read(f.data(), f.size(), views.data(), views.size(), &got, work.data() + 1, ws, &r.diag);
  if (r.st != QKV_OK) {
    CHECK(got == 777);
    CHECK(std::memcmp(views.data(), before.data(), views.size() * sizeof(qkv_tensor_view)) == 0);
    CHECK(r.diag.what != nullptr);
    return r;
  }
  CHECK(got == count);
  // The one past the count is untouched.
  CHECK(std::memcmp(&views[count], &before[count], sizeof(qkv_tensor_view)) == 0);
  views.resize(count);
  r.views = views;
  return r;
}

qkv_status read_status(const std::string& json, std::size_t data = 0) { return read(craft(json, data)).st; }

const char* one_f32 = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

}  // namespace

TEST_CASE("safetensors: the writer produces the reference implementation's bytes", "[safetensors]") {
  const float x[6] = {0, 1, 2, 3, 4, 5};
  // One F32 tensor [1,2,3]: 64 header bytes, no padding needed.
  bytes f = write({view("attn.0", QKV_DTYPE_F32, {1, 2, 3}, x)});
  REQUIRE(f.size() == 8 + 64 + 24);
  CHECK(f[0] == 64);
  for (int i = 1; i < 8; ++i) CHECK(f[i] == 0);
  CHECK(str(f, 8, 64) == R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})");
  CHECK(std::memcmp(f.data() + 72, x, 24) == 0);
  // A shorter name: padded with seven spaces to 72.
  f = write({view("attn0", QKV_DTYPE_F32, {1, 1, 2, 3}, x)});
  REQUIRE(f.size() == 8 + 72 + 24);
  CHECK(f[0] == 72);
  CHECK(str(f, 8, 72) == R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})" + std::string(7, ' '));
  // No tensors: "{}" and six spaces; with metadata, "__metadata__" first.
  f = write({});
  CHECK(f == bytes({8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}));
  f = write({}, {{"framework", "pt"}});
  REQUIRE(f.size() == 48);
  CHECK(str(f, 8, 40) == R"({"__metadata__":{"framework":"pt"}}     )");
}

TEST_CASE("safetensors: tensors and metadata round-trip through write and read", "[safetensors]") {
  const float w[12] = {1.5f, -2.f, 3.25f, 0.f, -0.f, 1e-40f, 3e38f, -1.f, 0.5f, 7.f, 8.f, 9.f};
  const std::uint16_t h[3] = {0x3C00, 0xC000, 0x7BFF};
  const std::int8_t b[5] = {-128, -1, 0, 1, 127};
  const double d = 3.141592653589793;
  const std::vector<qkv_tensor_view> in = {
      view("layer.w", QKV_DTYPE_F32, {2, 3, 2}, w),
      view("half", QKV_DTYPE_F16, {3}, h),
      view("bytes", QKV_DTYPE_I8, {5}, b),
      view("scalar", QKV_DTYPE_F64, {}, &d),
      view("empty", QKV_DTYPE_BF16, {0, 4}, nullptr),
      view("q\"uote\\ \n tab\t \x01 caf\xc3\xa9", QKV_DTYPE_F32, {1, 1, 1, 1, 1, 1, 1, 1}, w)};
  const std::vector<qkv_safetensors_meta> meta = {
      {"qkv.version", qkv_version_string()}, {"config", "{\"d\": 64,\n\"name\": \"x\\y\"}"}, {"empty", ""}};
  const bytes f = write(in, meta);
  CHECK((f[0] | f[1] << 8) % 8 == 0);  // the data section starts 8-byte aligned
  read_result r = read(f);
  REQUIRE(r.st == QKV_OK);
  REQUIRE(r.views.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {  // stored in the order given, read back by offset: the same order
    CAPTURE(i);
    CHECK(std::string(r.views[i].name) == in[i].name);
    CHECK(r.views[i].dtype == in[i].dtype);
    REQUIRE(r.views[i].rank == in[i].rank);
    for (std::size_t k = 0; k < in[i].rank; ++k) CHECK(r.views[i].shape[k] == in[i].shape[k]);
    REQUIRE(r.views[i].bytes == in[i].bytes);
    if (in[i].bytes) CHECK(std::memcmp(r.views[i].data, in[i].data, in[i].bytes) == 0);
    CHECK(static_cast<const unsigned char*>(r.views[i].data) >= f.data());
    CHECK(static_cast<const unsigned char*>(r.views[i].data) + r.views[i].bytes <= f.data() + f.size());
  }
  for (const auto& m : meta) {
    std::size_t len = 0;
    REQUIRE(qkv_safetensors_metadata(f.data(), f.size(), m.key, nullptr, 0, &len, nullptr) == QKV_OK);
    CHECK(len == std::strlen(m.value));
    std::string v(len + 1, 'x');
    REQUIRE(qkv_safetensors_metadata(f.data(), f.size(), m.key, &v[0], v.size(), &len, nullptr) == QKV_OK);
    CHECK(v == std::string(m.value) + '\0');
    if (len) {
      std::string shortv(len, 'x');
      CHECK(qkv_safetensors_metadata(f.data(), f.size(), m.key, &shortv[0], len, &len, nullptr) == QKV_ERR_CAPACITY);
      CHECK(shortv == std::string(len, 'x'));
    }
  }
  std::size_t len = 5;
  qkv_safetensors_diag diag{};
  CHECK(qkv_safetensors_metadata(f.data(), f.size(), "nope", nullptr, 0, &len, &diag) == QKV_ERR_NOT_FOUND);
  CHECK(len == 5);
  CHECK(diag.what != nullptr);
  // The views write the same file again.
  CHECK(write(r.views, meta) == f);
  // Lookups and F32 copies.
  std::size_t idx = 99;
  CHECK(qkv_safetensors_find(r.views.data(), r.views.size(), "bytes", &idx) == QKV_OK);
  CHECK(idx == 2);
  CHECK(qkv_safetensors_find(r.views.data(), r.views.size(), "byte", &idx) == QKV_ERR_NOT_FOUND);
  CHECK(idx == 2);
  float out[13];
  std::memset(out, 0x7F, sizeof out);
  const std::size_t shape[3] = {2, 3, 2}, wrong[3] = {2, 2, 3};
  CHECK(qkv_safetensors_copy_f32(&r.views[0], 3, wrong, out) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_safetensors_copy_f32(&r.views[0], 2, shape, out) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_safetensors_copy_f32(&r.views[1], 1, shape, out) == QKV_ERR_BAD_DTYPE);
  CHECK(qkv_safetensors_copy_f32(&r.views[0], 3, nullptr, out) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_copy_f32(&r.views[0], 3, shape, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(out[0] != 1.5f);
  REQUIRE(qkv_safetensors_copy_f32(&r.views[0], 3, shape, out) == QKV_OK);
  CHECK(std::memcmp(out, w, sizeof w) == 0);
}

TEST_CASE("safetensors: dtype names and sizes", "[safetensors]") {
  const char* names[] = {"F32", "F16", "BF16", "I8",  "U8",  "BOOL",    "I16",    "U16",
                         "I32", "U32", "I64",  "U64", "F64", "F8_E4M3", "F8_E5M2"};
  const std::size_t sizes[] = {4, 2, 2, 1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 1, 1};
  for (int i = 0; i < QKV_DTYPE_COUNT; ++i) {
    std::size_t s = 0;
    CHECK(qkv_dtype_size(static_cast<qkv_dtype>(i), &s) == QKV_OK);
    CHECK(s == sizes[i]);
    CHECK(std::string(qkv_dtype_name(static_cast<qkv_dtype>(i))) == names[i]);
    // Each name parses to its dtype.
    const std::string j = std::string(R"({"t":{"dtype":")") + names[i] + R"(","shape":[3],"data_offsets":[0,)" +
                          std::to_string(3 * sizes[i]) + "]}}";
    read_result r = read(craft(j, 3 * sizes[i]));
    REQUIRE(r.st == QKV_OK);
    CHECK(r.views[0].dtype == i);
  }
  std::size_t s = 5;
  CHECK(qkv_dtype_size(QKV_DTYPE_COUNT, &s) == QKV_ERR_BAD_DTYPE);  // any int from C: tests/c_api/headers.c
  CHECK(s == 5);
  CHECK(qkv_dtype_size(QKV_DTYPE_F32, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(std::string(qkv_dtype_name(QKV_DTYPE_COUNT)) == "unknown");
}

TEST_CASE("safetensors: files from other writers: any order, whitespace, escapes", "[safetensors]") {
  // Entries not in offset order, metadata last, JSON whitespace everywhere,
  // escaped keys (field names too), trailing newline and spaces.
  const std::string j =
      "{ \"b\" : { \"data_offsets\" : [ 8 , 12 ] , \"shape\" : [ 1 ] , \"dtyp\\u0065\" : \"F32\" } ,\n"
      "\t\"a\\u00e9\\ud83d\\ude00\\/\" : {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\r\n"
      "\"__metadata__\":{\"k\":\"v\\u0000w\"}}\n  ";
  bytes f = craft(j, 12);
  const float v[3] = {1, 2, 3};
  std::memcpy(f.data() + 8 + j.size(), v, 12);
  read_result r = read(f);
  REQUIRE(r.st == QKV_OK);
  REQUIRE(r.views.size() == 2);
  CHECK(std::string(r.views[0].name) == "a\xc3\xa9\xf0\x9f\x98\x80/");
  CHECK(std::string(r.views[1].name) == "b");
  CHECK(static_cast<const unsigned char*>(r.views[1].data) == f.data() + 8 + j.size() + 8);
  char value[8];
  std::size_t len = 0;
  REQUIRE(qkv_safetensors_metadata(f.data(), f.size(), "k", value, sizeof value, &len, nullptr) == QKV_OK);
  CHECK(len == 3);
  CHECK(std::memcmp(value, "v\0w\0", 4) == 0);
  // Zero-size tensors anywhere in the tiling, and a scalar.
  CHECK(
      read_status(
          R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"y":{"dtype":"I8","shape":[3,0],"data_offsets":[4,4]}})",
          4) == QKV_OK);
  CHECK(read_status("{}") == QKV_OK);
  CHECK(read_status(R"({"__metadata__":{}})") == QKV_OK);
}

TEST_CASE("safetensors: a file truncated at any byte, or with one more, is BAD_FORMAT", "[safetensors]") {
  const float w[4] = {1, 2, 3, 4};
  const bytes f = write({view("a", QKV_DTYPE_F32, {2}, w), view("b", QKV_DTYPE_F32, {2}, w + 2)}, {{"k", "v"}});
  for (std::size_t n = 0; n < f.size(); ++n) {
    CAPTURE(n);
    const bytes cut(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
    // A heap block of exactly n bytes: ASan sees any read past it.
    CHECK(read(cut).st == QKV_ERR_BAD_FORMAT);
    std::size_t len = 0;
    // The lookup checks the header too, offsets against the file's size included.
    CHECK(qkv_safetensors_metadata(cut.data(), cut.size(), "k", nullptr, 0, &len, nullptr) == QKV_ERR_BAD_FORMAT);
  }
  bytes longer = f;
  longer.push_back(0);
  CHECK(read(longer).st == QKV_ERR_BAD_FORMAT);
  CHECK(read(f).st == QKV_OK);
}

TEST_CASE("safetensors: every header rule has its status", "[safetensors]") {
  struct bad {
    const char* why;
    std::string json;
    std::size_t data;
    qkv_status st;
  };
  const std::string t = one_f32;
  const std::string big = "18446744073709551616";  // 2^64
  const bad cases[] = {
      {"leading space", " {" + t + "}", 8, QKV_ERR_BAD_FORMAT},
      {"not an object", "[]", 0, QKV_ERR_BAD_FORMAT},
      {"empty header", "", 0, QKV_ERR_BAD_FORMAT},
      {"unclosed object", "{" + t, 8, QKV_ERR_BAD_FORMAT},
      {"trailing comma", "{" + t + ",}", 8, QKV_ERR_BAD_FORMAT},
      {"missing comma", "{" + t + R"("u":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"trailing garbage", "{" + t + "}x", 8, QKV_ERR_BAD_FORMAT},
      {"NUL padding", "{" + t + "}" + std::string(3, '\0'), 8, QKV_ERR_BAD_FORMAT},
      {"unquoted key", R"({t:{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"single quotes", R"({'t':{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"missing colon", R"({"t"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"entry not an object", R"({"t":[1]})", 0, QKV_ERR_BAD_FORMAT},
      {"empty entry", R"({"t":{}})", 0, QKV_ERR_BAD_FORMAT},
      {"missing dtype", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"missing shape", R"({"t":{"dtype":"F32","data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"missing offsets", R"({"t":{"dtype":"F32","shape":[2]}})", 8, QKV_ERR_BAD_FORMAT},
      {"unknown field", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8, QKV_ERR_BAD_FORMAT},
      {"dtype twice", R"({"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape twice", R"({"t":{"dtype":"F32","shape":[2],"shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"offsets twice", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"data_offsets":[0,8]}})", 8,
       QKV_ERR_BAD_FORMAT},
      {"dtype a number", R"({"t":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"dtype unknown", R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_DTYPE},
      {"dtype lower case", R"({"t":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_DTYPE},
      {"shape a number", R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape negative", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape fraction", R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape exponent", R"({"t":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape leading zero", R"({"t":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape string", R"({"t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape nested", R"({"t":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"shape unclosed", R"({"t":{"dtype":"F32","shape":[2,"data_offsets":[0,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"rank 9", R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})", 8, QKV_ERR_UNSUPPORTED},
      {"rank 8 is fine", R"({"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})", 8, QKV_OK},
      {"one offset", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"three offsets", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", 8, QKV_ERR_BAD_FORMAT},
      {"begin after end", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, QKV_ERR_BAD_FORMAT},
      {"span differs from shape", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12, QKV_ERR_BAD_FORMAT},
      {"end past the file", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 7, QKV_ERR_BAD_FORMAT},
      {"gap at the start", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, QKV_ERR_BAD_FORMAT},
      {"trailing data", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12, QKV_ERR_BAD_FORMAT},
      {"data without tensors", "{}", 1, QKV_ERR_BAD_FORMAT},
      {"overlap",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, QKV_ERR_BAD_FORMAT},
      {"same range twice",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       8, QKV_ERR_BAD_FORMAT},
      {"gap between",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
       12, QKV_ERR_BAD_FORMAT},
      {"empty tensor inside another",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
       8, QKV_ERR_BAD_FORMAT},
      {"duplicate name",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, QKV_ERR_BAD_FORMAT},
      {"duplicate name once unescaped",
       R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       8, QKV_ERR_BAD_FORMAT},
      {"metadata twice", R"({"__metadata__":{},"__metadata__":{}})", 0, QKV_ERR_BAD_FORMAT},
      {"metadata key twice", R"({"__metadata__":{"k":"a","k":"b"}})", 0, QKV_ERR_BAD_FORMAT},
      {"metadata not an object", R"({"__metadata__":"x"})", 0, QKV_ERR_BAD_FORMAT},
      {"metadata value a number", R"({"__metadata__":{"k":1}})", 0, QKV_ERR_BAD_FORMAT},
      {"metadata value null", R"({"__metadata__":{"k":null}})", 0, QKV_ERR_BAD_FORMAT},
      {"metadata nested", R"({"__metadata__":{"k":{"a":"b"}}})", 0, QKV_ERR_BAD_FORMAT},
      {"number above SIZE_MAX", R"({"t":{"dtype":"F32","shape":[)" + big + R"(],"data_offsets":[0,8]}})", 8,
       QKV_ERR_SIZE_OVERFLOW},
      {"offset above SIZE_MAX", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,)" + big + "]}}", 8,
       QKV_ERR_SIZE_OVERFLOW},
      {"shape product overflows", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0,
       QKV_ERR_SIZE_OVERFLOW},
      {"shape x dtype size overflows", R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0,
       QKV_ERR_SIZE_OVERFLOW},
      {"product wraps to the span", R"({"t":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,0]}})", 0,
       QKV_ERR_SIZE_OVERFLOW},
      {"raw control character", "{\"t\x01\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       QKV_ERR_BAD_FORMAT},
      {"raw newline in a string", "{\"__metadata__\":{\"k\":\"a\nb\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"bad escape", R"({"__metadata__":{"k":"\q"}})", 0, QKV_ERR_BAD_FORMAT},
      {"short \\u escape", R"({"__metadata__":{"k":"\u12"}})", 0, QKV_ERR_BAD_FORMAT},
      {"non-hex \\u escape", R"({"__metadata__":{"k":"\u12g4"}})", 0, QKV_ERR_BAD_FORMAT},
      {"lone high surrogate", R"({"__metadata__":{"k":"\ud83d"}})", 0, QKV_ERR_BAD_FORMAT},
      {"high surrogate then letter", R"({"__metadata__":{"k":"\ud83dx123456"}})", 0, QKV_ERR_BAD_FORMAT},
      {"two high surrogates", R"({"__metadata__":{"k":"\ud83d\ud83d"}})", 0, QKV_ERR_BAD_FORMAT},
      {"lone low surrogate", R"({"__metadata__":{"k":"\ude00"}})", 0, QKV_ERR_BAD_FORMAT},
      {"invalid UTF-8 byte", "{\"__metadata__\":{\"k\":\"\xff\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"truncated UTF-8", "{\"__metadata__\":{\"k\":\"\xc3\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"overlong UTF-8", "{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"overlong 3-byte UTF-8", "{\"__metadata__\":{\"k\":\"\xe0\x80\xaf\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"UTF-8 surrogate", "{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"UTF-8 above U+10FFFF", "{\"__metadata__\":{\"k\":\"\xf4\x90\x80\x80\"}}", 0, QKV_ERR_BAD_FORMAT},
      {"string not closed", R"({"__metadata__":{"k":"abc)", 0, QKV_ERR_BAD_FORMAT},
      {"escape at the end", R"({"__metadata__":{"k":"abc\)", 0, QKV_ERR_BAD_FORMAT},
      {"name of 255 bytes", "{\"" + std::string(255, 'n') + R"(":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
       QKV_OK},
      {"name of 256 bytes", "{\"" + std::string(256, 'n') + R"(":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
       QKV_ERR_UNSUPPORTED},
      {"name of 256 bytes once decoded",
       "{\"" + std::string(254, 'n') + R"(\u00e9":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
       QKV_ERR_UNSUPPORTED},
      {"name with NUL", R"({"a\u0000b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8, QKV_ERR_UNSUPPORTED},
  };
  for (const bad& c : cases) {
    CAPTURE(c.why);
    CHECK(read_status(c.json, c.data) == c.st);
  }
  // The header length itself.
  bytes f = craft("{" + t + "}", 8);
  f[0] = static_cast<unsigned char>(f[0] + 1);  // one byte more than there is before the data... into the data
  CHECK(read(f).st == QKV_ERR_BAD_FORMAT);
  f = craft("{}");
  f[7] = 0x80;  // 2^63
  CHECK(read(f).st == QKV_ERR_BAD_FORMAT);
  bytes huge(16, ' ');
  const std::uint64_t over = QKV_SAFETENSORS_MAX_HEADER + 1ull;
  for (int i = 0; i < 8; ++i) huge[i] = static_cast<unsigned char>(over >> (8 * i));
  read_result r = read(huge);
  CHECK(r.st == QKV_ERR_BAD_FORMAT);
  CHECK(std::string(r.diag.what).find("limit") != std::string::npos);
}

TEST_CASE("safetensors: the diagnostic says where and which tensor", "[safetensors]") {
  const std::string j =
      R"({"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"bad":{"dtype":"F32","shape":[3],"data_offsets":[4,12]}})";
  read_result r = read(craft(j, 12));
  REQUIRE(r.st == QKV_ERR_BAD_FORMAT);
  CHECK(std::string(r.diag.name) == "bad");
  CHECK(r.diag.offset == 8 + j.find("\"bad\""));
  CHECK(std::string(r.diag.what).find("shape") != std::string::npos);
  r = read(craft(R"({"__metadata__":{"k":"\q"}})"));
  REQUIRE(r.st == QKV_ERR_BAD_FORMAT);
  CHECK(r.diag.offset == 8 + std::string(R"({"__metadata__":{"k":")").size());
  CHECK(std::string(r.diag.name).empty());
}

TEST_CASE("safetensors: read's pointers, capacity and the workspace rule", "[safetensors]") {
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const bytes f = write({view("a", QKV_DTYPE_F32, {2}, w), view("b", QKV_DTYPE_F32, {4}, w + 2)}, {{"k", "v"}});
  std::size_t count = 0, ws = 0;
  REQUIRE(qkv_safetensors_read_size(f.data(), f.size(), &count, &ws, nullptr) == QKV_OK);
  REQUIRE(count == 2);
  REQUIRE(ws > 0);
  CHECK(qkv_safetensors_read_size(nullptr, f.size(), &count, &ws, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_read_size(f.data(), f.size(), nullptr, &ws, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_read_size(f.data(), f.size(), &count, nullptr, nullptr) == QKV_ERR_NULL_POINTER);
  std::vector<qkv_tensor_view> v(2);
  std::memset(v.data(), 0x33, v.size() * sizeof v[0]);
  const auto before = v;
  std::vector<unsigned char> work(ws + 64);
  std::size_t got = 9;
  auto unchanged = [&] { return got == 9 && std::memcmp(v.data(), before.data(), v.size() * sizeof v[0]) == 0; };
  CHECK(qkv_safetensors_read(nullptr, f.size(), v.data(), 2, &got, work.data(), ws, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_read(f.data(), f.size(), v.data(), 2, nullptr, work.data(), ws, nullptr) ==
        QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_read(f.data(), f.size(), nullptr, 2, &got, work.data(), ws, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_read(f.data(), f.size(), v.data(), 1, &got, work.data(), ws, nullptr) == QKV_ERR_CAPACITY);
  CHECK(qkv_safetensors_read(f.data(), f.size(), v.data(), 2, &got, nullptr, ws, nullptr) == QKV_ERR_NULL_POINTER);
  for (std::size_t shift = 0; shift < 8; ++shift) {  // one byte short at every alignment, then exactly enough
    CAPTURE(shift);
    CHECK(qkv_safetensors_read(f.data(), f.size(), v.data(), 2, &got, work.data() + shift, ws - 1, nullptr) ==
          QKV_ERR_WORKSPACE_TOO_SMALL);
    CHECK(unchanged());
    std::vector<qkv_tensor_view> ok(2);
    std::size_t n = 0;
    REQUIRE(qkv_safetensors_read(f.data(), f.size(), ok.data(), 2, &n, work.data() + shift, ws, nullptr) == QKV_OK);
    CHECK(n == 2);
    CHECK(std::string(ok[1].name) == "b");
  }
  // A file without tensors or metadata needs no workspace at all.
  const bytes empty = write({});
  REQUIRE(qkv_safetensors_read_size(empty.data(), empty.size(), &count, &ws, nullptr) == QKV_OK);
  CHECK(count == 0);
  CHECK(ws == 0);
  CHECK(qkv_safetensors_read(empty.data(), empty.size(), nullptr, 0, &got, nullptr, 0, nullptr) == QKV_OK);
  CHECK(got == 0);
}

TEST_CASE("safetensors: the writer refuses bad views and writes nothing", "[safetensors]") {
  const float w[4] = {1, 2, 3, 4};
  bytes dst(4096, 0xCC);
  const bytes clean = dst;
  std::size_t written = 7;
  auto status = [&](std::vector<qkv_tensor_view> t, std::vector<qkv_safetensors_meta> m = {}) {
    const qkv_status st =
        qkv_safetensors_write(t.data(), t.size(), m.data(), m.size(), dst.data(), dst.size(), &written);
    if (st != QKV_OK) {
      CHECK(dst == clean);
      CHECK(written == 7);
    }
    return st;
  };
  const qkv_tensor_view good = view("a", QKV_DTYPE_F32, {4}, w);
  CHECK(status({good}) == QKV_OK);
  dst = clean;
  written = 7;
  qkv_tensor_view v = good;
  v.bytes = 12;
  CHECK(status({v}) == QKV_ERR_BAD_SHAPE);
  v = good;
  v.data = nullptr;
  CHECK(status({v}) == QKV_ERR_NULL_POINTER);
  v = good;
  v.dtype = static_cast<qkv_dtype>(QKV_DTYPE_COUNT);
  CHECK(status({v}) == QKV_ERR_BAD_DTYPE);
  v = good;
  v.rank = QKV_SAFETENSORS_MAX_RANK + 1;
  CHECK(status({v}) == QKV_ERR_BAD_ARGUMENT);
  v = good;
  std::memset(v.name, 'x', sizeof v.name);  // no NUL
  CHECK(status({v}) == QKV_ERR_BAD_ARGUMENT);
  v = good;
  std::strcpy(v.name, "bad\xff");
  CHECK(status({v}) == QKV_ERR_BAD_ARGUMENT);
  v = good;
  std::strcpy(v.name, "__metadata__");
  CHECK(status({v}) == QKV_ERR_BAD_ARGUMENT);
  v = good;
  v.rank = 3;
  v.shape[0] = SIZE_MAX / 4 + 1;  // element count overflows size_t on 32- and 64-bit hosts
  v.shape[1] = 4;
  v.shape[2] = 8;
  CHECK(status({v}) == QKV_ERR_SIZE_OVERFLOW);
  CHECK(status({good, good}) == QKV_ERR_BAD_ARGUMENT);  // duplicate names
  CHECK(status({good}, {{"k", "a"}, {"k", "b"}}) == QKV_ERR_BAD_ARGUMENT);
  CHECK(status({good}, {{"k", "\xc3"}}) == QKV_ERR_BAD_ARGUMENT);
  CHECK(status({good}, {{nullptr, "v"}}) == QKV_ERR_NULL_POINTER);
  // Output: NULL, too small, overlapping an input.
  std::vector<qkv_tensor_view> one = {good};
  CHECK(qkv_safetensors_write(one.data(), 1, nullptr, 0, nullptr, 0, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_write(nullptr, 1, nullptr, 0, nullptr, 0, &written) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_safetensors_write(one.data(), 1, nullptr, 0, nullptr, 16, &written) == QKV_ERR_NULL_POINTER);
  std::size_t size = 0;
  REQUIRE(qkv_safetensors_write(one.data(), 1, nullptr, 0, nullptr, 0, &size) == QKV_OK);
  CHECK(qkv_safetensors_write(one.data(), 1, nullptr, 0, dst.data(), size - 1, &written) == QKV_ERR_CAPACITY);
  CHECK(dst == clean);
  std::vector<float> shared(256, 1.0f);
  one[0].data = shared.data() + 4;  // inside the 80 bytes the file takes
  CHECK(qkv_safetensors_write(one.data(), 1, nullptr, 0, shared.data(), shared.size() * 4, &written) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(written == 7);
}

namespace {

qkv_mha_desc mha(std::size_t d_in, std::size_t d_out, std::size_t heads, int bias, int proj) {
  qkv_mha_desc d{};
  d.d_in = d_in, d.d_out = d_out, d.num_heads = heads, d.causal = 1, d.qkv_bias = bias, d.out_proj = proj;
  return d;
}

bytes save_layer(const qkv_mha_desc& d, const std::vector<float>& params, const char* prefix) {
  std::size_t n = 0;
  REQUIRE(qkv_mha_param_views(&d, params.data(), prefix, nullptr, 0, &n) == QKV_OK);
  std::vector<qkv_tensor_view> v(n);
  REQUIRE(qkv_mha_param_views(&d, params.data(), prefix, v.data(), n, &n) == QKV_OK);
  return write(v);
}

}  // namespace

TEST_CASE("safetensors: the attention layer's parameters save and load", "[safetensors][layer]") {
  for (int bias : {0, 1})
    for (int proj : {0, 1}) {
      CAPTURE(bias, proj);
      const qkv_mha_desc d = mha(6, 8, 2, bias, proj);
      std::size_t count = 0;
      REQUIRE(qkv_mha_param_count(&d, &count) == QKV_OK);
      std::vector<float> params(count);
      REQUIRE(qkv_mha_init(&d, params.data(), 11) == QKV_OK);
      qkv_mha_layout l;
      REQUIRE(qkv_mha_param_layout(&d, &l) == QKV_OK);
      // The views: names, shapes, and pointers into the flat buffer.
      std::size_t n = 0;
      REQUIRE(qkv_mha_param_views(&d, params.data(), "attn.", nullptr, 0, &n) == QKV_OK);
      CHECK(n == 3u + 3u * bias + 2u * proj);
      std::vector<qkv_tensor_view> v(n);
      CHECK(qkv_mha_param_views(&d, params.data(), "attn.", v.data(), n - 1, &n) == QKV_ERR_CAPACITY);
      REQUIRE(qkv_mha_param_views(&d, params.data(), "attn.", v.data(), n, &n) == QKV_OK);
      CHECK(std::string(v[0].name) == "attn.w_q");
      CHECK(v[0].rank == 2);
      CHECK(v[0].shape[0] == 6);
      CHECK(v[0].shape[1] == 8);
      CHECK(v[2].data == params.data() + l.w_v);
      if (bias) {
        CHECK(std::string(v[3].name) == "attn.b_q");
        CHECK(v[3].rank == 1);
        CHECK(v[3].data == params.data() + l.b_q);
      }
      if (proj) {
        CHECK(std::string(v[n - 2].name) == "attn.w_o");
        CHECK(v[n - 2].shape[0] == 8);
        CHECK(std::string(v[n - 1].name) == "attn.b_o");
      }
      // Written, read back, loaded into a fresh buffer: the same bits.
      const bytes f = write(v);
      read_result r = read(f);
      REQUIRE(r.st == QKV_OK);
      std::vector<float> loaded(count, -7.f);
      REQUIRE(qkv_mha_param_load(&d, "attn.", r.views.data(), r.views.size(), loaded.data(), nullptr) == QKV_OK);
      CHECK(std::memcmp(loaded.data(), params.data(), count * sizeof(float)) == 0);
    }
}

TEST_CASE("safetensors: a layer refuses a file of another configuration, writing nothing", "[safetensors][layer]") {
  const qkv_mha_desc full = mha(6, 8, 2, 1, 1);
  std::size_t count = 0;
  REQUIRE(qkv_mha_param_count(&full, &count) == QKV_OK);
  std::vector<float> params(count);
  REQUIRE(qkv_mha_init(&full, params.data(), 5) == QKV_OK);
  const bytes f = save_layer(full, params, "attn.");
  read_result r = read(f);
  REQUIRE(r.st == QKV_OK);
  auto load = [&](const qkv_mha_desc& d, const char* prefix, const std::vector<qkv_tensor_view>& views,
                  qkv_safetensors_diag* diag) {
    std::size_t n = 0;
    REQUIRE(qkv_mha_param_count(&d, &n) == QKV_OK);
    std::vector<float> out(n, -3.f);
    const qkv_status st = qkv_mha_param_load(&d, prefix, views.data(), views.size(), out.data(), diag);
    if (st != QKV_OK)
      for (float x : out) REQUIRE(x == -3.f);
    return st;
  };
  qkv_safetensors_diag diag{};
  CHECK(load(full, "attn.", r.views, &diag) == QKV_OK);
  CHECK(load(full, "layer0.", r.views, &diag) == QKV_ERR_NOT_FOUND);
  CHECK(std::string(diag.name) == "layer0.w_q");
  CHECK(load(mha(6, 16, 2, 1, 1), "attn.", r.views, &diag) == QKV_ERR_BAD_SHAPE);
  CHECK(std::string(diag.name) == "attn.w_q");
  CHECK(load(mha(8, 8, 2, 1, 1), "attn.", r.views, &diag) == QKV_ERR_BAD_SHAPE);
  CHECK(load(mha(6, 8, 4, 1, 1), "attn.", r.views, &diag) == QKV_OK);  // heads do not change the parameters
  CHECK(load(mha(6, 8, 2, 0, 1), "attn.", r.views, &diag) == QKV_ERR_BAD_SHAPE);
  CHECK(std::string(diag.name) == "attn.b_q");
  CHECK(load(mha(6, 8, 2, 1, 0), "attn.", r.views, &diag) == QKV_ERR_BAD_SHAPE);
  CHECK(std::string(diag.name) == "attn.w_o");
  auto views = r.views;
  views[1].dtype = QKV_DTYPE_F16;
  CHECK(load(full, "attn.", views, &diag) == QKV_ERR_BAD_DTYPE);
  CHECK(std::string(diag.name) == "attn.w_k");
  views = r.views;
  views.erase(views.begin() + 7);
  CHECK(load(full, "attn.", views, &diag) == QKV_ERR_NOT_FOUND);
  CHECK(std::string(diag.name) == "attn.b_o");
  // Without biases a file without them loads; other tensors beside are ignored.
  const qkv_mha_desc plain = mha(6, 8, 2, 0, 0);
  std::vector<float> p2(6 * 8 * 3, 0.25f);
  std::vector<qkv_tensor_view> mixed(3);
  std::size_t n = 0;
  REQUIRE(qkv_mha_param_views(&plain, p2.data(), "", mixed.data(), 3, &n) == QKV_OK);
  const float extra[2] = {1, 2};
  mixed.push_back(view("head.w", QKV_DTYPE_F32, {2}, extra));
  const bytes f2 = write(mixed);  // the views point into it: it must outlive them
  read_result r2 = read(f2);
  REQUIRE(r2.st == QKV_OK);
  CHECK(load(plain, nullptr, r2.views, &diag) == QKV_OK);
  // Argument errors.
  std::vector<float> out(count);
  std::string long_prefix(QKV_SAFETENSORS_MAX_NAME - 3, 'p');
  CHECK(qkv_mha_param_load(&full, long_prefix.c_str(), r.views.data(), r.views.size(), out.data(), nullptr) ==
        QKV_ERR_BAD_ARGUMENT);
  CHECK(qkv_mha_param_views(&full, params.data(), long_prefix.c_str(), nullptr, 0, &n) == QKV_ERR_BAD_ARGUMENT);
  long_prefix.pop_back();
  CHECK(qkv_mha_param_views(&full, params.data(), long_prefix.c_str(), nullptr, 0, &n) == QKV_OK);
  CHECK(qkv_mha_param_load(&full, "attn.", r.views.data(), r.views.size(), nullptr, nullptr) == QKV_ERR_NULL_POINTER);
  CHECK(qkv_mha_param_load(nullptr, "attn.", r.views.data(), r.views.size(), out.data(), nullptr) ==
        QKV_ERR_NULL_POINTER);
  qkv_mha_desc bad = full;
  bad.d_out = 7;
  CHECK(qkv_mha_param_load(&bad, "attn.", r.views.data(), r.views.size(), out.data(), nullptr) == QKV_ERR_BAD_SHAPE);
  CHECK(qkv_mha_param_views(&full, params.data(), "", nullptr, 0, nullptr) == QKV_ERR_NULL_POINTER);
}

TEST_CASE("safetensors: a grouped-query layer's K/V tensors are d_kv wide, and only it loads them",
          "[safetensors][layer]") {
  qkv_mha_desc gqa = mha(6, 8, 4, 1, 1);
  gqa.num_kv_heads = 2;  // d_head 2: d_kv = 4
  std::size_t count = 0;
  REQUIRE(qkv_mha_param_count(&gqa, &count) == QKV_OK);
  std::vector<float> params(count);
  REQUIRE(qkv_mha_init(&gqa, params.data(), 13) == QKV_OK);
  std::size_t n = 0;
  REQUIRE(qkv_mha_param_views(&gqa, params.data(), "attn.", nullptr, 0, &n) == QKV_OK);
  std::vector<qkv_tensor_view> v(n);
  REQUIRE(qkv_mha_param_views(&gqa, params.data(), "attn.", v.data(), n, &n) == QKV_OK);
  REQUIRE(n == 8u);
  CHECK((std::string(v[1].name) == "attn.w_k" && v[1].shape[0] == 6 && v[1].shape[1] == 4));
  CHECK((std::string(v[2].name) == "attn.w_v" && v[2].shape[1] == 4));
  CHECK((std::string(v[3].name) == "attn.b_q" && v[3].shape[0] == 8));
  CHECK((std::string(v[4].name) == "attn.b_k" && v[4].shape[0] == 4));
  CHECK((std::string(v[6].name) == "attn.w_o" && v[6].shape[0] == 8 && v[6].shape[1] == 8));
  const bytes f = write(v);
  read_result r = read(f);
  REQUIRE(r.st == QKV_OK);
  std::vector<float> loaded(count, -7.f);
  REQUIRE(qkv_mha_param_load(&gqa, "attn.", r.views.data(), r.views.size(), loaded.data(), nullptr) == QKV_OK);
  CHECK(std::memcmp(loaded.data(), params.data(), count * sizeof(float)) == 0);
  // The same shapes without grouping want 8-wide K and V: refused at w_k, nothing written.
  const qkv_mha_desc full = mha(6, 8, 4, 1, 1);
  std::size_t fc = 0;
  REQUIRE(qkv_mha_param_count(&full, &fc) == QKV_OK);
  std::vector<float> out(fc, -3.f);
  qkv_safetensors_diag diag{};
  CHECK(qkv_mha_param_load(&full, "attn.", r.views.data(), r.views.size(), out.data(), &diag) == QKV_ERR_BAD_SHAPE);
  CHECK(std::string(diag.name) == "attn.w_k");
  CHECK(std::all_of(out.begin(), out.end(), [](float x) { return x == -3.f; }));
}
