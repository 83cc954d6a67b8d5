// The session retention task: bounded prune passes on a background thread.
#include "identity/session_pruner.h"

#include <chrono>

#include "base/log.h"

namespace mandated::identity {

SessionPruner::~SessionPruner() { Stop(); }

void SessionPruner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) {
    return;
  }
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void SessionPruner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

Result<SessionPrunePass> SessionPruner::PassOnce() {
  MD_ASSIGN_OR_RETURN(SessionPrunePass pass,
                      directory_.PruneSessions(after_, options_.sessions_per_pass));
  after_ = pass.next_after;
  return pass;
}

void SessionPruner::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  int64_t wait_ms = options_.pass_interval_ms;
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms));
    if (stop_) {
      break;
    }
    lock.unlock();
    Result<SessionPrunePass> pass = PassOnce();
    wait_ms = options_.pass_interval_ms;
    if (!pass.ok()) {
      log::Warn("session prune failed", {{"error", pass.error().ToString()}});
    } else {
      if (pass->pruned > 0) {
        log::Info("sessions pruned", {{"pruned", static_cast<uint64_t>(pass->pruned)},
                                      {"examined", static_cast<uint64_t>(pass->examined)}});
      }
      if (pass->unreadable > 0) {
        log::Warn("session records do not decode; left in place",
                  {{"unreadable", static_cast<uint64_t>(pass->unreadable)}});
      }
      if (pass->next_after.empty()) {
        wait_ms = options_.idle_interval_ms;  // every session looked at: rest before the next round
      }
    }
    lock.lock();
  }
}

}  // namespace mandated::identity
