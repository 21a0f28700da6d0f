// SPDX-License-Identifier: MIT
// io/safetensors - see safetensors.hpp. The header grammar this parser takes
// (JSON restricted to the schema; ws is space, tab, CR, LF):
//
//   header  := '{' ws [ member (ws ',' ws member)* ws ] '}' ws*      (first byte '{')
//   member  := string ws ':' ws ( meta | tensor )
//   meta    := '{' ws [ string ws ':' ws string (ws ',' ws string ws ':' ws string)* ws ] '}'
//   tensor  := '{' ws field ws ',' ws field ws ',' ws field ws '}'   (each field once, any order)
//   field   := "dtype" ':' string | "shape" ':' '[' [ uint (',' uint)* ] ']'
//            | "data_offsets" ':' '[' uint ',' uint ']'
//   uint    := '0' | [1-9][0-9]*                          (at most SIZE_MAX)
//
// Keys are compared after unescaping ("dtyp\u0065" is "dtype"), as any JSON
// reader would. Positions are absolute offsets in the file, so a diagnostic
// points at the byte. Every read is at a position checked against the end.
#include "io/safetensors.hpp"

#include <cstdint>
#include <cstring>

#include "util/size_math.hpp"

namespace qkv::io {
namespace {

using util::add_ok;
using util::mul_ok;

struct dtype_entry {
  const char* name;
  std::size_t size;
};
// Indexed by qkv_dtype.
constexpr dtype_entry kDtypes[QKV_DTYPE_COUNT] = {{"F32", 4},  {"F16", 2}, {"BF16", 2}, {"I8", 1},      {"U8", 1},
                                                  {"BOOL", 1}, {"I16", 2}, {"U16", 2},  {"I32", 4},     {"U32", 4},
                                                  {"I64", 8},  {"U64", 8}, {"F64", 8},  {"F8_E4M3", 1}, {"F8_E5M2", 1}};

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// A JSON string in the file: its body [begin, end) between the quotes.
// No default member initializers here or in the records below, no `= {}`
// and no struct assignment: on bare metal GCC clears and copies such objects
// with memset and memcpy calls, which the library must not need
// (util/copy.hpp); fields are set one by one.
struct jstr {
  std::size_t begin, end;
  std::size_t decoded;  // bytes once unescaped
  bool escaped;         // holds a backslash
  bool has_nul;         // decodes to a NUL byte somewhere
};

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at p (the caller has checked they are in bounds); -1 if not hex.
long hex4(const unsigned char* p) {
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

std::size_t utf8_len(long cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

// JSON's two-character escapes: the letter after the backslash (kEscapes[i])
// stands for the byte kEscaped[i]. The writer emits these; the parser takes
// them and \u.
constexpr char kEscapes[] = "\"\\/bfnrt";
constexpr char kEscaped[] = "\"\\/\b\f\n\r\t";

// Index of c in the NUL-terminated table, or -1 (c 0 is never found).
int find(const char* table, unsigned char c) {
  for (int i = 0; table[i]; ++i)
    if (static_cast<unsigned char>(table[i]) == c) return i;
  return -1;
}

// The byte a two-character escape's letter e (validated) stands for.
int unescape(unsigned char e) { return static_cast<unsigned char>(kEscaped[find(kEscapes, e)]); }

// Length of the UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80), 0 if invalid.
std::size_t utf8_seq(const unsigned char* s, std::size_t n) {
  const unsigned char c = s[0];
  std::size_t len;
  unsigned long cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;  // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF)
  }
  if (n < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;  // overlong, too big
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                                               // a surrogate
  return len;
}

// Decodes a validated jstr one byte at a time.
class jdecoder {
 public:
  jdecoder(const unsigned char* file, const jstr& s) : p_(file + s.begin), end_(file + s.end) {}
  // The next decoded byte, or -1 at the end.
  int next() {
    if (i_ < n_) return buf_[i_++];
    if (p_ == end_) return -1;
    if (*p_ != '\\') return *p_++;
    const unsigned char e = p_[1];
    p_ += 2;
    if (e != 'u') return unescape(e);
    long cp = hex4(p_);
    p_ += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: a low surrogate escape follows
      cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(p_ + 2) - 0xDC00);
      p_ += 6;
    }
    // UTF-8: the lead byte's marker and top bits, then 6 bits per byte.
    static const unsigned char kLead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
    n_ = static_cast<int>(utf8_len(cp)), i_ = 0;
    for (int k = n_ - 1; k > 0; --k, cp >>= 6) buf_[k] = static_cast<unsigned char>(0x80 | (cp & 0x3F));
    buf_[0] = static_cast<unsigned char>(kLead[n_] | cp);
    return buf_[i_++];
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
  unsigned char buf_[4];  // read only below n_
  int n_ = 0, i_ = 0;
};

// Decoded string compared with a NUL-terminated one: <0, 0, >0.
int compare(const unsigned char* file, const jstr& s, const char* lit) {
  if (!s.escaped) {  // the common case: the bytes themselves
    std::size_t i = 0;
    for (; s.begin + i < s.end; ++i) {
      const unsigned char a = file[s.begin + i], b = static_cast<unsigned char>(lit[i]);
      if (b == 0) return 1;
      if (a != b) return a < b ? -1 : 1;
    }
    return lit[i] ? -1 : 0;
  }
  jdecoder d(file, s);
  for (std::size_t i = 0;; ++i) {
    const int a = d.next(), b = static_cast<unsigned char>(lit[i]);
    if (a < 0) return b ? -1 : 0;
    if (b == 0) return 1;
    if (a != b) return a < b ? -1 : 1;
  }
}

// Two decoded strings compared bytewise (the order the duplicate check sorts in).
int compare(const unsigned char* file, const jstr& x, const jstr& y) {
  jdecoder a(file, x), b(file, y);
  for (;;) {
    const int u = a.next(), v = b.next();
    if (u != v) return u < v ? -1 : 1;
    if (u < 0) return 0;
  }
}

// ---- the parser -----------------------------------------------------------

struct tensor_rec {
  jstr name;
  int dtype;
  std::size_t rank;
  std::size_t shape[QKV_SAFETENSORS_MAX_RANK];
  std::size_t begin, end;
  std::size_t at;  // offset of the entry's name in the file
};

struct meta_rec {
  jstr key, value;
  std::size_t at;
};

// Not inlined: five callers, and each inlined copy is its field-by-field stores.
[[gnu::noinline]] void assign(jstr& d, const jstr& s) {
  d.begin = s.begin, d.end = s.end, d.decoded = s.decoded, d.escaped = s.escaped, d.has_nul = s.has_nul;
}

// What the parser hands each header entry to. One parser serves every pass
// (count, read, find a metadata key) through these calls: a parser
// instantiated per pass would be three copies of it in the library.
class visitor {
 public:
  virtual qkv_status tensor(const tensor_rec&) { return QKV_OK; }
  virtual qkv_status meta(const meta_rec&) { return QKV_OK; }

 protected:
  ~visitor() = default;
};

class parser {
 public:
  parser(const unsigned char* f, std::size_t bytes, qkv_safetensors_diag* diag) : f_(f), bytes_(bytes), diag_(diag) {}

  std::size_t data_start() const { return data_start_; }

  // Parses the whole header, calling v.tensor and v.meta for every entry
  // (the first status other than QKV_OK ends the parse).
  qkv_status run(visitor& v) {
    if (bytes_ < 8) return error(QKV_ERR_BAD_FORMAT, "file shorter than the 8-byte header length", 0);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | f_[i];
    if (n > QKV_SAFETENSORS_MAX_HEADER)
      return error(QKV_ERR_BAD_FORMAT, "header length above the format's limit of 100,000,000 bytes", 0);
    if (n > bytes_ - 8) return error(QKV_ERR_BAD_FORMAT, "header length runs past the end of the file (truncated)", 0);
    end_ = 8 + static_cast<std::size_t>(n);
    data_start_ = end_;
    pos_ = 8;
    if (pos_ == end_ || f_[pos_] != '{') return error(QKV_ERR_BAD_FORMAT, "header does not start with '{'", pos_);
    ++pos_;
    skip_ws();
    bool seen_meta = false;
    if (!peek('}')) {
      for (;;) {
        jstr key;
        const std::size_t at = pos_;
        if (qkv_status st = string(&key); st != QKV_OK) return st;
        if (qkv_status st = colon(); st != QKV_OK) return st;
        if (compare(f_, key, "__metadata__") == 0) {
          if (seen_meta) return error(QKV_ERR_BAD_FORMAT, "\"__metadata__\" given twice", at);
          seen_meta = true;
          if (qkv_status st = metadata(v); st != QKV_OK) return st;
        } else {
          if (qkv_status st = tensor(key, at, v); st != QKV_OK) return st;
        }
        const int more = next_item('}');
        if (more > 0) continue;
        if (more == 0) break;
        return error(QKV_ERR_BAD_FORMAT, "expected ',' or '}' after a header entry", pos_);
      }
    } else {
      ++pos_;  // '}'
    }
    skip_ws();
    if (pos_ != end_)
      return error(QKV_ERR_BAD_FORMAT, "bytes other than whitespace after the header's JSON object", pos_);
    return QKV_OK;
  }

  qkv_status error(qkv_status st, const char* what, std::size_t at, const jstr* name = nullptr) {
    if (diag_) {
      char buf[QKV_SAFETENSORS_MAX_NAME];
      buf[0] = 0;
      if (name && name->decoded < QKV_SAFETENSORS_MAX_NAME && !name->has_nul) decode(*name, buf);
      fail(diag_, st, what, at, buf);
    }
    return st;
  }

  // Writes the decoded string and a NUL at dst (the caller knows it fits).
  void decode(const jstr& s, char* dst) const {
    jdecoder d(f_, s);
    std::size_t i = 0;
    for (int c; (c = d.next()) >= 0;) dst[i++] = static_cast<char>(c);
    dst[i] = 0;
  }

 private:
  bool peek(char c) const { return pos_ < end_ && f_[pos_] == static_cast<unsigned char>(c); }
  void skip_ws() {
    while (pos_ < end_ && (f_[pos_] == ' ' || f_[pos_] == '\t' || f_[pos_] == '\n' || f_[pos_] == '\r')) ++pos_;
  }
  qkv_status expect(char c, const char* what) {
    skip_ws();
    if (!peek(c)) return error(QKV_ERR_BAD_FORMAT, what, pos_);
    ++pos_;
    skip_ws();
    return QKV_OK;
  }
  qkv_status colon() { return expect(':', "expected ':' after a key"); }
  // After an item of a list closed by `close`: 1 at ',' (skipped, with the
  // whitespace after it), 0 at `close` (skipped), -1 at anything else.
  int next_item(char close) {
    skip_ws();
    if (peek(',')) {
      ++pos_;
      skip_ws();
      return 1;
    }
    if (!peek(close)) return -1;
    ++pos_;
    return 0;
  }

  // A JSON string at pos_: validates escapes, UTF-8 and control characters.
  qkv_status string(jstr* s) {
    if (!peek('"')) return error(QKV_ERR_BAD_FORMAT, "expected a string", pos_);
    ++pos_;
    jstr r;
    r.begin = pos_;
    r.end = 0;
    r.decoded = 0;
    r.escaped = false;
    r.has_nul = false;
    for (;;) {
      if (pos_ >= end_) return error(QKV_ERR_BAD_FORMAT, "string not closed before the end of the header", pos_);
      const unsigned char c = f_[pos_];
      if (c == '"') break;
      if (c < 0x20) return error(QKV_ERR_BAD_FORMAT, "control character inside a string", pos_);
      if (c == '\\') {
        r.escaped = true;
        if (end_ - pos_ < 2) return error(QKV_ERR_BAD_FORMAT, "string not closed before the end of the header", pos_);
        const unsigned char e = f_[pos_ + 1];
        if (find(kEscapes, e) >= 0) {
          pos_ += 2;
          ++r.decoded;
          continue;
        }
        if (e != 'u') return error(QKV_ERR_BAD_FORMAT, "invalid escape in a string", pos_);
        if (end_ - pos_ < 6) return error(QKV_ERR_BAD_FORMAT, "truncated \\u escape", pos_);
        long cp = hex4(f_ + pos_ + 2);
        if (cp < 0) return error(QKV_ERR_BAD_FORMAT, "\\u escape without four hex digits", pos_);
        if (cp >= 0xDC00 && cp <= 0xDFFF) return error(QKV_ERR_BAD_FORMAT, "unpaired low surrogate escape", pos_);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const long lo = end_ - pos_ >= 12 && f_[pos_ + 6] == '\\' && f_[pos_ + 7] == 'u' ? hex4(f_ + pos_ + 8) : -1;
          if (lo < 0xDC00 || lo > 0xDFFF) return error(QKV_ERR_BAD_FORMAT, "unpaired high surrogate escape", pos_);
          cp = 0x10000;
          pos_ += 6;
        }
        if (cp == 0) r.has_nul = true;
        r.decoded += utf8_len(cp);
        pos_ += 6;
        continue;
      }
      if (c < 0x80) {
        ++pos_, ++r.decoded;
        continue;
      }
      const std::size_t len = utf8_seq(f_ + pos_, end_ - pos_);
      if (len == 0) return error(QKV_ERR_BAD_FORMAT, "invalid UTF-8 in a string", pos_);
      pos_ += len, r.decoded += len;
    }
    r.end = pos_;
    ++pos_;  // closing quote
    assign(*s, r);
    return QKV_OK;
  }

  // An unsigned integer at pos_.
  qkv_status number(std::size_t* out) {
    if (pos_ >= end_ || f_[pos_] < '0' || f_[pos_] > '9')
      return error(QKV_ERR_BAD_FORMAT, "expected a non-negative integer", pos_);
    const std::size_t at = pos_;
    std::size_t v = 0;
    bool overflow = false;
    while (pos_ < end_ && f_[pos_] >= '0' && f_[pos_] <= '9') {
      if (!mul_ok(v, 10, &v) || !add_ok(v, static_cast<std::size_t>(f_[pos_] - '0'), &v)) overflow = true;
      ++pos_;
    }
    if (f_[at] == '0' && pos_ - at > 1) return error(QKV_ERR_BAD_FORMAT, "number with a leading zero", at);
    if (pos_ < end_ && (f_[pos_] == '.' || f_[pos_] == 'e' || f_[pos_] == 'E'))
      return error(QKV_ERR_BAD_FORMAT, "expected an integer, found a fraction or exponent", at);
    if (overflow) return error(QKV_ERR_SIZE_OVERFLOW, "integer larger than SIZE_MAX", at);
    *out = v;
    return QKV_OK;
  }

  qkv_status metadata(visitor& v) {
    if (!peek('{')) return error(QKV_ERR_BAD_FORMAT, "\"__metadata__\" is not an object", pos_);
    ++pos_;
    skip_ws();
    if (peek('}')) {
      ++pos_;
      return QKV_OK;
    }
    for (;;) {
      meta_rec m;
      m.at = pos_;
      if (qkv_status st = string(&m.key); st != QKV_OK) return st;
      if (qkv_status st = colon(); st != QKV_OK) return st;
      if (!peek('"')) return error(QKV_ERR_BAD_FORMAT, "a \"__metadata__\" value is not a string", pos_);
      if (qkv_status st = string(&m.value); st != QKV_OK) return st;
      if (qkv_status st = v.meta(m); st != QKV_OK) return st;
      const int more = next_item('}');
      if (more > 0) continue;
      if (more == 0) return QKV_OK;
      return error(QKV_ERR_BAD_FORMAT, "expected ',' or '}' in \"__metadata__\"", pos_);
    }
  }

  qkv_status tensor(const jstr& name, std::size_t at, visitor& v) {
    if (!peek('{')) return error(QKV_ERR_BAD_FORMAT, "a tensor entry is not an object", pos_, &name);
    ++pos_;
    skip_ws();
    tensor_rec t;
    assign(t.name, name);
    t.dtype = 0;
    t.rank = 0;
    t.begin = t.end = 0;
    t.at = at;
    // The three fields by index (0 dtype, 1 shape, 2 data_offsets): one
    // comparison loop and one check of each kind, messages from the tables.
    static const char* const kField[3] = {"dtype", "shape", "data_offsets"};
    static const char* const kTwice[3] = {"dtype given twice", "shape given twice", "data_offsets given twice"};
    static const char* const kNotType[3] = {"dtype is not a string", "shape is not an array",
                                            "data_offsets is not an array"};
    unsigned seen = 0;  // bit f: field f given
    if (peek('}')) return error(QKV_ERR_BAD_FORMAT, "a tensor entry lacks dtype, shape and data_offsets", pos_, &name);
    for (;;) {
      jstr key;
      const std::size_t key_at = pos_;
      if (qkv_status st = string(&key); st != QKV_OK) return st;
      if (qkv_status st = colon(); st != QKV_OK) return st;
      int f = 0;
      while (f < 3 && compare(f_, key, kField[f]) != 0) ++f;
      if (f == 3)
        return error(QKV_ERR_BAD_FORMAT, "a tensor entry has a field other than dtype, shape, data_offsets", key_at,
                     &name);
      if (seen & (1u << f)) return error(QKV_ERR_BAD_FORMAT, kTwice[f], key_at, &name);
      seen |= 1u << f;
      const std::size_t value_at = pos_;
      if (!peek(f == 0 ? '"' : '[')) return error(QKV_ERR_BAD_FORMAT, kNotType[f], pos_, &name);
      if (f == 0) {
        jstr d;
        if (qkv_status st = string(&d); st != QKV_OK) return st;
        int k = 0;
        while (k < QKV_DTYPE_COUNT && compare(f_, d, kDtypes[k].name) != 0) ++k;
        if (k == QKV_DTYPE_COUNT) return error(QKV_ERR_BAD_DTYPE, "dtype is not one qkv knows", value_at, &name);
        t.dtype = k;
      } else {
        ++pos_;  // '['
        skip_ws();
        if (f == 1) {
          if (peek(']')) {
            ++pos_;
          } else {
            for (;;) {
              if (t.rank == QKV_SAFETENSORS_MAX_RANK)
                return error(QKV_ERR_UNSUPPORTED, "shape of more dimensions than QKV_SAFETENSORS_MAX_RANK", pos_,
                             &name);
              if (qkv_status st = number(&t.shape[t.rank]); st != QKV_OK) return st;
              ++t.rank;
              const int more = next_item(']');
              if (more > 0) continue;
              if (more == 0) break;
              return error(QKV_ERR_BAD_FORMAT, "expected ',' or ']' in shape", pos_, &name);
            }
          }
        } else {
          static const char kTwoInts[] = "data_offsets must hold two integers";
          if (qkv_status st = number(&t.begin); st != QKV_OK) return st;
          if (qkv_status st = expect(',', kTwoInts); st != QKV_OK) return st;
          if (qkv_status st = number(&t.end); st != QKV_OK) return st;
          if (qkv_status st = expect(']', kTwoInts); st != QKV_OK) return st;
        }
      }
      const int more = next_item('}');
      if (more > 0) continue;
      if (more == 0) break;
      return error(QKV_ERR_BAD_FORMAT, "expected ',' or '}' in a tensor entry", pos_, &name);
    }
    if (seen != 7u) return error(QKV_ERR_BAD_FORMAT, "a tensor entry lacks dtype, shape or data_offsets", at, &name);
    if (name.decoded >= QKV_SAFETENSORS_MAX_NAME)
      return error(QKV_ERR_UNSUPPORTED, "tensor name longer than QKV_SAFETENSORS_MAX_NAME - 1 bytes", at);
    if (name.has_nul) return error(QKV_ERR_UNSUPPORTED, "tensor name holds a NUL character", at);
    if (t.begin > t.end) return error(QKV_ERR_BAD_FORMAT, "data_offsets begin after they end", at, &name);
    std::size_t want = kDtypes[t.dtype].size;
    for (std::size_t i = 0; i < t.rank; ++i)
      if (!mul_ok(want, t.shape[i], &want))
        return error(QKV_ERR_SIZE_OVERFLOW, "shape x dtype size overflows size_t", at, &name);
    if (t.end > bytes_ - data_start_)
      return error(QKV_ERR_BAD_FORMAT, "data_offsets run past the end of the file", at, &name);
    if (t.end - t.begin != want)
      return error(QKV_ERR_BAD_FORMAT, "data_offsets span differs from shape x dtype size", at, &name);
    return v.tensor(t);
  }

  const unsigned char* f_;
  std::size_t bytes_;
  qkv_safetensors_diag* diag_;
  std::size_t pos_ = 0, end_ = 0, data_start_ = 0;
};

struct counter final : visitor {
  std::size_t tensors = 0, metas = 0;
  qkv_status tensor(const tensor_rec&) override {
    ++tensors;
    return QKV_OK;
  }
  qkv_status meta(const meta_rec&) override {
    ++metas;
    return QKV_OK;
  }
};

// One header entry kept for the checks that compare entries; a tensor's
// record (for the output) is recs[rec].
struct entry {
  jstr name;
  std::size_t begin, end, at, rec;
  bool is_meta;
};

// The workspace: entries, their indices (sorted twice), and the tensors'
// records in header order.
struct store final : visitor {
  explicit store(std::size_t cap) : entries(nullptr), order(nullptr), recs(nullptr), capacity(cap), n(0), t(0) {}
  entry* entries;
  std::size_t* order;
  tensor_rec* recs;
  std::size_t capacity, n, t;
  void add(const jstr& name, std::size_t begin, std::size_t end, std::size_t at, bool is_meta) {
    entry& e = entries[n];
    assign(e.name, name);
    e.begin = begin, e.end = end, e.at = at, e.rec = t, e.is_meta = is_meta;
    order[n] = n;
    ++n;
  }
  qkv_status tensor(const tensor_rec& r) override {
    if (n == capacity) return QKV_ERR_BAD_FORMAT;  // cannot happen: the scan counted the same header
    copy_bytes(&recs[t], &r, sizeof r);
    add(r.name, r.begin, r.end, r.at, false);
    ++t;
    return QKV_OK;
  }
  qkv_status meta(const meta_rec& m) override {
    if (n == capacity) return QKV_ERR_BAD_FORMAT;
    add(m.key, 0, 0, m.at, true);
    return QKV_OK;
  }
};

// The two orders st_read sorts entries in: by (kind, decoded name, place
// in the header), or (tensors) by (begin, end, place in the header).
struct entry_order {
  const unsigned char* file;
  const entry* e;
  bool by_offset;
  bool operator()(std::size_t a, std::size_t b) const {
    const entry &x = e[a], &y = e[b];
    if (by_offset) {
      if (x.begin != y.begin) return x.begin < y.begin;
      if (x.end != y.end) return x.end < y.end;
    } else {
      if (x.is_meta != y.is_meta) return y.is_meta;
      const int c = compare(file, x.name, y.name);
      if (c != 0) return c < 0;
    }
    return x.at < y.at;
  }
};

// Heap sort of idx[0, n) by less(a, b): O(n log n), no memory, no recursion.
void heap_sort(std::size_t* idx, std::size_t n, const entry_order& less) {
  auto sift = [&](std::size_t root, std::size_t len) {
    for (;;) {
      std::size_t child = 2 * root + 1;
      if (child >= len) return;
      if (child + 1 < len && less(idx[child], idx[child + 1])) ++child;
      if (!less(idx[root], idx[child])) return;
      const std::size_t tmp = idx[root];
      idx[root] = idx[child];
      idx[child] = tmp;
      root = child;
    }
  };
  for (std::size_t i = n / 2; i-- > 0;) sift(i, n);
  for (std::size_t len = n; len > 1; --len) {
    const std::size_t tmp = idx[0];
    idx[0] = idx[len - 1];
    idx[len - 1] = tmp;
    sift(0, len - 1);
  }
}

struct ws_layout {
  std::size_t entries, order, recs, total;
};

bool layout(std::size_t tensors, std::size_t metas, ws_layout* l) {
  std::size_t n, e, o, r, off = 0;
  if (!add_ok(tensors, metas, &n) || !mul_ok(n, sizeof(entry), &e) || !mul_ok(n, sizeof(std::size_t), &o) ||
      !mul_ok(tensors, sizeof(tensor_rec), &r))
    return false;
  constexpr std::size_t kAlign = alignof(tensor_rec) > alignof(entry) ? alignof(tensor_rec) : alignof(entry);
  static_assert(kAlign >= alignof(std::size_t), "size_t arrays are placed at this alignment");
  auto place = [&](std::size_t* at, std::size_t bytes) {
    if (!add_ok(off, kAlign - 1, &off)) return false;
    off &= ~(kAlign - 1);
    *at = off;
    return add_ok(off, bytes, &off);
  };
  if (!place(&l->entries, e) || !place(&l->order, o) || !place(&l->recs, r)) return false;
  // Slack to align the base itself; nothing at all for an empty header.
  if (n == 0) {
    l->total = 0;
    return true;
  }
  return add_ok(off, kAlign, &l->total);
}

void put_u64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// ---- the writer's output: counts (dst null) or writes ---------------------

class sink {
 public:
  explicit sink(unsigned char* dst) : dst_(dst) {}
  void put(char c) {
    if (dst_) dst_[n_] = static_cast<unsigned char>(c);
    bump(1);
  }
  void raw(const char* s) {
    while (*s) put(*s++);
  }
  void num(std::size_t v) {
    char buf[24];
    int k = 0;
    do {
      buf[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (k) put(buf[--k]);
  }
  // A JSON string with the escapes the reference writer uses: the
  // two-character ones but "\/" ('/' as it is), \u00XX for other controls.
  void str(const char* s) {
    static const char kHex[] = "0123456789abcdef";
    put('"');
    for (; *s; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      const int e = c == '/' ? -1 : find(kEscaped, c);
      if (e >= 0) {
        put('\\');
        put(kEscapes[e]);
      } else if (c < 0x20) {
        raw("\\u00");
        put(kHex[c >> 4]);
        put(kHex[c & 15]);
      } else {
        put(static_cast<char>(c));
      }
    }
    put('"');
  }
  std::size_t size() const { return n_; }
  bool ok() const { return ok_; }

 private:
  void bump(std::size_t k) {
    if (!add_ok(n_, k, &n_)) ok_ = false;
  }
  unsigned char* dst_;
  std::size_t n_ = 0;
  bool ok_ = true;
};

// The header's JSON (unpadded), into s.
void header_json(sink& s, const qkv_tensor_view* t, std::size_t count, const qkv_safetensors_meta* meta,
                 std::size_t meta_count) {
  s.put('{');
  bool first = true;
  if (meta_count) {
    s.raw("\"__metadata__\":{");
    for (std::size_t i = 0; i < meta_count; ++i) {
      if (i) s.put(',');
      s.str(meta[i].key);
      s.put(':');
      s.str(meta[i].value);
    }
    s.put('}');
    first = false;
  }
  std::size_t off = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!first) s.put(',');
    first = false;
    s.str(t[i].name);
    s.raw(":{\"dtype\":");
    s.put('"');
    s.raw(kDtypes[t[i].dtype].name);
    s.raw("\",\"shape\":[");
    for (std::size_t d = 0; d < t[i].rank; ++d) {
      if (d) s.put(',');
      s.num(t[i].shape[d]);
    }
    s.raw("],\"data_offsets\":[");
    s.num(off);
    s.put(',');
    if (!add_ok(off, t[i].bytes, &off)) off = 0;  // the size pass reports the overflow
    s.num(off);
    s.raw("]}");
  }
  s.put('}');
}

}  // namespace

std::size_t dtype_size(int dtype) noexcept { return kDtypes[dtype].size; }
const char* dtype_name(int dtype) noexcept { return kDtypes[dtype].name; }

qkv_status fail(qkv_safetensors_diag* diag, qkv_status st, const char* what, std::size_t offset,
                const char* name) noexcept {
  if (diag) {
    diag->offset = offset;
    diag->what = what;
    std::size_t i = 0;
    if (name)
      for (; name[i] && i + 1 < QKV_SAFETENSORS_MAX_NAME; ++i) diag->name[i] = name[i];
    for (; i < QKV_SAFETENSORS_MAX_NAME; ++i) diag->name[i] = 0;
  }
  return st;
}

qkv_status st_scan(const unsigned char* file, std::size_t bytes, std::size_t* tensors, std::size_t* metas,
                   qkv_safetensors_diag* diag) noexcept {
  parser p(file, bytes, diag);
  counter c;
  if (qkv_status st = p.run(c); st != QKV_OK) return st;
  *tensors = c.tensors;
  *metas = c.metas;
  return QKV_OK;
}

bool st_workspace_bytes(std::size_t tensors, std::size_t metas, std::size_t* bytes) noexcept {
  ws_layout l;
  if (!layout(tensors, metas, &l)) return false;
  *bytes = l.total;
  return true;
}

qkv_status st_read(const unsigned char* file, std::size_t bytes, std::size_t tensors, std::size_t metas,
                   qkv_tensor_view* out, void* workspace, std::size_t workspace_bytes,
                   qkv_safetensors_diag* diag) noexcept {
  ws_layout l;
  if (!layout(tensors, metas, &l)) return fail(diag, QKV_ERR_SIZE_OVERFLOW, "workspace size overflows size_t");
  parser p(file, bytes, diag);
  const std::size_t n = tensors + metas;
  store s(n);
  if (n) {
    constexpr std::size_t kAlign = alignof(tensor_rec) > alignof(entry) ? alignof(tensor_rec) : alignof(entry);
    char* base = util::align_up<char>(workspace, kAlign);
    (void)workspace_bytes;  // the boundary checked it holds l.total
    s.entries = reinterpret_cast<entry*>(base + l.entries);
    s.order = reinterpret_cast<std::size_t*>(base + l.order);
    s.recs = reinterpret_cast<tensor_rec*>(base + l.recs);
  }
  if (qkv_status st = p.run(s); st != QKV_OK) return st;
  if (s.n != n || s.t != tensors) return fail(diag, QKV_ERR_BAD_FORMAT, "header changed between the two passes");

  // Unique names: sorted by (kind, decoded name), equal neighbours are duplicates.
  const entry* e = s.entries;
  heap_sort(s.order, n, entry_order{file, e, false});
  for (std::size_t i = 1; i < n; ++i) {
    const entry& a = e[s.order[i - 1]];
    const entry& b = e[s.order[i]];
    if (a.is_meta == b.is_meta && compare(file, a.name, b.name) == 0)
      return b.is_meta ? p.error(QKV_ERR_BAD_FORMAT, "two \"__metadata__\" entries with the same key", b.at)
                       : p.error(QKV_ERR_BAD_FORMAT, "two tensors with the same name", b.at, &b.name);
  }
  // The tensors sort first (is_meta false); by offset they must tile the data section.
  std::size_t* ord = s.order;
  heap_sort(ord, tensors, entry_order{file, e, true});
  const std::size_t data_bytes = bytes - p.data_start();
  std::size_t next = 0;
  for (std::size_t i = 0; i < tensors; ++i) {
    const entry& t = e[ord[i]];
    if (t.begin > next) return p.error(QKV_ERR_BAD_FORMAT, "gap in the data section before this tensor", t.at, &t.name);
    if (t.begin < next) return p.error(QKV_ERR_BAD_FORMAT, "tensor overlaps the one before it", t.at, &t.name);
    next = t.end;
  }
  if (next != data_bytes)
    return fail(diag, QKV_ERR_BAD_FORMAT, "data section holds bytes after the last tensor", p.data_start() + next);

  // Every check passed: the views, in offset order.
  for (std::size_t i = 0; i < tensors; ++i) {
    const tensor_rec& rec = s.recs[e[ord[i]].rec];
    qkv_tensor_view& v = out[i];
    p.decode(rec.name, v.name);
    for (std::size_t k = rec.name.decoded + 1; k < QKV_SAFETENSORS_MAX_NAME; ++k) v.name[k] = 0;
    v.dtype = static_cast<qkv_dtype>(rec.dtype);
    v.rank = rec.rank;
    for (std::size_t d = 0; d < QKV_SAFETENSORS_MAX_RANK; ++d) v.shape[d] = d < rec.rank ? rec.shape[d] : 0;
    v.data = file + p.data_start() + rec.begin;
    v.bytes = rec.end - rec.begin;
  }
  return QKV_OK;
}

namespace {
struct meta_finder final : visitor {
  meta_finder(const unsigned char* f, const char* k) : file(f), key(k) {}
  const unsigned char* file;
  const char* key;
  std::size_t found = 0;
  jstr value;  // set with the first match (found > 0)
  std::size_t second_at = 0;
  qkv_status meta(const meta_rec& m) override {
    if (compare(file, m.key, key) != 0) return QKV_OK;
    if (++found == 2) second_at = m.at;
    if (found == 1) assign(value, m.value);
    return QKV_OK;
  }
};
}  // namespace

qkv_status st_metadata(const unsigned char* file, std::size_t bytes, const char* key, char* value, std::size_t capacity,
                       std::size_t* length, qkv_safetensors_diag* diag) noexcept {
  parser p(file, bytes, diag);
  meta_finder m(file, key);
  if (qkv_status st = p.run(m); st != QKV_OK) return st;
  if (m.found == 0) return fail(diag, QKV_ERR_NOT_FOUND, "no \"__metadata__\" entry with this key");
  if (m.found > 1) return fail(diag, QKV_ERR_BAD_FORMAT, "two \"__metadata__\" entries with the same key", m.second_at);
  if (value) {
    if (capacity <= m.value.decoded)
      return fail(diag, QKV_ERR_CAPACITY, "value buffer shorter than the value and its NUL");
    p.decode(m.value, value);
  }
  *length = m.value.decoded;
  return QKV_OK;
}

bool valid_utf8(const unsigned char* s, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = utf8_seq(s + i, n - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool st_write_size(const qkv_tensor_view* tensors, std::size_t count, const qkv_safetensors_meta* meta,
                   std::size_t meta_count, std::size_t* size) noexcept {
  sink s(nullptr);
  header_json(s, tensors, count, meta, meta_count);
  std::size_t header = s.size(), data = 0, total;
  if (!s.ok() || !add_ok(header, (8 - header % 8) % 8, &header) || header > QKV_SAFETENSORS_MAX_HEADER) return false;
  for (std::size_t i = 0; i < count; ++i)
    if (!add_ok(data, tensors[i].bytes, &data)) return false;
  if (!add_ok(8, header, &total) || !add_ok(total, data, &total)) return false;
  *size = total;
  return true;
}

void st_write(const qkv_tensor_view* tensors, std::size_t count, const qkv_safetensors_meta* meta,
              std::size_t meta_count, unsigned char* dst) noexcept {
  sink s(dst + 8);
  header_json(s, tensors, count, meta, meta_count);
  std::size_t header = s.size();
  while (header % 8) dst[8 + header++] = ' ';
  put_u64(dst, header);
  unsigned char* p = dst + 8 + header;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t n = tensors[i].bytes;
    const auto* src = static_cast<const unsigned char*>(tensors[i].data);
    if (kLittleEndian) {
      copy_bytes(p, src, n);
    } else {  // host order to little-endian, element by element
      const std::size_t es = kDtypes[tensors[i].dtype].size;
      for (std::size_t j = 0; j < n; j += es)
        for (std::size_t b = 0; b < es; ++b) p[j + b] = src[j + es - 1 - b];
    }
    p += n;
  }
}

void load_le_f32(float* dst, const unsigned char* src, std::size_t n) noexcept {
  if (kLittleEndian) {
    copy_bytes(dst, src, n * sizeof(float));
    return;
  }
  auto* d = reinterpret_cast<unsigned char*>(dst);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < 4; ++b) d[4 * i + b] = src[4 * i + 3 - b];
}

void copy_bytes(void* dst, const void* src, std::size_t n) noexcept {
#ifdef QKV_HOSTED
  if (n) std::memcpy(dst, src, n);
#else
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
#endif
}

std::size_t bounded_strlen(const char* s, std::size_t limit) noexcept {
  std::size_t n = 0;
  while (n < limit && s[n]) ++n;
  return n;
}

}  // namespace qkv::io
