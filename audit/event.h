// Audit events as domain modules record them: the event model, its staging into the write batch
// of the change it records (specs/audit.md §1), and the leaf encoding the sequencer writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "store/kv_store.h"

namespace mandated::audit {

inline constexpr std::string_view kAuditFamily = "audit";

// Who caused a change (specs/audit.md §1.2).
struct Actor {
  std::string kind;  // operator, credential, session, service
  std::string id;    // crd_... or ses_...; empty for operator and service
  std::string role;  // a credential's role; empty otherwise
  static Actor Operator() { return {"operator", "", ""}; }
  static Actor Service() { return {"service", "", ""}; }
  static Actor Session(std::string id) { return {"session", std::move(id), ""}; }
  static Actor Credential(std::string id, std::string role) {
    return {"credential", std::move(id), std::move(role)};
  }
};

// One state change or decision. Thread safety: a value type.
struct Event {
  std::string type;       // specs/audit.md §1.3
  std::string principal;  // "" for service-wide events
  Actor actor;
  std::vector<std::pair<std::string, std::string>> subjects;  // kind -> id, in this order
  json::Value data = json::Value::Object();
  // When set, written verbatim as "data" instead of `data`: a JSON object the caller already
  // serialized (a record it stores in the same batch), so it is not built twice.
  std::string data_json;
  int64_t at_micros = 0;  // when it happened (the caller's clock)

  Event& Subject(std::string kind, std::string id) {
    if (!id.empty()) subjects.emplace_back(std::move(kind), std::move(id));
    return *this;
  }
};

// The actor of the work running on this thread: set by the API layer for each request after it
// authenticated the caller; Actor::Service() when nothing is set (sweepers, startup).
const Actor& CurrentActor();
// Sets CurrentActor() for this thread until destroyed. Thread safety: thread-local.
class ScopedActor {
 public:
  explicit ScopedActor(Actor actor);
  ~ScopedActor();
  ScopedActor(const ScopedActor&) = delete;
  ScopedActor& operator=(const ScopedActor&) = delete;

 private:
  Actor previous_;
};

// Adds `event` to `batch` as a staged event (an empty `event.actor.kind` means CurrentActor()): the event commits with the change or not at all.
// The staging key orders events of one process by time, then by call order.
// Thread safety: safe from any thread.
void Stage(store::WriteBatch& batch, const Event& event);

// For the sequencer: the oldest staging key this process handed out in the last `max_age` that
// has not been sequenced yet, or nullopt when there is none. Keys older than `max_age` are
// dropped from the list (their batch failed or was never written, or is very late) and
// `*dropped` is set, so the caller runs a full scan, which finds them if they were written.
// Thread safety: safe from any thread.
std::optional<std::string> OldestPendingStagingKey(std::chrono::steady_clock::duration max_age,
                                                   bool* dropped);
// The keys OldestPendingStagingKey dropped in the last `max_age` that have not been sequenced
// since (older ones are forgotten: the periodic full scan finds them if they were ever written).
// The sequencer looks each up after a scan that started past them: one present was written
// late, and a full scan puts it before the events staged after it.
// Thread safety: safe from any thread.
std::vector<std::string> LateStagingKeys(std::chrono::steady_clock::duration max_age);
// Tells the lists that `key` was sequenced.
void ForgetStagingKey(std::string_view key);

// The staged JSON (everything but `seq`), as Stage writes it.
std::string EncodeStaged(const Event& event);
// The leaf: the staged JSON with "seq" as its first member. REQUIRES: `staged` is an object
// written by EncodeStaged.
std::string LeafBytes(uint64_t seq, std::string_view staged);

// "2026-12-05T10:41:07.123456Z"
std::string FormatMicros(int64_t unix_micros);

// Whether an event of `type` about a subject of `kind` is in the lifecycle index
// (specs/audit.md §3): what a purchase's trail shows of each mandate of its chain (issuance and
// status, not uses), of its agent (agent.*) and of its session (session.*).
bool IsLifecycleEvent(std::string_view kind, std::string_view type);

}  // namespace mandated::audit
