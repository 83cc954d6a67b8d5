// Fuzz target: EIP-712 typed data (signer/eip712.h), as eth_signTypedData_v4 JSON. Properties: no
// crash (in particular no unbounded recursion through self-referencing or deep types); a digest
// is 32 bytes and the same input hashes to the same digest twice (the second time through the
// compiled-types cache); every type the input declares encodes or is refused cleanly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/eip712.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace signer = mandated::signer;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return 0;
  }
  Result<mandated::Bytes> digest = signer::Eip712Digest(*v);
  if (digest.ok()) {
    FUZZ_CHECK(digest->size() == 32);
  }
  Result<mandated::Bytes> twice = signer::Eip712Digest(*v);
  FUZZ_CHECK(twice.ok() == digest.ok());
  if (digest.ok()) {
    FUZZ_CHECK(*twice == *digest);
  }
  if (!v->is_object()) {
    return 0;
  }
  const json::Value* types = v->Find("types");
  const json::Value* domain = v->Find("domain");
  const json::Value* message = v->Find("message");
  if (types == nullptr) {
    return 0;
  }
  if (domain != nullptr) {
    Result<mandated::Bytes> sep = signer::Eip712DomainSeparator(*types, *domain);
    if (sep.ok()) {
      FUZZ_CHECK(sep->size() == 32);
    }
  }
  if (types->is_object()) {
    for (const std::string& name : types->keys()) {
      Result<std::string> encoded = signer::EncodeType(*types, name);
      Result<mandated::Bytes> hash = signer::TypeHash(*types, name);
      FUZZ_CHECK(encoded.ok() == hash.ok());
      if (message != nullptr) {
        Result<mandated::Bytes> data_enc = signer::EncodeData(*types, name, *message);
        if (data_enc.ok()) {
          FUZZ_CHECK(data_enc->size() % 32 == 0 && !data_enc->empty());
        }
        (void)signer::HashStruct(*types, name, *message);
      }
    }
  }
  return 0;
}
