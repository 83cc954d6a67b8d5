// Staging of audit events into the write batch of the change they record (specs/audit.md §1.1).
#include "audit/event.h"

#include <atomic>
#include <chrono>
#include <map>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <vector>

namespace mandated::audit {
namespace {

// Staging keys: "q/" + 16 hex digits of micros (never below the last one issued) + 8 hex digits
// of a counter, so keys of one process sort in call order even if the clock steps back.
//
// The keys handed out and not yet sequenced are remembered with when they were handed out, so
// the sequencer can start its scan at the oldest of them instead of at "q/": the staged keys it
// already sequenced are deleted, and walking their tombstones grows with the log until RocksDB
// compacts them away.
struct StagingState {
  std::mutex mu;
  int64_t last_micros = 0;
  uint32_t counter = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> inflight;
  // Keys dropped from `inflight` unsequenced, with when they were dropped: a batch that was only
  // slow commits later, and the sequencer must still put it before events staged after it.
  std::map<std::string, std::chrono::steady_clock::time_point> late;
};

StagingState& Staging() {
  static StagingState* const state = new StagingState();
  return *state;
}

std::string NextStagingKey(int64_t at_micros) {
  StagingState& st = Staging();
  std::lock_guard<std::mutex> lock(st.mu);
  if (at_micros > st.last_micros) st.last_micros = at_micros;
  char buf[32];
  snprintf(buf, sizeof(buf), "q/%016" PRIx64 "%08" PRIx32, static_cast<uint64_t>(st.last_micros),
           ++st.counter);
  st.inflight.emplace(buf, std::chrono::steady_clock::now());
  return buf;
}

thread_local Actor t_actor = Actor::Service();

}  // namespace

const Actor& CurrentActor() { return t_actor; }

ScopedActor::ScopedActor(Actor actor) : previous_(std::move(t_actor)) { t_actor = std::move(actor); }

ScopedActor::~ScopedActor() { t_actor = std::move(previous_); }

std::optional<std::string> OldestPendingStagingKey(std::chrono::steady_clock::duration max_age,
                                                   bool* dropped) {
  StagingState& st = Staging();
  std::lock_guard<std::mutex> lock(st.mu);
  const auto now = std::chrono::steady_clock::now();
  for (auto it = st.inflight.begin(); it != st.inflight.end();) {
    if (now - it->second > max_age) {
      // Failed, dropped or very late: the caller's full scan, and LateStagingKeys after it.
      st.late.emplace(it->first, now);
      it = st.inflight.erase(it);
      *dropped = true;
      continue;
    }
    return it->first;
  }
  return std::nullopt;
}

std::vector<std::string> LateStagingKeys(std::chrono::steady_clock::duration max_age) {
  StagingState& st = Staging();
  std::lock_guard<std::mutex> lock(st.mu);
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> out;
  for (auto it = st.late.begin(); it != st.late.end();) {
    if (now - it->second > max_age) {
      it = st.late.erase(it);
      continue;
    }
    out.push_back(it->first);
    ++it;
  }
  return out;
}

void ForgetStagingKey(std::string_view key) {
  StagingState& st = Staging();
  std::lock_guard<std::mutex> lock(st.mu);
  const std::string k(key);
  st.inflight.erase(k);
  st.late.erase(k);
}

std::string FormatMicros(int64_t unix_micros) {
  const time_t secs = static_cast<time_t>(unix_micros / 1000000);
  const int64_t frac = unix_micros % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac < 0 ? 0 : frac);
  return buf;
}

std::string EncodeStaged(const Event& event) {
  const Actor& who = event.actor.kind.empty() ? CurrentActor() : event.actor;
  json::Value actor = json::Value::Object();
  actor.Set("kind", json::Value::String(who.kind));
  if (!who.id.empty()) actor.Set("id", json::Value::String(who.id));
  if (!who.role.empty()) actor.Set("role", json::Value::String(who.role));
  json::Value subjects = json::Value::Object();
  for (const auto& [kind, id] : event.subjects) subjects.Set(kind, json::Value::String(id));
  json::Value v = json::Value::Object();
  v.Set("at", json::Value::String(FormatMicros(event.at_micros)));
  v.Set("type", json::Value::String(event.type));
  v.Set("principal", json::Value::String(event.principal));
  v.Set("actor", std::move(actor));
  v.Set("subjects", std::move(subjects));
  if (event.data_json.empty()) {
    v.Set("data", event.data.is_object() ? event.data : json::Value::Object());
    return json::Write(v);
  }
  std::string out = json::Write(v);
  out.pop_back();  // the closing brace
  out.reserve(out.size() + 9 + event.data_json.size());
  out += ",\"data\":";
  out += event.data_json;
  out += '}';
  return out;
}

std::string LeafBytes(uint64_t seq, std::string_view staged) {
  std::string out;
  out.reserve(28 + staged.size());
  out += "{\"seq\":";
  out += std::to_string(seq);
  if (staged.size() > 2) {
    out += ',';
    out.append(staged.substr(1));
  } else {
    out += '}';
  }
  return out;
}

void Stage(store::WriteBatch& batch, const Event& event) {
  batch.Put(kAuditFamily, NextStagingKey(event.at_micros), EncodeStaged(event));
}

bool IsLifecycleEvent(std::string_view kind, std::string_view type) {
  if (kind == "mandate") {
    return type == "mandate.issued" || type == "mandate.revoked" ||
           type == "mandate.suspended" || type == "mandate.resumed" ||
           type == "mandate.used_up";
  }
  if (kind == "agent") return type.substr(0, 6) == "agent.";
  if (kind == "session") return type.substr(0, 8) == "session.";
  return false;
}

}  // namespace mandated::audit
