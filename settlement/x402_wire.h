// x402 wire formats (specs/x402.md §2-3): the v1 and v2 payment requirements, payment payloads and
// settle responses of the `exact` scheme on EVM, their base64 header encodings, the network
// names, and the EIP-3009 TransferWithAuthorization digest the payer signs.
//
// Everything here is pure: no store, no clock, no keys. Thread safety: free functions over value
// types; safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/amount.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/result.h"

namespace mandated::settlement {

// x402 versions this service speaks.
inline constexpr int kX402V1 = 1;
inline constexpr int kX402V2 = 2;

using Address = std::array<uint8_t, 20>;
using Nonce32 = std::array<uint8_t, 32>;

// "0x" + 40 hex, EIP-55 checksummed.
std::string AddressText(const Address& a);
// "0x" + 40 lower-case hex.
std::string AddressLower(const Address& a);
// "0x" + 64 lower-case hex.
std::string NonceText(const Nonce32& n);

// The chain id of a v1 network name ("base-sepolia" -> 84532) or of a CAIP-2 "eip155:<id>" (v2),
// nullopt for anything else (including non-EVM networks such as "solana"). The v1 names are those
// of @x402/evm's ExactEvmSchemeV1 (specs/x402.md §2.4); "eip155:<id>" takes a decimal id in
// [1, 2^53-1], as the reference does.
std::optional<uint64_t> ChainIdOf(std::string_view network);
// Only the v1 names / only "eip155:<id>": what each version's verifier accepts.
std::optional<uint64_t> V1ChainIdOf(std::string_view network);
std::optional<uint64_t> Caip2ChainIdOf(std::string_view network);
// The v1 name of a chain id ("base-sepolia" for 84532), "" when v1 has none.
std::string_view V1NetworkName(uint64_t chain_id);
// "eip155:<chain_id>".
std::string Caip2Network(uint64_t chain_id);

// One PaymentRequirements entry (v1: an element of the 402 body's "accepts"; v2: an element of
// PAYMENT-REQUIRED's "accepts" or a payload's "accepted").
struct PaymentRequirements {
  int version = kX402V2;
  std::string scheme;         // "exact"
  std::string network;        // as on the wire: "base-sepolia" (v1) or "eip155:84532" (v2)
  uint64_t chain_id = 0;      // v1: V1ChainIdOf, v2: Caip2ChainIdOf; 0 when not a known EVM chain
  Amount amount;              // v1 maxAmountRequired, v2 amount
  Address asset{};            // the token contract (EIP-712 verifyingContract)
  Address pay_to{};
  int64_t max_timeout_seconds = 0;
  std::string resource;       // v1 only (v2 has it at the top level)
  std::string description;    // v1 only
  std::string mime_type;      // v1 only
  std::optional<std::string> eip712_name;     // extra.name
  std::optional<std::string> eip712_version;  // extra.version
  json::Value raw = json::Value::Object();    // the object as received, for echo and deepEqual
};

// Parses one requirements object of the given version strictly enough to sign or verify against
// it: scheme, network, amount (decimal integer string), asset and payTo (0x + 40 hex, any case),
// maxTimeoutSeconds (integer > 0) are required; extra is an optional object; unknown members are
// kept in `raw` and otherwise ignored (the reference's schemas are not strict). v1's resource,
// description and mimeType, and extra.name / extra.version, are read when they are strings (a
// non-string extra.name counts as absent). An unknown network is not an error here (chain_id 0):
// verification reports it. Errors: kInvalidArgument, reason "invalid_payment_requirements",
// message naming the JSON pointer (`pointer` is prefixed to it).
Result<PaymentRequirements> ParseRequirements(const json::Value& v, int version,
                                              std::string_view pointer = "");

// A requirements object built from the fields, in the member order of the reference servers:
// v1 {scheme, network, maxAmountRequired, resource, description, mimeType, payTo,
// maxTimeoutSeconds, asset, extra?}; v2 {scheme, network, amount, asset, payTo, maxTimeoutSeconds,
// extra?}. Addresses in EIP-55. Ignores `raw`.
json::Value RequirementsToJson(const PaymentRequirements& r);

// The EIP-3009 authorization inside an exact EVM payload.
struct Authorization3009 {
  Address from{};
  Address to{};
  Amount value;               // uint256 on chain; values of 2^128 or more are refused
  Uint128 valid_after = 0;    // uint256 on chain; 2^128 or more refused
  Uint128 valid_before = 0;
  Nonce32 nonce{};
};

// A PaymentPayload (decoded X-PAYMENT or PAYMENT-SIGNATURE).
struct PaymentPayload {
  int version = kX402V2;
  std::string scheme;   // v1: top level; v2: accepted.scheme
  std::string network;  // v1: top level; v2: accepted.network
  std::optional<PaymentRequirements> accepted;  // v2 only
  json::Value resource;                         // v2 top-level resource object, or null
  json::Value extensions;                       // v2 top-level extensions object, or null
  Authorization3009 authorization;
  Bytes signature;                              // as sent (65 bytes for an EOA)
  json::Value raw = json::Value::Object();
};

// Parses a payload object. x402Version must be the integer 1 or 2 (else "invalid_x402_version",
// also when absent); the payload must be an exact EVM payload: authorization with from/to (0x + 40
// hex; mixed case must be a valid EIP-55 checksum), value, validAfter, validBefore (decimal
// integer strings without leading zeros, below 2^128), nonce (0x + 64 hex), signature (0x + an
// even, non-zero number of hex digits). v1 needs top-level scheme and network strings; v2 needs
// `accepted` (parsed as v2 requirements) and takes optional `resource` and `extensions` objects.
// Errors: kInvalidArgument, reason "invalid_payload" (or "invalid_x402_version"), message naming
// the JSON pointer.
Result<PaymentPayload> ParsePayload(const json::Value& v);

// Standard base64 with padding over the UTF-8 JSON text (what both reference clients send), and
// its decoding (no whitespace; the alphabet [A-Za-z0-9+/] with at most two trailing '='; missing
// padding is accepted, as the reference's atob does). The decoded text must be strict JSON
// (base/json.h). Decode errors: kInvalidArgument "invalid_payload".
std::string EncodeHeaderJson(const json::Value& v);
Result<json::Value> DecodeHeaderJson(std::string_view header_value);

// The payload a payer sends, as JSON in the member order of the reference client:
// v1 {x402Version, scheme, network, payload:{signature, authorization:{from,to,value,validAfter,
// validBefore,nonce}}}; v2 {x402Version, payload:{authorization, signature}, extensions?,
// resource?, accepted}. from/to are EIP-55, nonce and signature lower-case hex. v2 `accepted` is
// accepted->raw when that is a non-empty object (the reference echoes the requirement it was
// offered), else RequirementsToJson(*accepted); echoed values (accepted, resource, extensions)
// have their numbers rewritten as JavaScript's JSON.stringify prints them (60.0 -> 60).
json::Value PayloadToJson(const PaymentPayload& p);

// `v` with every number rewritten as JSON.stringify(JSON.parse(text)) would print it: shortest
// round-trip digits, exponent form outside [1e-7, 1e21), "null" for values beyond double range.
json::Value WithJsNumbers(const json::Value& v);

// SettleResponse (X-PAYMENT-RESPONSE / PAYMENT-RESPONSE and the facilitator's /settle answer).
struct SettleResponse {
  bool success = false;
  std::string error_reason;   // empty on success
  std::string error_message;
  std::string payer;          // EIP-55, may be empty
  std::string transaction;    // "" on failure
  std::string network;
};
json::Value SettleResponseToJson(const SettleResponse& r);

// VerifyResponse of /verify.
struct VerifyResponse {
  bool is_valid = false;
  std::string invalid_reason;
  std::string invalid_message;
  std::string payer;  // EIP-55, may be empty
};
json::Value VerifyResponseToJson(const VerifyResponse& r);

// The EIP-712 domain separator of an EIP-3009 token: keccak256(typehash(EIP712Domain(string
// name,string version,uint256 chainId,address verifyingContract)) || keccak(name) ||
// keccak(version) || chainId || asset). Served from a small process-wide cache (bounded, LRU,
// thread-safe) keyed by all four inputs.
std::array<uint8_t, 32> Eip3009DomainSeparator(std::string_view name, std::string_view version,
                                               uint64_t chain_id, const Address& asset);
// The 224-byte encodeData of TransferWithAuthorization(address from,address to,uint256 value,
// uint256 validAfter,uint256 validBefore,bytes32 nonce): typehash || 6 words.
std::array<uint8_t, 224> EncodeTransferWithAuthorization(const Authorization3009& a);
// hashStruct of the above: keccak256(EncodeTransferWithAuthorization(a)).
std::array<uint8_t, 32> TransferWithAuthorizationHash(const Authorization3009& a);
// keccak256(0x19 0x01 || domain separator || struct hash): what the payer signs.
std::array<uint8_t, 32> Eip3009Digest(std::string_view name, std::string_view version,
                                      uint64_t chain_id, const Address& asset,
                                      const Authorization3009& a);

// Reason codes VerifyExactOffline returns (those of npm @x402/evm 2.27.0 exact/facilitator).
inline constexpr std::string_view kReasonInvalidScheme = "invalid_exact_evm_scheme";
inline constexpr std::string_view kReasonNetworkMismatch = "invalid_exact_evm_network_mismatch";
inline constexpr std::string_view kReasonMissingEip712Domain =
    "invalid_exact_evm_missing_eip712_domain";
inline constexpr std::string_view kReasonInvalidSignature = "invalid_exact_evm_signature";
inline constexpr std::string_view kReasonRecipientMismatch = "invalid_exact_evm_recipient_mismatch";
inline constexpr std::string_view kReasonValidBefore =
    "invalid_exact_evm_payload_authorization_valid_before";
inline constexpr std::string_view kReasonValidAfter =
    "invalid_exact_evm_payload_authorization_valid_after";
inline constexpr std::string_view kReasonValueMismatchV2 =
    "invalid_exact_evm_payload_authorization_value_mismatch";
inline constexpr std::string_view kReasonValueMismatchV1 = "invalid_exact_evm_authorization_value";
inline constexpr std::string_view kReasonSimulationFailed =
    "invalid_exact_evm_transaction_simulation_failed";
inline constexpr std::string_view kReasonInvalidX402Version = "invalid_x402_version";
// FiatToken's ECRecover revert texts, sent as invalid_message with kReasonSimulationFailed.
inline constexpr std::string_view kMessageHighS = "ECRecover: invalid signature 's' value";
inline constexpr std::string_view kMessageBadV = "ECRecover: invalid signature 'v' value";

// The off-chain checks of the exact EVM scheme in the reference facilitator's order with its
// codes (specs/x402.md §4). v2: scheme, EIP-712 domain present, accepted.network ==
// requirements.network, the network is eip155 (else network mismatch), signature, recipient,
// validBefore >= now + 6, validAfter <= now, value == amount, then (where the reference simulates
// the transfer on chain) the signature forms FiatToken refuses: high S, v not in {27,28}. v1
// (ExactEvmSchemeV1): scheme, payload network known (else network mismatch), domain present,
// network match, then as v2 with its own value code. Signature: 65 bytes r||s||v recovering
// (with v in {0,1,27,28}, any S, as viem does) to `from`, else kReasonInvalidSignature. A payload
// whose version differs from the requirements' gets kReasonInvalidX402Version. Balance, nonce
// use and the asset's code are the facilitator's (they need the store or a chain).
// On failure `invalid_reason` is the code and `payer` is the authorization's from (EIP-55).
VerifyResponse VerifyExactOffline(const PaymentPayload& payload,
                                  const PaymentRequirements& requirements, int64_t now);

}  // namespace mandated::settlement
