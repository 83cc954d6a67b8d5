// Fuzz target: the strict JSON parser every request body goes through (base/json.h,
// specs/errors.md §JSON). Properties: no crash; what parses writes back to text that parses to
// an equal value and writes to the same bytes; ObjectReader's getters never crash on any member.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;

// Every getter on every member of an object (and of nested objects), as codecs use them.
void ReadAll(const json::Value& v, int depth) {
  if (depth > 8) {
    return;
  }
  if (v.is_array()) {
    for (const json::Value& item : v.items()) {
      ReadAll(item, depth + 1);
    }
    return;
  }
  Result<json::ObjectReader> reader = json::ObjectReader::Of(v);
  if (!reader.ok()) {
    return;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& key = v.keys()[i];
    (void)reader->String(key);
    (void)reader->OptionalBool(key);
    (void)reader->OptionalInt(key);
    (void)reader->OptionalAmount(key);
    (void)v.items()[i].as_int64();
    (void)v.items()[i].as_uint64();
    ReadAll(v.items()[i], depth + 1);
  }
  (void)reader->Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return 0;
  }
  const std::string written = json::Write(*v);
  Result<json::Value> again = json::Parse(written);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *v);
  FUZZ_CHECK(json::Write(*again) == written);
  ReadAll(*v, 0);
  return 0;
}
