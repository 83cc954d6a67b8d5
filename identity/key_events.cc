// Audit events of key store changes, staged through the KeyStore batch hook.
#include "identity/key_events.h"

#include <string>

#include "audit/event.h"
#include "signer/did.h"

namespace mandated::identity {
namespace {

constexpr char kPrincipalIdPrefix[] = "prn_";

json::Value KeySummary(const signer::KeyInfo& k) {
  json::Value v = json::Value::Object();
  v.Set("id", json::Value::String(k.id));
  v.Set("type", json::Value::String(std::string(signer::KeyTypeName(k.type))));
  v.Set("purpose", json::Value::String(k.purpose));
  v.Set("owner", json::Value::String(k.owner));
  v.Set("state", json::Value::String(std::string(signer::KeyStateName(k.state))));
  v.Set("created_at", json::Value::Int(k.created_at));
  if (!k.replaced_by.empty()) {
    v.Set("replaced_by", json::Value::String(k.replaced_by));
  }
  v.Set("did", json::Value::String(signer::DidKeyFromPublicKey(k.public_key)));
  return v;
}

std::string_view EventType(signer::KeyChange change) {
  switch (change) {
    case signer::KeyChange::kCreated: return "key.created";
    case signer::KeyChange::kRotated: return "key.rotated";
    case signer::KeyChange::kDisabled: return "key.disabled";
  }
  return "key.disabled";
}

}  // namespace

signer::KeyChangeHook KeyAuditHook(Clock& clock) {
  return [&clock](store::WriteBatch& batch, signer::KeyChange change, const signer::KeyInfo& key,
                  const signer::KeyInfo* successor) {
    audit::Event e;
    e.type = std::string(EventType(change));
    e.principal = key.owner.rfind(kPrincipalIdPrefix, 0) == 0 ? key.owner : "";
    e.at_micros = clock.NowUnixMicros();
    e.Subject("key", key.id);
    e.data = KeySummary(key);
    if (successor != nullptr) {
      e.data.Set("successor", KeySummary(*successor));
    }
    audit::Stage(batch, e);
  };
}

}  // namespace mandated::identity
