// Structured logging: one JSON object per line on stderr (or a sink set by tests).
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <span>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace mandated::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// A field value: strings are quoted, numbers and booleans are written bare.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  std::string_view key;
  std::string value;
  bool quoted;
};

void SetMinLevel(Level level);
Level MinLevel();
Result<Level> ParseLevel(std::string_view name);

// Replaces the output (default: stderr). Used by tests to capture lines. Not for hot swapping
// while other threads log.
void SetSinkForTest(std::function<void(std::string_view line)> sink);

// Writes {"ts":"<RFC 3339 UTC>","level":"info","msg":"...",<fields>} atomically as one line.
// Thread safety: safe from any thread; lines never interleave (a line of up to PIPE_BUF bytes
// is one write(2), which Linux keeps whole on pipes and files, beside other short ones; a longer
// line and a sink have the output to themselves).
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
// The same with a field list built at run time.
void Write(Level level, std::string_view msg, std::span<const Field> fields);

inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kError, msg, f); }
inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kDebug, msg, f); }

}  // namespace mandated::log
