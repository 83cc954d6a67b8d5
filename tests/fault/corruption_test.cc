// Corrupted store files at start (DESIGN §2 invariants 2 and 7; specs/storage.md): bytes flipped
// in a table file (SST), the MANIFEST, CURRENT or the write-ahead log of a stopped data
// directory make the real server binary refuse to start, with a message naming the store and a
// non-zero exit, never a crash and never serving. An untouched copy starts and passes the
// invariant check, so the copies themselves are sound.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "tests/fault/invariants.h"
#include "tests/fault/load_driver.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated::fault {
namespace {

// The invariant check reads back every transfer and the usage as fast as it can; the default
// per-credential limits (20/s for an admin) would answer some of those reads 429.
constexpr char kRateLimits[] = "operator=100000/100000,admin=100000/100000,agent=100000/100000";

namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kOperatorToken[] = "test-operator-token-0123456789";

// How a start of the server binary on a data directory ended.
struct StartOutcome {
  bool served = false;  // it logged "listening" (then it was killed)
  bool exited = false;  // it exited by itself
  int code = -1;        // its exit code
  int signal = 0;       // the signal that ended it, if one did (a crash)
  std::string stderr_text;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

StartOutcome StartToEnd(const std::string& data) {
  const std::string err_path = data + ".start.stderr";
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open("/dev/null", O_WRONLY);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    setenv("MANDATED_BOOTSTRAP_TOKEN", kOperatorToken, 1);
    execl(MANDATED_SERVER_BIN, MANDATED_SERVER_BIN, "--data-dir", data.c_str(), "--listen",
          "127.0.0.1:0", "--public-host", "mandated.test", static_cast<char*>(nullptr));
    _exit(127);
  }
  StartOutcome o;
  for (int i = 0; i < 600; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      o.exited = WIFEXITED(status);
      o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      o.stderr_text = Slurp(err_path);
      return o;
    }
    if (Slurp(err_path).find("\"msg\":\"listening\"") != std::string::npos) {
      o.served = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  o.stderr_text = Slurp(err_path);
  return o;
}

// The files of the store directory whose names start with `prefix` and end with `suffix`,
// largest first.
std::vector<fs::path> StoreFiles(const std::string& data, const std::string& prefix,
                                 const std::string& suffix) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(data + "/db")) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return fs::file_size(a) > fs::file_size(b);
  });
  return out;
}

// Inverts `count` bytes of `file` from `offset` on.
void FlipBytes(const fs::path& file, uint64_t offset, size_t count) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << file;
  std::string bytes(count, '\0');
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(bytes.data(), static_cast<std::streamsize>(count));
  for (char& c : bytes) c = static_cast<char>(~c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(count));
  ASSERT_TRUE(f.good()) << file;
}

class CorruptionTest : public ::testing::Test {
 protected:
  // One pristine data directory for every case: a world with load, stopped, started again (the
  // recovery writes the first write-ahead log into a table file), more load, SIGKILLed (so the
  // current write-ahead log holds the last requests).
  static void SetUpTestSuite() {
    seed_ = FaultSeed();
    std::cout << "[ seed     ] MANDATED_FAULT_SEED=" << seed_ << std::endl;
    dir_ = new TempDir();
    const std::string data = dir_->Sub("pristine");
    ServerProcess server(data, {},
                         {"--rate-limits", kRateLimits, "--public-host", "mandated.test"});
    ASSERT_TRUE(server.Start()) << server.Stderr();
    subject_ = new Subject();
    std::vector<std::string> agents;
    std::string error;
    ASSERT_TRUE(SetUpWorld(server.port(), server.bootstrap_token(), 2, *subject_, agents, error))
        << error;
    driver_ = new LoadDriver(*subject_, agents, seed_);
    for (int phase = 0; phase < 2; ++phase) {
      ASSERT_TRUE(driver_->OpenSessions(server.port(), error)) << error;
      std::atomic<bool> stop{false};
      std::thread load([&] { driver_->RunLoad(server.port(), 2, stop, phase); });
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      stop.store(true);
      load.join();
      ASSERT_TRUE(driver_->Settle(server.port()));
      if (phase == 0) {
        ASSERT_EQ(server.Stop(), 0) << server.Stderr();
        ASSERT_TRUE(server.Start()) << server.Stderr();
      }
    }
    server.Kill();
  }
  static void TearDownTestSuite() {
    delete driver_;
    delete subject_;
    delete dir_;
  }

  // A copy of the pristine directory.
  std::string Copy(const std::string& name) {
    const std::string to = dir_->Sub(name);
    fs::copy(dir_->Sub("pristine"), to, fs::copy_options::recursive);
    // The development key-encryption key lives beside the data directory.
    fs::copy_file(dir_->Sub("pristine.kek"), to + ".kek");
    return to;
  }

  // The server refuses to start on `data`: exits by itself with a non-zero code, never
  // serves, never dies of a signal, and says why, naming the store.
  void ExpectRefused(const std::string& data, const std::string& what) {
    const StartOutcome o = StartToEnd(data);
    EXPECT_FALSE(o.served) << what << ": served on a corrupted store; " << ReplayLine(seed_);
    EXPECT_TRUE(o.exited) << what << ": ended by signal " << o.signal << "\n" << o.stderr_text;
    EXPECT_NE(o.code, 0) << what;
    EXPECT_NE(o.stderr_text.find("cannot start"), std::string::npos) << what << "\n"
                                                                       << o.stderr_text;
    EXPECT_NE(o.stderr_text.find("opening store at"), std::string::npos) << what << "\n"
                                                                         << o.stderr_text;
    std::cout << "[ refused  ] " << what << ": exit " << o.code << ": "
              << o.stderr_text.substr(0, std::min<size_t>(o.stderr_text.size(), 400))
              << std::endl;
  }

  static inline uint64_t seed_ = 0;
  static inline TempDir* dir_ = nullptr;
  static inline Subject* subject_ = nullptr;
  static inline LoadDriver* driver_ = nullptr;
};

TEST_F(CorruptionTest, UntouchedCopyStartsAndKeepsEveryInvariant) {
  const std::string data = Copy("untouched");
  CheckReport stored = CheckStoredLedger(data);
  ASSERT_TRUE(stored.ok()) << stored.Text(seed_);
  ServerProcess server(data, {},
                       {"--rate-limits", kRateLimits, "--public-host", "mandated.test"});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  Subject s = *subject_;
  CheckReport report = CheckService(server.port(), s, driver_->acked(), true);
  EXPECT_TRUE(report.ok()) << report.Text(seed_);
  std::cout << stored.Text(seed_) << report.Text(seed_);
}

TEST_F(CorruptionTest, FlippedBytesInATableFileStopTheStart) {
  const std::string data = Copy("sst");
  std::vector<fs::path> ssts = StoreFiles(data, "", ".sst");
  ASSERT_FALSE(ssts.empty()) << "no table file in the pristine store";
  // The middle of the largest table file: a data block, which only a checksum pass reads.
  FlipBytes(ssts.front(), fs::file_size(ssts.front()) / 2, 8);
  ExpectRefused(data, "table file " + ssts.front().filename().string() + " (middle)");
}

TEST_F(CorruptionTest, FlippedBytesInTheManifestStopTheStart) {
  const std::string data = Copy("manifest");
  std::vector<fs::path> manifests = StoreFiles(data, "MANIFEST-", "");
  ASSERT_FALSE(manifests.empty());
  FlipBytes(manifests.front(), fs::file_size(manifests.front()) / 2, 4);
  ExpectRefused(data, manifests.front().filename().string());
}

TEST_F(CorruptionTest, AFlippedNameInCurrentStopsTheStart) {
  const std::string data = Copy("current-name");
  FlipBytes(fs::path(data) / "db" / "CURRENT", 3, 1);
  ExpectRefused(data, "CURRENT (a byte of the manifest's name)");
}

TEST_F(CorruptionTest, ACurrentWithoutItsNewlineStopsTheStart) {
  const std::string data = Copy("current-newline");
  const fs::path current = fs::path(data) / "db" / "CURRENT";
  FlipBytes(current, fs::file_size(current) - 1, 1);
  ExpectRefused(data, "CURRENT (its final newline)");
}

TEST_F(CorruptionTest, FlippedBytesInTheWriteAheadLogStopTheStart) {
  const std::string data = Copy("wal");
  std::vector<fs::path> logs = StoreFiles(data, "", ".log");
  ASSERT_FALSE(logs.empty());
  ASSERT_GT(fs::file_size(logs.front()), 64u) << "the write-ahead log is empty";
  FlipBytes(logs.front(), fs::file_size(logs.front()) / 2, 4);
  ExpectRefused(data, "write-ahead log " + logs.front().filename().string() + " (middle)");
}

// What a crash in the middle of a write leaves: the last log record cut short. That record was
// never acknowledged (acknowledged writes are synced whole), so the store opens without it and
// every acknowledged answer is still there.
TEST_F(CorruptionTest, ATornLastWriteAheadLogRecordIsDroppedAndTheServiceStarts) {
  const std::string data = Copy("torn-tail");
  std::vector<fs::path> logs = StoreFiles(data, "", ".log");
  ASSERT_FALSE(logs.empty());
  const fs::path& wal = logs.back();
  ASSERT_GT(fs::file_size(wal), 64u) << "the write-ahead log is empty";
  // A record the load did not write: a synced batch's header promising more bytes than follow.
  {
    std::ofstream out(wal, std::ios::binary | std::ios::app);
    const char torn[] = {'\x11', '\x22', '\x33', '\x44', '\x00', '\x40', '\x01', 'x', 'y'};
    out.write(torn, sizeof(torn));
    ASSERT_TRUE(static_cast<bool>(out));
  }
  ServerProcess server(data, {},
                       {"--rate-limits", kRateLimits, "--public-host", "mandated.test"});
  ASSERT_TRUE(server.Start()) << "a torn last record kept the service from starting: "
                              << server.Stderr() << "\n" << ReplayLine(seed_);
  Subject s = *subject_;
  CheckReport report = CheckService(server.port(), s, driver_->acked(), true);
  EXPECT_TRUE(report.ok()) << report.Text(seed_);
}

}  // namespace
}  // namespace mandated::fault
