// Test helpers: fresh temporary directories, paths to vectors, file reading, and members of
// JSON vectors and hex text that fail the test (not crash) when they are not there.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

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

// The member of `v` at `path` (object keys, outermost first); fails the current test (returning
// a null value) when one is missing.
const json::Value& At(const json::Value& v, std::initializer_list<std::string_view> path);

// The bytes of hex `text` ("0x" allowed); fails the current test (returning none) when it is not
// hex.
Bytes Hex(std::string_view text);

// Runs `node tests/interop/<script> <file holding input>` (the pinned npm peers) and returns its
// standard output parsed as JSON; fails the current test (returning null) when node fails or
// prints anything else.
json::Value RunInteropScript(const std::string& script, const json::Value& input);

}  // namespace mandated::testing
