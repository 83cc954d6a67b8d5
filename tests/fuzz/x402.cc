// Fuzz target: the x402 headers (settlement/x402_wire.h, specs/x402.md §2-3). The input is a
// header value: X-PAYMENT (v1) or PAYMENT-SIGNATURE (v2), base64 of a PaymentPayload, or
// PAYMENT-REQUIRED, base64 of a PaymentRequired object. Properties: no crash; a payload that
// parses re-encodes to a header that decodes and parses to the same JSON; every requirements
// entry that parses re-encodes to one that parses; offline verification of a parsed payload
// against fixed requirements and against its own `accepted` answers without crashing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/json.h"
#include "settlement/payer.h"
#include "settlement/x402_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using mandated::Result;
namespace json = mandated::json;
namespace x402 = mandated::settlement;

constexpr int64_t kNow = 1767225600;  // 2026-01-01T00:00:00Z

// Fixed requirements of each version, as a resource server offers them.
const x402::PaymentRequirements& Fixed(int version) {
  static const x402::PaymentRequirements v1 = [] {
    Result<json::Value> v = json::Parse(
        R"({"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000",)"
        R"("resource":"https://api.example.com/r","description":"","mimeType":"application/json",)"
        R"("payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,)"
        R"("asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",)"
        R"("extra":{"name":"USDC","version":"2"}})");
    FUZZ_CHECK(v.ok());
    Result<x402::PaymentRequirements> r = x402::ParseRequirements(*v, x402::kX402V1);
    FUZZ_CHECK(r.ok());
    return *r;
  }();
  static const x402::PaymentRequirements v2 = [] {
    Result<json::Value> v = json::Parse(
        R"({"scheme":"exact","network":"eip155:84532","amount":"10000",)"
        R"("asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e",)"
        R"("payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,)"
        R"("extra":{"name":"USDC","version":"2"}})");
    FUZZ_CHECK(v.ok());
    Result<x402::PaymentRequirements> r = x402::ParseRequirements(*v, x402::kX402V2);
    FUZZ_CHECK(r.ok());
    return *r;
  }();
  return version == x402::kX402V1 ? v1 : v2;
}

void CheckRequirements(const json::Value& v, int version) {
  Result<x402::PaymentRequirements> r = x402::ParseRequirements(v, version, "/accepts/0");
  if (!r.ok()) {
    return;
  }
  Result<x402::PaymentRequirements> again =
      x402::ParseRequirements(x402::RequirementsToJson(*r), version);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->amount == r->amount);
  FUZZ_CHECK(again->chain_id == r->chain_id);
  FUZZ_CHECK(again->pay_to == r->pay_to);
  (void)x402::ChainIdOf(r->network);
}

// PAYMENT-REQUIRED: {x402Version, accepts: [...], resource?, error?}, and the /x402/pay body
// that carries it.
void CheckPaymentRequired(const json::Value& v) {
  CheckRequirements(v, x402::kX402V1);
  CheckRequirements(v, x402::kX402V2);
  if (!v.is_object()) {
    return;
  }
  const json::Value* version = v.Find("x402Version");
  const json::Value* accepts = v.Find("accepts");
  if (version != nullptr && accepts != nullptr && accepts->is_array()) {
    const int ver = version->as_int64() == x402::kX402V1 ? x402::kX402V1 : x402::kX402V2;
    for (const json::Value& entry : accepts->items()) {
      CheckRequirements(entry, ver);
    }
  }
  json::Value body = json::Value::Object();
  body.Set("mandate_id", json::Value::String("mnd_fuzz"));
  body.Set("payment_required", v);
  (void)x402::ParsePayRequest(body);
}

void CheckPayload(const json::Value& v) {
  Result<x402::PaymentPayload> p = x402::ParsePayload(v);
  if (!p.ok()) {
    return;
  }
  const json::Value out = x402::PayloadToJson(*p);
  const std::string header = x402::EncodeHeaderJson(out);
  Result<json::Value> decoded = x402::DecodeHeaderJson(header);
  FUZZ_CHECK(decoded.ok());
  FUZZ_CHECK(*decoded == out);
  Result<x402::PaymentPayload> again = x402::ParsePayload(*decoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(json::Write(x402::PayloadToJson(*again)) == json::Write(out));

  (void)x402::VerifyExactOffline(*p, Fixed(p->version), kNow);
  if (p->accepted.has_value()) {
    (void)x402::VerifyExactOffline(*p, *p->accepted, kNow);
  }
  (void)x402::Eip3009Digest("USDC", "2", 84532, Fixed(x402::kX402V2).asset, p->authorization);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<json::Value> v = x402::DecodeHeaderJson(text);
  if (!v.ok()) {
    return 0;
  }
  (void)x402::WithJsNumbers(*v);
  CheckPayload(*v);
  CheckPaymentRequired(*v);
  return 0;
}
