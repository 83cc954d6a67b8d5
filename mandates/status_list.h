// IETF Token Status List (draft-ietf-oauth-status-list): the status array (1, 2, 4 or 8 bits per
// token, index 0 in the least significant bits of byte 0), its DEFLATE+ZLIB+base64url encoding
// ("lst"), and the claims of a statuslist+jwt (specs/mandate.md §6 Status lists).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/json.h"
#include "base/result.h"

namespace mandated::mandates {

inline constexpr std::string_view kStatusListTyp = "statuslist+jwt";

// The values mandated writes with bits = 2 (draft §7.1: VALID, INVALID, SUSPENDED).
enum class TokenStatus : uint8_t { kValid = 0, kRevoked = 1, kSuspended = 2 };

// A fixed-size array of statuses. Thread safety: value type.
class StatusArray {
 public:
  StatusArray() = default;
  // `bits` one of 1, 2, 4, 8; `count` >= 1 and a multiple of 8 / bits so the byte array is whole.
  // kInvalidArgument ("bad-status-list") otherwise.
  static Result<StatusArray> Create(int bits, size_t count);
  // Wraps an existing byte array (count = bytes * 8 / bits). kInvalidArgument for a bad `bits` or
  // an empty array.
  static Result<StatusArray> FromBytes(int bits, Bytes bytes);

  int bits() const { return bits_; }
  size_t size() const { return bits_ == 0 ? 0 : bytes_.size() * 8 / static_cast<size_t>(bits_); }
  const Bytes& bytes() const { return bytes_; }

  // kOutOfRange ("status-index-out-of-range") for idx >= size().
  Result<uint8_t> Get(size_t idx) const;
  // kOutOfRange for idx >= size(); kInvalidArgument ("bad-status-value") for a value that does
  // not fit in `bits`.
  Status Set(size_t idx, uint8_t value);

 private:
  int bits_ = 0;
  Bytes bytes_;
};

// base64url (no padding) of the ZLIB-wrapped DEFLATE of the byte array (draft §4.1), at the best
// compression level.
Result<std::string> EncodeStatusList(const StatusArray& statuses);
// The inverse. Refuses (kInvalidArgument, "bad-status-list") text that is not strict base64url,
// data that is not a single complete ZLIB stream (trailing bytes included), and an inflated size
// above `max_bytes` (a decompression bomb stops there, without allocating more).
Result<StatusArray> DecodeStatusList(int bits, std::string_view lst, size_t max_bytes);

// A verified status list token's content.
struct StatusListClaims {
  std::string uri;        // "sub": the list's own URI
  int64_t issued_at = 0;  // "iat"
  int64_t expires_at = 0; // "exp" (0: absent)
  int64_t ttl = 0;        // "ttl" seconds (0: absent)
  StatusArray statuses;   // "status_list" decoded
};

// The payload {"sub","iat","exp","ttl","status_list":{"bits","lst"}} in that order; "iss" is set
// first when `issuer` is non-empty. exp and ttl are written when > 0.
Result<json::Value> StatusListClaimsToJson(const StatusListClaims& claims, std::string_view issuer);

// Parses a statuslist+jwt payload strictly: sub (string), iat (integer) required; exp, ttl
// (positive integers), iss (string) optional; status_list {bits, lst, aggregation_uri?} required;
// other members are ignored as the draft allows (§5.1) except those named here, which must have
// the right type. kInvalidArgument "bad-status-list" (with the JSON pointer of the fault) for
// anything else; the decoded array is limited to `max_bytes`.
Result<StatusListClaims> ParseStatusListClaims(const json::Value& payload, size_t max_bytes);

}  // namespace mandated::mandates
