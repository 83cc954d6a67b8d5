// Running the real mandatectl binary from black-box tests: its exit code and what it printed.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

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

}  // namespace mandated::testing
