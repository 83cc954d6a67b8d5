// UsageMeter (specs/usage.md): batch parsing, the compact record encodings of the `usage` family,
// the in-memory de-duplication index and aggregates, pruning into rollups, queries and burn rates.
#include "settlement/usage.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "audit/event.h"
#include "base/asset.h"
#include "base/json.h"
#include "base/json_scan.h"
#include "base/log.h"
#include "base/utf8.h"
#include "settlement/id_table.h"

namespace mandated::settlement {
namespace {

constexpr uint8_t kRecordVersion = 1;
constexpr uint8_t kFlagAtGiven = 1;
constexpr uint8_t kFlagPayment = 2;
constexpr char kBatchPrefix[] = "b/";
constexpr char kRollupPrefix[] = "r/";
constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxPayeeBytes = 256;
constexpr size_t kMaxResourceBytes = 1024;
constexpr size_t kMaxRefBytes = 64;
constexpr uint64_t kMaxQuantity = 1000000000000ull;  // 10^12 per event
constexpr int64_t kMaxAt = int64_t{1} << 40;
constexpr char kSourceUsage[] = "usage";
constexpr char kSourcePayment[] = "payment";
// The ids of settled payments: x402 transfers and AP2 closings paid on the ledger.
constexpr char kPaymentIdPrefix[] = "x402:";
constexpr char kAp2PaymentIdPrefix[] = "ap2:";

// Amounts above 10^30 base units a single event are refused, so sums of many events stay far
// from 2^128 (every add is still checked).
Amount MaxEventAmount() {
  Uint128 v = 1;
  for (int i = 0; i < 30; ++i) v *= 10;
  return Amount::FromRaw(v);
}

Status Fault(size_t index, std::string_view field, std::string detail, std::string reason) {
  return InvalidArgumentError(
      "/events/" + std::to_string(index) + "/" + std::string(field) + ": " + std::move(detail),
      std::move(reason));
}

bool PrintableAscii(std::string_view s, bool allow_space) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < (allow_space ? 0x20 : 0x21) || u > 0x7e) return false;
  }
  return true;
}
// No C0 control, DEL, nor C1 control (U+0080-U+009F, UTF-8 C2 80 to C2 9F).
bool NoControl(std::string_view s) { return !HasControlCharacter(s); }
bool RefId(std::string_view s, std::string_view prefix) {
  if (s.size() <= prefix.size() || s.size() > kMaxRefBytes || s.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

// CAIP-19 ids on eip155 chains name a hexadecimal address, which is case-insensitive: metered
// in lower case (as the facilitator meters payments), so mixed-case spellings are one series
// (specs/usage.md §1). Other assets are left as they are.
bool IsEip155Asset(std::string_view a) { return a.rfind("eip155:", 0) == 0; }

void CanonicalizeAsset(std::string& a) { a = CanonicalAssetId(a); }

bool SameAsset(std::string_view a, std::string_view b) {
  if (a == b) return true;
  return IsEip155Asset(a) && IsEip155Asset(b) && a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The checks both parsers share (specs/usage.md §3). A field equal to the same field of `prev`, an
// event that passed them, passes too: batches mostly repeat payee, asset and resource.
Status ValidateEvent(const UsageEvent& e, size_t i, const UsageEvent* prev = nullptr) {
  if (e.id.empty() || e.id.size() > kMaxIdBytes || !PrintableAscii(e.id, false)) {
    return Fault(i, "id", "1 to 128 printable ASCII characters without spaces", "bad-usage-id");
  }
  // Settled payments are metered under "x402:<nonce>" and "ap2:<closed id>" (specs/usage.md §1):
  // a report may not take such an id first (the payment would go unmetered) or race the
  // payment's own record.
  if (e.id.compare(0, sizeof(kPaymentIdPrefix) - 1, kPaymentIdPrefix) == 0 ||
      e.id.compare(0, sizeof(kAp2PaymentIdPrefix) - 1, kAp2PaymentIdPrefix) == 0) {
    return Fault(i, "id", "ids starting with x402: or ap2: are kept for settled payments",
                 "bad-usage-id");
  }
  if (!e.agent.empty() && !(prev != nullptr && e.agent == prev->agent) &&
      !RefId(e.agent, "agt_")) {
    return Fault(i, "agent", "not an agent id (agt_...)", "bad-usage-agent");
  }
  if (!e.mandate.empty() && !(prev != nullptr && e.mandate == prev->mandate) &&
      !RefId(e.mandate, "mnd_")) {
    return Fault(i, "mandate", "not a mandate id (mnd_...)", "bad-usage-mandate");
  }
  if (e.payee.empty() ||
      (!(prev != nullptr && e.payee == prev->payee) &&
       (e.payee.size() > kMaxPayeeBytes || !NoControl(e.payee)))) {
    return Fault(i, "payee", "1 to 256 bytes without control characters", "bad-payee");
  }
  if (!(prev != nullptr && e.asset == prev->asset)) {
    if (Status s = ValidateAssetId(e.asset); !s.ok()) {
      return Fault(i, "asset", "not an ISO 4217 code nor a CAIP-19 asset id", "bad-asset");
    }
  }
  if (e.amount > MaxEventAmount()) {
    return Fault(i, "amount", "at most 10^30 base units per event", "amount-out-of-range");
  }
  if (e.quantity < 1 || e.quantity > kMaxQuantity) {
    return Fault(i, "quantity", "an integer from 1 to 10^12", "bad-quantity");
  }
  if (!(prev != nullptr && e.resource == prev->resource) &&
      (e.resource.size() > kMaxResourceBytes || !NoControl(e.resource))) {
    return Fault(i, "resource", "at most 1024 bytes without control characters", "bad-resource");
  }
  if (e.at < 0 || e.at > kMaxAt) {
    return Fault(i, "at", "unix seconds, a positive integer", "bad-usage-at");
  }
  return OkStatus();
}

// ---- The fast path: a Scanner over the common shape; any doubt falls back to the strict one.

bool FastEvent(json::Scanner& s, UsageEvent& e) {
  if (!s.BeginObject()) return false;
  bool first = true;
  std::string_view key;
  uint32_t seen = 0;
  auto once = [&](uint32_t bit) {
    if ((seen & bit) != 0) return false;
    seen |= bit;
    return true;
  };
  auto str = [&](std::string& out, uint32_t bit) {
    std::string_view v;
    if (!once(bit) || !s.String(v) || v.empty()) return false;
    out.assign(v);
    return true;
  };
  while (s.NextMember(first, key)) {
    bool ok = false;
    if (key == "id") {
      ok = str(e.id, 1);
    } else if (key == "agent") {
      ok = str(e.agent, 2);
    } else if (key == "mandate") {
      ok = str(e.mandate, 4);
    } else if (key == "payee") {
      ok = str(e.payee, 8);
    } else if (key == "asset") {
      ok = str(e.asset, 16);
    } else if (key == "amount") {
      std::string_view v;
      if (once(32) && s.String(v)) {
        Result<Amount> a = Amount::Parse(v);
        if (a.ok()) {
          e.amount = *a;
          ok = true;
        }
      }
    } else if (key == "quantity") {
      ok = once(64) && s.Uint(e.quantity);
    } else if (key == "resource") {
      ok = str(e.resource, 128);
    } else if (key == "at") {
      uint64_t at = 0;
      ok = once(256) && s.Uint(at, static_cast<uint64_t>(kMaxAt));
      e.at = static_cast<int64_t>(at);
      ok = ok && at > 0;
    }
    if (!ok) return s.Fail();
  }
  return s.ok() && (seen & (1 | 8 | 16 | 32)) == (1 | 8 | 16 | 32);
}

bool FastBatch(std::string_view body, std::vector<UsageEvent>& out) {
  json::Scanner s(body);
  if (!s.BeginObject()) return false;
  bool first = true;
  std::string_view key;
  bool have_events = false;
  while (s.NextMember(first, key)) {
    if (key != "events" || have_events || !s.BeginArray()) return s.Fail();
    have_events = true;
    bool item_first = true;
    while (s.NextItem(item_first)) {
      if (out.size() >= kMaxUsageBatch) return s.Fail();
      UsageEvent& e = out.emplace_back();
      if (!FastEvent(s, e)) return s.Fail();
      const UsageEvent* prev = out.size() > 1 ? &out[out.size() - 2] : nullptr;
      if (!ValidateEvent(e, out.size() - 1, prev).ok()) return s.Fail();
    }
    if (!s.ok()) return false;
  }
  return s.ok() && have_events && !out.empty() && s.AtEnd();
}

Result<std::vector<UsageEvent>> StrictBatch(std::string_view body) {
  MD_ASSIGN_OR_RETURN(json::Value root, json::Parse(body));
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(root));
  MD_ASSIGN_OR_RETURN(const json::Value* events, r.Required("events"));
  MD_RETURN_IF_ERROR(r.Finish());
  if (!events->is_array()) {
    return InvalidArgumentError("/events: expected an array", "wrong-type");
  }
  if (events->items().empty()) {
    return InvalidArgumentError("/events: a batch holds at least one event", "usage-batch-empty");
  }
  if (events->items().size() > kMaxUsageBatch) {
    return InvalidArgumentError("/events: a batch holds at most " +
                                    std::to_string(kMaxUsageBatch) + " events",
                                "usage-batch-too-large");
  }
  std::vector<UsageEvent> out;
  out.reserve(events->items().size());
  for (size_t i = 0; i < events->items().size(); ++i) {
    const std::string ptr = "/events/" + std::to_string(i);
    MD_ASSIGN_OR_RETURN(json::ObjectReader er, json::ObjectReader::Of(events->items()[i], ptr));
    UsageEvent e;
    e.source = kSourceUsage;
    MD_ASSIGN_OR_RETURN(e.id, er.String("id"));
    for (auto [name, field] : {std::pair<const char*, std::string*>{"agent", &e.agent},
                               {"mandate", &e.mandate}, {"resource", &e.resource}}) {
      MD_ASSIGN_OR_RETURN(std::optional<std::string> v, er.OptionalString(name));
      if (v.has_value() && v->empty()) {
        return Fault(i, name, "must not be empty when given",
                     std::string(name) == "resource" ? "bad-resource"
                                                     : "bad-usage-" + std::string(name));
      }
      if (v.has_value()) *field = std::move(*v);
    }
    MD_ASSIGN_OR_RETURN(e.payee, er.String("payee"));
    MD_ASSIGN_OR_RETURN(e.asset, er.String("asset"));
    MD_ASSIGN_OR_RETURN(e.amount, er.AmountField("amount"));
    if (const json::Value* q = er.Optional("quantity"); q != nullptr) {
      std::optional<uint64_t> v = q->is_number() ? q->as_uint64() : std::nullopt;
      if (!v.has_value()) {
        return Fault(i, "quantity", "an integer from 1 to 10^12", "bad-quantity");
      }
      e.quantity = *v;
    }
    if (const json::Value* at = er.Optional("at"); at != nullptr) {
      std::optional<int64_t> v = at->is_number() ? at->as_int64() : std::nullopt;
      if (!v.has_value() || *v <= 0) {
        return Fault(i, "at", "unix seconds, a positive integer", "bad-usage-at");
      }
      e.at = *v;
    }
    MD_RETURN_IF_ERROR(er.Finish());
    MD_RETURN_IF_ERROR(ValidateEvent(e, i));
    out.push_back(std::move(e));
  }
  return out;
}

// ---- Encodings.

void PutVarint(std::string& out, Uint128 v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// A string field: its length + 1, then its bytes; 0 alone for "the same as the previous one".
void PutField(std::string& out, std::string_view v, std::string_view& prev, bool first) {
  if (!first && v == prev) {
    out.push_back(0);
    return;
  }
  PutVarint(out, v.size() + 1);
  out.append(v);
  prev = v;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ == end_; }
  Uint128 Varint() {
    Uint128 v = 0;
    for (int shift = 0; shift < 133; shift += 7) {
      if (p_ >= end_) return Bad();
      const auto b = static_cast<unsigned char>(*p_++);
      v |= static_cast<Uint128>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Bad();
  }
  uint8_t Byte() {
    if (p_ >= end_) return static_cast<uint8_t>(Bad());
    return static_cast<uint8_t>(*p_++);
  }
  std::string_view Field(std::string_view& prev) {
    const Uint128 n = Varint();
    if (!ok_) return {};
    if (n == 0) return prev;
    if (n - 1 > static_cast<Uint128>(end_ - p_)) {
      Bad();
      return {};
    }
    std::string_view v(p_, static_cast<size_t>(n - 1));
    p_ += v.size();
    prev = v;
    return v;
  }

 private:
  Uint128 Bad() {
    ok_ = false;
    p_ = end_;
    return 0;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

struct FieldPrev {
  std::string_view id, agent, mandate, payee, asset, resource, source, principal;
};

// One event of a batch record (specs/usage.md §6).
void EncodeEvent(std::string& out, const UsageEvent& e, bool at_given, FieldPrev& prev,
                 bool first) {
  uint8_t flags = 0;
  if (at_given) flags |= kFlagAtGiven;
  if (e.source == kSourcePayment) flags |= kFlagPayment;
  out.push_back(static_cast<char>(flags));
  PutField(out, e.id, prev.id, first);
  PutField(out, e.agent, prev.agent, first);
  PutField(out, e.mandate, prev.mandate, first);
  PutField(out, e.payee, prev.payee, first);
  PutField(out, e.asset, prev.asset, first);
  PutField(out, e.resource, prev.resource, first);
  PutVarint(out, e.amount.raw());
  PutVarint(out, e.quantity);
  PutVarint(out, static_cast<uint64_t>(e.at));
}

struct DecodedEvent {
  UsageEvent event;
  bool at_given = false;
};

Result<std::vector<DecodedEvent>> DecodeBatchRecord(std::string_view value) {
  Reader r(value);
  if (r.Byte() != kRecordVersion) {
    return DataLossError("usage batch record of an unknown version", "usage-record-corrupt");
  }
  FieldPrev prev;
  const std::string principal(r.Field(prev.principal));
  const Uint128 n = r.Varint();
  if (!r.ok() || n > kMaxUsageBatch) {
    return DataLossError("usage batch record does not decode", "usage-record-corrupt");
  }
  std::vector<DecodedEvent> out(static_cast<size_t>(n));
  for (DecodedEvent& d : out) {
    const uint8_t flags = r.Byte();
    UsageEvent& e = d.event;
    e.principal = principal;
    e.id = r.Field(prev.id);
    e.agent = r.Field(prev.agent);
    e.mandate = r.Field(prev.mandate);
    e.payee = r.Field(prev.payee);
    e.asset = r.Field(prev.asset);
    e.resource = r.Field(prev.resource);
    e.amount = Amount::FromRaw(r.Varint());
    e.quantity = static_cast<uint64_t>(r.Varint());
    e.at = static_cast<int64_t>(r.Varint());
    e.source = (flags & kFlagPayment) != 0 ? kSourcePayment : kSourceUsage;
    d.at_given = (flags & kFlagAtGiven) != 0;
  }
  if (!r.ok() || !r.done()) {
    return DataLossError("usage batch record does not decode", "usage-record-corrupt");
  }
  return out;
}

std::string Hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%0*llx", digits, static_cast<unsigned long long>(v));
  return std::string(buf, static_cast<size_t>(digits));
}

// Whether two events belong to one run of the audit data (specs/usage.md §5) ...
bool SameRun(const UsageEvent& a, const UsageEvent& b) {
  return a.agent == b.agent && a.mandate == b.mandate && a.payee == b.payee &&
         a.asset == b.asset && a.resource == b.resource;
}
// ... and to one series of the aggregates.
bool SameTuple(const UsageEvent& a, const UsageEvent& b) {
  return SameRun(a, b) && a.source == b.source;
}

uint64_t Mix64(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The content an id stands for, as the reporter sent it (an `at` the service stamped is left
// out, so a retry without `at` is still the same event): a hash of the string fields, mixed with
// the numbers. Kept in memory only (rebuilt at start), so it may change between versions.
// Consecutive events of one series hash their strings once.
// The series tuple of an event as one string: agent, mandate, payee, asset, resource and source,
// each followed by 0x1f (the key of a series and the string a fingerprint hashes).
void AppendTupleKey(std::string& out, std::string_view agent, std::string_view mandate,
                    std::string_view payee, std::string_view asset, std::string_view resource,
                    std::string_view source) {
  for (std::string_view f : {agent, mandate, payee, asset, resource, source}) {
    out.append(f);
    out.push_back('\x1f');
  }
}

class Fingerprinter {
 public:
  uint64_t operator()(const UsageEvent& e, bool at_given) {
    if (prev_ == nullptr || !SameTuple(e, *prev_)) {
      buf_.clear();
      AppendTupleKey(buf_, e.agent, e.mandate, e.payee, e.asset, e.resource, e.source);
      tuple_ = std::hash<std::string_view>()(buf_);
    }
    prev_ = &e;  // REQUIRES: e outlives the next call
    const Uint128 a = e.amount.raw();
    uint64_t h = Mix64(tuple_ ^ static_cast<uint64_t>(a));
    h = Mix64(h ^ static_cast<uint64_t>(a >> 64));
    h = Mix64(h ^ e.quantity);
    return Mix64(h ^ static_cast<uint64_t>(at_given ? e.at : -1));
  }

 private:
  const UsageEvent* prev_ = nullptr;
  uint64_t tuple_ = 0;
  std::string buf_;
};

// Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void CivilFromDays(int64_t z, int64_t& y, unsigned& m) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t WindowStart(int64_t t, Granularity g) {
  switch (g) {
    case Granularity::kMinute: return FloorDiv(t, 60) * 60;
    case Granularity::kHour: return FloorDiv(t, 3600) * 3600;
    case Granularity::kDay: return FloorDiv(t, 86400) * 86400;
    case Granularity::kMonth: {
      int64_t y = 0;
      unsigned m = 0;
      CivilFromDays(FloorDiv(t, 86400), y, m);
      return DaysFromCivil(y, m, 1) * 86400;
    }
    case Granularity::kTotal: return 0;
  }
  return 0;
}

// Adds, saturating at the maximum (reachable only past ~10^8 maximal events in one cell).
void AddTo(Amount& sum, Amount v) {
  Result<Amount> s = sum.Add(v);
  if (!s.ok()) {
    log::Error("usage aggregate saturated at 2^128-1");
    sum = Amount::Max();
    return;
  }
  sum = *s;
}

}  // namespace

Result<Granularity> ParseGranularity(std::string_view text) {
  if (text == "minute") return Granularity::kMinute;
  if (text == "hour") return Granularity::kHour;
  if (text == "day") return Granularity::kDay;
  if (text == "month") return Granularity::kMonth;
  if (text == "total") return Granularity::kTotal;
  return InvalidArgumentError("window must be minute, hour, day, month or total",
                              "usage-query-invalid");
}

Result<std::vector<UsageEvent>> ParseUsageBatch(std::string_view body) {
  std::vector<UsageEvent> fast;
  fast.reserve(std::min<size_t>(kMaxUsageBatch, body.size() / 48 + 1));
  if (FastBatch(body, fast)) {
    for (UsageEvent& e : fast) {
      e.source = kSourceUsage;
      CanonicalizeAsset(e.asset);
    }
    return fast;
  }
  MD_ASSIGN_OR_RETURN(std::vector<UsageEvent> strict, StrictBatch(body));
  for (UsageEvent& e : strict) CanonicalizeAsset(e.asset);
  return strict;
}

std::string UsageAuditData(std::string_view batch, const std::vector<const UsageEvent*>& events) {
  std::string out;
  out.reserve(64 + events.size() * 48);
  out += "{\"batch\":";
  json::AppendQuoted(out, batch);
  out += ",\"runs\":[";
  const UsageEvent* prev = nullptr;
  for (const UsageEvent* e : events) {
    if (prev == nullptr || !SameRun(*e, *prev)) {
      if (prev != nullptr) out += "]},";
      out += "{\"agent\":";
      json::AppendQuoted(out, e->agent);
      out += ",\"mandate\":";
      json::AppendQuoted(out, e->mandate);
      out += ",\"payee\":";
      json::AppendQuoted(out, e->payee);
      out += ",\"asset\":";
      json::AppendQuoted(out, e->asset);
      out += ",\"resource\":";
      json::AppendQuoted(out, e->resource);
      out += ",\"events\":[";
    } else {
      out += ',';
    }
    out += '[';
    json::AppendQuoted(out, e->id);
    out += ",\"";
    out += e->amount.ToString();
    out += "\",";
    out += std::to_string(e->quantity);
    out += ',';
    out += std::to_string(e->at);
    out += ']';
    prev = e;
  }
  if (prev != nullptr) out += "]}";
  out += "]}";
  return out;
}

namespace {

// One event row: [id,agent,mandate,payee,asset,"amount",quantity,resource,at] (the first
// format) or [id,"amount",quantity,at] inside a run that names the rest.
Status EventFromRow(const json::Value& row, const UsageEvent* run, UsageEvent& e) {
  const size_t n = run == nullptr ? 9 : 4;
  if (!row.is_array() || row.items().size() != n) {
    return InvalidArgumentError("usage.recorded event is not a " + std::to_string(n) +
                                    "-item array",
                                "malformed-json");
  }
  const std::vector<json::Value>& f = row.items();
  static constexpr size_t kFullStrings[] = {0, 1, 2, 3, 4, 5, 7};
  static constexpr size_t kRunStrings[] = {0, 1};
  for (size_t i : run == nullptr ? std::span<const size_t>(kFullStrings)
                                  : std::span<const size_t>(kRunStrings)) {
    if (!f[i].is_string()) {
      return InvalidArgumentError("usage.recorded event field is not a string", "malformed-json");
    }
  }
  const json::Value& amount = run == nullptr ? f[5] : f[1];
  const json::Value& quantity = run == nullptr ? f[6] : f[2];
  const json::Value& at = run == nullptr ? f[8] : f[3];
  if (run != nullptr) {
    e = *run;
  } else {
    e.agent = f[1].as_string();
    e.mandate = f[2].as_string();
    e.payee = f[3].as_string();
    e.asset = f[4].as_string();
    e.resource = f[7].as_string();
  }
  e.id = f[0].as_string();
  MD_ASSIGN_OR_RETURN(e.amount, Amount::Parse(amount.as_string()));
  e.quantity = quantity.as_uint64().value_or(0);
  e.at = at.as_int64().value_or(0);
  e.source = kSourceUsage;
  return OkStatus();
}

}  // namespace

Result<std::vector<UsageEvent>> ParseUsageAuditData(std::string_view data_json) {
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(data_json));
  const json::Value* runs = v.is_object() ? v.Find("runs") : nullptr;
  const json::Value* events = v.is_object() ? v.Find("events") : nullptr;
  std::vector<UsageEvent> out;
  if (runs != nullptr && runs->is_array()) {
    for (const json::Value& r : runs->items()) {
      const json::Value* rows = r.is_object() ? r.Find("events") : nullptr;
      if (rows == nullptr || !rows->is_array()) {
        return InvalidArgumentError("usage.recorded run without events", "malformed-json");
      }
      UsageEvent run;
      for (auto [name, field] : {std::pair<const char*, std::string*>{"agent", &run.agent},
                                 {"mandate", &run.mandate}, {"payee", &run.payee},
                                 {"asset", &run.asset}, {"resource", &run.resource}}) {
        const json::Value* f = r.Find(name);
        if (f == nullptr || !f->is_string()) {
          return InvalidArgumentError("usage.recorded run without " + std::string(name),
                                      "malformed-json");
        }
        *field = f->as_string();
      }
      for (const json::Value& row : rows->items()) {
        UsageEvent e;
        MD_RETURN_IF_ERROR(EventFromRow(row, &run, e));
        out.push_back(std::move(e));
      }
    }
    return out;
  }
  // Events recorded before runs: one full row each.
  if (events == nullptr || !events->is_array()) {
    return InvalidArgumentError("usage.recorded data without runs or events", "malformed-json");
  }
  for (const json::Value& row : events->items()) {
    UsageEvent e;
    MD_RETURN_IF_ERROR(EventFromRow(row, nullptr, e));
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<int64_t> ProjectDepletion(Amount remaining, const Burn& burn, int64_t now) {
  if (remaining.is_zero()) return now;
  if (burn.spent.is_zero() || burn.minutes <= 0) return std::nullopt;
  const Uint128 span = static_cast<Uint128>(burn.minutes) * 60;
  const Uint128 rem = remaining.raw();
  const Uint128 max = ~Uint128{0};
  // rem * span / spent without wrapping: the quotient first when the product would not fit,
  // and a quotient too large for that saturates (it is far past the int64 limit below anyway).
  const Uint128 quotient = rem / burn.spent.raw();
  const Uint128 secs = rem <= max / span    ? rem * span / burn.spent.raw()
                       : quotient <= max / span ? quotient * span
                                                : max;
  const auto limit = static_cast<Uint128>(INT64_MAX - now);
  return now + static_cast<int64_t>(secs > limit ? limit : secs);
}

// ---- The meter's state.

struct Cell {
  Amount amount;
  Amount quantity;
  uint64_t events = 0;
};

struct UsageMeter::Series {
  std::string agent, mandate, payee, asset, resource, source;
  std::map<int64_t, Cell> minutes;  // minute start (unix seconds) -> totals
};

struct UsageMeter::Impl {
  std::mutex mu;
  // principal -> tuple key (agent \x1f mandate \x1f payee \x1f asset \x1f resource \x1f source)
  std::unordered_map<std::string, std::unordered_map<std::string, std::unique_ptr<Series>>> agg;
  // principal -> id -> fingerprint of its content; the tag is the token of the batch that
  // inserted it (0: loaded or a payment). The id is still being written while that token is in
  // `inflight`; once the write succeeds the token leaves it and the tags stay as they are. (A
  // token reused after 2^32 batches can only make a later batch wait once for nothing.)
  std::unordered_map<std::string, std::unique_ptr<IdTable>> seen;
  IdTable& SeenOf(const std::string& principal) {
    std::unique_ptr<IdTable>& t = seen[principal];
    if (t == nullptr) t = std::make_unique<IdTable>();
    return *t;
  }
  uint32_t next_token = 1;
  std::vector<uint32_t> inflight;
  bool InFlight(uint32_t tag) const {
    return tag != 0 && std::find(inflight.begin(), inflight.end(), tag) != inflight.end();
  }
  // Notified when a batch's write ended (its ids stored or taken back).
  std::condition_variable settled;
  int64_t next_prune_at = 0;  // unix seconds
  // The last prune's cutoff (unix seconds) and the monotonic time it was taken at: the next
  // cutoff moves on no faster than the monotonic clock (PruneLocked).
  int64_t last_cutoff_s = 0;
  int64_t last_cutoff_mono_us = 0;

  std::mutex key_mu;
  int64_t last_micros = 0;
  uint32_t counter = 0;

  std::string NextBatchKey(int64_t now_micros) {
    std::lock_guard<std::mutex> lock(key_mu);
    if (now_micros > last_micros) {
      last_micros = now_micros;
    }
    return std::string(kBatchPrefix) + Hex(static_cast<uint64_t>(last_micros), 16) +
           Hex(counter++, 8);
  }

  Series& SeriesFor(const std::string& principal, std::string_view agent, std::string_view mandate,
                    std::string_view payee, std::string_view asset, std::string_view resource,
                    std::string_view source) {
    thread_local std::string key;
    key.clear();
    AppendTupleKey(key, agent, mandate, payee, asset, resource, source);
    auto& tuples = agg[principal];
    auto it = tuples.find(key);
    if (it == tuples.end()) {
      auto s = std::make_unique<Series>();
      s->agent = agent;
      s->mandate = mandate;
      s->payee = payee;
      s->asset = asset;
      s->resource = resource;
      s->source = source;
      it = tuples.emplace(key, std::move(s)).first;
    }
    return *it->second;
  }

  static void AddCell(Series& s, int64_t minute, Amount amount, Amount quantity, uint64_t events) {
    auto it = s.minutes.empty() || s.minutes.rbegin()->first < minute
                  ? s.minutes.emplace_hint(s.minutes.end(), minute, Cell{})
                  : s.minutes.try_emplace(minute).first;
    AddTo(it->second.amount, amount);
    AddTo(it->second.quantity, quantity);
    it->second.events += events;
  }

  void Count(const UsageEvent& e) {
    Series& s = SeriesFor(e.principal, e.agent, e.mandate, e.payee, e.asset, e.resource, e.source);
    AddCell(s, FloorDiv(e.at, 60) * 60, e.amount, Amount::FromUint64(e.quantity), 1);
  }

  // Counts the events of one principal's batch; consecutive events of one series (the common
  // case: one reporter, one resource) share one lookup.
  void CountAll(const std::string& principal, const std::vector<const UsageEvent*>& events) {
    Series* s = nullptr;
    const UsageEvent* prev = nullptr;
    for (const UsageEvent* e : events) {
      if (prev == nullptr || !SameTuple(*e, *prev)) {
        s = &SeriesFor(principal, e->agent, e->mandate, e->payee, e->asset, e->resource,
                       e->source);
      }
      AddCell(*s, FloorDiv(e->at, 60) * 60, e->amount, Amount::FromUint64(e->quantity), 1);
      prev = e;
    }
  }
};

UsageMeter::UsageMeter(store::KvStore& kv, Clock& clock, const UsageMeterOptions& options)
    : kv_(kv), clock_(clock), options_(options), impl_(std::make_unique<Impl>()) {}
UsageMeter::~UsageMeter() = default;

Result<std::unique_ptr<UsageMeter>> UsageMeter::Open(store::KvStore& kv, Clock& clock) {
  return Open(kv, clock, UsageMeterOptions());
}

Result<std::unique_ptr<UsageMeter>> UsageMeter::Open(store::KvStore& kv, Clock& clock,
                                                     const UsageMeterOptions& options) {
  std::unique_ptr<UsageMeter> m(new UsageMeter(kv, clock, options));
  MD_RETURN_IF_ERROR(m->Load());
  return m;
}

Status UsageMeter::Load() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  Status inner = OkStatus();
  // Rollups: aggregates of pruned batches.
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kUsageFamily, kRollupPrefix,
                                    [&](std::string_view, std::string_view value) {
    Reader r(value);
    if (r.Byte() != kRecordVersion) {
      inner = DataLossError("usage rollup of an unknown version", "usage-record-corrupt");
      return false;
    }
    const Uint128 n = r.Varint();
    FieldPrev prev;
    for (Uint128 i = 0; i < n && r.ok(); ++i) {
      const std::string principal(r.Field(prev.principal));
      const std::string_view agent = r.Field(prev.agent), mandate = r.Field(prev.mandate),
                             payee = r.Field(prev.payee), asset = r.Field(prev.asset),
                             resource = r.Field(prev.resource), source = r.Field(prev.source);
      const auto minute = static_cast<int64_t>(r.Varint()) * 60;
      const Amount amount = Amount::FromRaw(r.Varint());
      const Amount quantity = Amount::FromRaw(r.Varint());
      const auto events = static_cast<uint64_t>(r.Varint());
      if (!r.ok()) break;
      std::string canonical_asset(asset);  // rollups written before eip155 ids were lower-cased
      CanonicalizeAsset(canonical_asset);
      Impl::AddCell(im.SeriesFor(principal, agent, mandate, payee, canonical_asset, resource, source),
                    minute, amount, quantity, events);
    }
    if (!r.ok() || !r.done()) {
      inner = DataLossError("usage rollup does not decode", "usage-record-corrupt");
      return false;
    }
    return true;
  }));
  MD_RETURN_IF_ERROR(inner);
  // Batch records of the retention: counted, and their ids remembered.
  MD_RETURN_IF_ERROR(kv_.ScanPrefix(kUsageFamily, kBatchPrefix,
                                    [&](std::string_view key, std::string_view value) {
    Result<std::vector<DecodedEvent>> events = DecodeBatchRecord(value);
    if (!events.ok()) {
      inner = events.error();
      return false;
    }
    if (!events->empty()) {
      // A record holds one principal's events.
      const std::string& principal = events->front().event.principal;
      IdTable& ids = im.SeenOf(principal);
      Fingerprinter fingerprint;
      std::vector<const UsageEvent*> counted;
      counted.reserve(events->size());
      for (DecodedEvent& d : *events) {
        // Records written before eip155 ids were lower-cased: one series, and a retry of them
        // (now parsed in lower case) is the duplicate it was.
        CanonicalizeAsset(d.event.asset);
        const uint64_t print = fingerprint(d.event, d.at_given);
        bool inserted = false;
        ids.Insert(d.event.id, print, 0, inserted);
        // Counted once per id, as ingestion counts it: the first record holding the id wins
        // (a payment's record may repeat an id a report took first; CommittedPayment did not
        // count it either).
        if (inserted) counted.push_back(&d.event);
      }
      im.CountAll(principal, counted);
    }
    // Keys handed out later sort after every stored one.
    if (key.size() == 2 + 16 + 8) {
      uint64_t micros = 0;
      uint32_t counter = 0;
      std::from_chars(key.data() + 2, key.data() + 18, micros, 16);
      std::from_chars(key.data() + 18, key.data() + 26, counter, 16);
      if (static_cast<int64_t>(micros) > im.last_micros) {
        im.last_micros = static_cast<int64_t>(micros);
        im.counter = counter + 1;
      } else if (static_cast<int64_t>(micros) == im.last_micros && counter >= im.counter) {
        im.counter = counter + 1;
      }
    }
    return true;
  }));
  MD_RETURN_IF_ERROR(inner);
  im.next_prune_at = clock_.NowUnixSeconds();
  im.last_cutoff_s = clock_.NowUnixSeconds() - options_.retention_s;
  im.last_cutoff_mono_us = clock_.MonotonicMicros();
  return OkStatus();
}

Result<IngestResult> UsageMeter::Ingest(const std::string& principal,
                                        std::vector<UsageEvent> events) {
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  std::vector<bool> at_given(events.size());
  std::vector<uint64_t> prints(events.size());
  Fingerprinter fingerprint;
  for (size_t i = 0; i < events.size(); ++i) {
    UsageEvent& e = events[i];
    at_given[i] = e.at != 0;
    if (e.at > now + options_.max_future_s) {
      return Fault(i, "at", "more than " + std::to_string(options_.max_future_s) +
                                " s after the service's clock",
                   "bad-usage-at");
    }
    // e.principal stays empty: every event of the batch is the principal's, and only the
    // counting below needs it.
    if (e.source.empty()) e.source = kSourceUsage;
    prints[i] = fingerprint(e, at_given[i]);
    if (!at_given[i]) e.at = now;
  }
  // The id table's hashes, before the lock.
  std::vector<uint64_t> hashes(events.size());
  for (size_t i = 0; i < events.size(); ++i) hashes[i] = IdTable::Hash(events[i].id);

  Impl& im = *impl_;
  std::unique_lock<std::mutex> lock(im.mu);
  if (now >= im.next_prune_at) {
    if (Status pruned = PruneLocked(); !pruned.ok()) {
      log::Warn("usage prune failed", {{"error", pruned.ToString()}});
    }
  }
  IngestResult result;
  result.status.resize(events.size());
  std::vector<const UsageEvent*> accepted;
  IdTable& seen = im.SeenOf(principal);  // never removed, so it outlives the unlocked write

  // The ids this batch inserted, tagged with its token while it is in `inflight`. However the
  // batch ends (written, refused by the store, or unwound by an exception such as bad_alloc),
  // the token leaves `inflight`, the ids are taken back unless the write landed, and waiting
  // batches are woken: an id is never left claimed by a batch that is gone.
  struct Claim {
    Claim(Impl& i, IdTable& t, std::unique_lock<std::mutex>& l, const std::vector<UsageEvent>& e)
        : im(i), seen(t), lock(l), events(e) {}
    Impl& im;
    IdTable& seen;
    std::unique_lock<std::mutex>& lock;
    const std::vector<UsageEvent>& events;
    uint32_t token = 0;
    std::vector<size_t> added;
    bool written = false;
    void Begin() {
      token = im.next_token++;
      if (im.next_token == 0) im.next_token = 1;
      im.inflight.push_back(token);
    }
    void End() {  // REQUIRES: lock held
      if (!written) {
        for (size_t k : added) seen.Erase(events[k].id);
      }
      added.clear();
      auto it = std::find(im.inflight.begin(), im.inflight.end(), token);
      if (it != im.inflight.end()) im.inflight.erase(it);
    }
    ~Claim() {
      if (!lock.owns_lock()) lock.lock();
      End();
      lock.unlock();
      im.settled.notify_all();
    }
  } claim(im, seen, lock, events);
  claim.Begin();

  constexpr size_t kAhead = 16;  // slots prefetched ahead of the insert
  for (size_t i = 0; i < std::min(kAhead, events.size()); ++i) seen.Prefetch(hashes[i]);
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + kAhead < events.size()) seen.Prefetch(hashes[i + kAhead]);
    bool inserted = false;
    IdTable::Entry* entry =
        seen.Insert(events[i].id, hashes[i], prints[i], claim.token, inserted);
    if (!inserted && entry->tag != claim.token && im.InFlight(entry->tag)) {
      // Another batch is writing this id right now: whether this one is a duplicate depends on
      // whether that write lands. Take back this batch's ids and its token (so no batch can end
      // up waiting for it), wait for that write, start over under a new token.
      claim.End();
      accepted.clear();
      result = IngestResult();
      result.status.resize(events.size());
      im.settled.wait(lock);
      claim.Begin();
      i = static_cast<size_t>(-1);
      continue;
    }
    if (inserted) {
      claim.added.push_back(i);
      accepted.push_back(&events[i]);
      result.status[i] = IngestStatus::kAccepted;
      ++result.accepted;
    } else if (entry->value == prints[i]) {
      result.status[i] = IngestStatus::kDuplicate;
      ++result.duplicates;
    } else {
      result.status[i] = IngestStatus::kConflict;
      ++result.conflicts;
    }
  }
  if (accepted.empty()) {
    return result;
  }
  // The ids are held (tagged with this batch's token): the record is encoded and written
  // without the lock, so batches of other requests are checked and grouped into one sync.
  lock.unlock();
  result.batch = im.NextBatchKey(now_micros);
  std::string record;
  record.reserve(16 + accepted.size() * 48);
  record.push_back(static_cast<char>(kRecordVersion));
  FieldPrev prev;
  PutField(record, principal, prev.principal, true);
  PutVarint(record, accepted.size());
  for (size_t i = 0, k = 0; i < events.size(); ++i) {
    if (result.status[i] != IngestStatus::kAccepted) continue;
    EncodeEvent(record, events[i], at_given[i], prev, k++ == 0);
  }
  audit::Event ev;
  ev.type = kUsageRecordedEvent;
  ev.principal = principal;
  ev.at_micros = now_micros;
  ev.data_json = UsageAuditData(result.batch.substr(2), accepted);
  store::WriteBatch batch;
  batch.Put(kUsageFamily, result.batch, std::move(record));
  audit::Stage(batch, ev);
  const Status written = kv_.Write(batch);
  lock.lock();
  if (!written.ok()) return written;  // the claim takes the ids back
  claim.written = true;
  im.CountAll(principal, accepted);
  return result;
}

void UsageMeter::StagePayment(store::WriteBatch& batch, const UsageEvent& e) {
  {
    // A payment already metered (or, in a store written before reports were refused x402: ids,
    // an id a report took) is counted once, from its first record: a second record would be
    // folded into the rollup again when the records are pruned.
    Impl& im = *impl_;
    std::lock_guard<std::mutex> lock(im.mu);
    if (auto it = im.seen.find(e.principal);
        it != im.seen.end() && it->second->Find(e.id) != nullptr) {
      return;
    }
  }
  UsageEvent copy = e;
  copy.source = kSourcePayment;
  std::string record;
  record.push_back(static_cast<char>(kRecordVersion));
  FieldPrev prev;
  PutField(record, copy.principal, prev.principal, true);
  PutVarint(record, 1);
  EncodeEvent(record, copy, true, prev, true);
  batch.Put(kUsageFamily, impl_->NextBatchKey(clock_.NowUnixMicros()), std::move(record));
}

void UsageMeter::CommittedPayment(const UsageEvent& e) {
  UsageEvent copy = e;
  copy.source = kSourcePayment;
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  bool inserted = false;
  im.SeenOf(copy.principal).Insert(copy.id, Fingerprinter()(copy, true), 0, inserted);
  if (inserted) im.Count(copy);
}

Status UsageMeter::Prune() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return PruneLocked();
}

Status UsageMeter::PruneLocked() {
  Impl& im = *impl_;
  const int64_t now = clock_.NowUnixSeconds();
  im.next_prune_at = now + options_.prune_interval_s;
  // Ids are kept for the retention after their batch: the cutoff follows the wall clock, but
  // moves on no faster than the monotonic clock since the last prune, so a wall clock stepped
  // forward (even for a moment) does not forget ids younger than the retention (usage.md §2).
  const int64_t mono = clock_.MonotonicMicros();
  const int64_t allowed = im.last_cutoff_s + (mono - im.last_cutoff_mono_us) / 1000000;
  const int64_t cutoff_s = std::min(now - options_.retention_s, allowed);
  im.last_cutoff_s = std::max(im.last_cutoff_s, cutoff_s);
  im.last_cutoff_mono_us = mono;
  const int64_t cutoff = cutoff_s * 1000000;
  if (cutoff <= 0) return OkStatus();
  const std::string end = std::string(kBatchPrefix) + Hex(static_cast<uint64_t>(cutoff), 16);
  std::vector<std::string> keys;
  std::vector<std::pair<std::string, std::string>> forget;  // (principal, id)
  // (principal, tuple..., minute) -> totals, ordered so that the rollup compresses well.
  using RollKey = std::tuple<std::string, std::string, std::string, std::string, std::string,
                             std::string, std::string, int64_t>;
  std::map<RollKey, Cell> roll;
  std::set<std::pair<std::string, std::string>> rolled;  // (principal, id) counted in this pass
  Status inner = OkStatus();
  MD_RETURN_IF_ERROR(kv_.ScanRange(kUsageFamily, kBatchPrefix, end,
                                   [&](std::string_view key, std::string_view value) {
    Result<std::vector<DecodedEvent>> events = DecodeBatchRecord(value);
    if (!events.ok()) {
      inner = events.error();
      return false;
    }
    keys.emplace_back(key);
    for (const DecodedEvent& d : *events) {
      const UsageEvent& e = d.event;
      // Counted once per id, as the load counts it: the first record holding it wins (a retry
      // of a write that failed but was kept, or a payment repeating a report's id, is a second
      // record of the id).
      if (!rolled.insert({e.principal, e.id}).second) continue;
      forget.emplace_back(e.principal, e.id);
      Cell& c = roll[RollKey(e.principal, e.agent, e.mandate, e.payee, e.asset, e.resource,
                             e.source, FloorDiv(e.at, 60))];
      AddTo(c.amount, e.amount);
      AddTo(c.quantity, Amount::FromUint64(e.quantity));
      c.events += 1;
    }
    return true;
  }));
  MD_RETURN_IF_ERROR(inner);
  if (keys.empty()) return OkStatus();
  std::string rollup;
  rollup.push_back(static_cast<char>(kRecordVersion));
  PutVarint(rollup, roll.size());
  FieldPrev prev;
  bool first = true;
  for (const auto& [k, c] : roll) {
    PutField(rollup, std::get<0>(k), prev.principal, first);
    PutField(rollup, std::get<1>(k), prev.agent, first);
    PutField(rollup, std::get<2>(k), prev.mandate, first);
    PutField(rollup, std::get<3>(k), prev.payee, first);
    PutField(rollup, std::get<4>(k), prev.asset, first);
    PutField(rollup, std::get<5>(k), prev.resource, first);
    PutField(rollup, std::get<6>(k), prev.source, first);
    PutVarint(rollup, static_cast<uint64_t>(std::get<7>(k)));
    PutVarint(rollup, c.amount.raw());
    PutVarint(rollup, c.quantity.raw());
    PutVarint(rollup, c.events);
    first = false;
  }
  store::WriteBatch batch;
  for (const std::string& k : keys) batch.Delete(kUsageFamily, k);
  std::string rollup_key = im.NextBatchKey(clock_.NowUnixMicros());
  rollup_key.replace(0, 2, kRollupPrefix);
  batch.Put(kUsageFamily, rollup_key, std::move(rollup));
  MD_RETURN_IF_ERROR(kv_.Write(batch));
  for (const auto& [principal, id] : forget) {
    if (auto it = im.seen.find(principal); it != im.seen.end()) it->second->Erase(id);
  }
  return OkStatus();
}

Result<std::vector<UsageRow>> UsageMeter::Query(const UsageQuery& q) {
  if (q.from && q.to && *q.from >= *q.to) {
    return InvalidArgumentError("from must be before to", "usage-query-invalid");
  }
  const int64_t from = q.from ? FloorDiv(*q.from, 60) * 60 : INT64_MIN;
  const int64_t to = q.to ? FloorDiv(*q.to, 60) * 60 : INT64_MAX;
  using GroupKey = std::tuple<std::string, std::string, std::string, std::string, std::string,
                              std::string, int64_t>;
  std::map<GroupKey, UsageRow> groups;
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  auto pit = im.agg.find(q.principal);
  if (pit == im.agg.end()) return std::vector<UsageRow>();
  auto match = [](const std::string& filter, const std::string& v) {
    return filter.empty() || filter == v;
  };
  auto match_asset = [](const std::string& filter, const std::string& v) {
    return filter.empty() || SameAsset(filter, v);
  };
  for (const auto& [key, sp] : pit->second) {
    const Series& s = *sp;
    if (!match(q.agent, s.agent) || !match(q.mandate, s.mandate) || !match(q.payee, s.payee) ||
        !match_asset(q.asset, s.asset) || !match(q.resource, s.resource) ||
        !match(q.source, s.source)) {
      continue;
    }
    for (auto it = s.minutes.lower_bound(from); it != s.minutes.end() && it->first < to; ++it) {
      const int64_t start = WindowStart(it->first, q.window);
      GroupKey g(q.by_agent ? s.agent : "", q.by_mandate ? s.mandate : "",
                 q.by_payee ? s.payee : "", s.asset, q.by_resource ? s.resource : "",
                 q.by_source ? s.source : "", start);
      auto [gi, fresh] = groups.try_emplace(g);
      UsageRow& row = gi->second;
      if (fresh && q.max_rows != 0 && groups.size() > q.max_rows) {
        return InvalidArgumentError("more than " + std::to_string(q.max_rows) +
                                        " rows: narrow the window, the bounds or group_by",
                                    "usage-query-too-large");
      }
      if (fresh) {
        row.agent = std::get<0>(g);
        row.mandate = std::get<1>(g);
        row.payee = std::get<2>(g);
        row.asset = std::get<3>(g);
        row.resource = std::get<4>(g);
        row.source = std::get<5>(g);
        if (q.window != Granularity::kTotal) row.window_start = start;
      }
      AddTo(row.amount, it->second.amount);
      AddTo(row.quantity, it->second.quantity);
      row.events += it->second.events;
    }
  }
  std::vector<UsageRow> out;
  out.reserve(groups.size());
  for (auto& [g, row] : groups) out.push_back(std::move(row));
  return out;
}

Burn BurnOver(Amount spent_amount, int64_t minutes) {
  Burn b;
  b.minutes = std::clamp<int64_t>(minutes, 1, 43200);
  b.spent = spent_amount;
  const Uint128 spent = b.spent.raw();
  const Uint128 n = static_cast<Uint128>(b.minutes);
  const Uint128 max = ~Uint128{0};
  b.per_hour = Amount::FromRaw(spent <= max / 60       ? spent * 60 / n
                               : spent / n <= max / 60 ? spent / n * 60
                                                       : max);
  return b;
}

template <typename Visit>
void UsageMeter::ForEachRecentSpend(const std::string& principal, const std::string& asset,
                                    int64_t minutes, const Visit& visit) {
  const int64_t current = FloorDiv(clock_.NowUnixSeconds(), 60) * 60;
  const int64_t first = current - (std::clamp<int64_t>(minutes, 1, 43200) - 1) * 60;
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  auto pit = im.agg.find(principal);
  if (pit == im.agg.end()) return;
  for (const auto& [key, sp] : pit->second) {
    const Series& s = *sp;
    if (!SameAsset(s.asset, asset)) continue;
    Amount spent;
    for (auto it = s.minutes.lower_bound(first); it != s.minutes.end() && it->first <= current;
         ++it) {
      AddTo(spent, it->second.amount);
    }
    if (!spent.is_zero()) visit(s.agent, s.mandate, spent);
  }
}

Burn UsageMeter::BurnRate(const std::string& principal, OwnerKind kind,
                          const std::string& owner_id, const std::string& asset,
                          int64_t minutes) {
  Amount spent;
  ForEachRecentSpend(principal, asset, minutes,
                     [&](const std::string& agent, const std::string& mandate, Amount a) {
                       if ((kind == OwnerKind::kAgent && agent != owner_id) ||
                           (kind == OwnerKind::kMandate && mandate != owner_id)) {
                         return;
                       }
                       AddTo(spent, a);
                     });
  return BurnOver(spent, minutes);
}

std::map<std::string, Amount> UsageMeter::SpentByMandate(const std::string& principal,
                                                         const std::string& asset,
                                                         int64_t minutes) {
  std::map<std::string, Amount> out;
  ForEachRecentSpend(principal, asset, minutes,
                     [&](const std::string&, const std::string& mandate, Amount a) {
                       if (!mandate.empty()) AddTo(out[mandate], a);
                     });
  return out;
}

size_t UsageMeter::RememberedIdsForTest() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  size_t n = 0;
  for (const auto& [principal, ids] : impl_->seen) n += ids->size();
  return n;
}

}  // namespace mandated::settlement
