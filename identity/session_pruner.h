// SessionPruner: the background task that deletes ended sessions after their retention, a
// bounded Directory::PruneSessions pass at a time (specs/access.md §Session retention).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.h"
#include "identity/directory.h"

namespace mandated::identity {

struct SessionPrunerOptions {
  size_t sessions_per_pass = 1000;   // sessions one pass looks at (each: two reads, up to 4 deletes)
  int64_t pass_interval_ms = 1000;   // between passes while the scan has more sessions to look at
  int64_t idle_interval_ms = 60000;  // after a pass that reached the last session
};

// Thread safety: Start and Stop from one thread (the app's). PassOnce is what the background
// thread runs; tests call it directly, never while the thread runs.
class SessionPruner {
 public:
  explicit SessionPruner(Directory& directory, SessionPrunerOptions options = {})
      : directory_(directory), options_(options) {}
  ~SessionPruner();  // stops the thread
  SessionPruner(const SessionPruner&) = delete;
  SessionPruner& operator=(const SessionPruner&) = delete;

  // Starts the background thread (a no-op if it runs); its first pass comes after
  // pass_interval_ms.
  void Start();
  // Stops it, waiting for a pass in progress to finish (at most one chunk's batch after that).
  void Stop();

  // One pass of at most sessions_per_pass sessions, resuming where the previous pass stopped.
  // Errors: Directory::PruneSessions's (the next pass retries from the same place).
  Result<SessionPrunePass> PassOnce();

 private:
  void Loop();

  Directory& directory_;
  const SessionPrunerOptions options_;
  std::string after_;  // where the next pass resumes; only PassOnce touches it
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mandated::identity
