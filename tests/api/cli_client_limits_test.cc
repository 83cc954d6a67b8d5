// mandatectl's bounds on a server's answer: a port outside 1-65535 is a usage error, an answer
// larger than 64 MiB or slower than --timeout is given up (exit 3). The server here is a plain httplib one over loopback that
// answers as a broken or hostile server would.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

// An httplib server on a loopback port, serving on its own thread until destroyed.
class FakeServer {
 public:
  FakeServer() = default;
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeServer() {
    stopping_ = true;
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool stopping() const { return stopping_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
};

TEST(CliClientLimitsTest, APortOutsideOneTo65535IsAUsageError) {
  for (const std::string port : {"0", "65536", "99999"}) {
    Output o = RunCommand({"--server", "http://127.0.0.1:" + port, "health"});
    EXPECT_EQ(o.exit_code, 2) << port;
    EXPECT_EQ(o.err, "mandatectl: bad server URL \"http://127.0.0.1:" + port +
                         "\": the port is 1-65535\n");
  }
  // The bounds themselves are ports (nothing listens on 65535: unreachable, 3, not usage, 2).
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:65535", "health"}).exit_code, 3);
}

TEST(CliClientLimitsTest, ABadTimeoutIsAUsageError) {
  for (const std::string v : {"-1", "1.5", "x", "", "86401", "99999999999"}) {
    Output o = RunCommand({"--server", "http://127.0.0.1:1", "--timeout", v, "health"});
    EXPECT_EQ(o.exit_code, 2) << v;
    EXPECT_EQ(o.err, "mandatectl: --timeout wants whole seconds, 0-86400 (0: none), not \"" + v +
                         "\"\n");
  }
  EXPECT_EQ(RunCommand({"--server", "http://127.0.0.1:1", "--timeout"}).err,
            "mandatectl: --timeout needs a number of seconds\n");
}

// A server that answers without end: the client stops at 64 MiB instead of holding it all.
TEST(CliClientLimitsTest, AnAnswerOverTheCapIsGivenUp) {
  FakeServer fake;
  std::atomic<uint64_t> sent{0};
  fake.server().Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      static const std::string kPiece(1 << 20, ' ');
      if (fake.stopping() || sent.load() > 4 * kMaxAnswerBytes) return false;
      sent += kPiece.size();
      return sink.write(kPiece.data(), kPiece.size());
    });
  });
  fake.server().Get("/v1/principals", [&](const httplib::Request&, httplib::Response& res) {
    std::string body = "{\"items\":[]}";
    body.resize(kMaxAnswerBytes, ' ');
    res.set_content(body, "application/json");
  });
  fake.Start();
  Output o = RunCommand({"--server", fake.url(), "health"});
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.err, "mandatectl: " + fake.url() + " answered with more than 64 MiB; given up\n");
  EXPECT_EQ(o.out, "");
  // An answer of exactly the cap is held (a large listing is not refused).
  Output whole = RunCommand({"--server", fake.url(), "--token", "t", "--json", "principals", "list"});
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(whole.out.size(), kMaxAnswerBytes + 1);
}

// A server that trickles its answer: --timeout bounds the whole request, a buffered one and a
// streamed export alike.
TEST(CliClientLimitsTest, ATrickledAnswerIsGivenUpAtTheTimeout) {
  testing::TempDir dir;
  FakeServer fake;
  std::atomic<int> pieces{0};  // of the answer being sent
  auto trickle = [&](const httplib::Request&, httplib::Response& res) {
    pieces = 0;
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      if (fake.stopping() || pieces.load() >= 40) return false;  // at most 40 x 100 ms
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ++pieces;
      return sink.write(" ", 1);
    });
  };
  fake.server().Get("/readyz", trickle);
  fake.server().Get("/v1/audit/export", trickle);
  fake.Start();
  Output o = RunCommand({"--server", fake.url(), "--timeout", "1", "health"});
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.err, "mandatectl: no whole answer from " + fake.url() +
                       " within 1 s; given up (--timeout)\n");
  // Given up before the server's 40 pieces were all sent.
  EXPECT_LT(pieces.load(), 40);
  Output exported = RunCommand({"--server", fake.url(), "--token", "t", "--timeout", "1", "audit",
                                "export", "-o", dir.Sub("bundle.json")});
  EXPECT_EQ(exported.exit_code, 3);
  EXPECT_EQ(exported.err, o.err);
  EXPECT_LT(pieces.load(), 40);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("bundle.json")));
}

// A server that takes the connection and never answers: given up at the timeout, not at the
// 30 s a read may otherwise wait.
TEST(CliClientLimitsTest, ASilentServerIsGivenUpAtTheTimeout) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);  // the kernel completes the handshake; nothing ever answers
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  Output o = RunCommand({"--server", url, "--timeout", "1", "health"});
  close(fd);
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.err, "mandatectl: no whole answer from " + url + " within 1 s; given up (--timeout)\n");
}

}  // namespace
}  // namespace mandated::cli
