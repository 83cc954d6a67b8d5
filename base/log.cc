// Structured JSON-lines logger.
#include "base/log.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "base/clock.h"
#include "base/json.h"

namespace mandated::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::mutex g_mu;
std::function<void(std::string_view)>* g_sink = nullptr;  // guarded by g_mu

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
  std::lock_guard<std::mutex> lock(g_mu);
  delete g_sink;
  g_sink = sink ? new std::function<void(std::string_view)>(std::move(sink)) : nullptr;
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
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_sink != nullptr) {
    (*g_sink)(line);
    return;
  }
  // One write(2) per line keeps lines whole even when several processes share the stream.
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) {
      break;
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace mandated::log
