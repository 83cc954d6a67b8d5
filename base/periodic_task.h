// PeriodicTask: runs one bounded pass of background work again and again on its own thread,
// soon while a pass says more work is waiting, after a rest once a pass caught up.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.h"

namespace mandated {

struct PeriodicTaskOptions {
  int64_t busy_interval_ms = 1000;   // after a pass that left work for the next one
  int64_t idle_interval_ms = 60000;  // after a pass that caught up (or failed)
};

// Thread safety: Start and Stop from one thread (the owner's); `pass` runs on the task's
// thread only, never concurrently with itself.
class PeriodicTask {
 public:
  // `pass` does one bounded piece of work and returns whether more is waiting; its errors are
  // logged under `name` and the task carries on after the idle interval. The first pass comes
  // busy_interval_ms after Start.
  PeriodicTask(std::string name, std::function<Result<bool>()> pass,
               PeriodicTaskOptions options = {});
  ~PeriodicTask();  // stops the thread
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Start();  // a no-op while it runs
  void Stop();   // waits for a pass in progress to finish

 private:
  void Loop();

  const std::string name_;
  const std::function<Result<bool>()> pass_;
  const PeriodicTaskOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace mandated
