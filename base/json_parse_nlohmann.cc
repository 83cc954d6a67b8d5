// Adapter: builds json::Value from nlohmann's SAX parser, adding the strictness nlohmann lacks
// (duplicate keys, depth, exact numbers). The only file of base/ that sees nlohmann.
#include <nlohmann/json.hpp>

#include <exception>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/json.h"
#include "base/json_scan.h"

namespace mandated::json {
namespace {

class StrictSax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit StrictSax(int max_depth) : max_depth_(max_depth) {}

  bool null() override { return Put(Value::Null()); }
  bool boolean(bool val) override { return Put(Value::Bool(val)); }
  bool number_integer(number_integer_t val) override { return Put(Value::Int(val)); }
  bool number_unsigned(number_unsigned_t val) override { return Put(Value::Uint(val)); }
  bool number_float(number_float_t /*val*/, const string_t& s) override {
    return Put(Value::NumberText(s));
  }
  bool string(string_t& val) override { return Put(Value::String(std::move(val))); }
  bool binary(binary_t& /*val*/) override { return Fail("binary values are not JSON", "malformed-json"); }

  bool start_object(std::size_t /*elements*/) override { return Open(Value::Object()); }
  bool key(string_t& val) override {
    Frame& f = stack_.back();
    if (!f.seen.insert(val).second) {
      return Fail("duplicate object key \"" + val + "\"", "duplicate-key");
    }
    f.pending_key = std::move(val);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t /*elements*/) override { return Open(Value::Array()); }
  bool end_array() override { return Close(); }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    const std::string what = ex.what();
    if (what.find("UTF-8") != std::string::npos || what.find("surrogate") != std::string::npos) {
      return Fail("invalid UTF-8 or lone surrogate near byte " + std::to_string(position),
                  "invalid-utf8");
    }
    return Fail("malformed JSON near byte " + std::to_string(position), "malformed-json");
  }

  Status status() const { return status_; }
  Value TakeRoot() { return std::move(root_); }

 private:
  struct Frame {
    Value value;
    std::string pending_key;
    std::unordered_set<std::string> seen;
  };

  bool Fail(std::string message, std::string reason) {
    if (status_.ok()) {
      status_ = InvalidArgumentError(std::move(message), std::move(reason));
    }
    return false;
  }

  bool Put(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.value.is_object()) {
      f.value.AppendMember(f.pending_key, std::move(v));  // key() refused duplicates
    } else {
      f.value.Append(std::move(v));
    }
    return true;
  }

  bool Open(Value v) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      return Fail("JSON nests deeper than " + std::to_string(max_depth_) + " levels",
                  "json-too-deep");
    }
    stack_.push_back(Frame{std::move(v), {}, {}});
    return true;
  }

  bool Close() {
    Value done = std::move(stack_.back().value);
    stack_.pop_back();
    return Put(std::move(done));
  }

  int max_depth_;
  std::vector<Frame> stack_;
  Value root_;
  Status status_;
};

}  // namespace

Result<Value> Parse(std::string_view text, const ParseOptions& options) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    return InvalidArgumentError("JSON text starts with a byte-order mark", "malformed-json");
  }
  {
    // Most texts (ASCII strings without escapes, plain integers) are read by the quick scanner;
    // anything else, and any fault, goes to nlohmann's parser below, which names the fault.
    Scanner s(text);
    Value quick;
    if (ScanValue(s, options.max_depth, quick) && s.AtEnd()) {
      return quick;
    }
  }
  StrictSax sax(options.max_depth);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &sax, nlohmann::json::input_format_t::json,
                                   /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("malformed JSON: ") + e.what(), "malformed-json");
  }
  if (!ok || !sax.status().ok()) {
    if (!sax.status().ok()) {
      return sax.status();
    }
    return InvalidArgumentError("malformed JSON", "malformed-json");
  }
  return sax.TakeRoot();
}

}  // namespace mandated::json
