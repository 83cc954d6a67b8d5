// The session retention task: bounded prune passes (sessions, assertion replay records) on a
// background thread.
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

Result<JtiPrunePass> SessionPruner::JtiPassOnce() {
  MD_ASSIGN_OR_RETURN(JtiPrunePass pass,
                      directory_.PruneAssertionJtis(jti_after_, options_.sessions_per_pass));
  jti_after_ = pass.next_after;
  return pass;
}

Result<bool> SessionPruner::Pass() {
  MD_ASSIGN_OR_RETURN(JtiPrunePass jtis, JtiPassOnce());
  if (jtis.pruned > 0) {
    log::Info("assertion replay records pruned",
              {{"pruned", static_cast<uint64_t>(jtis.pruned)},
               {"examined", static_cast<uint64_t>(jtis.examined)}});
  }
  if (jtis.unreadable > 0) {
    log::Warn("assertion replay records do not decode; left in place",
              {{"unreadable", static_cast<uint64_t>(jtis.unreadable)}});
  }
  MD_ASSIGN_OR_RETURN(SessionPrunePass pass, PassOnce());
  if (pass.pruned > 0) {
    log::Info("sessions pruned", {{"pruned", static_cast<uint64_t>(pass.pruned)},
                                  {"examined", static_cast<uint64_t>(pass.examined)}});
  }
  if (pass.unreadable > 0) {
    log::Warn("session records do not decode; left in place",
              {{"unreadable", static_cast<uint64_t>(pass.unreadable)}});
  }
  // Both empty: every session and record looked at, rest before the next round.
  return !pass.next_after.empty() || !jtis.next_after.empty();
}

}  // namespace mandated::identity
