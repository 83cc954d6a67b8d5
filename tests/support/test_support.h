// Test helpers: fresh temporary directories, paths to vectors, and file reading.
#pragma once

#include <string>

#include "base/bytes.h"
#include "base/json.h"

namespace mandated::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Absolute path of a file in the source tree, e.g. SourcePath("tests/vectors/x.json").
std::string SourcePath(const std::string& relative);

// Whole file contents; fails the current test (and returns "") if unreadable.
std::string ReadFileOrDie(const std::string& path);

// The string member `key` of a JSON object, or "" when absent or not a string.
std::string StringField(const json::Value& v, const char* key);

// Runs `node tests/interop/<script> <file holding input>` (the pinned npm peers) and returns its
// standard output parsed as JSON; fails the current test (returning null) when node fails or
// prints anything else.
json::Value RunInteropScript(const std::string& script, const json::Value& input);

}  // namespace mandated::testing
