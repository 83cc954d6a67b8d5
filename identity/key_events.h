// The audit events of key store changes (specs/audit.md §1.3: key.created, key.rotated,
// key.disabled): a signer::KeyChangeHook that stages them in the batch of the change. It lives
// here, not in signer/, because signer/ must not depend on audit/.
#pragma once

#include "base/clock.h"
#include "signer/key_store.h"

namespace mandated::identity {

// A hook for KeyStore::set_change_hook. Each event's principal is the key's owner when that is
// a principal ("prn_..."), else "" (service keys); subjects.key is the changed key (for a
// rotation, the retired one; data.successor is the new one); data holds public key information
// only (id, type, purpose, owner, state, created_at, replaced_by, did), never key material.
// `clock` stamps the events and must outlive the hook.
// Thread safety: the hook is safe from any thread.
signer::KeyChangeHook KeyAuditHook(Clock& clock);

}  // namespace mandated::identity
