// A forward-only reader over one JSON text, for hot codecs that parse straight into their own
// types instead of building a json::Value tree (e.g. the mandate credential on every verify).
//
// It accepts a strict subset of JSON and gives no reasons: anything else, valid JSON included
// (escapes, non-ASCII or control bytes in strings, numbers other than plain unsigned integers,
// true/false/null), makes it fail. A codec built on it is a fast path only: when it fails, the
// caller parses the same text with json::Parse and its strict codec, which name the fault. So a
// codec must itself refuse everything its strict twin refuses (unknown or repeated members,
// wrong types, bad values), and accept only what that twin accepts, with an equal result.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mandated::json {

// The number of bytes at the start of [p, end) that are printable ASCII (0x20-0x7f) other than
// '"' and '\\': what a JSON string can hold as is. Eight bytes per step.
inline size_t PlainAsciiRun(const char* p, const char* end) {
  constexpr uint64_t k01 = 0x0101010101010101u;
  constexpr uint64_t k80 = 0x8080808080808080u;
  const char* const start = p;
  while (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const uint64_t quote = x ^ (k01 * '"');
    const uint64_t backslash = x ^ (k01 * '\\');
    // Non-zero exactly when some byte is >= 0x80, < 0x20, '"' or '\\' (bit tricks that are exact
    // as a whole, though not per byte; the byte loop below finds which).
    const uint64_t stop = (x & k80) | ((x - k01 * 0x20) & ~x & k80) |
                          ((quote - k01) & ~quote & k80) | ((backslash - k01) & ~backslash & k80);
    if (stop != 0) {
      break;
    }
    p += 8;
  }
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      break;
    }
    ++p;
  }
  return static_cast<size_t>(p - start);
}

// Header-only, so that codecs inline it. Thread safety: not synchronized; one scanner per text
// and thread. Borrows the text.
class Scanner {
 public:
  explicit Scanner(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  // False once anything failed; every call after a failure fails too.
  bool ok() const { return ok_; }
  // Marks the text as refused (e.g. a codec saw an unknown or repeated member); returns false.
  bool Fail() {
    ok_ = false;
    p_ = end_;
    return false;
  }

  // Consumes '{' (after whitespace). Then, while NextMember(first, key) is true, the caller reads
  // the member's value with one call (String, Uint, BeginObject...); NextMember returns false at
  // the closing '}' (consumed) or on failure (check ok()). `first` starts true.
  bool BeginObject() { return Expect('{'); }
  bool NextMember(bool& first, std::string_view& key);
  // Consumes '['. Then, while NextItem(first) is true, the caller reads one item; false at ']'
  // (consumed) or on failure.
  bool BeginArray() { return Expect('['); }
  bool NextItem(bool& first);

  // A string of printable ASCII (0x20-0x7f) without escapes, returned as a view into the text.
  bool String(std::string_view& out);
  // A non-negative integer written as JSON writes one (no sign, fraction, exponent or leading
  // zero) that fits `max`.
  bool Uint(uint64_t& out, uint64_t max = UINT64_MAX);
  // The next character after whitespace (not consumed), or -1 at the end or after a failure.
  int Peek() {
    SkipSpace();
    return ok_ && p_ < end_ ? static_cast<unsigned char>(*p_) : -1;
  }
  // Consumes exactly `word` (true, false, null) after whitespace.
  bool Literal(std::string_view word) {
    SkipSpace();
    if (static_cast<size_t>(end_ - p_) >= word.size() &&
        std::string_view(p_, word.size()) == word) {
      p_ += word.size();
      return ok_;
    }
    return Fail();
  }
  // Only whitespace remains.
  bool AtEnd() {
    SkipSpace();
    return ok_ && p_ == end_;
  }

 private:
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Expect(char c) {
    SkipSpace();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return ok_;
    }
    return Fail();
  }

  const char* p_;
  const char* end_;
  bool ok_ = true;
};

inline bool Scanner::NextMember(bool& first, std::string_view& key) {
  SkipSpace();
  if (p_ < end_ && *p_ == '}' && ok_) {
    ++p_;
    return false;
  }
  if (!first && !Expect(',')) {
    return false;
  }
  first = false;
  if (!String(key)) {
    return false;
  }
  return Expect(':');
}

inline bool Scanner::NextItem(bool& first) {
  SkipSpace();
  if (p_ < end_ && *p_ == ']' && ok_) {
    ++p_;
    return false;
  }
  if (!first && !Expect(',')) {
    return false;
  }
  first = false;
  return ok_;
}

inline bool Scanner::String(std::string_view& out) {
  if (!Expect('"')) {
    return false;
  }
  const char* start = p_;
  p_ += PlainAsciiRun(p_, end_);
  // Escapes, control characters and non-ASCII bytes are left to the strict parser.
  if (p_ < end_ && *p_ == '"') {
    out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return ok_;
  }
  return Fail();
}

inline bool Scanner::Uint(uint64_t& out, uint64_t max) {
  SkipSpace();
  if (!ok_ || p_ == end_ || *p_ < '0' || *p_ > '9') {
    return Fail();
  }
  uint64_t v = 0;
  const char* start = p_;
  while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
    const auto d = static_cast<uint64_t>(*p_ - '0');
    if (d > max || v > (max - d) / 10) {
      return Fail();
    }
    v = v * 10 + d;
    ++p_;
  }
  if ((*start == '0' && p_ - start > 1) ||
      (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E'))) {
    return Fail();
  }
  out = v;
  return true;
}

class Value;
// Reads one JSON value of the subset above (plus true, false and null) into `out`, nesting at
// most `max_depth` arrays and objects; fails on a repeated key (defined in json.cc). json::Parse
// tries it first and falls back to its full parser, which names any fault.
bool ScanValue(Scanner& s, int max_depth, Value& out);
// The most members of one object ScanValue takes; a larger object is declined (to the full
// parser, whose repeated-key check is not quadratic).
inline constexpr size_t kMaxScannedMembers = 32;

// For strict object scanners: the index of `key` among `names`, marking it in the bit set
// `seen`; a key seen twice or not among `names` fails the scanner and gives -1.
template <size_t N>
int MemberIndex(Scanner& s, std::string_view key, const std::array<std::string_view, N>& names,
                uint32_t& seen) {
  static_assert(N <= 32, "seen holds 32 bits");
  for (size_t i = 0; i < N; ++i) {
    if (key == names[i]) {
      if ((seen >> i) & 1) {
        break;
      }
      seen |= uint32_t{1} << i;
      return static_cast<int>(i);
    }
  }
  s.Fail();
  return -1;
}

}  // namespace mandated::json
