// Fuzz target: the mandate credential (mandates/credential.h, specs/mandate.md §2). The input is
// a JWT payload, or a whole compact token whose header and payload are then read. Properties: no
// crash; the single-pass scanner never accepts what the strict parser refuses and agrees with it
// whenever it accepts; a credential that parses writes a payload that parses back to the same
// bytes; the streaming writer and the tree writer agree.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "mandates/credential.h"
#include "signer/jws.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace mandates = mandated::mandates;

void CheckPayload(std::string_view payload) {
  std::optional<mandates::MandateCredential> scanned = mandates::ScanMandateCredential(payload);
  Result<json::Value> tree = json::Parse(payload);
  Result<mandates::MandateCredential> parsed =
      tree.ok() ? mandates::ParseMandateCredential(*tree)
                : Result<mandates::MandateCredential>(tree.error());
  if (scanned.has_value()) {
    // What the scanner accepts, the strict parser accepts, with an equal credential.
    FUZZ_CHECK(parsed.ok());
    FUZZ_CHECK(mandates::MandateCredentialPayload(*scanned) ==
               mandates::MandateCredentialPayload(*parsed));
  }
  if (!parsed.ok()) {
    return;
  }
  const std::string written = mandates::MandateCredentialPayload(*parsed);
  FUZZ_CHECK(written == json::Write(mandates::MandateCredentialToJson(*parsed)));
  Result<json::Value> again_tree = json::Parse(written);
  FUZZ_CHECK(again_tree.ok());
  Result<mandates::MandateCredential> again = mandates::ParseMandateCredential(*again_tree);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(mandates::MandateCredentialPayload(*again) == written);
  (void)mandates::FormatRfc3339Utc(parsed->validity.not_before);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckPayload(text);
  Result<mandated::signer::Jws> jws = mandated::signer::ParseJws(text);
  if (jws.ok()) {
    (void)mandates::CheckMandateHeader(jws->header);
    CheckPayload(jws->payload);
  }
  Result<int64_t> t = mandates::ParseRfc3339Utc(text);
  if (t.ok()) {
    FUZZ_CHECK(mandates::FormatRfc3339Utc(*t) == text);
  }
  (void)mandates::IsMandateId(text);
  return 0;
}
