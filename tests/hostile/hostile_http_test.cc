// Hostile HTTP against the real server binary over raw loopback sockets (issue: reliability,
// must-show 1 and 2): forged forwarding headers, oversize and endless bodies, header floods, slow
// requests, and a 1,000-connection slow-header attack through the nginx front of deploy/nginx.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using api::ClientAddress;
using api::ForwardedHeader;
using api::ParseTrustedProxies;
using api::ThrottleKeyOfAddress;
using Clock = std::chrono::steady_clock;
using testing::ServerProcess;
using testing::TempDir;

constexpr uint64_t kMiB = 1024 * 1024;

// ---- Raw sockets ----

// A blocking TCP connection to 127.0.0.1:`port`, from `source` (another loopback address, so
// that a per-address limit can tell clients apart). -1 on failure.
int Connect(int port, const char* source = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends all of `data` within `timeout_ms`; false when the peer closed or reset the connection
// or the kernel would not take more in time.
bool SendAll(int fd, std::string_view data, int timeout_ms = 5000) {
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1 || (p.revents & (POLLERR | POLLHUP)) != 0) return false;
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct RawAnswer {
  int status = 0;       // 0: no response
  std::string head;     // status line and headers
  std::string body;
  bool closed = false;  // the server closed (or reset) the connection after it
};

// Reads what the server sends until it closes the connection or `timeout_ms` pass, and parses
// the first response in it.
RawAnswer ReadUntilClosed(int fd, int timeout_ms) {
  RawAnswer a;
  std::string all;
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[16384];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) != 1) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      a.closed = true;  // EOF, or a reset after the answer
      break;
    }
    all.append(buf, static_cast<size_t>(n));
  }
  const size_t end = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.1 ", 0) == 0 && end != std::string::npos) {
    a.status = std::atoi(all.c_str() + 9);
    a.head = all.substr(0, end);
    a.body = all.substr(end + 4);
  }
  return a;
}

// Peak resident set size of `pid` in KiB (VmHWM, from /proc): what an attack made the server
// hold at its worst, even if it was freed since.
long PeakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// GET /healthz answers 200.
bool Healthy(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/healthz");
  return r && r->status == 200;
}

// Sends `request` (which smuggles a second one after the first's head) on a new connection and
// expects one 400 malformed-request answer, nothing after it, and the connection closed.
void ExpectOneRefusalAndTheConnectionClosed(int port, const std::string& request) {
  const int fd = Connect(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, request));
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_EQ(a.status, 400) << a.head;
  EXPECT_NE(a.body.find("urn:mandated:problem:malformed-request"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("HTTP/1.1"), std::string::npos) << "a second answer: " << a.body;
  EXPECT_TRUE(a.closed);
}

// ---- Client address (specs/api.md §Client address), as a function ----

std::vector<api::IpNetwork> Nets(const std::string& text) {
  auto n = ParseTrustedProxies(text);
  EXPECT_TRUE(n.ok()) << text;
  return n.ok() ? *n : std::vector<api::IpNetwork>{};
}

// Unauthenticated throttling keys an IPv6 client on its /64, an IPv4 client on its address.
TEST(ClientAddressTest, ThrottlingKeysIpv6OnItsSlash64) {
  EXPECT_EQ(ThrottleKeyOfAddress("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(ThrottleKeyOfAddress("2001:db8:1:2::1"), ThrottleKeyOfAddress("2001:db8:1:2:ffff::9"));
  EXPECT_NE(ThrottleKeyOfAddress("2001:db8:1:2::1"), ThrottleKeyOfAddress("2001:db8:1:3::1"));
  EXPECT_EQ(ThrottleKeyOfAddress("198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(ThrottleKeyOfAddress("::ffff:198.51.100.7"), "::ffff:198.51.100.7");
  EXPECT_EQ(ThrottleKeyOfAddress("not an address"), "not an address");
}

TEST(ClientAddressTest, TrustedProxyListsParseAndBadOnesAreRefused) {
  EXPECT_TRUE(ParseTrustedProxies("")->empty());
  EXPECT_EQ(ParseTrustedProxies("127.0.0.1/32, ::1 ,10.0.0.0/8,fd00::/8")->size(), 4u);
  for (const char* bad : {"10.0.0.0/33", "::1/129", "localhost", "10.0.0.0/", "1.2.3.4/x",
                          "10.0.0.0/8,", "1.2.3"}) {
    auto r = ParseTrustedProxies(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason(), "bad-config") << bad;
  }
}

TEST(ClientAddressTest, ForwardingHeadersCountOnlyFromTrustedPeers) {
  const auto trusted = Nets("127.0.0.1/32,10.0.0.0/8,::1");
  const auto xff = ForwardedHeader::kXForwardedFor;
  // No trusted proxies: the peer, whatever the header says.
  EXPECT_EQ(ClientAddress("203.0.113.5", {"198.51.100.1"}, xff, {}), "203.0.113.5");
  // An untrusted peer's header is ignored.
  EXPECT_EQ(ClientAddress("203.0.113.5", {"198.51.100.1"}, xff, trusted), "203.0.113.5");
  // A trusted peer: the right-most untrusted address; what the client wrote to its left is not
  // believed.
  EXPECT_EQ(ClientAddress("127.0.0.1", {"6.6.6.6, 198.51.100.1"}, xff, trusted), "198.51.100.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", {"6.6.6.6", "198.51.100.1, 10.1.2.3"}, xff, trusted),
            "198.51.100.1");
  // Only trusted hops: the left-most one. No header: the peer.
  EXPECT_EQ(ClientAddress("127.0.0.1", {"10.9.9.9, 10.1.1.1"}, xff, trusted), "10.9.9.9");
  EXPECT_EQ(ClientAddress("127.0.0.1", {}, xff, trusted), "127.0.0.1");
  // Garbage where the client should be: the trusted hop that reported it stands for it.
  EXPECT_EQ(ClientAddress("127.0.0.1", {"198.51.100.1, not-an-ip"}, xff, trusted), "127.0.0.1");
  // Ports and IPv6 forms; addresses come back canonical.
  EXPECT_EQ(ClientAddress("::1", {"198.51.100.1:4711"}, xff, trusted), "198.51.100.1");
  EXPECT_EQ(ClientAddress("::ffff:127.0.0.1", {"[2001:DB8::0:1]:80"}, xff, trusted),
            "2001:db8::1");
  // Forwarded (RFC 7239) only when it is the configured header.
  const auto fwd = ForwardedHeader::kForwarded;
  EXPECT_EQ(ClientAddress("127.0.0.1", {R"(for=6.6.6.6, for="[2001:db8::7]:1";proto=https)"},
                          fwd, trusted),
            "2001:db8::7");
  EXPECT_EQ(ClientAddress("127.0.0.1", {"For=198.51.100.2;by=10.0.0.1"}, fwd, trusted),
            "198.51.100.2");
  EXPECT_EQ(ClientAddress("127.0.0.1", {"for=unknown"}, fwd, trusted), "127.0.0.1");
}

// ---- Forged forwarding headers against the real server ----

// POST /v1/sessions with a well-formed body whose assertion is bogus: the per-address limiter
// runs before the assertion is checked (specs/access.md §Rate limits), so the answer is 429 once
// the address is over its budget and a 4xx about the assertion before.
int OpenSessionAs(int port, const std::vector<std::string>& extra_headers) {
  const std::string body = R"({"assertion":"a.b.c","task":"hostile"})";
  std::string req = "POST /v1/sessions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                    "Content-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
  for (const std::string& h : extra_headers) req += h + "\r\n";
  req += "\r\n" + body;
  const int fd = Connect(port);
  if (fd < 0) return -1;
  SendAll(fd, req);
  const RawAnswer a = ReadUntilClosed(fd, 5000);
  close(fd);
  return a.status;
}

TEST(ForwardedForTest, ADirectClientForgingForwardingHeadersIsLimitedAsItself) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {}, {"--rate-limits", "agent=1/2"});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  // Every request claims another origin; none is believed (no trusted proxies configured).
  const std::vector<std::vector<std::string>> forged = {
      {"X-Forwarded-For: 198.51.100.1"},
      {"Forwarded: for=198.51.100.2", "REMOTE_ADDR: 198.51.100.3"},
      {"X-Forwarded-For: 198.51.100.4", "X-Real-IP: 198.51.100.4"},
  };
  EXPECT_NE(OpenSessionAs(server.port(), forged[0]), 429);
  EXPECT_NE(OpenSessionAs(server.port(), forged[1]), 429);
  EXPECT_EQ(OpenSessionAs(server.port(), forged[2]), 429);
  // The access log names the real peer only.
  const std::string log = server.Stderr();
  EXPECT_EQ(log.find("198.51.100."), std::string::npos) << log;
  EXPECT_NE(log.find(R"("remote":"127.0.0.1")"), std::string::npos);
}

TEST(ForwardedForTest, BehindATrustedProxyTheForwardedClientIsLimitedAndLogged) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {},
                       {"--rate-limits", "agent=1/2", "--trusted-proxies", "127.0.0.1/32"});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  const int port = server.port();
  // Client A spends its budget; a forged left-hand entry does not make it someone else.
  EXPECT_NE(OpenSessionAs(port, {"X-Forwarded-For: 198.51.100.7"}), 429);
  EXPECT_NE(OpenSessionAs(port, {"X-Forwarded-For: 198.51.100.7"}), 429);
  EXPECT_EQ(OpenSessionAs(port, {"X-Forwarded-For: 203.0.113.99, 198.51.100.7"}), 429);
  // Client B, forwarded by the same proxy, has its own budget.
  EXPECT_NE(OpenSessionAs(port, {"X-Forwarded-For: 198.51.100.8"}), 429);
  // Forwarded is not the configured header: ignored, so this is the proxy itself (fresh budget).
  EXPECT_NE(OpenSessionAs(port, {"Forwarded: for=198.51.100.7"}), 429);
  const std::string log = server.Stderr();
  EXPECT_NE(log.find(R"("remote":"198.51.100.8","peer":"127.0.0.1")"), std::string::npos) << log;
  EXPECT_EQ(log.find("203.0.113.99"), std::string::npos) << log;
}

TEST(ForwardedForTest, ABadTrustedProxyListStopsTheServerAtStart) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {}, {"--trusted-proxies", "127.0.0.1/40"});
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.Stderr().find("--trusted-proxies"), std::string::npos) << server.Stderr();
}

// ---- Oversize, endless and slow requests ----

class HostileBodyTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"), std::map<std::string, std::string>{},
                                              std::move(args));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    ASSERT_TRUE(Healthy(server_->port()));
    rss_before_kb_ = PeakRssKb(server_->pid());
  }

  // Sends `head`, then `chunk` repeatedly up to `limit` bytes or until the server stops taking
  // them; returns how many bytes of `chunk`s it took.
  uint64_t Flood(int fd, const std::string& head, const std::string& chunk, uint64_t limit) {
    EXPECT_TRUE(SendAll(fd, head));
    uint64_t sent = 0;
    while (sent < limit && SendAll(fd, chunk, 2000)) sent += chunk.size();
    return sent;
  }

  // After each attack: the server still answers and did not buffer the attack.
  void ExpectServerUnharmed() {
    EXPECT_TRUE(Healthy(server_->port()));
    const long growth_kb = PeakRssKb(server_->pid()) - rss_before_kb_;
    EXPECT_LT(growth_kb, 8 * 1024) << "peak RSS grew by " << growth_kb << " KiB";
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  long rss_before_kb_ = 0;
};

TEST_F(HostileBodyTest, ContentLengthOverTheLimitIs413BeforeAnyBodyByteAndCloses) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  // A terabyte announced, nothing sent: the answer cannot wait for the body (read timeout 5 s).
  ASSERT_TRUE(SendAll(fd, "POST /v1/principals HTTP/1.1\r\nHost: t\r\n"
                          "Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"));
  const RawAnswer a = ReadUntilClosed(fd, 2000);
  close(fd);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_NE(a.head.find("Content-Type: application/problem+json"), std::string::npos) << a.head;
  EXPECT_NE(a.body.find("urn:mandated:problem:body-too-large"), std::string::npos) << a.body;
  EXPECT_TRUE(a.closed);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, OversizeBodyBeingSentIsRefusedAndCutOff) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const uint64_t taken = Flood(fd,
                               "POST /v1/principals HTTP/1.1\r\nHost: t\r\nContent-Type: "
                               "application/json\r\nContent-Length: 67108864\r\n\r\n",
                               std::string(64 * 1024, '['), 64 * kMiB);
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  // The kernel's socket buffers take a few MiB; the server reads its limits' worth and
  // discards at most 4 MiB more before it closes.
  EXPECT_LT(taken, 16 * kMiB);
  EXPECT_TRUE(a.closed);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, EndlessChunkedBodyIs411AndTheConnectionIsCut) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
  const uint64_t taken = Flood(fd,
                               "POST /v1/principals HTTP/1.1\r\nHost: t\r\nContent-Type: "
                               "application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                               chunk, 64 * kMiB);
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_LT(taken, 16 * kMiB);
  EXPECT_EQ(a.status, 411) << a.head;
  EXPECT_TRUE(a.closed);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, EndlessHeaderLineIsCutOffAtTheHeaderLimit) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const uint64_t taken = Flood(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Long: ",
                               std::string(64 * 1024, 'a'), 64 * kMiB);
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_LT(taken, 16 * kMiB);
  EXPECT_TRUE(a.status == 0 || a.status == 400 || a.status == 431) << a.head;
  EXPECT_TRUE(a.closed);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, EndlessRequestLineIsCutOffAtTheHeaderLimit) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const uint64_t taken = Flood(fd, "GET /", std::string(64 * 1024, 'a'), 64 * kMiB);
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_LT(taken, 16 * kMiB);
  EXPECT_TRUE(a.closed);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, HeaderFloodClosesTheConnectionAndModestHeadersAreServed) {
  StartServer();
  std::string modest = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  for (int i = 0; i < 100; ++i) modest += "X-H" + std::to_string(i) + ": v\r\n";
  int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, modest + "\r\n"));
  EXPECT_EQ(ReadUntilClosed(fd, 3000).status, 200);
  close(fd);

  // 10,000 headers (about 130 KiB): over the 16 KiB limit of a request head.
  fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  std::string flood = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 10000; ++i) flood += "X-H" + std::to_string(i) + ": v\r\n";
  SendAll(fd, flood + "\r\n");
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_TRUE(a.status == 0 || a.status == 400 || a.status == 431) << a.head;
  EXPECT_NE(a.status, 200);
  EXPECT_TRUE(a.closed);

  // The head has its own limit: 32 KiB of headers is refused although the body limit (64 KiB)
  // would leave room for it, and a body within its limit after a modest head is read whole.
  fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  std::string over = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  while (over.size() < 32 * 1024) over += "X-Pad-" + std::to_string(over.size()) + ": v\r\n";
  SendAll(fd, over + "\r\n");
  const RawAnswer b = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_NE(b.status, 200) << b.head;
  EXPECT_TRUE(b.closed);
  fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  const std::string body = "{\"name\":\"" + std::string(60 * 1024, 'n') + "\"}";
  ASSERT_TRUE(SendAll(fd, "POST /v1/principals HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body));
  EXPECT_EQ(ReadUntilClosed(fd, 3000).status, 401);  // read whole, then refused for no token
  close(fd);
  ExpectServerUnharmed();
}

TEST_F(HostileBodyTest, TwoContentLengthsAreRefusedAndClose) {
  StartServer();
  for (const char* lengths : {"Content-Length: 2\r\nContent-Length: 2\r\n",
                              "Content-Length: 2\r\nContent-Length: 40\r\n",
                              "Content-Length: +2\r\n"}) {
    const int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, std::string("POST /v1/principals HTTP/1.1\r\nHost: t\r\n"
                                        "Content-Type: application/json\r\n") +
                                lengths + "\r\n{}"));
    const RawAnswer a = ReadUntilClosed(fd, 3000);
    close(fd);
    EXPECT_EQ(a.status, 400) << lengths << a.head;
    EXPECT_NE(a.body.find("urn:mandated:problem:malformed-request"), std::string::npos) << a.body;
    EXPECT_TRUE(a.closed);
  }
  ExpectServerUnharmed();
}

// A body on a method whose body is never read (GET, HEAD, OPTIONS) would stay in the socket and
// be parsed as the next request: a request smuggled past a proxy that reuses connections. It is
// refused, nothing after it is served, and the connection closes.
TEST_F(HostileBodyTest, BodyOnAGetIsRefusedAndNeverServedAsTheNextRequest) {
  StartServer();
  const std::string smuggled =
      "POST /v1/principals HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 13\r\n\r\n{\"name\":\"S\"}";
  for (const char* method : {"GET", "HEAD", "OPTIONS"}) {
    const int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, std::string(method) + " /healthz HTTP/1.1\r\nHost: t\r\n" +
                                "Content-Length: " + std::to_string(smuggled.size()) +
                                "\r\n\r\n" + smuggled));
    const RawAnswer a = ReadUntilClosed(fd, 3000);
    close(fd);
    EXPECT_EQ(a.status, 400) << method << " " << a.head;
    EXPECT_EQ(a.body.find("HTTP/1.1"), std::string::npos) << "a second answer: " << a.body;
    EXPECT_TRUE(a.closed) << method;
  }
  // A GET with an empty body is an ordinary GET.
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n"));
  EXPECT_EQ(ReadUntilClosed(fd, 3000).status, 200);
  close(fd);
  ExpectServerUnharmed();
}

// A request httplib cannot parse (an unknown method) leaves unknown where it ended: what
// follows it is never read as a request, since it could be a body smuggled past a proxy (here
// one forging its client address). The connection closes after the 400, and the client's
// token does not become a metrics label.
TEST_F(HostileBodyTest, AnUnparsableRequestClosesTheConnectionAndNothingAfterItIsServed) {
  StartServer();
  const std::string smuggled =
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
  ExpectOneRefusalAndTheConnectionClosed(
      server_->port(), "FOO / HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  httplib::Client c("127.0.0.1", server_->port());
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body.find("method=\"FOO\""), std::string::npos);
  EXPECT_NE(metrics->body.find("method=\"other\""), std::string::npos);
  ExpectServerUnharmed();
}

// A header name that is no token ("Content-Length :", a tab, a NUL) is refused and the
// connection closed: httplib keeps "Content-Length " apart from Content-Length,
// so the body it frames would otherwise be read as the next request (smuggling).
TEST_F(HostileBodyTest, AMalformedHeaderNameIsRefusedAndNothingAfterItIsServed) {
  StartServer();
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  const std::string n = std::to_string(smuggled.size());
  for (const std::string& header : std::vector<std::string>{
           "Content-Length : " + n, "Content-Length\t: " + n, "Transfer-Encoding : chunked",
           std::string("X-A") + '\0' + "B: 1"}) {
    SCOPED_TRACE(header);
    ExpectOneRefusalAndTheConnectionClosed(
        server_->port(),
        "POST /v1/audit/checkpoints HTTP/1.1\r\nHost: t\r\n" + header + "\r\n\r\n" + smuggled);
  }
  ExpectServerUnharmed();
}

// A client that asks before sending its body (Expect: 100-continue) is refused a body over the
// limit at once, never invited to send it (before, it got "100 Continue" and then a 413).
TEST_F(HostileBodyTest, AnOversizeBodyAnnouncedWithExpectIsRefusedBeforeItIsSent) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /v1/principals HTTP/1.1\r\nHost: t\r\n"
                          "Content-Type: application/json\r\nContent-Length: 9999999\r\n"
                          "Expect: 100-continue\r\n\r\n"));
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_NE(a.body.find("urn:mandated:problem:body-too-large"), std::string::npos) << a.body;
  EXPECT_TRUE(a.closed);
  // Within the limit, the client is invited and served as usual.
  const int ok = Connect(server_->port());
  ASSERT_GE(ok, 0);
  ASSERT_TRUE(SendAll(ok, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(ReadUntilClosed(ok, 3000).status, 200);
  close(ok);
  ExpectServerUnharmed();
}

// Range headers are ignored: an answer is whole, an error keeps its problem body, and a list of
// thousands of ranges builds nothing.
TEST_F(HostileBodyTest, RangeHeadersAreIgnored) {
  StartServer();
  httplib::Client c("127.0.0.1", server_->port());
  auto whole = c.Get("/healthz", {{"Range", "bytes=0-3"}});
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->get_header_value("Content-Range"), "");
  EXPECT_EQ(whole->body.front(), '{');
  EXPECT_EQ(whole->body.back(), '}');
  auto missing = c.Get("/nope", {{"Range", "bytes=0-3"}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("urn:mandated:problem:not-found"), std::string::npos)
      << missing->body;
  std::string many = "bytes=0-";
  for (int i = 0; i < 2000; ++i) many += ",0-";
  auto flood = c.Get("/metrics", {{"Range", many}});
  ASSERT_TRUE(flood);
  EXPECT_EQ(flood->status, 200);
  EXPECT_EQ(flood->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  ExpectServerUnharmed();
}

// httplib decodes a path before routing: an encoded "/" would split a segment and reach another
// route, an encoded NUL end up inside an id. Both are refused (400); in the query they are data.
TEST_F(HostileBodyTest, APathEncodingSlashOrNulIsRefused) {
  StartServer();
  for (const std::string path :
       {"/v1/principals/prn_x%2Fagents", "/v1/principals/prn_x%2fagents", "/healthz%00",
        "/v1/principals%2F", "/v1/principals/prn_x%u002Fagents", "/healthz%U0000"}) {
    const int fd = Connect(server_->port());
    ASSERT_TRUE(SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    const auto answer = ReadUntilClosed(fd, 3000);
    close(fd);
    EXPECT_EQ(answer.status, 400) << path;
    EXPECT_NE(answer.body.find("urn:mandated:problem:malformed-request"), std::string::npos)
        << answer.body;
    EXPECT_NE(answer.body.find("the path may not encode"), std::string::npos) << answer.body;
  }
  // A body announced with such a path is never read as the next request: the connection closes.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  ExpectOneRefusalAndTheConnectionClosed(
      server_->port(), "POST /v1/principals%2Fx HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  // Other escapes in the path, and these in the query, are served as before.
  httplib::Client c("127.0.0.1", server_->port());
  auto query = c.Get("/healthz?x=%2F%00");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
  auto other = c.Get("/health%7A");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  ExpectServerUnharmed();
}

// A stop lets requests already accepted finish (specs/config.md §Signals): with the one worker
// held by a slow request, a whole request queued behind it is still answered, with
// Connection: close, though the stop came before a worker took it.
TEST_F(HostileBodyTest, ARequestQueuedBeforeAStopIsAnswered) {
  StartServer({"--workers", "1", "--request-timeout-ms", "2000"});
  const int slow = Connect(server_->port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "GET /healthz HTTP/1.1\r\nHost: t\r\n"));  // never finished
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int queued = Connect(server_->port());
  ASSERT_GE(queued, 0);
  ASSERT_TRUE(SendAll(queued, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_->Stop(), 0) << server_->Stderr();
  const RawAnswer a = ReadUntilClosed(queued, 3000);
  close(queued);
  close(slow);
  EXPECT_EQ(a.status, 200) << a.head;
  EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
}

// A request httplib refuses before routing (a request line over its 8 KiB limit) gets its own
// request id, in its header and its problem body, never the one of the request served before
// it on the same worker, and its log line does not carry that request's route.
TEST_F(HostileBodyTest, ARequestRefusedBeforeRoutingGetsItsOwnRequestId) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /" +
                              std::string(9000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  ASSERT_EQ(a.status, 200) << a.head;
  auto header_id = [](const std::string& text) {
    const size_t at = text.find("X-Request-Id: ");
    return at == std::string::npos ? std::string()
                                   : text.substr(at + 14, text.find("\r\n", at) - at - 14);
  };
  const std::string first = header_id(a.head);
  ASSERT_FALSE(first.empty()) << a.head;
  const size_t second_at = a.body.find("HTTP/1.1 ");
  ASSERT_NE(second_at, std::string::npos) << a.body;
  const std::string second = a.body.substr(second_at);
  EXPECT_EQ(std::atoi(second.c_str() + 9), 414) << second;
  const std::string second_id = header_id(second);
  EXPECT_FALSE(second_id.empty()) << second;
  EXPECT_NE(second_id, first);
  EXPECT_NE(second.find("\"request_id\":\"" + second_id + "\""), std::string::npos) << second;
  EXPECT_EQ(second.find(first), std::string::npos) << second;
}

// The keep-alive timeout is the idle time between requests, not the time a new connection has to
// start its first one: at 0 every connection serves its one request and closes.
TEST_F(HostileBodyTest, KeepAliveZeroServesOneRequestPerConnection) {
  StartServer({"--keepalive-timeout-s", "0"});
  for (int i = 0; i < 3; ++i) {
    const int fd = Connect(server_->port());
    ASSERT_GE(fd, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a client slow to start
    // Pipelined: only the first is served, and its answer says the connection closes.
    ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                            "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
    const RawAnswer a = ReadUntilClosed(fd, 3000);
    close(fd);
    EXPECT_EQ(a.status, 200) << a.head;
    EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
    EXPECT_EQ(a.body.find("HTTP/1.1"), std::string::npos) << "a second answer: " << a.body;
    EXPECT_TRUE(a.closed);
  }
}

// The per-request limits do not hurt well-formed clients: two pipelined requests in one write
// are both answered on the kept-alive connection.
TEST_F(HostileBodyTest, PipelinedRequestsAreBothServed) {
  StartServer();
  const int fd = Connect(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                          "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("HTTP/1.1 200"), std::string::npos) << a.body;  // the second answer
  EXPECT_TRUE(a.closed);
}

// A byte every 500 ms never trips the 5 s per-read timeout; the request deadline (here 2 s from
// the first byte) closes the connection anyway.
void ExpectTrickleCutOff(int port, const std::string& head, int max_bytes) {
  const int fd = Connect(port);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, head));
  int trickled = 0;
  while (trickled < max_bytes && SendAll(fd, "a", 1000)) {
    ++trickled;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) == 1) break;  // the server answered or closed
  }
  const RawAnswer a = ReadUntilClosed(fd, 3000);
  close(fd);
  // The server, not the client, ended it: the connection closed while the trickle still had
  // bytes to send (100 bytes at one per 500 ms outlast the 2 s deadline many times over).
  EXPECT_TRUE(a.closed);
  EXPECT_LT(trickled, max_bytes) << "the server kept reading all " << max_bytes << " bytes";
}

TEST_F(HostileBodyTest, SlowBodyAndSlowHeadersAreCutOffAtTheRequestDeadline) {
  StartServer({"--request-timeout-ms", "2000"});
  ExpectTrickleCutOff(server_->port(),
                      "POST /v1/principals HTTP/1.1\r\nHost: t\r\nContent-Type: "
                      "application/json\r\nContent-Length: 100\r\n\r\n",
                      100);
  ExpectTrickleCutOff(server_->port(), "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ", 100);
  ExpectServerUnharmed();
}

// ---- Slow headers with 1,000 connections (must-show 2) ----

// The path of `tool` (PATH, then the sbin directories a non-root PATH may lack), or "".
std::string FindTool(const std::string& tool) {
  std::string path = getenv("PATH") != nullptr ? getenv("PATH") : "";
  path += ":/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + tool;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// CI must run the attack: there a missing tool fails the test; elsewhere it skips it.
bool InCi() {
  for (const char* v : {"CI", "MANDATED_CI"}) {
    const char* s = getenv(v);
    if (s != nullptr && *s != '\0' && std::string(s) != "0") return true;
  }
  return false;
}

// Starts `argv` with its output in `out`; the child's pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void Terminate(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Established TCP connections to 127.0.0.1:`port`, counted on the listening side in
// /proc/net/tcp: from 127.0.0.1 only when `from_loopback_1` (the attacker; the probes come from
// 127.0.0.2), else from anywhere.
int Established(int port, bool from_loopback_1) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  char local[16];
  snprintf(local, sizeof(local), "0100007F:%04X", port);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string slot, l, r, st;
    f >> slot >> l >> r >> st;
    if (l == local && st == "01" && (!from_loopback_1 || r.rfind("0100007F:", 0) == 0)) ++n;
  }
  return n;
}

// One legitimate request: a new connection from 127.0.0.2, GET /healthz; the answer's status
// (0 when none came). The 60 s deadline (past nginx's 30 s proxy_read_timeout, so a stuck
// service shows as nginx's 504) only keeps a hung connection from hanging the test: how fast
// the answer comes is measured nowhere here.
int Probe(int port) {
  const auto until = Clock::now() + std::chrono::seconds(60);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0 ||
      (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0 &&
       errno != EINPROGRESS)) {
    if (fd >= 0) close(fd);
    return 0;
  }
  auto left = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count()));
  };
  pollfd p{fd, POLLOUT, 0};
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  bool ok = poll(&p, 1, left()) == 1 && SendAll(fd, req, left());
  std::string answer;
  char buf[4096];
  while (ok) {
    pollfd r{fd, POLLIN, 0};
    if (left() == 0 || poll(&r, 1, left()) != 1) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (!ok || answer.find("\r\n\r\n") == std::string::npos ||
      answer.rfind("HTTP/1.1 ", 0) != 0) {
    return 0;
  }
  return std::atoi(answer.c_str() + 9);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr int kProbes = 400;

struct AttackResult {
  int probes = 0;                    // sent (probing stops at the first not answered 200)
  int answered_200 = 0;
  std::string first_failure;         // the probe not answered 200 and what it got, if any
  int probes_under_full_attack = 0;  // sent while at least 950 attack connections were open
  int max_attack_connections = 0;    // at the attacked port, from 127.0.0.1
  int max_service_connections = 0;   // at the service's port, from anywhere (nginx)
  std::string slowhttptest_output;
};

// Keeps 1,000 slow-header connections open to 127.0.0.1:`port` and, once they are, sends
// kProbes legitimate requests, one every 50 ms (20 s), each after the one before was answered;
// counts the connections open to the attacked port and to the service's (`service_port`) before
// each. slowhttptest opens its connections once and does not replace those the server drops
// (nginx drops each 10 s after its first byte), so a new wave of 1,000 starts every 4 s of wall
// clock, the way a real attacker reconnects. The waves follow the clock, not the probe count:
// on a loaded machine the probes fall behind their 50 ms schedule, and waves tied to them came
// too late to keep 950 connections open.
AttackResult SlowHeaderAttack(const std::string& slowhttptest, int port, int service_port,
                              const std::string& dir) {
  AttackResult res;
  std::vector<pid_t> waves;
  auto wave = [&] {
    const std::string out = dir + "/slowhttptest." + std::to_string(waves.size()) + ".out";
    waves.push_back(Spawn({slowhttptest, "-H", "-c", "1000", "-r", "1000", "-i", "10", "-x", "24",
                           "-p", "3", "-l", "14", "-t", "GET", "-u",
                           "http://127.0.0.1:" + std::to_string(port) + "/healthz"},
                          out));
  };
  wave();
  // The first wave's connections open within about a second of its launch and nginx drops
  // each 10 s after it opened: the second wave goes 6 s after the first, the next ones 4 s
  // after the one before, so the next is open before the last is dropped.
  auto next_wave = Clock::now() + std::chrono::seconds(6);
  const auto ramp_until = Clock::now() + std::chrono::seconds(15);
  while (Clock::now() < ramp_until && Established(port, true) < 950) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto start = Clock::now();
  for (int i = 0; i < kProbes; ++i) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(50 * i));
    if (Clock::now() >= next_wave) {
      wave();
      next_wave = Clock::now() + std::chrono::seconds(4);  // never two at once after a stall
    }
    const int attack = Established(port, true);
    res.max_attack_connections = std::max(res.max_attack_connections, attack);
    res.max_service_connections =
        std::max(res.max_service_connections, Established(service_port, false));
    if (attack >= 950) ++res.probes_under_full_attack;
    ++res.probes;
    const int status = Probe(port);
    if (status != 200) {
      res.first_failure = "probe " + std::to_string(i) + " answered " +
                          (status == 0 ? std::string("nothing") : std::to_string(status)) +
                          " with " + std::to_string(attack) + " attack connections open";
      break;
    }
    ++res.answered_200;
  }
  for (size_t w = 0; w < waves.size(); ++w) {
    Terminate(waves[w]);
    res.slowhttptest_output += ReadFile(dir + "/slowhttptest." + std::to_string(w) + ".out");
  }
  return res;
}

// 1,000 slow connections plus the probes and nginx's side need more descriptors than a
// default soft limit of 1024.
void RaiseDescriptorLimit() {
  rlimit l{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &l), 0);
  if (l.rlim_cur < 8192) {
    l.rlim_cur = std::min<rlim_t>(8192, l.rlim_max);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &l), 0);
  }
  ASSERT_GE(l.rlim_cur, 4096u) << "the hard descriptor limit is too low for 1,000 connections";
}

// nginx with deploy/nginx/mandated.conf verbatim except its two addresses, in a main
// configuration with the settings docs/reverse-proxy.md gives for /etc/nginx/nginx.conf.
bool WriteNginxConf(const std::string& dir, int listen_port, int upstream_port) {
  std::string site = ReadFile(MANDATED_NGINX_CONF);
  auto replace = [&site](const std::string& from, const std::string& to) {
    const size_t at = site.find(from);
    if (at == std::string::npos) return false;
    site.replace(at, from.size(), to);
    return true;
  };
  if (!replace("listen 80 ", "listen 127.0.0.1:" + std::to_string(listen_port) + " ") ||
      !replace("server 127.0.0.1:8420;", "server 127.0.0.1:" + std::to_string(upstream_port) + ";")) {
    return false;
  }
  std::ofstream conf(dir + "/nginx.conf");
  conf << "worker_processes 2;\nworker_rlimit_nofile 8192;\npid " << dir << "/nginx.pid;\n"
       << "error_log " << dir << "/error.log warn;\ndaemon off;\n"
       << "events { worker_connections 4096; }\nhttp {\n  access_log off;\n";
  for (const char* t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    conf << "  " << t << "_temp_path " << dir << "/" << t << ";\n";
  }
  conf << site << "\n}\n";
  return conf.good();
}

bool WaitForPort(int port) {
  for (int i = 0; i < 100; ++i) {
    const int fd = Connect(port);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The service's worker threads (--workers): a thread per connection, so 1,000 slow connections
// straight at it would hold every one.
constexpr int kWorkers = 64;

TEST(SlowHeadersTest, ThroughNginxEveryRequestIsAnsweredAndNoSlowConnectionReachesTheService) {
  const std::string nginx = FindTool("nginx");
  const std::string slowhttptest = FindTool("slowhttptest");
  if (nginx.empty() || slowhttptest.empty()) {
    const std::string missing =
        "needs nginx and slowhttptest (Debian: apt-get install -y nginx slowhttptest)";
    if (InCi()) FAIL() << missing;
    GTEST_SKIP() << missing;
  }
  RaiseDescriptorLimit();
  TempDir dir;
  ServerProcess server(dir.Sub("data"), {},
                       {"--trusted-proxies", "127.0.0.1/32", "--workers",
                        std::to_string(kWorkers)});
  ASSERT_TRUE(server.Start()) << server.Stderr();
  const int front = FreePort();
  ASSERT_TRUE(WriteNginxConf(dir.path(), front, server.port()))
      << "deploy/nginx/mandated.conf no longer has \"listen 80 \" and \"server 127.0.0.1:8420;\"";
  const pid_t proxy = Spawn({nginx, "-p", dir.path(), "-c", dir.path() + "/nginx.conf", "-e",
                             dir.path() + "/error.log"},
                            dir.Sub("nginx.out"));
  ASSERT_TRUE(WaitForPort(front)) << ReadFile(dir.Sub("nginx.out")) << ReadFile(dir.Sub("error.log"));

  // The proxy names the client and the service believes it (and nothing the client forged).
  int fd = Connect(front, "127.0.0.2");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.7\r\n\r\n"));
  EXPECT_EQ(ReadUntilClosed(fd, 3000).status, 200);
  close(fd);
  const std::string logged = R"("remote":"127.0.0.2","peer":"127.0.0.1")";
  for (int i = 0; i < 40 && server.Stderr().find(logged) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the log line follows the answer
  }
  EXPECT_NE(server.Stderr().find(logged), std::string::npos) << server.Stderr();
  EXPECT_EQ(server.Stderr().find("6.6.6."), std::string::npos);

  const AttackResult r = SlowHeaderAttack(slowhttptest, front, server.port(), dir.path());
  Terminate(proxy);
  std::printf("slow headers through nginx: %d of %d legitimate requests answered 200; attack "
              "connections held: max %d, >= 950 during %d probes; connections at the service: "
              "max %d\n",
              r.answered_200, r.probes, r.max_attack_connections, r.probes_under_full_attack,
              r.max_service_connections);
  // The attack was real: 1,000 slow connections were open at nginx, at least 950 of them when
  // 90% of the probes went.
  EXPECT_GE(r.max_attack_connections, 1000) << r.slowhttptest_output;
  EXPECT_GE(r.probes_under_full_attack, kProbes * 9 / 10) << r.slowhttptest_output;
  // Every legitimate request got its answer: 200 from the service, through nginx.
  EXPECT_EQ(r.answered_200, kProbes) << r.first_failure;
  // nginx kept the slow connections: the service never saw as many connections as it has
  // workers (what the attack straight at the service occupies), only nginx's few upstream ones.
  EXPECT_GT(r.max_service_connections, 0);  // nginx's own: the count sees the service's port
  EXPECT_LT(r.max_service_connections, kWorkers);
  // And it is healthy afterwards, and shuts down cleanly.
  EXPECT_TRUE(Healthy(server.port()));
  EXPECT_EQ(server.Stop(), 0) << server.Stderr();
}

}  // namespace
}  // namespace mandated
