// Test helper: the audit events staged in a store (specs/audit.md §1.1, `q/` in the audit
// family), taken out in staging order so each test step sees only the events it caused.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "audit/event.h"
#include "base/json.h"
#include "store/kv_store.h"

namespace mandated::testing {

struct StagedEvent {
  std::string raw;   // the staged bytes, for "no secret appears" checks
  json::Value json;  // parsed

  std::string type() const { return Str("type"); }
  std::string principal() const { return Str("principal"); }
  // subjects.<kind>, "" when absent.
  std::string subject(const char* kind) const {
    const json::Value* s = json.Find("subjects");
    const json::Value* v = s == nullptr ? nullptr : s->Find(kind);
    return v != nullptr && v->is_string() ? v->as_string() : "";
  }
  size_t subject_count() const {
    const json::Value* s = json.Find("subjects");
    return s == nullptr ? 0 : s->size();
  }
  // data.<key> (nullptr when absent).
  const json::Value* data(const char* key) const {
    const json::Value* d = json.Find("data");
    return d == nullptr ? nullptr : d->Find(key);
  }
  std::string data_string(const char* key) const {
    const json::Value* v = data(key);
    return v != nullptr && v->is_string() ? v->as_string() : "";
  }

 private:
  std::string Str(const char* key) const {
    const json::Value* v = json.Find(key);
    return v != nullptr && v->is_string() ? v->as_string() : "";
  }
};

// Every staged event, in staging order, deleted from the store as it is taken.
inline std::vector<StagedEvent> TakeStaged(store::KvStore& kv) {
  std::vector<StagedEvent> out;
  store::WriteBatch taken;
  Status scan = kv.ScanPrefix(audit::kAuditFamily, "q/", [&](std::string_view key,
                                                             std::string_view value) {
    taken.Delete(audit::kAuditFamily, key);
    Result<json::Value> v = json::Parse(value);
    EXPECT_TRUE(v.ok()) << "staged event is not JSON: " << value;
    out.push_back(StagedEvent{std::string(value), v.ok() ? std::move(*v) : json::Value()});
    return true;
  });
  EXPECT_TRUE(scan.ok()) << scan.ToString();
  if (!out.empty()) {
    Status w = kv.Write(taken);
    EXPECT_TRUE(w.ok()) << w.ToString();
  }
  return out;
}

// The types of `events`, in order.
inline std::vector<std::string> Types(const std::vector<StagedEvent>& events) {
  std::vector<std::string> out;
  for (const StagedEvent& e : events) {
    out.push_back(e.type());
  }
  return out;
}

}  // namespace mandated::testing
