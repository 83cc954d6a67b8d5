// EIP-712 typed structured data hashing for arbitrary typed data in eth_signTypedData_v4 shape.
//
// Input is a json::Value such as
//   { "types": { "EIP712Domain": [...], "Mail": [{"name": "from", "type": "Person"}, ...] },
//     "primaryType": "Mail", "domain": {...}, "message": {...} }
// Supported field types: uint8..uint256 and int8..int256 (multiples of 8), bool, address,
// bytes1..bytes32, bytes, string, struct types defined in `types`, and arrays T[] / T[n] of any
// of these (nesting allowed). Integers may be JSON integers or JSON strings holding a decimal
// ("-12") or a 0x-hex ("0x1f", non-negative) number, over the full 256-bit range; they are
// range-checked against their type. Addresses are 0x + 40 hex (mixed case must be EIP-55);
// bytesN and bytes are 0x-hex of exactly N bytes / any length.
//
// Everything is checked strictly: every struct field must be present, members that the type does
// not declare are refused, unknown types are refused, struct and array nesting is limited to 32
// levels. All errors are kInvalidArgument with reason "eip712-invalid" and a message naming the
// offending member as a JSON pointer (e.g. "/message/to/wallet").
//
// Performance: each distinct `types` object (with any derived EIP712Domain) is validated and
// compiled once, then kept in a bounded cache (256 entries, used only when equal to the input), so
// repeat calls with the same types only walk the values. Errors are always those a fresh
// validation reports.
//
// Thread safety: free functions over immutable inputs; safe to call concurrently.
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/json.h"
#include "base/result.h"

namespace mandated::signer {

// keccak256(0x19 0x01 || domainSeparator || hashStruct(primaryType, message)). When primaryType
// is "EIP712Domain" the struct hash is omitted (as eth_signTypedData_v4 and viem do) and
// "message" may be absent. When `types` has no "EIP712Domain" it is derived from the domain
// object, as Eip712DomainSeparator describes. Members other than types, primaryType, domain and
// message are refused.
Result<Bytes> Eip712Digest(const json::Value& typed_data);

// keccak256(0x19 0x01 || domain_separator || struct_hash), for callers that hold the two hashes.
// REQUIRES: both are 32 bytes.
Bytes Eip712DigestFromHashes(ByteSpan domain_separator, ByteSpan struct_hash);

// hashStruct("EIP712Domain", domain). If `types` has no "EIP712Domain" entry, the type is
// derived from the members present in `domain`, in the canonical order name (string),
// version (string), chainId (uint256), verifyingContract (address), salt (bytes32); any other
// member is then an error.
Result<Bytes> Eip712DomainSeparator(const json::Value& types, const json::Value& domain);

// encodeType: "Name(type1 field1,...)" followed by every struct type it references
// (transitively), sorted by name.
Result<std::string> EncodeType(const json::Value& types, std::string_view type_name);

// keccak256(EncodeType(types, type_name)).
Result<Bytes> TypeHash(const json::Value& types, std::string_view type_name);

// encodeData: typeHash || the 32-byte encoding of each field in declaration order.
Result<Bytes> EncodeData(const json::Value& types, std::string_view type_name,
                         const json::Value& value);

// hashStruct: keccak256(EncodeData(types, type_name, value)).
Result<Bytes> HashStruct(const json::Value& types, std::string_view type_name,
                         const json::Value& value);

}  // namespace mandated::signer
