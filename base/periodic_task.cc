// PeriodicTask: the background loop of bounded passes.
#include "base/periodic_task.h"

#include <chrono>
#include <utility>

#include "base/log.h"

namespace mandated {

PeriodicTask::PeriodicTask(std::string name, std::function<Result<bool>()> pass,
                           PeriodicTaskOptions options)
    : name_(std::move(name)), pass_(std::move(pass)), options_(options) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) {
    return;
  }
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void PeriodicTask::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  int64_t wait_ms = options_.busy_interval_ms;
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stop_; });
    if (stop_) {
      break;
    }
    lock.unlock();
    Result<bool> more = pass_();
    if (!more.ok()) {
      log::Warn(name_ + " failed", {{"error", more.error().ToString()}});
    }
    wait_ms = more.ok() && *more ? options_.busy_interval_ms : options_.idle_interval_ms;
    lock.lock();
  }
}

}  // namespace mandated
