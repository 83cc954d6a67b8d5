// The whole-log audit export streamed (specs/audit.md §4, §5): the operator's export is sent
// chunked as the events are read, so it has no bound but the log; a trail export is still made
// whole; an export cut short by a storage error mid-stream is never taken for a whole one,
// neither by an HTTP client nor by `mandatectl audit export`, which leaves no file behind.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "audit/bundle.h"
#include "audit/event.h"
#include "base/json.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/in_process_service.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

constexpr char kOperatorToken[] = "op-token-audit-export-stream-0123456789";

// Fails, while armed, the scan of the audit events that a whole-log export streams, after
// `pass` events went through: a storage error in the middle of the stream. With `slow_after`
// set, each event after that many takes 2 ms to read instead: a long export. Owns the store.
class ExportScanFailingStore : public testing::OwningForwardingStore {
 public:
  using OwningForwardingStore::OwningForwardingStore;
  Status ScanRange(std::string_view cf, std::string_view start, std::string_view end,
                   const store::ScanVisitor& visit) override {
    if (cf == audit::kAuditFamily && start.rfind("e/", 0) == 0 && slow_after.load() > 0) {
      int seen = 0;
      return ForwardingStore::ScanRange(cf, start, end,
                                        [&](std::string_view k, std::string_view v) {
                                          if (seen++ >= slow_after.load()) {
                                            std::this_thread::sleep_for(std::chrono::milliseconds(2));
                                          }
                                          return visit(k, v);
                                        });
    }
    if (!armed.load() || cf != audit::kAuditFamily || start.rfind("e/", 0) != 0) {
      return ForwardingStore::ScanRange(cf, start, end, visit);
    }
    int seen = 0;
    bool stopped = false;
    Status s = ForwardingStore::ScanRange(cf, start, end,
                                          [&](std::string_view k, std::string_view v) {
                                            if (seen++ == pass) {
                                              stopped = true;
                                              return false;
                                            }
                                            return visit(k, v);
                                          });
    if (stopped) return UnavailableError("injected: the scan failed", "storage-io");
    return s;
  }
  std::atomic<bool> armed{false};
  int pass = 0;
  std::atomic<int> slow_after{0};
};

class AuditExportStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kOperatorToken, nullptr, nullptr,
                   [this](std::unique_ptr<store::KvStore> s) -> std::unique_ptr<store::KvStore> {
                     auto f = std::make_unique<ExportScanFailingStore>(std::move(s));
                     store_ = f.get();
                     return f;
                   });
    ASSERT_NE(service_.app(), nullptr);
    op_ = {{"Authorization", std::string("Bearer ") + kOperatorToken}};
  }

  // `n` principals: a principal.created event each, about 300 bytes.
  std::string CreatePrincipals(int n) {
    std::string last;
    for (int i = 0; i < n; ++i) {
      auto r = service_.client().Post("/v1/principals", op_,
                                      R"({"name":"Principal )" + std::to_string(i) + R"("})",
                                      "application/json");
      EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
      if (r) last = testing::StringField(*json::Parse(r->body), "id");
    }
    return last;
  }

  std::string VerifierKey() {
    auto r = service_.client().Get("/v1/audit/key", op_);
    EXPECT_TRUE(r && r->status == 200);
    return r ? testing::StringField(*json::Parse(r->body), "verifier_key") : "";
  }

  testing::TempDir dir_;
  testing::InProcessService service_;
  ExportScanFailingStore* store_ = nullptr;
  httplib::Headers op_;
};

TEST_F(AuditExportStreamTest, TheWholeLogIsStreamedChunkedAndATrailIsSentWhole) {
  const std::string principal = CreatePrincipals(600);
  auto whole = service_.client().Get("/v1/audit/export", op_);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  EXPECT_EQ(whole->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(whole->has_header("Content-Length"));
  EXPECT_EQ(whole->get_header_value("Content-Type"), "application/x-ndjson");
  EXPECT_GT(whole->body.size(), 2u * 64 * 1024);  // several of the stream's 64 KiB pieces
  audit::BundleVerifyOptions o;
  o.verifier_key = VerifierKey();
  const audit::BundleReport r = audit::VerifyBundle(whole->body, o);
  EXPECT_TRUE(r.ok()) << r.findings[0].code << " " << r.findings[0].detail;
  EXPECT_TRUE(r.complete_prefix);
  EXPECT_EQ(r.events, r.size);
  EXPECT_GE(r.events, 600u);

  auto trail = service_.client().Get("/v1/audit/export?principal=" + principal, op_);
  ASSERT_TRUE(trail);
  ASSERT_EQ(trail->status, 200) << trail->body;
  EXPECT_FALSE(trail->has_header("Transfer-Encoding"));
  EXPECT_EQ(trail->get_header_value("Content-Length"), std::to_string(trail->body.size()));
  const audit::BundleReport t = audit::VerifyBundle(trail->body, o);
  EXPECT_TRUE(t.ok()) << t.findings[0].code << " " << t.findings[0].detail;
  EXPECT_FALSE(t.complete_prefix);
  EXPECT_EQ(t.events, 1u);  // the principal's creation
}

TEST_F(AuditExportStreamTest, AnExportCutShortIsAnErrorAndLeavesNoFile) {
  CreatePrincipals(400);
  store_->pass = 300;  // past the first 64 KiB piece: the head and events are on the wire
  store_->armed = true;

  // An HTTP client sees no complete answer: the last chunk never comes.
  auto cut = service_.client().Get("/v1/audit/export", op_);
  EXPECT_FALSE(cut) << cut->status << " " << cut->body.size() << " bytes taken as whole";

  // mandatectl says so, exits 3 (no complete answer), and leaves neither the file nor its
  // temporary beside it.
  const std::string out = dir_.Sub("export.ndjson");
  testing::CliRun ran = testing::RunMandatectl(
      {"--server", service_.url(), "--token", kOperatorToken, "audit", "export", "-o", out},
      dir_.Sub("cli"));
  EXPECT_EQ(ran.exit_code, 3) << ran.out << ran.err;
  EXPECT_NE(ran.err.find("closed the connection after"), std::string::npos) << ran.err;
  EXPECT_NE(ran.err.find("before its end"), std::string::npos) << ran.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_EQ(entry.path().filename().string().find("export.ndjson"), std::string::npos)
        << entry.path();
  }

  // To standard output the bytes go as they come; the exit status says they are not all.
  testing::CliRun to_stdout = testing::RunMandatectl(
      {"--server", service_.url(), "--token", kOperatorToken, "audit", "export", "-o", "-"},
      dir_.Sub("cli"));
  EXPECT_EQ(to_stdout.exit_code, 3) << to_stdout.err;
  EXPECT_GT(to_stdout.out.size(), 64u * 1024);

  // Once storage answers again, the same command saves the whole log, and it verifies.
  store_->armed = false;
  ran = testing::RunMandatectl(
      {"--server", service_.url(), "--token", kOperatorToken, "audit", "export", "-o", out},
      dir_.Sub("cli"));
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  audit::BundleVerifyOptions o;
  o.verifier_key = VerifierKey();
  const audit::BundleReport r = audit::VerifyBundle(testing::ReadFileOrDie(out), o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(ran.out, "wrote " + out + ": " + std::to_string(r.events) +
                         " events, checkpoint size " + std::to_string(r.size) + "\n");
}

// Stopping the service (SIGTERM's path) while an export streams ends the stream at its next
// piece instead of waiting for the export: the client sees it cut short, and the service stops.
TEST_F(AuditExportStreamTest, AStopEndsAStreamingExportInsteadOfWaitingForIt) {
  CreatePrincipals(600);  // three 64 KiB pieces and more
  store_->slow_after = 250;  // the first piece comes at once, then 2 ms an event
  std::atomic<bool> started{false};
  std::atomic<bool> answered{false};
  size_t received = 0;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", service_.port());
    c.set_read_timeout(30, 0);
    auto r = c.Get("/v1/audit/export", op_, [&](const char*, size_t n) {
      received += n;
      started = true;
      return true;
    });
    answered = static_cast<bool>(r);
  });
  for (int i = 0; i < 1000 && !started.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(started.load());
  service_.Stop();
  reader.join();
  EXPECT_FALSE(answered.load()) << received << " bytes taken as a whole export";
  EXPECT_GT(received, 64u * 1024);
}

// ?consistency_from= (specs/audit.md §4): the sizes whose consistency proofs the bundle carries.
TEST_F(AuditExportStreamTest, ConsistencyFromNamesEarlierSizesAndIsChecked) {
  const std::string principal = CreatePrincipals(3);
  auto get = [&](const std::string& from) {
    return service_.client().Get(
        "/v1/audit/export?principal=" + principal + "&consistency_from=" + from, op_);
  };
  auto ok = get("1,2,2");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const json::Value header = *json::Parse(ok->body.substr(0, ok->body.find('\n')));
  const json::Value* c = header.Find("consistency");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->keys(), (std::vector<std::string>{"1", "2"}));
  for (const char* bad : {"x", "1,", ",1", "01", "1;2", "-1"}) {
    auto r = get(bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("audit-query-invalid"), std::string::npos) << bad << r->body;
  }
  auto too_many = get("1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1");
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 400);
  EXPECT_NE(too_many->body.find("audit-proof-range"), std::string::npos) << too_many->body;
  for (const char* out_of_range : {"0", "999999"}) {
    auto r = get(out_of_range);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << out_of_range;
    EXPECT_NE(r->body.find("audit-proof-range"), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace mandated
