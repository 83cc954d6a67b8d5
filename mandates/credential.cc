// The mandate credential envelope: JWT payload codec, RFC 3339 timestamps, header checks.
#include "mandates/credential.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "base/json_scan.h"

namespace mandated::mandates {
namespace {

// "YYYY-MM-DDTHH:MM:SSZ" for 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMaxUnixSeconds = 253402300799;
constexpr size_t kMaxDidBytes = 512;
constexpr size_t kMaxStatusUriBytes = 2048;
constexpr std::string_view kCredentialType = "VerifiableCredential";
constexpr std::string_view kMandateType = "SpendingMandate";
constexpr std::string_view kStatusEntryType = "TokenStatusListEntry";

Status Fail(const std::string& pointer, const std::string& what, const char* reason) {
  return InvalidArgumentError(pointer + ": " + what, reason);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                      // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;   // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int64_t month;
  int64_t day;
};

// The inverse of DaysFromCivil (H. Hinnant's civil_from_days).
CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                        // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                      // [0, 11]
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;                              // [1, 31]
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;                                 // [1, 12]
  return CivilDate{yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr int64_t kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Appends `v` as exactly `width` decimal digits (v >= 0 and fits).
void AppendDigits(std::string& out, int64_t v, int width) {
  std::string digits(static_cast<size_t>(width), '0');
  for (int i = width - 1; i >= 0; --i) {
    digits[static_cast<size_t>(i)] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out += digits;
}

// The value of `text[pos, pos + width)` if all are ASCII digits, else -1.
int64_t DigitsAt(std::string_view text, size_t pos, size_t width) {
  int64_t v = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (!IsDigit(text[i])) {
      return -1;
    }
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// A DID as the credential names its issuer and subject: "did:" ..., at most 512 bytes, printable
// ASCII, no path, query or fragment.
bool IsCredentialDid(std::string_view s) {
  if (s.size() <= 4 || s.size() > kMaxDidBytes || s.substr(0, 4) != "did:") {
    return false;
  }
  for (char c : s) {
    if (c < '!' || c > '~' || c == '#' || c == '?' || c == '/') {
      return false;
    }
  }
  return true;
}

// An http(s) URL of at most 2048 bytes, something after the scheme, printable ASCII only.
bool IsStatusUri(std::string_view s) {
  if (s.size() > kMaxStatusUriBytes) {
    return false;
  }
  size_t scheme = 0;
  if (s.substr(0, 8) == "https://") {
    scheme = 8;
  } else if (s.substr(0, 7) == "http://") {
    scheme = 7;
  } else {
    return false;
  }
  if (s.size() == scheme) {
    return false;
  }
  for (char c : s) {
    if (c < '!' || c > '~') {
      return false;
    }
  }
  return true;
}

json::Value StatusListJson(const StatusReference& status) {
  json::Value o = json::Value::Object();
  o.Set("idx", json::Value::Uint(status.idx));
  o.Set("uri", json::Value::String(status.uri));
  return o;
}

json::Value StringArray(std::string_view a, std::string_view b) {
  json::Value out = json::Value::Array();
  out.Append(json::Value::String(std::string(a)));
  out.Append(json::Value::String(std::string(b)));
  return out;
}

// `{"idx": <uint64>, "uri": "http(s)://..."}` at `pointer`.
Result<StatusReference> ParseStatusList(const json::Value& v, const std::string& pointer) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v, pointer));
  MD_ASSIGN_OR_RETURN(const json::Value* idx, r.Required("idx"));
  MD_ASSIGN_OR_RETURN(std::string uri, r.String("uri"));
  MD_RETURN_IF_ERROR(r.Finish());
  std::optional<uint64_t> index = idx->as_uint64();
  if (!index.has_value()) {
    return Fail(pointer + "/idx", "expected a non-negative integer within 64 bits",
                "bad-status-entry");
  }
  if (!IsStatusUri(uri)) {
    return Fail(pointer + "/uri", "expected an http(s) URL of at most 2048 bytes",
                "bad-status-entry");
  }
  return StatusReference{*index, std::move(uri)};
}

// An RFC 3339 member of the payload, as Unix seconds.
Result<int64_t> TimestampAt(const std::string& text, const std::string& pointer) {
  Result<int64_t> t = ParseRfc3339Utc(text);
  if (!t.ok()) {
    return Fail(pointer, "expected YYYY-MM-DDTHH:MM:SSZ (UTC, no fraction, no offset)",
                "bad-validity");
  }
  return *t;
}

Status Mismatch(const std::string& pointer, const std::string& mirrors) {
  return Fail(pointer, "must equal " + mirrors, "claims-mismatch");
}

}  // namespace

bool IsMandateId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string FormatRfc3339Utc(int64_t unix_seconds) {
  // Outside the documented range the nearest representable instant is written (never a
  // malformed string).
  const int64_t t = unix_seconds < 0 ? 0 : (unix_seconds > kMaxUnixSeconds ? kMaxUnixSeconds
                                                                            : unix_seconds);
  const int64_t days = t / 86400;
  const int64_t secs = t % 86400;
  const CivilDate date = CivilFromDays(days);
  std::string out;
  out.reserve(20);
  AppendDigits(out, date.year, 4);
  out += '-';
  AppendDigits(out, date.month, 2);
  out += '-';
  AppendDigits(out, date.day, 2);
  out += 'T';
  AppendDigits(out, secs / 3600, 2);
  out += ':';
  AppendDigits(out, (secs / 60) % 60, 2);
  out += ':';
  AppendDigits(out, secs % 60, 2);
  out += 'Z';
  return out;
}

// An RFC 3339 date-time (§5.6): YYYY-MM-DDTHH:MM:SS, an optional fraction (kept to the
// microsecond, further digits dropped), then Z or an offset +HH:MM / -HH:MM; "T" and "Z" may be
// lower case, and second 60 (a leap second) counts as the next second. Unix microseconds, or
// nullopt when `text` is not one.
std::optional<int64_t> ParseRfc3339Micros(std::string_view text) {
  size_t at = 0;
  auto digits = [&](size_t n, int* out) {
    if (at + n > text.size()) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = text[at + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    at += n;
    *out = v;
    return true;
  };
  auto literal = [&](char lower, char upper) {
    if (at >= text.size() || (text[at] != lower && text[at] != upper)) return false;
    ++at;
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(4, &year) || !literal('-', '-') || !digits(2, &month) || !literal('-', '-') ||
      !digits(2, &day) || !literal('t', 'T') || !digits(2, &hour) || !literal(':', ':') ||
      !digits(2, &minute) || !literal(':', ':') || !digits(2, &second)) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    size_t n = 0;
    int64_t scale = 100000;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (scale > 0) micros += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int64_t offset = 0;  // seconds east of UTC
  if (!literal('z', 'Z')) {
    if (at >= text.size() || (text[at] != '+' && text[at] != '-')) return std::nullopt;
    const int64_t sign = text[at] == '+' ? 1 : -1;
    ++at;
    int oh, om;
    if (!digits(2, &oh) || !literal(':', ':') || !digits(2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = sign * (oh * 3600 + om * 60);
  }
  if (at != text.size()) return std::nullopt;
  const int64_t secs = DaysFromCivil(year, month, day) * 86400 + hour * 3600 +
                       minute * 60 + second - offset;
  return secs * 1000000 + micros;
}

Result<int64_t> ParseRfc3339Utc(std::string_view text) {
  // The input is not echoed: it may be long or cut a UTF-8 sequence.
  auto bad = []() {
    return InvalidArgumentError(
        "expected YYYY-MM-DDTHH:MM:SSZ (UTC, a real date from 1970, seconds 00-59, no fraction or "
        "offset)",
        "bad-validity");
  };
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != 'Z') {
    return bad();
  }
  const int64_t year = DigitsAt(text, 0, 4);
  const int64_t month = DigitsAt(text, 5, 2);
  const int64_t day = DigitsAt(text, 8, 2);
  const int64_t hour = DigitsAt(text, 11, 2);
  const int64_t minute = DigitsAt(text, 14, 2);
  const int64_t second = DigitsAt(text, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 59) {
    return bad();
  }
  if (day > DaysInMonth(year, month)) {
    return bad();
  }
  return DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

json::Value MandateCredentialToJson(const MandateCredential& c) {
  const std::string id = std::string(kMandateIdPrefix) + c.id;
  const std::string valid_from = FormatRfc3339Utc(c.validity.not_before);
  const std::string valid_until = FormatRfc3339Utc(c.validity.not_after);

  json::Value out = json::Value::Object();
  out.Set("@context", StringArray(kVcContext, kMandateContext));
  out.Set("type", StringArray(kCredentialType, kMandateType));
  out.Set("id", json::Value::String(id));
  out.Set("issuer", json::Value::String(c.issuer));
  out.Set("validFrom", json::Value::String(valid_from));
  out.Set("validUntil", json::Value::String(valid_until));
  json::Value credential_status = json::Value::Object();
  credential_status.Set("type", json::Value::String(std::string(kStatusEntryType)));
  credential_status.Set("status_list", StatusListJson(c.status));
  out.Set("credentialStatus", std::move(credential_status));
  json::Value subject = json::Value::Object();
  subject.Set("id", json::Value::String(c.subject));
  subject.Set("mandate", MandateTermsToJson(c.terms));
  out.Set("credentialSubject", std::move(subject));
  out.Set("iss", json::Value::String(c.issuer));
  out.Set("sub", json::Value::String(c.subject));
  out.Set("jti", json::Value::String(id));
  out.Set("iat", json::Value::Int(c.issued_at));
  out.Set("nbf", json::Value::Int(c.validity.not_before));
  out.Set("exp", json::Value::Int(c.validity.not_after));
  json::Value status = json::Value::Object();
  status.Set("status_list", StatusListJson(c.status));
  out.Set("status", std::move(status));
  return out;
}

std::string MandateCredentialPayload(const MandateCredential& c) {
  std::string out;
  out.reserve(2048);
  auto str = [&out](std::string_view key, std::string_view value) {
    out += '"';
    out += key;  // member names are plain ASCII: nothing to escape
    out += "\":";
    json::AppendQuoted(out, value);
    out += ',';
  };
  auto num = [&out](std::string_view key, const std::string& digits) {
    out += '"';
    out += key;
    out += "\":";
    out += digits;
  };
  auto status_list = [&out, &num](const StatusReference& st) {
    out += "\"status_list\":{";
    num("idx", std::to_string(st.idx));
    out += ",\"uri\":";
    json::AppendQuoted(out, st.uri);
    out += '}';
  };
  out += "{\"@context\":[";
  json::AppendQuoted(out, kVcContext);
  out += ',';
  json::AppendQuoted(out, kMandateContext);
  out += "],\"type\":[";
  json::AppendQuoted(out, kCredentialType);
  out += ',';
  json::AppendQuoted(out, kMandateType);
  out += "],";
  std::string id;
  id.reserve(kMandateIdPrefix.size() + c.id.size());
  id += kMandateIdPrefix;
  id += c.id;
  str("id", id);
  str("issuer", c.issuer);
  str("validFrom", FormatRfc3339Utc(c.validity.not_before));
  str("validUntil", FormatRfc3339Utc(c.validity.not_after));
  out += "\"credentialStatus\":{";
  str("type", kStatusEntryType);
  status_list(c.status);
  out += "},\"credentialSubject\":{";
  str("id", c.subject);
  out += "\"mandate\":";
  AppendMandateTermsJson(out, c.terms);
  out += "},";
  str("iss", c.issuer);
  str("sub", c.subject);
  str("jti", id);
  num("iat", std::to_string(c.issued_at));
  out += ',';
  num("nbf", std::to_string(c.validity.not_before));
  out += ',';
  num("exp", std::to_string(c.validity.not_after));
  out += ",\"status\":{";
  status_list(c.status);
  out += "}}";
  return out;
}

Result<MandateCredential> ParseMandateCredential(const json::Value& payload) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(payload));
  MD_ASSIGN_OR_RETURN(const json::Value* context, r.Required("@context"));
  MD_ASSIGN_OR_RETURN(const json::Value* type, r.Required("type"));
  MD_ASSIGN_OR_RETURN(std::string id, r.String("id"));
  MD_ASSIGN_OR_RETURN(std::string issuer, r.String("issuer"));
  MD_ASSIGN_OR_RETURN(std::string valid_from, r.String("validFrom"));
  MD_ASSIGN_OR_RETURN(std::string valid_until, r.String("validUntil"));
  MD_ASSIGN_OR_RETURN(const json::Value* credential_status, r.Required("credentialStatus"));
  MD_ASSIGN_OR_RETURN(const json::Value* subject, r.Required("credentialSubject"));
  MD_ASSIGN_OR_RETURN(std::string iss, r.String("iss"));
  MD_ASSIGN_OR_RETURN(std::string sub, r.String("sub"));
  MD_ASSIGN_OR_RETURN(std::string jti, r.String("jti"));
  MD_ASSIGN_OR_RETURN(int64_t iat, r.Int("iat"));
  MD_ASSIGN_OR_RETURN(int64_t nbf, r.Int("nbf"));
  MD_ASSIGN_OR_RETURN(int64_t exp, r.Int("exp"));
  MD_ASSIGN_OR_RETURN(const json::Value* status, r.Required("status"));
  MD_RETURN_IF_ERROR(r.Finish());

  if (!context->is_array()) {
    return Fail("/@context", "expected an array", "wrong-type");
  }
  if (*context != StringArray(kVcContext, kMandateContext)) {
    return Fail("/@context",
                "must be exactly [\"" + std::string(kVcContext) + "\", \"" +
                    std::string(kMandateContext) + "\"]",
                "bad-context");
  }
  if (!type->is_array()) {
    return Fail("/type", "expected an array", "wrong-type");
  }
  if (*type != StringArray(kCredentialType, kMandateType)) {
    return Fail("/type", "must be exactly [\"VerifiableCredential\", \"SpendingMandate\"]",
                "bad-credential-type");
  }

  MandateCredential c;
  if (id.substr(0, kMandateIdPrefix.size()) != kMandateIdPrefix ||
      !IsMandateId(std::string_view(id).substr(kMandateIdPrefix.size()))) {
    return Fail("/id", "expected " + std::string(kMandateIdPrefix) + "<1 to 64 of [a-z0-9_-]>",
                "bad-mandate-id");
  }
  c.id = id.substr(kMandateIdPrefix.size());
  if (!IsCredentialDid(issuer)) {
    return Fail("/issuer", "expected a DID without path, query or fragment", "bad-did");
  }
  c.issuer = issuer;

  MD_ASSIGN_OR_RETURN(c.validity.not_before, TimestampAt(valid_from, "/validFrom"));
  MD_ASSIGN_OR_RETURN(c.validity.not_after, TimestampAt(valid_until, "/validUntil"));
  if (c.validity.not_after <= c.validity.not_before) {
    return Fail("/validUntil", "must be after validFrom", "bad-validity");
  }
  if (c.validity.not_after - c.validity.not_before > kMaxValiditySeconds) {
    return Fail("/validUntil", "at most 366 days after validFrom", "bad-validity");
  }

  {
    MD_ASSIGN_OR_RETURN(json::ObjectReader sr,
                        json::ObjectReader::Of(*credential_status, "/credentialStatus"));
    MD_ASSIGN_OR_RETURN(std::string entry_type, sr.String("type"));
    MD_ASSIGN_OR_RETURN(const json::Value* list, sr.Required("status_list"));
    MD_RETURN_IF_ERROR(sr.Finish());
    if (entry_type != kStatusEntryType) {
      return Fail("/credentialStatus/type", "must be TokenStatusListEntry", "bad-status-entry");
    }
    MD_ASSIGN_OR_RETURN(c.status, ParseStatusList(*list, "/credentialStatus/status_list"));
  }

  {
    MD_ASSIGN_OR_RETURN(json::ObjectReader sr,
                        json::ObjectReader::Of(*subject, "/credentialSubject"));
    MD_ASSIGN_OR_RETURN(c.subject, sr.String("id"));
    MD_ASSIGN_OR_RETURN(const json::Value* mandate, sr.Required("mandate"));
    MD_RETURN_IF_ERROR(sr.Finish());
    if (!IsCredentialDid(c.subject)) {
      return Fail("/credentialSubject/id", "expected a DID without path, query or fragment",
                  "bad-did");
    }
    MD_ASSIGN_OR_RETURN(c.terms, ParseMandateTerms(*mandate, "/credentialSubject/mandate"));
  }

  // The JWT claims that mirror the credential.
  if (iss != c.issuer) {
    return Mismatch("/iss", "issuer");
  }
  if (sub != c.subject) {
    return Mismatch("/sub", "credentialSubject.id");
  }
  if (jti != id) {
    return Mismatch("/jti", "id");
  }
  if (iat < 0) {
    return Fail("/iat", "must not be negative", "bad-validity");
  }
  if (iat > c.validity.not_after) {
    return Fail("/iat", "must not be after exp", "bad-validity");
  }
  c.issued_at = iat;
  if (nbf != c.validity.not_before) {
    return Mismatch("/nbf", "validFrom as Unix seconds");
  }
  if (exp != c.validity.not_after) {
    return Mismatch("/exp", "validUntil as Unix seconds");
  }
  {
    MD_ASSIGN_OR_RETURN(json::ObjectReader sr, json::ObjectReader::Of(*status, "/status"));
    MD_ASSIGN_OR_RETURN(const json::Value* list, sr.Required("status_list"));
    MD_RETURN_IF_ERROR(sr.Finish());
    MD_ASSIGN_OR_RETURN(StatusReference claim, ParseStatusList(*list, "/status/status_list"));
    if (claim != c.status) {
      return Mismatch("/status/status_list", "credentialStatus.status_list");
    }
  }
  return c;
}

namespace {

using json::Scanner;

using json::MemberIndex;

// Exactly the array [a, b] of two strings.
bool ScanPair(Scanner& s, std::string_view a, std::string_view b) {
  std::string_view x, y;
  bool first = true;
  return s.BeginArray() && s.NextItem(first) && s.String(x) && x == a && s.NextItem(first) &&
                 s.String(y) && y == b && !s.NextItem(first) && s.ok()
             ? true
             : s.Fail();
}

// ParseStatusList's twin.
bool ScanStatusList(Scanner& s, StatusReference& out) {
  static constexpr std::array<std::string_view, 2> kNames = {"idx", "uri"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, uri;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (!(m == 0 ? s.Uint(out.idx) : m == 1 ? s.String(uri) : false)) {
      return s.Fail();
    }
  }
  if (!s.ok() || seen != 3 || !IsStatusUri(uri)) {
    return s.Fail();
  }
  out.uri.assign(uri);
  return true;
}

// {"status_list": {...}} (the JWT claim) or, with `typed`, {"type": "TokenStatusListEntry",
// "status_list": {...}} (credentialStatus).
bool ScanStatusClaim(Scanner& s, bool typed, StatusReference& out) {
  static constexpr std::array<std::string_view, 2> kNames = {"status_list", "type"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = typed ? 0 : 2;  // the untyped claim has no "type"
  bool first = true;
  std::string_view key, type;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (!(m == 0 ? ScanStatusList(s, out) : m == 1 ? s.String(type) : false)) {
      return s.Fail();
    }
  }
  return s.ok() && seen == 3 && (!typed || type == kStatusEntryType) ? true : s.Fail();
}

bool ScanSubject(Scanner& s, MandateCredential& c) {
  static constexpr std::array<std::string_view, 2> kNames = {"id", "mandate"};
  if (!s.BeginObject()) {
    return false;
  }
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, id;
  while (s.NextMember(first, key)) {
    const int m = MemberIndex(s, key, kNames, seen);
    if (!(m == 0 ? s.String(id) : m == 1 ? ScanMandateTerms(s, c.terms) : false)) {
      return s.Fail();
    }
  }
  if (!s.ok() || seen != 3 || !IsCredentialDid(id)) {
    return s.Fail();
  }
  c.subject.assign(id);
  return true;
}

}  // namespace

std::optional<MandateCredential> ScanMandateCredential(std::string_view payload) {
  static constexpr std::array<std::string_view, 15> kNames = {
      "@context", "type", "id", "issuer", "validFrom", "validUntil", "credentialStatus",
      "credentialSubject", "iss", "sub", "jti", "iat", "nbf", "exp", "status"};
  constexpr uint64_t kMaxInt = static_cast<uint64_t>(INT64_MAX);
  Scanner s(payload);
  if (!s.BeginObject()) {
    return std::nullopt;
  }
  MandateCredential c;
  StatusReference claim;
  uint32_t seen = 0;
  bool first = true;
  std::string_view key, id, issuer, valid_from, valid_until, iss, sub, jti;
  uint64_t iat = 0, nbf = 0, exp = 0;
  while (s.NextMember(first, key)) {
    bool ok = false;
    switch (MemberIndex(s, key, kNames, seen)) {
      case 0: ok = ScanPair(s, kVcContext, kMandateContext); break;
      case 1: ok = ScanPair(s, kCredentialType, kMandateType); break;
      case 2: ok = s.String(id); break;
      case 3: ok = s.String(issuer); break;
      case 4: ok = s.String(valid_from); break;
      case 5: ok = s.String(valid_until); break;
      case 6: ok = ScanStatusClaim(s, /*typed=*/true, c.status); break;
      case 7: ok = ScanSubject(s, c); break;
      case 8: ok = s.String(iss); break;
      case 9: ok = s.String(sub); break;
      case 10: ok = s.String(jti); break;
      case 11: ok = s.Uint(iat, kMaxInt); break;
      case 12: ok = s.Uint(nbf, kMaxInt); break;
      case 13: ok = s.Uint(exp, kMaxInt); break;
      case 14: ok = ScanStatusClaim(s, /*typed=*/false, claim); break;
      default: break;
    }
    if (!ok) {
      return std::nullopt;
    }
  }
  if (!s.AtEnd() || seen != (uint32_t{1} << kNames.size()) - 1) {
    return std::nullopt;
  }
  // The checks of ParseMandateCredential, in its order.
  if (id.substr(0, kMandateIdPrefix.size()) != kMandateIdPrefix ||
      !IsMandateId(id.substr(kMandateIdPrefix.size())) || !IsCredentialDid(issuer)) {
    return std::nullopt;
  }
  Result<int64_t> from = ParseRfc3339Utc(valid_from);
  Result<int64_t> until = ParseRfc3339Utc(valid_until);
  if (!from.ok() || !until.ok() || *until <= *from || *until - *from > kMaxValiditySeconds) {
    return std::nullopt;
  }
  c.validity = Validity{*from, *until};
  const auto iat_s = static_cast<int64_t>(iat);
  if (iss != issuer || sub != c.subject || jti != id || iat_s > c.validity.not_after ||
      static_cast<int64_t>(nbf) != c.validity.not_before ||
      static_cast<int64_t>(exp) != c.validity.not_after || claim != c.status) {
    return std::nullopt;
  }
  c.id.assign(id.substr(kMandateIdPrefix.size()));
  c.issuer.assign(issuer);
  c.issued_at = iat_s;
  return c;
}

Status CheckMandateHeader(const json::Value& header) {
  if (!header.is_object()) {
    return Fail("/", "expected a JSON object", "wrong-type");
  }
  const json::Value* typ = header.Find("typ");
  if (typ == nullptr || !typ->is_string() || typ->as_string() != kMandateTyp) {
    return Fail("/typ", "must be \"" + std::string(kMandateTyp) + "\"", "bad-typ");
  }
  const json::Value* cty = header.Find("cty");
  if (cty != nullptr && (!cty->is_string() || cty->as_string() != "vc")) {
    return Fail("/cty", "must be absent or \"vc\"", "bad-typ");
  }
  const json::Value* kid = header.Find("kid");
  if (kid == nullptr || !kid->is_string()) {
    return Fail("/kid", "a mandate names its issuer's verification method", "kid-missing");
  }
  const std::string& k = kid->as_string();
  if (k.substr(0, k.find('#')).empty()) {
    return Fail("/kid", "the DID part before '#' is empty", "kid-missing");
  }
  return OkStatus();
}

}  // namespace mandated::mandates
