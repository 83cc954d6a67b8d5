// Fuzz target: Token Status Lists as a verifier fetches them (mandates/status_list.h,
// specs/mandate.md §6). The first byte picks the reading: the bit width for a bare "lst" value
// (base64url + ZLIB + bits), or a statuslist+jwt payload (JSON). Properties: no crash; no
// inflation past the size limit (a decompression bomb stops there); every index of a decoded list
// reads, one past the end is out of range; a decoded list re-encodes to one that decodes to the
// same bytes; claims that parse write claims that parse to the same list.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "mandates/status_list.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace mandates = mandated::mandates;

// Small, so that the fuzzer meets the limit often.
constexpr size_t kMaxBytes = 4096;

void CheckArray(const mandates::StatusArray& a) {
  FUZZ_CHECK(a.bytes().size() <= kMaxBytes);
  for (size_t i = 0; i < a.size(); ++i) {
    Result<uint8_t> s = a.Get(i);
    FUZZ_CHECK(s.ok());
    FUZZ_CHECK(*s < (1u << a.bits()) || a.bits() == 8);
  }
  FUZZ_CHECK(!a.Get(a.size()).ok());
  Result<std::string> lst = mandates::EncodeStatusList(a);
  FUZZ_CHECK(lst.ok());
  Result<mandates::StatusArray> again = mandates::DecodeStatusList(a.bits(), *lst, kMaxBytes);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->bytes() == a.bytes());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const uint8_t mode = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode < 0x80) {
    static constexpr int kBits[] = {1, 2, 4, 8, 3, 0};
    const int bits = kBits[mode % 6];
    Result<mandates::StatusArray> a = mandates::DecodeStatusList(bits, text, kMaxBytes);
    if (a.ok()) {
      CheckArray(*a);
    }
    return 0;
  }
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return 0;
  }
  Result<mandates::StatusListClaims> claims = mandates::ParseStatusListClaims(*v, kMaxBytes);
  if (!claims.ok()) {
    return 0;
  }
  CheckArray(claims->statuses);
  Result<json::Value> written = mandates::StatusListClaimsToJson(*claims, "did:web:fuzz.example");
  if (written.ok()) {
    Result<mandates::StatusListClaims> again = mandates::ParseStatusListClaims(*written, kMaxBytes);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->statuses.bytes() == claims->statuses.bytes());
    FUZZ_CHECK(again->uri == claims->uri);
  }
  return 0;
}
