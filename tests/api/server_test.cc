// Black-box tests of the mandated server over loopback HTTP: problem+json errors, strict JSON at
// the edge with nothing stored, body limits, routing, auth, metrics, logs, shutdown and SIGKILL
// durability (issue: foundation, must-show 1-4).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "base/json.h"
#include "identity/principals.h"
#include "store/rocks_store.h"
#include "tests/support/http_json.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::ResponseJson;
using testing::ServerProcess;
using testing::TempDir;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_read_timeout(30, 0);
    auth_ = {{"Authorization", "Bearer " + server_->bootstrap_token()}};
  }

  httplib::Result PostJson(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), auth_, body, "application/json");
  }

  static void ExpectProblem(const httplib::Result& r, int status, const std::string& slug) {
    ASSERT_TRUE(r) << "no response";
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/problem+json");
    json::Value b = ResponseJson(r);
    ASSERT_TRUE(b.is_object()) << r->body;
    EXPECT_EQ(b.Find("type")->as_string(), "urn:mandated:problem:" + slug) << r->body;
    EXPECT_EQ(b.Find("status")->number_text(), std::to_string(status));
    EXPECT_FALSE(b.Find("detail")->as_string().empty());
    EXPECT_EQ(b.Find("request_id")->as_string(), r->get_header_value("X-Request-Id"));
  }

  size_t PrincipalCount() {
    auto r = client_->Get("/v1/principals", auth_);
    EXPECT_EQ(r->status, 200);
    return ResponseJson(r).Find("items")->items().size();
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers auth_;
};

TEST_F(ServerTest, HealthzAnswersWithRequestIdAndOneLogLine) {
  auto r = client_->Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"status\":\"ok\"}");
  const std::string id = r->get_header_value("X-Request-Id");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(client_->Get("/readyz")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string log = server_->Stderr();
  const std::regex line("\\{[^\\n]*\"request_id\":\"" + id +
                        "\"[^\\n]*\"route\":\"/healthz\",\"status\":200[^\\n]*\\}\\n");
  EXPECT_TRUE(std::regex_search(log, line)) << log;
}

// Must-show 2: each strictness violation is a 400 with its own problem type, and nothing is
// stored (checked through the API and then in the RocksDB files themselves).
TEST_F(ServerTest, StrictJsonRefusalsStoreNothing) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const struct {
    std::string body;
    std::string slug;
  } cases[] = {
      {R"({"name":"Acme","name":"Evil"})", "duplicate-key"},
      {R"({"name":"Acme","ceilings":)" + deep + "}", "json-too-deep"},
      {"{\"name\":\"Ac\xff\xfe me\"}", "invalid-utf8"},
      {R"({"name":"Acme","ceilings":[{"asset":"USD","window":"day","max":100000}]})",
       "amount-not-string"},
      {R"({"name":"Acme","ceilings":[{"asset":"USD","window":"day","max":"340282366920938463463374607431768211456"}]})",
       "amount-out-of-range"},
      {R"({"name":"Acme","ceilings":[{"asset":"USD","window":"day","max":"1.5"}]})", "bad-amount"},
      {R"({"name":"Acme","extra":1})", "unknown-field"},
      {R"({"name":"Acme"} trailing)", "malformed-json"},
      {R"({"name":"Acme","ceilings":[{"asset":"usd","window":"day","max":"1"}]})", "bad-asset"},
      // Control characters in a name, C1 as well as C0 (U+0085 breaks a line, U+009B starts a
      // terminal escape in whatever prints it), escaped or raw.
      {R"({"name":"Ac\u0007me"})", "bad-name"},
      {R"({"name":"Ac\u0085me"})", "bad-name"},
      {"{\"name\":\"\xc2\x9b" "31mAcme\"}", "bad-name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.slug);
    ExpectProblem(PostJson("/v1/principals", c.body), 400, c.slug);
  }
  ExpectProblem(client_->Post("/v1/principals", auth_, R"({"name":"Acme"})", "text/plain"), 415,
                "unsupported-media-type");
  EXPECT_EQ(PrincipalCount(), 0u);
  ASSERT_EQ(server_->Stop(), 0);

  store::RocksStoreOptions o;
  o.path = dir_.Sub("data") + "/db";
  auto kv = std::move(*store::OpenRocksStore(o));
  int keys = 0;
  ASSERT_TRUE(kv->ScanPrefix(identity::kPrincipalsFamily, "", [&](std::string_view, std::string_view) {
                  ++keys;
                  return true;
                }).ok());
  EXPECT_EQ(keys, 0);
}

TEST_F(ServerTest, ValidPrincipalIsStoredAndReadBack) {
  auto r = PostJson("/v1/principals",
                    R"({"name":"Acme","ceilings":[{"asset":"USD","window":"month","max":"5000000"}]})");
  ASSERT_EQ(r->status, 201) << r->body;
  json::Value p = ResponseJson(r);
  const std::string id = p.Find("id")->as_string();
  EXPECT_EQ(r->get_header_value("Location"), "/v1/principals/" + id);
  auto g = client_->Get(("/v1/principals/" + id).c_str(), auth_);
  ASSERT_EQ(g->status, 200);
  EXPECT_EQ(g->body, r->body);
  ExpectProblem(PostJson("/v1/principals", R"({"name":"ACME"})"), 409, "principal-name-taken");
  ExpectProblem(client_->Get("/v1/principals/prn_nope", auth_), 404, "principal-not-found");
}

// Must-show 3: a 1 MiB body is refused with 413 without being buffered.
TEST_F(ServerTest, OversizeBodyIs413WithoutBeingBuffered) {
  // Warm up the worker threads and allocator first, so the baseline is steady.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(client_->Get("/healthz")->status, 200);
  }
  const long before = server_->PeakRssKb();
  ASSERT_GT(before, 0);
  const std::string mib(1 << 20, 'x');
  for (int i = 0; i < 5; ++i) {
    ExpectProblem(PostJson("/v1/principals", mib), 413, "body-too-large");
  }
  const long after = server_->PeakRssKb();
  EXPECT_LT(after - before, 5 * 1024) << "peak RSS grew from " << before << " KiB to " << after;
  // The connection stays usable and the server healthy.
  EXPECT_EQ(client_->Get("/healthz")->status, 200);
  EXPECT_EQ(PrincipalCount(), 0u);
}

TEST_F(ServerTest, UnknownRouteIs404AndWrongMethodIs405) {
  ExpectProblem(client_->Get("/v1/nothing-here"), 404, "not-found");
  auto r = client_->Delete("/healthz");
  ExpectProblem(r, 405, "method-not-allowed");
  EXPECT_EQ(r->get_header_value("Allow"), "GET");
  auto p = client_->Put("/v1/principals", auth_, "{}", "application/json");
  ExpectProblem(p, 405, "method-not-allowed");
  EXPECT_EQ(p->get_header_value("Allow"), "POST, GET");
  ExpectProblem(client_->Post("/healthz"), 405, "method-not-allowed");
}

TEST_F(ServerTest, ChunkedBodiesAreRefused) {
  httplib::Headers h = auth_;
  h.emplace("Transfer-Encoding", "chunked");
  auto r = client_->Post("/v1/principals", h, "5\r\n{\"a\":\r\n0\r\n\r\n", "application/json");
  ExpectProblem(r, 411, "length-required");
}

TEST_F(ServerTest, OperatorRoutesNeedTheBearerToken) {
  ExpectProblem(client_->Post("/v1/principals", R"({"name":"A"})", "application/json"), 401,
                "missing-credential");
  httplib::Headers wrong = {{"Authorization", "Bearer test-operator-token-0123456788"}};
  ExpectProblem(client_->Get("/v1/principals", wrong), 401, "bad-credential");
  httplib::Headers basic = {{"Authorization", "Basic dGVzdDp0ZXN0"}};
  ExpectProblem(client_->Get("/v1/principals", basic), 401, "missing-credential");
  // The scheme is case-insensitive and may be followed by several spaces (RFC 9110 §11.1).
  const std::string token = auth_.find("Authorization")->second.substr(7);
  for (const std::string& header : {"bearer " + token, "BEARER  " + token}) {
    EXPECT_EQ(client_->Get("/v1/principals", {{"Authorization", header}})->status, 200) << header;
  }
  ExpectProblem(client_->Get("/v1/principals", {{"Authorization", "Bearertoken"}}), 401,
                "missing-credential");
}

TEST_F(ServerTest, MetricsCountRequestsPerRouteWithLatencyHistograms) {
  for (int i = 0; i < 3; ++i) client_->Get("/healthz");
  client_->Get("/v1/nothing-here");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = client_->Get("/metrics");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_NE(r->body.find("mandated_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3\n"),
            std::string::npos)
      << r->body;
  EXPECT_NE(r->body.find("mandated_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(r->body.find("mandated_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 3\n"),
            std::string::npos);
  EXPECT_NE(r->body.find("mandated_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"+Inf\"} 3\n"),
            std::string::npos);
}

TEST_F(ServerTest, SigtermDrainsAndExitsCleanly) {
  ASSERT_EQ(PostJson("/v1/principals", R"({"name":"Before stop"})")->status, 201);
  EXPECT_EQ(server_->Stop(), 0);
  const std::string log = server_->Stderr();
  EXPECT_NE(log.find("\"msg\":\"stopping\",\"signal\":15"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"stopped\",\"flush\":\"ok\""), std::string::npos) << log;
  ASSERT_TRUE(server_->Start());
  client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
  EXPECT_EQ(PrincipalCount(), 1u);
}

// A burst of connections arriving while the server cannot accept (stopped here with SIGSTOP) is
// queued by the kernel and every one is served once it runs again. httplib's own listen backlog
// of 5 let most of such a burst fail or wait for SYN retransmissions.
// Reads from `fd` until `text` has arrived (or, with no text, until the peer closes), the
// connection fails or `deadline` passes; returns what was read.
std::string ReadUntil(int fd, const std::string& text,
                      std::chrono::steady_clock::time_point deadline) {
  std::string got;
  char buf[4096];
  while (text.empty() || got.find(text) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

std::chrono::steady_clock::time_point SecondsFromNow(int s) {
  return std::chrono::steady_clock::now() + std::chrono::seconds(s);
}

TEST_F(ServerTest, BurstOfConnectionsWhileTheServerIsBusyIsEveryOneServed) {
  constexpr int kConnections = 300;
  ASSERT_EQ(kill(server_->pid(), SIGSTOP), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << strerror(errno);
  }
  // The handshakes complete in the kernel while the process is stopped: the backlog holds them.
  int established = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
        err == 0) {
      ++established;
    }
  }
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  for (int fd : fds) {
    (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ASSERT_EQ(kill(server_->pid(), SIGCONT), 0);
  EXPECT_EQ(established, kConnections);
  int served = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int fd : fds) {
    const std::string answer = ReadUntil(fd, "", deadline);
    if (answer.rfind("HTTP/1.1 200", 0) == 0) ++served;
    close(fd);
  }
  EXPECT_EQ(served, kConnections);
}

// The server gathers each response and sends it once the request is done: an interim
// "100 Continue" must still go out before the server waits for the body it invites, and
// pipelined requests get their answers in order.
TEST_F(ServerTest, InterimContinueIsSentBeforeTheBodyAndPipelinedAnswersKeepTheirOrder) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string body = R"({"name":"Continue Co"})";
  const std::string head = "POST /v1/principals HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                           server_->bootstrap_token() +
                           "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::string got = ReadUntil(fd, "\r\n\r\n", SecondsFromNow(10));
  ASSERT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(send(fd, body.data(), body.size(), MSG_NOSIGNAL), static_cast<ssize_t>(body.size()));
  got = ReadUntil(fd, "Continue Co", SecondsFromNow(10));
  EXPECT_EQ(got.rfind("HTTP/1.1 201", 0), 0u) << got;

  // Two requests in one send: two answers, in order, on the same connection.
  const std::string two = "GET /v1/nothing-here HTTP/1.1\r\nHost: t\r\n\r\n"
                          "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  got = ReadUntil(fd, "{\"status\":\"ok\"}", SecondsFromNow(10));
  const size_t not_found = got.find("HTTP/1.1 404");
  const size_t ok = got.find("HTTP/1.1 200");
  EXPECT_EQ(not_found, 0u) << got;
  EXPECT_NE(ok, std::string::npos) << got;
  EXPECT_LT(not_found, ok);
  close(fd);
  EXPECT_EQ(PrincipalCount(), 1u);
}

// Must-show 4: SIGKILL in the middle of durable writes loses no acknowledged write and leaves no
// torn batch (each principal is a record plus a name-index entry written in one batch).
TEST(ServerCrashTest, SigkillLosesNoAcknowledgedWriteAndTearsNoBatch) {
  TempDir dir;
  // The writers go as fast as they can; the operator's rate limit would otherwise refuse most.
  ServerProcess server(dir.Sub("data"), {}, {"--rate-limits", "operator=1000000/1000000"});
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::set<std::string> acknowledged;
  std::mutex mu;
  int round_count = 5;
  for (int round = 0; round < round_count; ++round) {
    ASSERT_TRUE(server.Start()) << server.Stderr();
    std::atomic<bool> stop{false};
    std::atomic<int> acks{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 8; ++t) {
      writers.emplace_back([&, t] {
        httplib::Client c(server.host(), server.port());
        c.set_connection_timeout(2, 0);
        httplib::Headers auth = {{"Authorization", "Bearer " + server.bootstrap_token()}};
        for (int i = 0; !stop.load(); ++i) {
          const std::string name = "r" + std::to_string(round) + "-t" + std::to_string(t) + "-" +
                                   std::to_string(i);
          auto r = c.Post("/v1/principals", auth, "{\"name\":\"" + name + "\"}", "application/json");
          if (r && r->status == 201) {
            Result<json::Value> v = json::Parse(r->body);
            std::lock_guard<std::mutex> lock(mu);
            acknowledged.insert(v->Find("id")->as_string());
            acks.fetch_add(1);
          } else if (!r) {
            return;  // server gone
          }
        }
      });
    }
    // Kill at a random point after some writes were acknowledged.
    const int kill_after = std::uniform_int_distribution<int>(20, 300)(rng);
    while (acks.load() < kill_after) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    server.Kill();
    stop.store(true);
    for (auto& w : writers) w.join();
  }
  ASSERT_GT(acknowledged.size(), 100u);

  // Every acknowledged write is present after a restart.
  ASSERT_TRUE(server.Start());
  httplib::Client c(server.host(), server.port());
  httplib::Headers auth = {{"Authorization", "Bearer " + server.bootstrap_token()}};
  for (const std::string& id : acknowledged) {
    auto r = c.Get(("/v1/principals/" + id).c_str(), auth);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << "lost acknowledged principal " << id;
  }
  ASSERT_EQ(server.Stop(), 0);

  // No torn batch: every record has its name index and every index entry its record.
  store::RocksStoreOptions o;
  o.path = dir.Sub("data") + "/db";
  auto kv = std::move(*store::OpenRocksStore(o));
  std::map<std::string, std::string> records;  // id -> name
  std::map<std::string, std::string> index;    // lower(name) -> id
  ASSERT_TRUE(kv->ScanPrefix(identity::kPrincipalsFamily, "", [&](std::string_view k, std::string_view v) {
                  if (k.substr(0, 2) == "p/") {
                    Result<json::Value> j = json::Parse(v);
                    EXPECT_TRUE(j.ok());
                    records[std::string(k.substr(2))] = j->Find("name")->as_string();
                  } else if (k.substr(0, 2) == "n/") {
                    index[std::string(k.substr(2))] = std::string(v);
                  }
                  return true;
                }).ok());
  EXPECT_GE(records.size(), acknowledged.size());
  EXPECT_EQ(records.size(), index.size());
  for (const auto& [id, name] : records) {
    auto it = index.find(name);  // names in this test are already lower case
    ASSERT_NE(it, index.end()) << "record " << id << " has no index entry";
    EXPECT_EQ(it->second, id);
  }
}

}  // namespace
}  // namespace mandated
