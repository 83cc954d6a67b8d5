// MandateRegistry: issuing, storing and changing the state of mandates, and serving their Token
// Status Lists (specs/mandate.md §6, specs/storage.md §mandates).
#include "mandates/registry.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <set>
#include <utility>

#include "audit/event.h"
#include "mandates/attenuation.h"
#include "signer/hash.h"
#include "signer/jws.h"

namespace mandated::mandates {
namespace {

// Kinds under a principal in the tenants family (specs/storage.md).
constexpr std::string_view kMandateKind = "mandate";
constexpr std::string_view kChildKind = "mandate-child";    // "<parent>/<child>" -> ""
constexpr std::string_view kListKind = "status-list";       // "<n>" -> the raw status bytes
constexpr std::string_view kListMetaKind = "status-meta";   // "next" -> next free index
constexpr std::string_view kUseKind = "mandate-use";        // "<mandate>/<use key>" -> outcome

bool IsUseKey(std::string_view key) {
  if (key.empty() || key.size() > 128) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
  });
}

Result<MandateRecord> RecordFromJson(const json::Value& v) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(v));
  MandateRecord m;
  MD_ASSIGN_OR_RETURN(m.id, r.String("id"));
  MD_ASSIGN_OR_RETURN(m.principal_id, r.String("principal"));
  MD_ASSIGN_OR_RETURN(m.agent_id, r.String("agent"));
  MD_ASSIGN_OR_RETURN(m.subject, r.String("subject"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> parent, r.OptionalString("parent"));
  m.parent = parent.value_or("");
  MD_ASSIGN_OR_RETURN(int64_t depth, r.Int("depth"));
  m.depth = static_cast<int>(depth);
  MD_ASSIGN_OR_RETURN(m.issuer, r.String("issuer"));
  MD_ASSIGN_OR_RETURN(m.key_id, r.String("key_id"));
  const json::Value* status = r.Optional("status_list");
  if (status == nullptr) {
    return DataLossError("stored mandate without status_list", "corrupt-record");
  }
  MD_ASSIGN_OR_RETURN(json::ObjectReader s, json::ObjectReader::Of(*status, "/status_list"));
  MD_ASSIGN_OR_RETURN(int64_t list, s.Int("list"));
  MD_ASSIGN_OR_RETURN(int64_t idx, s.Int("idx"));
  m.list = static_cast<uint64_t>(list);
  m.idx = static_cast<uint64_t>(idx);
  MD_ASSIGN_OR_RETURN(m.state, r.String("state"));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> reason, r.OptionalString("state_reason"));
  m.state_reason = reason.value_or("");
  MD_ASSIGN_OR_RETURN(std::string from, r.String("valid_from"));
  MD_ASSIGN_OR_RETURN(m.valid_from, ParseRfc3339Utc(from));
  MD_ASSIGN_OR_RETURN(std::string until, r.String("valid_until"));
  MD_ASSIGN_OR_RETURN(m.valid_until, ParseRfc3339Utc(until));
  MD_ASSIGN_OR_RETURN(m.issued_at, r.Int("issued_at"));
  MD_ASSIGN_OR_RETURN(m.updated_at, r.Int("updated_at"));
  MD_ASSIGN_OR_RETURN(m.issued_by, r.String("issued_by"));
  MD_ASSIGN_OR_RETURN(m.uses, r.Int("uses"));
  MD_ASSIGN_OR_RETURN(m.max_uses, r.OptionalInt("max_uses"));
  MD_ASSIGN_OR_RETURN(m.token, r.String("token"));
  MD_RETURN_IF_ERROR(r.Finish());
  return m;
}

// Stages the audit event of a change to mandate `r` (specs/audit.md §1.3), its state after the
// change as data (the record without its token).
void StageMandateEvent(store::WriteBatch& batch, std::string type, const MandateRecord& r,
                       int64_t at_micros, json::Value data) {
  audit::Event e;
  e.type = std::move(type);
  e.principal = r.principal_id;
  e.at_micros = at_micros;
  e.Subject("mandate", r.id).Subject("parent_mandate", r.parent).Subject("agent", r.agent_id);
  e.data = std::move(data);
  audit::Stage(batch, e);
}

// The audit event type of a move into `state` (MarkLocked's states).
std::string StateEventType(std::string_view state) {
  if (state == "revoked") {
    return "mandate.revoked";
  }
  if (state == "suspended") {
    return "mandate.suspended";
  }
  if (state == "active") {
    return "mandate.resumed";
  }
  return "mandate.used_up";
}

}  // namespace

json::Value MandateRecordToJson(const MandateRecord& r) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(r.id));
  v.Set("principal", json::Value::String(r.principal_id));
  v.Set("agent", json::Value::String(r.agent_id));
  v.Set("subject", json::Value::String(r.subject));
  if (!r.parent.empty()) {
    v.Set("parent", json::Value::String(r.parent));
  }
  v.Set("depth", json::Value::Int(r.depth));
  v.Set("issuer", json::Value::String(r.issuer));
  v.Set("key_id", json::Value::String(r.key_id));
  json::Value status = json::Value::Object();
  status.Set("list", json::Value::Uint(r.list));
  status.Set("idx", json::Value::Uint(r.idx));
  v.Set("status_list", std::move(status));
  v.Set("state", json::Value::String(r.state));
  if (!r.state_reason.empty()) {
    v.Set("state_reason", json::Value::String(r.state_reason));
  }
  v.Set("valid_from", json::Value::String(FormatRfc3339Utc(r.valid_from)));
  v.Set("valid_until", json::Value::String(FormatRfc3339Utc(r.valid_until)));
  v.Set("issued_at", json::Value::Int(r.issued_at));
  v.Set("updated_at", json::Value::Int(r.updated_at));
  v.Set("issued_by", json::Value::String(r.issued_by));
  v.Set("uses", json::Value::Int(r.uses));
  if (r.max_uses) {
    v.Set("max_uses", json::Value::Int(*r.max_uses));
  }
  v.Set("token", json::Value::String(r.token));
  return v;
}

namespace {
json::Value MandateRecordToJsonWithoutToken(const MandateRecord& r) {
  json::Value full = MandateRecordToJson(r);
  json::Value out = json::Value::Object();
  for (size_t i = 0; i < full.size(); ++i) {
    if (full.keys()[i] != "token") {
      out.Set(full.keys()[i], std::move(full.items()[i]));
    }
  }
  return out;
}
}  // namespace

Result<IssueBody> ParseIssueBody(const json::Value& body) {
  MD_ASSIGN_OR_RETURN(json::ObjectReader r, json::ObjectReader::Of(body));
  IssueBody out;
  MD_ASSIGN_OR_RETURN(out.agent_id, r.String("agent"));
  if (out.agent_id.empty() || out.agent_id.size() > 64) {
    return InvalidArgumentError("/agent: must be an agent id", "bad-id");
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> parent, r.OptionalString("parent"));
  if (parent) {
    if (!IsMandateId(*parent)) {
      return InvalidArgumentError("/parent: must be a mandate id", "bad-parent");
    }
    out.parent_id = *parent;
  }
  MD_ASSIGN_OR_RETURN(std::string from, r.String("valid_from"));
  Result<int64_t> from_t = ParseRfc3339Utc(from);
  if (!from_t.ok()) {
    return InvalidArgumentError("/valid_from: " + from_t.error().message(), "bad-validity");
  }
  MD_ASSIGN_OR_RETURN(std::string until, r.String("valid_until"));
  Result<int64_t> until_t = ParseRfc3339Utc(until);
  if (!until_t.ok()) {
    return InvalidArgumentError("/valid_until: " + until_t.error().message(), "bad-validity");
  }
  out.validity = Validity{*from_t, *until_t};
  if (out.validity.not_before >= out.validity.not_after) {
    return InvalidArgumentError("/valid_until: must be after valid_from", "bad-validity");
  }
  if (out.validity.not_after - out.validity.not_before > kMaxValiditySeconds) {
    return InvalidArgumentError("/valid_until: at most 366 days after valid_from",
                                "bad-validity");
  }
  MD_ASSIGN_OR_RETURN(const json::Value* terms, r.Required("terms"));
  if (terms->is_object() && terms->Find("parent") != nullptr) {
    return InvalidArgumentError("/terms/parent: say the parent in the request's \"parent\"",
                                "unknown-field");
  }
  MD_ASSIGN_OR_RETURN(out.terms, ParseMandateTerms(*terms, "/terms"));
  MD_RETURN_IF_ERROR(r.Finish());
  return out;
}

MandateRegistry::MandateRegistry(store::KvStore& kv, signer::KeyStore& keys, Clock& clock,
                                 Random& random, RegistryOptions options)
    : kv_(kv), keys_(keys), clock_(clock), random_(random), options_(std::move(options)),
      statuses_(keys, clock, BookOptions()) {}

StatusBookOptions MandateRegistry::BookOptions() const {
  StatusBookOptions o;
  o.list_kind = std::string(kListKind);
  o.meta_kind = std::string(kListMetaKind);
  o.list_size = options_.status_list_size;
  o.ttl_s = options_.status_list_ttl_s;
  o.exp_s = options_.status_list_exp_s;
  o.uri = [this](std::string_view principal, uint64_t list) {
    return StatusListUri(principal, list);
  };
  o.issuer = [this](std::string_view principal) { return IssuerDid(principal); };
  o.signing_key = [this](std::string_view principal) -> Result<signer::KeyInfo> {
    // A principal whose active issuer key was disabled still has lists to serve (offline
    // verifiers of its earlier mandates need them): a new issuer key signs them, as the next
    // issuance would make one.
    return keys_.ActiveKeyOrNew(std::string(principal), std::string(kIssuerKeyPurpose),
                                signer::KeyType::kEd25519);
  };
  o.kid = [this](std::string_view principal, const signer::KeyInfo& key) {
    return IssuerDid(principal) + "#" + key.id;
  };
  return o;
}

std::string MandateRegistry::IssuerDid(std::string_view principal_id) const {
  return options_.service_did + ":principals:" + std::string(principal_id);
}

std::string MandateRegistry::PrincipalOfIssuer(std::string_view issuer_did) const {
  const std::string prefix = options_.service_did + ":principals:";
  if (issuer_did.size() <= prefix.size() || issuer_did.substr(0, prefix.size()) != prefix) {
    return "";
  }
  std::string_view pid = issuer_did.substr(prefix.size());
  for (char c : pid) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return "";
    }
  }
  return std::string(pid);
}

std::string MandateRegistry::StatusListUri(std::string_view principal_id, uint64_t list) const {
  return options_.public_base_url + "/v1/status-lists/" + std::string(principal_id) + "/" +
         std::to_string(list);
}

Result<MandateRecord> MandateRegistry::Load(const identity::Tenant& t,
                                            const std::string& id) const {
  if (!IsMandateId(id)) {
    return NotFoundError("no mandate " + id, "mandate-not-found");
  }
  MD_ASSIGN_OR_RETURN(std::optional<std::string> raw, t.Get(kMandateKind, id));
  if (!raw) {
    return NotFoundError("no mandate " + id, "mandate-not-found");
  }
  MD_ASSIGN_OR_RETURN(json::Value v, json::Parse(*raw));
  Result<MandateRecord> rec = RecordFromJson(v);
  if (!rec.ok()) {
    return DataLossError("stored mandate " + id + " does not parse: " + rec.error().message(),
                         "corrupt-record");
  }
  return rec;
}

Result<MandateRecord> MandateRegistry::Get(const identity::Tenant& t,
                                           const std::string& id) const {
  std::string key = t.principal_id();
  key += '/';
  key += id;
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(records_mu_);
    generation = records_generation_;
    auto it = records_.find(key);
    if (it != records_.end()) {
      return it->second;
    }
  }
  Result<MandateRecord> rec = Load(t, id);
  if (rec.ok()) {
    // Kept only if no write finished since `generation` was read: a record read before a
    // write that then completed must not outlive it.
    std::lock_guard<std::mutex> lock(records_mu_);
    if (records_generation_ == generation) {
      if (records_.size() >= kRecordCacheSize) {
        records_.clear();
      }
      records_.emplace(std::move(key), *rec);
    }
  }
  return rec;
}

uint64_t MandateRegistry::records_generation() const {
  std::lock_guard<std::mutex> lock(records_mu_);
  return records_generation_;
}

Status MandateRegistry::WriteMandates(const identity::Tenant& t, store::WriteBatch& batch) {
  Status s = kv_.Write(batch, store::Durability::kSync);
  statuses_.Written(t);
  std::lock_guard<std::mutex> lock(records_mu_);
  ++records_generation_;
  records_.clear();
  return s;
}

Result<std::vector<MandateRecord>> MandateRegistry::List(const identity::Tenant& t,
                                                         const std::string& after, size_t limit,
                                                         const std::string& agent) const {
  std::vector<MandateRecord> out;
  Status inner;
  MD_RETURN_IF_ERROR(t.Scan(kMandateKind, after, [&](std::string_view, std::string_view value) {
    Result<json::Value> v = json::Parse(value);
    if (!v.ok()) {
      inner = DataLossError("stored mandate does not parse", "corrupt-record");
      return false;
    }
    Result<MandateRecord> rec = RecordFromJson(*v);
    if (!rec.ok()) {
      inner = DataLossError("stored mandate does not parse", "corrupt-record");
      return false;
    }
    if (agent.empty() || rec->agent_id == agent) {
      out.push_back(std::move(*rec));
    }
    return out.size() < limit;
  }));
  MD_RETURN_IF_ERROR(inner);
  return out;
}

Result<std::vector<std::string>> MandateRegistry::ParentTokens(const identity::Tenant& t,
                                                               const std::string& id) const {
  std::vector<std::string> tokens;
  MD_ASSIGN_OR_RETURN(MandateRecord rec, Load(t, id));
  while (!rec.parent.empty()) {
    if (static_cast<int>(tokens.size()) >= kMaxChainLength) {
      return DataLossError("delegation chain of " + id + " is longer than allowed",
                           "corrupt-record");
    }
    MD_ASSIGN_OR_RETURN(rec, Load(t, rec.parent));
    tokens.push_back(rec.token);
  }
  return tokens;
}

Result<MandateRecord> MandateRegistry::Issue(const identity::Tenant& t, IssueRequest req) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  const int64_t now = clock_.NowUnixSeconds();
  // A request check (specs/mandate.md §6.1 step 1), before anything about the parent.
  if (req.validity.not_after <= now) {
    return InvalidArgumentError("/valid_until: is already in the past", "bad-validity");
  }
  MandateRecord rec;
  if (!req.parent_id.empty()) {
    MD_ASSIGN_OR_RETURN(MandateRecord parent, Load(t, req.parent_id));
    if (!req.delegating_agent_id.empty() && parent.agent_id != req.delegating_agent_id) {
      return PermissionDeniedError(
          "only the agent holding mandate " + parent.id + " may delegate from it",
          "not-parent-holder");
    }
    if (parent.state != "active") {
      return FailedPreconditionError("parent mandate " + parent.id + " is " + parent.state,
                                     "parent-not-active");
    }
    // Every ancestor too: suspension is not copied down, and a suspended root freezes its
    // whole tree, new delegations under it included (they would spend once it resumes).
    for (std::string up = parent.parent; !up.empty();) {
      MD_ASSIGN_OR_RETURN(MandateRecord ancestor, Load(t, up));
      if (ancestor.state != "active") {
        return FailedPreconditionError(
            "ancestor mandate " + ancestor.id + " is " + ancestor.state, "parent-not-active");
      }
      up = ancestor.parent;
    }
    if (now >= parent.valid_until) {
      return FailedPreconditionError("parent mandate " + parent.id + " has expired",
                                     "parent-expired");
    }
    if (parent.depth + 1 >= kMaxChainLength) {
      return FailedPreconditionError(
          "a delegation chain holds at most " + std::to_string(kMaxChainLength) + " mandates",
          "chain-too-long");
    }
    // The parent's terms are read back from its token, the authority it was issued with.
    MD_ASSIGN_OR_RETURN(signer::Jws jws, signer::ParseJws(parent.token));
    MD_ASSIGN_OR_RETURN(json::Value payload, json::Parse(jws.payload));
    MD_ASSIGN_OR_RETURN(MandateCredential parent_cred, ParseMandateCredential(payload));
    req.terms.parent = std::string(kMandateIdPrefix) + parent.id;
    if (Status a = CheckAttenuation(parent_cred.terms, parent_cred.validity, req.terms,
                                    req.validity);
        !a.ok()) {
      // Name the field as the request spells it: terms under /terms, validity as valid_*.
      std::string msg = a.message();
      if (msg.rfind("/validFrom", 0) == 0) {
        msg = "/valid_from" + msg.substr(10);
      } else if (msg.rfind("/validUntil", 0) == 0) {
        msg = "/valid_until" + msg.substr(11);
      } else if (!msg.empty() && msg[0] == '/') {
        msg = "/terms" + msg;
      }
      return Status(a.code(), msg, a.reason());
    }
    rec.parent = parent.id;
    rec.depth = parent.depth + 1;
  } else {
    req.terms.parent.clear();
  }

  Result<signer::KeyInfo> key = keys_.ActiveKeyOrNew(
      t.principal_id(), std::string(kIssuerKeyPurpose), signer::KeyType::kEd25519);
  if (!key.ok()) {
    return key.error();
  }

  // Next free status index of this principal; a new list starts all valid.
  store::WriteBatch batch;
  MD_ASSIGN_OR_RETURN(StatusSlot slot, statuses_.AllocateLocked(t, batch));
  const uint64_t list = slot.list;
  const uint64_t idx = slot.idx;

  MD_ASSIGN_OR_RETURN(rec.id, random_.NewId("mnd_"));
  rec.principal_id = t.principal_id();
  rec.agent_id = req.agent_id;
  rec.subject = req.subject;
  rec.issuer = IssuerDid(t.principal_id());
  rec.key_id = key->id;
  rec.list = list;
  rec.idx = idx;
  rec.valid_from = req.validity.not_before;
  rec.valid_until = req.validity.not_after;
  rec.issued_at = now;
  rec.updated_at = now;
  rec.issued_by = req.issued_by;
  rec.max_uses = req.terms.limits.max_uses;

  MandateCredential cred;
  cred.id = rec.id;
  cred.issuer = rec.issuer;
  cred.subject = rec.subject;
  cred.validity = req.validity;
  cred.issued_at = now;
  cred.status = StatusReference{idx, StatusListUri(t.principal_id(), list)};
  cred.terms = std::move(req.terms);
  const std::string payload = MandateCredentialPayload(cred);
  MD_ASSIGN_OR_RETURN(
      rec.token,
      signer::SignWithActiveKey(
          [&](int attempt) -> Result<signer::KeyInfo> {
            if (attempt == 1) return *key;
            return keys_.ActiveKey(t.principal_id(), std::string(kIssuerKeyPurpose));
          },
          [&](const signer::KeyInfo& k) {
            rec.key_id = k.id;
            json::Value header = json::Value::Object();
            header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(k.type))));
            header.Set("typ", json::Value::String(std::string(kMandateTyp)));
            header.Set("kid", json::Value::String(rec.issuer + "#" + k.id));
            return keys_.SignJws(k.id, std::move(header), payload);
          }));

  t.Put(batch, kMandateKind, rec.id, json::Write(MandateRecordToJson(rec)));
  if (!rec.parent.empty()) {
    t.Put(batch, kChildKind, rec.parent + "/" + rec.id, "");
  }
  json::Value issued = MandateRecordToJsonWithoutToken(rec);
  issued.Set("terms", MandateTermsToJson(cred.terms));
  StageMandateEvent(batch, "mandate.issued", rec, clock_.NowUnixMicros(), std::move(issued));
  MD_RETURN_IF_ERROR(WriteMandates(t, batch));
  return rec;
}

Result<std::vector<std::string>> MandateRegistry::DescendantsLocked(
    const identity::Tenant& t, const std::string& id) const {
  std::vector<std::string> out;
  std::deque<std::string> todo{id};
  while (!todo.empty()) {
    const std::string cur = todo.front();
    todo.pop_front();
    MD_RETURN_IF_ERROR(
        t.ScanIds(kChildKind, cur + "/", [&](std::string_view child_key, std::string_view) {
          std::string child(child_key.substr(cur.size() + 1));
          out.push_back(child);
          todo.push_back(std::move(child));
          return true;
        }));
  }
  return out;
}

Status MandateRegistry::MarkLocked(const identity::Tenant& t, const std::vector<std::string>& ids,
                                   std::string_view state, TokenStatus status,
                                   const std::function<std::string(const std::string&)>& reason,
                                   store::WriteBatch& batch,
                                   std::vector<MandateRecord>* changed,
                                   const std::map<std::string, MandateRecord>* pending) {
  const int64_t now_micros = clock_.NowUnixMicros();
  const int64_t now = now_micros / 1000000;
  std::vector<StatusSlot> slots;
  for (const std::string& id : ids) {
    MandateRecord rec;
    if (pending != nullptr && pending->count(id) != 0) {
      rec = pending->at(id);
    } else {
      MD_ASSIGN_OR_RETURN(rec, Load(t, id));
    }
    if (rec.state == state) {
      changed->push_back(std::move(rec));
      continue;
    }
    // Revoked and used-up are final: nothing moves a mandate out of them.
    if (rec.state == "revoked" || rec.state == "used-up") {
      changed->push_back(std::move(rec));
      continue;
    }
    rec.state = std::string(state);
    rec.state_reason = reason(id);
    rec.updated_at = now;
    slots.push_back(StatusSlot{rec.list, rec.idx});
    t.Put(batch, kMandateKind, rec.id, json::Write(MandateRecordToJson(rec)));
    // One event per mandate whose state this changes (a cascade stages one for each).
    StageMandateEvent(batch, StateEventType(state), rec, now_micros,
                      MandateRecordToJsonWithoutToken(rec));
    changed->push_back(std::move(rec));
  }
  return statuses_.MarkLocked(t, slots, status, batch);
}

Result<MandateRecord> MandateRegistry::ChangeState(const identity::Tenant& t,
                                                   const std::string& id,
                                                   std::string_view action,
                                                   const std::string& by) {
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(MandateRecord rec, Load(t, id));
  std::vector<std::string> ids{id};
  std::string_view state;
  TokenStatus status = TokenStatus::kValid;
  std::string reason;
  if (action == "revoke") {
    if (rec.state == "revoked") {
      return rec;
    }
    MD_ASSIGN_OR_RETURN(std::vector<std::string> desc, DescendantsLocked(t, id));
    ids.insert(ids.end(), desc.begin(), desc.end());
    state = "revoked";
    status = TokenStatus::kRevoked;
    reason = "revoked by " + by;
  } else if (action == "suspend") {
    if (rec.state != "active") {
      return FailedPreconditionError("mandate " + id + " is " + rec.state + ", not active",
                                     "mandate-state");
    }
    state = "suspended";
    status = TokenStatus::kSuspended;
    reason = "suspended by " + by;
  } else {
    if (rec.state != "suspended") {
      return FailedPreconditionError("mandate " + id + " is " + rec.state + ", not suspended",
                                     "mandate-state");
    }
    state = "active";
    status = TokenStatus::kValid;
    reason = "";
  }
  store::WriteBatch batch;
  std::vector<MandateRecord> changed;
  // One call, so each status list is read and written once; children get their own reason.
  const std::string child_reason = "parent " + id + " revoked by " + by;
  MD_RETURN_IF_ERROR(MarkLocked(
      t, ids, state, status,
      [&](const std::string& m) { return m == id ? reason : child_reason; }, batch, &changed));
  MD_RETURN_IF_ERROR(WriteMandates(t, batch));
  return changed.front();
}

Result<MandateRecord> MandateRegistry::Revoke(const identity::Tenant& t, const std::string& id,
                                              const std::string& by) {
  return ChangeState(t, id, "revoke", by);
}
Result<MandateRecord> MandateRegistry::Suspend(const identity::Tenant& t, const std::string& id,
                                               const std::string& by) {
  return ChangeState(t, id, "suspend", by);
}
Result<MandateRecord> MandateRegistry::Resume(const identity::Tenant& t, const std::string& id,
                                              const std::string& by) {
  return ChangeState(t, id, "resume", by);
}

Status MandateRegistry::ValidateUseKey(std::string_view use_key) {
  if (!IsUseKey(use_key)) {
    return InvalidArgumentError("/use/key: must be 1 to 128 of [A-Za-z0-9._:-]", "bad-use-key");
  }
  return OkStatus();
}

namespace {
// A stored use (`{"at","uses","verdict"?}`) as the outcome a retry of its key answers.
Result<MandateRegistry::UseOutcome> StoredUse(MandateRecord rec, std::string_view stored) {
  Result<json::Value> v = json::Parse(stored);
  const json::Value* uses = v.ok() ? v->Find("uses") : nullptr;
  if (uses == nullptr || !uses->as_int64()) {
    return DataLossError("use record of mandate " + rec.id + " does not read",
                         "storage-corruption");
  }
  MandateRegistry::UseOutcome out;
  out.uses = *uses->as_int64();
  if (const json::Value* verdict = v->Find("verdict"); verdict != nullptr) {
    out.verdict_json = json::Write(*verdict);
  }
  out.record = std::move(rec);
  out.replayed = true;
  return out;
}
}  // namespace

Result<std::optional<MandateRegistry::UseOutcome>> MandateRegistry::RecordedUse(
    const identity::Tenant& t, const std::string& id, const std::string& use_key) {
  MD_RETURN_IF_ERROR(ValidateUseKey(use_key));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> seen, t.Get(kUseKind, id + "/" + use_key));
  if (!seen) return std::optional<UseOutcome>();
  MD_ASSIGN_OR_RETURN(MandateRecord rec, Load(t, id));
  MD_ASSIGN_OR_RETURN(UseOutcome out, StoredUse(std::move(rec), *seen));
  return std::optional<UseOutcome>(std::move(out));
}

Result<MandateRegistry::UseOutcome> MandateRegistry::Use(const identity::Tenant& t,
                                                         const std::string& id,
                                                         const std::string& use_key,
                                                         const std::string& verdict_json) {
  MD_RETURN_IF_ERROR(ValidateUseKey(use_key));
  std::lock_guard<std::mutex> lock(write_mu_.For(t.principal_id()));
  MD_ASSIGN_OR_RETURN(MandateRecord rec, Load(t, id));
  MD_ASSIGN_OR_RETURN(std::optional<std::string> seen, t.Get(kUseKind, id + "/" + use_key));
  if (seen) {
    return StoredUse(std::move(rec), *seen);  // a retry that raced the first: its outcome
  }
  // The chain, this mandate first.
  std::vector<MandateRecord> chain{rec};
  while (!chain.back().parent.empty()) {
    MD_ASSIGN_OR_RETURN(MandateRecord p, Load(t, chain.back().parent));
    chain.push_back(std::move(p));
  }
  // The check and the write run under the authorizer's lock for this principal (the use gate),
  // so a use and a decision never both take a mandate's last use.
  std::vector<std::string> chain_ids;
  for (const MandateRecord& m : chain) chain_ids.push_back(m.id);
  std::optional<UseOutcome> recorded;
  auto record = [&](const std::vector<uint64_t>& held) -> Status {
    for (size_t i = 0; i < chain.size(); ++i) {
      const MandateRecord& m = chain[i];
      if (m.state != "active") {
        return FailedPreconditionError("mandate " + m.id + " is " + m.state,
                                       m.state == "used-up" ? "uses-exhausted" : "mandate-state");
      }
      // A use an authorization holds counts too (specs/mandate.md §6.4); only recorded uses
      // make a mandate used-up, since a hold may still be released.
      if (m.max_uses && static_cast<uint64_t>(m.uses) + held[i] >=
                            static_cast<uint64_t>(*m.max_uses)) {
        return FailedPreconditionError(
            "mandate " + m.id + " has no uses left" +
                (held[i] != 0 ? " (" + std::to_string(held[i]) + " held by authorizations)"
                              : std::string()),
            "uses-exhausted");
      }
    }
    const int64_t now = clock_.NowUnixSeconds();
    store::WriteBatch batch;
    std::vector<std::string> used_up;
    std::map<std::string, MandateRecord> counted;
    for (MandateRecord& m : chain) {
      ++m.uses;
      m.updated_at = now;
      if (m.max_uses && m.uses >= *m.max_uses) {
        used_up.push_back(m.id);
      }
      counted[m.id] = m;
    }
    {
      // mandate.used: the use and the count of every mandate of the chain after it, staged
      // before the mandate.used_up events of the mandates it used up (MarkLocked).
      json::Value data = json::Value::Object();
      data.Set("use_key", json::Value::String(use_key));
      data.Set("uses", json::Value::Int(chain.front().uses));
      json::Value counts = json::Value::Array();
      for (const MandateRecord& m : chain) {
        json::Value c = json::Value::Object();
        c.Set("id", json::Value::String(m.id));
        c.Set("uses", json::Value::Int(m.uses));
        if (m.max_uses) {
          c.Set("max_uses", json::Value::Int(*m.max_uses));
        }
        counts.Append(std::move(c));
      }
      data.Set("chain", std::move(counts));
      StageMandateEvent(batch, "mandate.used", chain.front(), clock_.NowUnixMicros(),
                        std::move(data));
    }
    // A mandate that used its last use ends, and so does everything delegated from it; the
    // counted uses, the new states and the status bits go in one batch.
    std::vector<MandateRecord> changed;
    if (!used_up.empty()) {
      std::set<std::string> ids;
      for (const std::string& done : used_up) {
        ids.insert(done);
        MD_ASSIGN_OR_RETURN(std::vector<std::string> desc, DescendantsLocked(t, done));
        ids.insert(desc.begin(), desc.end());
      }
      std::vector<std::string> list(ids.begin(), ids.end());
      MD_RETURN_IF_ERROR(MarkLocked(
          t, list, "used-up", TokenStatus::kRevoked,
          [&](const std::string& m) {
            return std::find(used_up.begin(), used_up.end(), m) != used_up.end()
                       ? std::string("max_uses reached")
                                         : "an ancestor reached its max_uses";
          },
          batch, &changed, &counted));
      for (const MandateRecord& m : changed) {
        counted.erase(m.id);
      }
    }
    for (const auto& [mid, m] : counted) {
      t.Put(batch, kMandateKind, mid, json::Write(MandateRecordToJson(m)));
    }
    json::Value outcome = json::Value::Object();
    outcome.Set("at", json::Value::Int(now));
    outcome.Set("uses", json::Value::Int(chain.front().uses));
    if (!verdict_json.empty()) {
      MD_ASSIGN_OR_RETURN(json::Value verdict, json::Parse(verdict_json));
      outcome.Set("verdict", std::move(verdict));
    }
    t.Put(batch, kUseKind, id + "/" + use_key, json::Write(outcome));
    MD_RETURN_IF_ERROR(WriteMandates(t, batch));
    MD_ASSIGN_OR_RETURN(MandateRecord after, Load(t, id));
    recorded = UseOutcome{std::move(after), false, chain.front().uses, verdict_json};
    return OkStatus();
  };
  if (use_gate_) {
    MD_RETURN_IF_ERROR(use_gate_(t.principal_id(), chain_ids, record));
  } else {
    MD_RETURN_IF_ERROR(record(std::vector<uint64_t>(chain_ids.size(), 0)));
  }
  return std::move(*recorded);
}

void MandateRegistry::set_use_gate(UseGate gate) { use_gate_ = std::move(gate); }

Result<uint8_t> MandateRegistry::StatusAt(const identity::Tenant& t, uint64_t list,
                                          uint64_t idx) const {
  return statuses_.StatusAt(t, StatusSlot{list, idx});
}

Result<ServedStatusList> MandateRegistry::ServeStatusList(const identity::Tenant& t,
                                                          uint64_t list) {
  return statuses_.Serve(t, list);
}

}  // namespace mandated::mandates
