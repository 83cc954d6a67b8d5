// Test helpers implementation.
#include "tests/support/test_support.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace mandated::testing {

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                     "/mandated-test-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string SourcePath(const std::string& relative) {
  return std::string(MANDATED_SOURCE_DIR) + "/" + relative;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string StringField(const json::Value& v, const char* key) {
  const json::Value* f = v.Find(key);
  return f != nullptr && f->is_string() ? f->as_string() : "";
}

const json::Value& At(const json::Value& v, std::initializer_list<std::string_view> path) {
  const json::Value* cur = &v;
  for (std::string_view key : path) {
    const json::Value* next = cur->Find(key);
    if (next == nullptr) {
      ADD_FAILURE() << "missing member " << key;
      static const json::Value kNull;
      return kNull;
    }
    cur = next;
  }
  return *cur;
}

Bytes Hex(std::string_view text) {
  Result<Bytes> b = HexDecode(text, /*allow_0x=*/true);
  EXPECT_TRUE(b.ok()) << text;
  return b.ok() ? *b : Bytes();
}

json::Value RunInteropScript(const std::string& script, const json::Value& input) {
  TempDir dir;
  const std::string in = dir.Sub("input.json");
  std::ofstream(in) << json::Write(input);
  const std::string cmd =
      "node '" + SourcePath("tests/interop/" + script) + "' '" + in + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  std::string out;
  char buf[4096];
  size_t n = 0;
  while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0) {
    out.append(buf, n);
  }
  const int rc = p != nullptr ? pclose(p) : -1;
  EXPECT_EQ(rc, 0) << "node failed (run scripts/test.sh, which installs tests/interop): " << out;
  Result<json::Value> v = json::Parse(out);
  EXPECT_TRUE(v.ok()) << out;
  return v.ok() ? *v : json::Value();
}

}  // namespace mandated::testing
