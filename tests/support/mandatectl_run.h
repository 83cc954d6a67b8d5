// Running the real mandatectl binary from black-box tests (its exit code and what it printed),
// and the small helpers those tests share for files and output lines.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "base/json.h"

#include "tests/support/test_support.h"

namespace mandated::testing {

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

// Runs build/<preset>/cli/mandatectl (beside the server binary's api/ directory) with `args`
// and no MANDATED_* variables; standard output and error go through files named
// `scratch_prefix` + ".out" / ".err". Needs MANDATED_SERVER_BIN (tests/api/CMakeLists.txt).
inline CliRun RunMandatectl(const std::vector<std::string>& args,
                            const std::string& scratch_prefix) {
  std::string bin = MANDATED_SERVER_BIN;
  bin = bin.substr(0, bin.rfind('/'));
  bin = bin.substr(0, bin.rfind('/')) + "/cli/mandatectl";
  EXPECT_EQ(access(bin.c_str(), X_OK), 0) << bin << " is not built";
  const std::string out = scratch_prefix + ".out";
  const std::string err = scratch_prefix + ".err";
  std::vector<std::string> copy = args;
  std::vector<char*> argv = {bin.data()};
  for (std::string& a : copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    unsetenv("MANDATED_SERVER");
    unsetenv("MANDATED_TOKEN");
    unsetenv("MANDATED_PRINCIPAL");
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFileOrDie(out);
  r.err = ReadFileOrDie(err);
  return r;
}

inline void WriteFile(const std::string& path, const std::string& content) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(content.data(), 1, content.size(), f), content.size());
  ASSERT_EQ(fclose(f), 0);
}

inline json::Value ParseOrDie(const std::string& text) {
  Result<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::Value::Object();
}

inline std::string FirstWord(const std::string& s) { return s.substr(0, s.find(' ')); }

// The value of a "<label>: value" line of `out`; "" when there is none.
inline std::string LineValue(const std::string& out, const std::string& label) {
  const std::string marker = label + ": ";
  size_t at = out.rfind(marker, 0) == 0 ? 0 : out.find("\n" + marker);
  if (at == std::string::npos) {
    return "";
  }
  at = at == 0 ? marker.size() : at + 1 + marker.size();
  return out.substr(at, out.find('\n', at) - at);
}

inline bool Matches(const std::string& text, const std::string& pattern) {
  return std::regex_match(text, std::regex(pattern));
}

}  // namespace mandated::testing
