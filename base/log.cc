// Structured JSON-lines logger.
#include "base/log.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>

#include "base/clock.h"
#include "base/json.h"

namespace mandated::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
// Short lines share it (each is one write(2) the kernel keeps whole); a long line, which a pipe
// may take in pieces, and a test's sink hold it alone. It prefers writers, so a stream of short
// lines from many threads cannot keep a long one waiting for ever.
class OutputLock {
 public:
  OutputLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};
OutputLock g_mu;
std::function<void(std::string_view)>* g_sink = nullptr;  // guarded by g_mu
std::atomic<bool> g_sink_set{false};                       // g_sink != nullptr, read unlocked

// Writes the whole line to stderr, one write(2) while it takes the line whole.
void WriteStderr(std::string_view line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) {
      break;
    }
    done += static_cast<size_t>(n);
  }
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Rfc3339Micros(int64_t unix_micros) {
  time_t secs = static_cast<time_t>(unix_micros / 1000000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[40];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%06dZ", static_cast<int>(unix_micros % 1000000));
  return buf;
}

}  // namespace

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }
Level MinLevel() { return static_cast<Level>(g_min_level.load()); }

Result<Level> ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return InvalidArgumentError("log level must be debug, info, warn or error", "bad-config");
}

void SetSinkForTest(std::function<void(std::string_view)> sink) {
  std::unique_lock<OutputLock> lock(g_mu);
  delete g_sink;
  g_sink = sink ? new std::function<void(std::string_view)>(std::move(sink)) : nullptr;
  g_sink_set.store(g_sink != nullptr);
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  Write(level, msg, std::span<const Field>(fields.begin(), fields.size()));
}

void Write(Level level, std::string_view msg, std::span<const Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) {
    return;
  }
  std::string line;
  line.reserve(160);
  line += "{\"ts\":\"";
  line += Rfc3339Micros(SystemClock::Get().NowUnixMicros());
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"msg\":";
  json::AppendQuoted(line, msg);
  for (const Field& f : fields) {
    line.push_back(',');
    json::AppendQuoted(line, f.key);
    line.push_back(':');
    if (f.quoted) {
      json::AppendQuoted(line, f.value);
    } else {
      line += f.value;
    }
  }
  line += "}\n";
  // A line up to PIPE_BUF bytes goes out in one write(2), which Linux keeps whole on a pipe and
  // a file (POSIX promises it for pipes), so concurrent requests write side by side instead of
  // queueing on a lock (each waiter would cost a futex call); the shared lock only keeps a long
  // line's pieces from being split.
  if (!g_sink_set.load(std::memory_order_acquire) && line.size() <= PIPE_BUF) {
    std::shared_lock<OutputLock> shared(g_mu);
    WriteStderr(line);
    return;
  }
  std::unique_lock<OutputLock> lock(g_mu);
  if (g_sink != nullptr) {
    (*g_sink)(line);
    return;
  }
  WriteStderr(line);
}

}  // namespace mandated::log
