// ServerProcess: runs the real `mandated` binary on loopback (port 0) for black-box tests.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace mandated::testing {

// Thread safety: drive from the test thread.
class ServerProcess {
 public:
  // `data_dir` is passed as --data-dir; `env` adds variables; `args` adds flags.
  ServerProcess(std::string data_dir, std::map<std::string, std::string> env = {},
                std::vector<std::string> args = {});
  ~ServerProcess();  // SIGKILLs a still-running server

  // Starts the binary and waits (up to 20 s) for its "listening" log line. False on failure.
  bool Start();
  // SIGTERM, then wait for exit. Returns the exit status (or -1).
  int Stop();
  // SIGKILL, then reap.
  void Kill();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string host() const { return "127.0.0.1"; }
  // Everything the server wrote so far.
  std::string Stdout() const;
  std::string Stderr() const;
  const std::string& bootstrap_token() const { return token_; }
  // The exit status of a server that stopped before it listened (Start false); -1 otherwise.
  int exit_code() const { return exit_code_; }
  // Peak resident set size (VmHWM) in KiB, from /proc.
  long PeakRssKb() const;

 private:
  std::string data_dir_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string token_;
  int starts_ = 0;
  int exit_code_ = -1;
};

}  // namespace mandated::testing
