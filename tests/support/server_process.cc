// ServerProcess: fork/exec of the server binary with output captured to files.
#include "tests/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace mandated::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ServerProcess::ServerProcess(std::string data_dir, std::map<std::string, std::string> env,
                             std::vector<std::string> args)
    : data_dir_(std::move(data_dir)), env_(std::move(env)), args_(std::move(args)) {
  if (env_.find("MANDATED_BOOTSTRAP_TOKEN") == env_.end()) {
    env_["MANDATED_BOOTSTRAP_TOKEN"] = "test-operator-token-0123456789";
  }
  token_ = env_["MANDATED_BOOTSTRAP_TOKEN"];
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    Kill();
  }
}

bool ServerProcess::Start() {
  // Unique per instance and start, so no reader ever sees an earlier process's output.
  static std::atomic<int> instance_counter{0};
  ++starts_;
  const std::string suffix = std::to_string(getpid()) + "." +
                             std::to_string(instance_counter.fetch_add(1));
  out_path_ = data_dir_ + ".stdout." + suffix;
  err_path_ = data_dir_ + ".stderr." + suffix;
  std::vector<std::string> argv = {MANDATED_SERVER_BIN, "--data-dir", data_dir_, "--listen",
                                   "127.0.0.1:0"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = fork();
  if (pid_ == 0) {
    int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [k, v] : env_) {
      setenv(k.c_str(), v.c_str(), 1);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  const std::regex listening("\"msg\":\"listening\".*\"port\":([0-9]+)");
  for (int i = 0; i < 400; ++i) {
    std::smatch m;
    std::string err = Slurp(err_path_);
    if (std::regex_search(err, m, listening)) {
      port_ = std::stoi(m[1]);
      return true;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) {
    return -1;
  }
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) {
    return;
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::Stdout() const { return Slurp(out_path_); }
std::string ServerProcess::Stderr() const { return Slurp(err_path_); }

long ServerProcess::PeakRssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

}  // namespace mandated::testing
