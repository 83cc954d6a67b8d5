// Running the real mandatectl binary from black-box tests (its exit code and what it printed),
// the small helpers those tests share for files and output lines, and a fixture running it
// against the real server with one principal.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "base/json.h"

#include "tests/support/server_process.h"
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

// A fixture for mandatectl against the real mandated binary: a scratch directory, the server
// on loopback, and the principal "Acme" made with the operator token.
// Thread safety: drive from the test thread.
class MandatectlTest : public ::testing::Test {
 protected:
  using Ran = CliRun;

  // Starts the server (with `server_env` added to its environment) and creates the principal
  // "Acme" (`principal_flags` added to `principals create`) as the operator; sets url_, op_ and
  // principal_. Its failures are fatal to the caller: call it inside ASSERT_NO_FATAL_FAILURE.
  void StartServerWithPrincipal(const std::vector<std::string>& principal_flags = {},
                                const std::map<std::string, std::string>& server_env = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"), server_env);
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    op_ = server_->bootstrap_token();
    std::vector<std::string> args = {"--server", url_, "--token", op_, "principals", "create",
                                     "--name", "Acme"};
    args.insert(args.end(), principal_flags.begin(), principal_flags.end());
    Ran p = Exec(args);
    ASSERT_EQ(p.exit_code, 0) << p.err;
    principal_ = FirstWord(p.out);
  }

  std::string Path(const std::string& name) const { return dir_.Sub(name); }
  // mandatectl with `args` and no MANDATED_* variables.
  Ran Exec(const std::vector<std::string>& args) { return RunMandatectl(args, Path("exec")); }
  // Runs with `token` and --principal always given, as the README's exported
  // MANDATED_PRINCIPAL is.
  Ran As(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", url_, "--token", token, "--principal", principal_});
    return Exec(args);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string url_, op_, principal_;
};

}  // namespace mandated::testing
