// Principal codec and storage.
#include "identity/principals.h"

#include <algorithm>
#include <set>

#include "audit/event.h"
#include "base/asset.h"
#include "identity/records.h"

namespace mandated::identity {
namespace {

constexpr char kRecordPrefix[] = "p/";
constexpr char kNamePrefix[] = "n/";

bool IsWindow(const std::string& w) {
  static const std::set<std::string> kWindows = {"transaction", "minute", "hour", "day",
                                                 "week",        "month",  "year", "lifetime"};
  return kWindows.count(w) != 0;
}

std::string NameKey(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return kNamePrefix + lower;
}

}  // namespace

Result<std::vector<Ceiling>> ParseCeilings(const json::Value* v, const std::string& pointer) {
  std::vector<Ceiling> out;
  if (v == nullptr) {
    return out;
  }
  if (!v->is_array()) {
    return InvalidArgumentError(pointer + ": expected an array", "wrong-type");
  }
  if (v->items().size() > 64) {
    return InvalidArgumentError(pointer + ": at most 64 ceilings", "too-many-items");
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < v->items().size(); ++i) {
    const std::string at = pointer + "/" + std::to_string(i);
    MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v->items()[i], at));
    Ceiling c;
    MD_ASSIGN_OR_RETURN(c.asset, r.String("asset"));
    MD_ASSIGN_OR_RETURN(c.window, r.String("window"));
    MD_ASSIGN_OR_RETURN(c.max, r.AmountField("max"));
    MD_RETURN_IF_ERROR(r.Finish());
    Status asset_ok = ValidateAssetId(c.asset);
    if (!asset_ok.ok()) {
      return asset_ok.Annotate(at + "/asset");
    }
    if (!IsWindow(c.window)) {
      return InvalidArgumentError(at + "/window: must be one of transaction, minute, hour, day, "
                                       "week, month, year, lifetime",
                                  "bad-window");
    }
    if (!seen.emplace(c.asset, c.window).second) {
      return InvalidArgumentError(at + ": a ceiling for this asset and window is already given",
                                  "duplicate-ceiling");
    }
    out.push_back(std::move(c));
  }
  return out;
}

json::Value CeilingsToJson(const std::vector<Ceiling>& ceilings) {
  json::Value out = json::Value::Array();
  for (const Ceiling& c : ceilings) {
    json::Value cv = json::Value::Object();
    cv.Set("asset", json::Value::String(c.asset));
    cv.Set("window", json::Value::String(c.window));
    cv.Set("max", json::Value::String(c.max.ToString()));
    out.Append(std::move(cv));
  }
  return out;
}

Result<Principal> ParseCreatePrincipal(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  Principal p;
  MD_ASSIGN_OR_RETURN(p.name, r.String("name"));
  MD_RETURN_IF_ERROR(ValidateDisplayName(p.name, "/name"));
  MD_ASSIGN_OR_RETURN(p.ceilings, ParseCeilings(r.Optional("ceilings"), "/ceilings"));
  MD_RETURN_IF_ERROR(r.Finish());
  return p;
}

json::Value PrincipalToJson(const Principal& p) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(p.id));
  v.Set("name", json::Value::String(p.name));
  v.Set("ceilings", CeilingsToJson(p.ceilings));
  v.Set("created_at", json::Value::Int(p.created_at));
  return v;
}

Result<Principal> PrincipalFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  Principal p;
  MD_ASSIGN_OR_RETURN(p.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(p.name, r.String("name"));
  MD_ASSIGN_OR_RETURN(p.ceilings, ParseCeilings(r.Optional("ceilings"), "/ceilings"));
  MD_ASSIGN_OR_RETURN(p.created_at, r.Int("created_at"));
  MD_RETURN_IF_ERROR(r.Finish());
  return p;
}

Result<Principal> PrincipalStore::Create(Principal p) {
  MD_ASSIGN_OR_RETURN(p.id, random_.NewId("prn_"));
  const int64_t now_micros = clock_.NowUnixMicros();
  p.created_at = now_micros / 1000000;
  std::lock_guard<std::mutex> lock(create_mu_);
  MD_ASSIGN_OR_RETURN(std::optional<std::string> taken, kv_.Get(kPrincipalsFamily, NameKey(p.name)));
  if (taken.has_value()) {
    return AlreadyExistsError("a principal named \"" + p.name + "\" already exists",
                              "principal-name-taken");
  }
  store::WriteBatch batch;
  batch.Put(kPrincipalsFamily, kRecordPrefix + p.id, json::Write(PrincipalToJson(p)));
  batch.Put(kPrincipalsFamily, NameKey(p.name), p.id);
  audit::Event e;
  e.type = "principal.created";
  e.principal = p.id;
  e.at_micros = now_micros;
  e.Subject("principal", p.id);
  e.data = PrincipalToJson(p);
  audit::Stage(batch, e);
  MD_RETURN_IF_ERROR(kv_.Write(batch, store::Durability::kSync));
  return p;
}

Result<Principal> PrincipalStore::Get(const std::string& id) {
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, kv_.Get(kPrincipalsFamily, kRecordPrefix + id));
  if (!raw.has_value()) {
    return NotFoundError("no principal " + id, "principal-not-found");
  }
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  Result<Principal> p = PrincipalFromJson(v);
  if (!p.ok()) {
    return DataLossError("stored principal " + id + " does not decode: " + p.error().message(),
                         "storage-corruption");
  }
  return p;
}

Result<std::vector<Principal>> PrincipalStore::List(const std::string& after, size_t limit) {
  std::vector<Principal> out;
  Status decode_error;
  const std::string start = after.empty() ? std::string(kRecordPrefix)
                                          : std::string(kRecordPrefix) + after + '\0';
  MD_RETURN_IF_ERROR(kv_.ScanRange(kPrincipalsFamily, start, "p0", [&](std::string_view, std::string_view value) {
    Result<json::Value> v = json::Parse(value);
    Result<Principal> p = v.ok() ? PrincipalFromJson(*v) : Result<Principal>(v.error());
    if (!p.ok()) {
      decode_error = DataLossError("stored principal does not decode", "storage-corruption");
      return false;
    }
    out.push_back(std::move(*p));
    return out.size() < limit;
  }));
  MD_RETURN_IF_ERROR(decode_error);
  return out;
}

}  // namespace mandated::identity
