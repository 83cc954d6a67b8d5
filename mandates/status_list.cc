// IETF Token Status List: the packed status array, its zlib+base64url "lst" form, and the
// statuslist+jwt payload codec (draft-ietf-oauth-status-list §4, §5).
#include "mandates/status_list.h"

#include <optional>
#include <string>
#include <utility>

#include "base/deflate.h"

namespace mandated::mandates {
namespace {

constexpr const char* kBadStatusList = "bad-status-list";

bool IsValidBits(int bits) { return bits == 1 || bits == 2 || bits == 4 || bits == 8; }

Status Fail(const std::string& pointer, const std::string& what) {
  return InvalidArgumentError(pointer + ": " + what, kBadStatusList);
}

// ObjectReader errors (missing-field, wrong-type) keep their message, which already starts with
// the JSON pointer, and take this codec's reason.
Status AsBadStatusList(const Status& s) {
  return InvalidArgumentError(s.message(), kBadStatusList);
}

template <typename T>
Result<T> Remap(Result<T> r) {
  if (!r.ok()) {
    return AsBadStatusList(r.error());
  }
  return r;
}

}  // namespace

Result<StatusArray> StatusArray::Create(int bits, size_t count) {
  if (!IsValidBits(bits)) {
    return InvalidArgumentError(
        "status list: bits must be 1, 2, 4 or 8, not " + std::to_string(bits), kBadStatusList);
  }
  const size_t per_byte = 8 / static_cast<size_t>(bits);
  if (count == 0 || count % per_byte != 0) {
    return InvalidArgumentError("status list: size " + std::to_string(count) +
                                    " is not a positive multiple of " + std::to_string(per_byte),
                                kBadStatusList);
  }
  const size_t byte_count = count / per_byte;
  if (byte_count > Bytes().max_size()) {
    return InvalidArgumentError("status list: size " + std::to_string(count) + " is too large",
                                kBadStatusList);
  }
  StatusArray a;
  a.bits_ = bits;
  a.bytes_.assign(byte_count, 0);
  return a;
}

Result<StatusArray> StatusArray::FromBytes(int bits, Bytes bytes) {
  if (!IsValidBits(bits)) {
    return InvalidArgumentError(
        "status list: bits must be 1, 2, 4 or 8, not " + std::to_string(bits), kBadStatusList);
  }
  if (bytes.empty()) {
    return InvalidArgumentError("status list: the byte array is empty", kBadStatusList);
  }
  StatusArray a;
  a.bits_ = bits;
  a.bytes_ = std::move(bytes);
  return a;
}

// Entry idx lives in byte idx / (8 / bits), starting `bits` * (idx % (8 / bits)) bits up from the
// least significant bit (draft §4.1: index 0 in the least significant bits of byte 0).
Result<uint8_t> StatusArray::Get(size_t idx) const {
  if (idx >= size()) {
    return OutOfRangeError("status index " + std::to_string(idx) + " is outside a list of " +
                               std::to_string(size()),
                           "status-index-out-of-range");
  }
  const size_t per_byte = 8 / static_cast<size_t>(bits_);
  const unsigned shift = static_cast<unsigned>((idx % per_byte) * static_cast<size_t>(bits_));
  const unsigned mask = (1u << static_cast<unsigned>(bits_)) - 1u;
  return static_cast<uint8_t>((bytes_[idx / per_byte] >> shift) & mask);
}

Status StatusArray::Set(size_t idx, uint8_t value) {
  if (idx >= size()) {
    return OutOfRangeError("status index " + std::to_string(idx) + " is outside a list of " +
                               std::to_string(size()),
                           "status-index-out-of-range");
  }
  const unsigned mask = (1u << static_cast<unsigned>(bits_)) - 1u;
  if (value > mask) {
    return InvalidArgumentError("status value " + std::to_string(value) + " does not fit in " +
                                    std::to_string(bits_) + " bits",
                                "bad-status-value");
  }
  const size_t per_byte = 8 / static_cast<size_t>(bits_);
  const unsigned shift = static_cast<unsigned>((idx % per_byte) * static_cast<size_t>(bits_));
  uint8_t& byte = bytes_[idx / per_byte];
  byte = static_cast<uint8_t>((byte & ~(mask << shift)) | (static_cast<unsigned>(value) << shift));
  return OkStatus();
}

Result<std::string> EncodeStatusList(const StatusArray& statuses) {
  if (statuses.size() == 0) {
    return InvalidArgumentError("status list: nothing to encode (empty list)", kBadStatusList);
  }
  MD_ASSIGN_OR_RETURN(Bytes compressed, ZlibCompress(statuses.bytes()));
  return Base64UrlEncode(compressed);
}

Result<StatusArray> DecodeStatusList(int bits, std::string_view lst, size_t max_bytes) {
  if (!IsValidBits(bits)) {
    return InvalidArgumentError(
        "status list: bits must be 1, 2, 4 or 8, not " + std::to_string(bits), kBadStatusList);
  }
  Result<Bytes> compressed = Base64UrlDecode(lst);
  if (!compressed.ok()) {
    return InvalidArgumentError("not strict base64url: " + compressed.error().message(),
                                kBadStatusList);
  }
  Result<Bytes> bytes = ZlibDecompress(*compressed, max_bytes);
  if (!bytes.ok()) {
    if (bytes.error().code() != StatusCode::kInvalidArgument) {
      return bytes.error();  // zlib itself failed (memory, internal): not the input's fault
    }
    return InvalidArgumentError(bytes.error().message(), kBadStatusList);
  }
  return StatusArray::FromBytes(bits, std::move(bytes).value());
}

Result<json::Value> StatusListClaimsToJson(const StatusListClaims& claims,
                                           std::string_view issuer) {
  if (claims.uri.empty()) {
    return Fail("/sub", "the status list URI is empty");
  }
  MD_ASSIGN_OR_RETURN(std::string lst, EncodeStatusList(claims.statuses));
  json::Value out = json::Value::Object();
  if (!issuer.empty()) {
    out.Set("iss", json::Value::String(std::string(issuer)));
  }
  out.Set("sub", json::Value::String(claims.uri));
  out.Set("iat", json::Value::Int(claims.issued_at));
  if (claims.expires_at > 0) {
    out.Set("exp", json::Value::Int(claims.expires_at));
  }
  if (claims.ttl > 0) {
    out.Set("ttl", json::Value::Int(claims.ttl));
  }
  json::Value list = json::Value::Object();
  list.Set("bits", json::Value::Int(claims.statuses.bits()));
  list.Set("lst", json::Value::String(std::move(lst)));
  out.Set("status_list", std::move(list));
  return out;
}

Result<StatusListClaims> ParseStatusListClaims(const json::Value& payload, size_t max_bytes) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, Remap(json::ObjectReader::Of(payload)));
  StatusListClaims claims;

  // iss is type-checked only: verifying the token binds the issuer.
  MD_RETURN_IF_ERROR(Remap(r.OptionalString("iss")).status());
  MD_ASSIGN_OR_RETURN(claims.uri, Remap(r.String("sub")));
  if (claims.uri.empty()) {
    return Fail(r.PointerTo("sub"), "must not be empty");
  }
  MD_ASSIGN_OR_RETURN(claims.issued_at, Remap(r.Int("iat")));
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> exp, Remap(r.OptionalInt("exp")));
  if (exp) {
    if (*exp <= 0) {
      return Fail(r.PointerTo("exp"), "must be a positive integer");
    }
    claims.expires_at = *exp;
  }
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, Remap(r.OptionalInt("ttl")));
  if (ttl) {
    if (*ttl <= 0) {
      return Fail(r.PointerTo("ttl"), "must be a positive integer");
    }
    claims.ttl = *ttl;
  }

  MD_ASSIGN_OR_RETURN(const json::Value* list_value, Remap(r.Required("status_list")));
  MD_ASSIGN_OR_RETURN(json::ObjectReader list,
                      Remap(json::ObjectReader::Of(*list_value, r.PointerTo("status_list"))));
  MD_ASSIGN_OR_RETURN(int64_t bits, Remap(list.Int("bits")));
  if (bits != 1 && bits != 2 && bits != 4 && bits != 8) {
    return Fail(list.PointerTo("bits"), "must be 1, 2, 4 or 8, not " + std::to_string(bits));
  }
  MD_ASSIGN_OR_RETURN(std::string lst, Remap(list.String("lst")));
  // aggregation_uri is type-checked only: mandated does not fetch aggregations.
  MD_RETURN_IF_ERROR(Remap(list.OptionalString("aggregation_uri")).status());

  Result<StatusArray> statuses = DecodeStatusList(static_cast<int>(bits), lst, max_bytes);
  if (!statuses.ok()) {
    return statuses.error().Annotate(list.PointerTo("lst"));
  }
  claims.statuses = std::move(statuses).value();
  // Members not named here are ignored (draft §5.1), so no Finish().
  return claims;
}

}  // namespace mandated::mandates
