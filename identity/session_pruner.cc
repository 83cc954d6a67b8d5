// The session retention task: bounded prune passes on a background thread.
#include "identity/session_pruner.h"

#include "base/log.h"

namespace mandated::identity {

SessionPruner::SessionPruner(Directory& directory, SessionPrunerOptions options)
    : directory_(directory),
      options_(options),
      task_("session prune", [this] { return Pass(); },
            PeriodicTaskOptions{options.pass_interval_ms, options.idle_interval_ms}) {}

Result<SessionPrunePass> SessionPruner::PassOnce() {
  MD_ASSIGN_OR_RETURN(SessionPrunePass pass,
                      directory_.PruneSessions(after_, options_.sessions_per_pass));
  after_ = pass.next_after;
  return pass;
}

Result<bool> SessionPruner::Pass() {
  MD_ASSIGN_OR_RETURN(SessionPrunePass pass, PassOnce());
  if (pass.pruned > 0) {
    log::Info("sessions pruned", {{"pruned", static_cast<uint64_t>(pass.pruned)},
                                  {"examined", static_cast<uint64_t>(pass.examined)}});
  }
  if (pass.unreadable > 0) {
    log::Warn("session records do not decode; left in place",
              {{"unreadable", static_cast<uint64_t>(pass.unreadable)}});
  }
  return !pass.next_after.empty();  // empty: every session looked at, rest before the next round
}

}  // namespace mandated::identity
