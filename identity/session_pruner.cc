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
  // The two scans are independent: each runs until it reaches its end, then waits for the
  // next round (both done: the task idles); an error in one does not stop the other.
  Status first_error;
  if (!jtis_done_) {
    Result<JtiPrunePass> jtis = JtiPassOnce();
    if (!jtis.ok()) {
      first_error = jtis.error();
    } else {
      jtis_done_ = jtis->next_after.empty();
      if (jtis->pruned > 0) {
        log::Info("assertion replay records pruned",
                  {{"pruned", static_cast<uint64_t>(jtis->pruned)},
                   {"examined", static_cast<uint64_t>(jtis->examined)}});
      }
      if (jtis->unreadable > 0) {
        log::Warn("assertion replay records do not decode; left in place",
                  {{"unreadable", static_cast<uint64_t>(jtis->unreadable)}});
      }
    }
  }
  if (!sessions_done_) {
    Result<SessionPrunePass> pass = PassOnce();
    if (!pass.ok()) {
      if (first_error.ok()) first_error = pass.error();
    } else {
      sessions_done_ = pass->next_after.empty();
      if (pass->pruned > 0) {
        log::Info("sessions pruned", {{"pruned", static_cast<uint64_t>(pass->pruned)},
                                      {"examined", static_cast<uint64_t>(pass->examined)}});
      }
      if (pass->unreadable > 0) {
        log::Warn("session records do not decode; left in place",
                  {{"unreadable", static_cast<uint64_t>(pass->unreadable)}});
      }
    }
  }
  if (!first_error.ok()) return first_error;
  if (sessions_done_ && jtis_done_) {
    sessions_done_ = jtis_done_ = false;  // the next round starts both from the first
    return false;
  }
  return true;
}

}  // namespace mandated::identity
