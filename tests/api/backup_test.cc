// Backups over real HTTP against the service (in-process, real RocksDB on disk): the operator
// takes a copy while the service runs, lists it, and a service started on the copy holds exactly
// what was acknowledged before it, keys and audit log included (specs/storage.md §Backups).
#include <gtest/gtest.h>
#include <httplib.h>

#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "base/json.h"
#include "mandates/credential.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/mandatectl_run.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "backup-test-operator-token-7c1e90d2";

class BackupTest : public ::testing::Test {
 protected:
  void Start(testing::InProcessService& s, const std::string& data_dir,
             const std::string& backup_dir) {
    s.Start(data_dir, kOperatorToken, nullptr, [&](api::ServerConfig& c) {
      c.public_host = "mandated.test";
      c.backup_dir = backup_dir;
    });
  }
  // The exact leaf bytes of audit event `seq`.
  std::string Event(testing::InProcessService& s, int64_t seq) {
    return StringField(testing::Call(s.client(), "GET", "/v1/audit/events/" + std::to_string(seq),
                                     kOperatorToken, "", 200),
                       "event");
  }
  int64_t LogSize(testing::InProcessService& s) {
    const json::Value c =
        testing::Call(s.client(), "GET", "/v1/audit/checkpoint", kOperatorToken, "", 200);
    return c.Find("size")->as_int64().value_or(-1);
  }

  testing::TempDir dir_;
};

TEST_F(BackupTest, ACopyTakenWhileServingRestoresExactlyWhatWasAcknowledgedBeforeIt) {
  const std::string data = dir_.Sub("data");
  const std::string backups = dir_.Sub("backups");
  testing::InProcessService a;
  Start(a, data, backups);
  ASSERT_NE(a.app(), nullptr);
  const testing::PrincipalWithAdmin before =
      testing::CreatePrincipalWithAdmin(a.client(), kOperatorToken, R"({"name":"Before Corp"})");
  const std::string agent = StringField(
      testing::Call(a.client(), "POST", before.base + "/agents", before.admin,
                    R"({"name":"buyer","custodial":{"key_type":"Ed25519"}})", 201),
      "id");
  const int64_t now = std::time(nullptr);
  const json::Value mandate = testing::Call(
      a.client(), "POST", before.base + "/mandates", before.admin,
      R"({"agent":")" + agent + R"(","valid_from":")" + mandates::FormatRfc3339Utc(now - 60) +
          R"(","valid_until":")" + mandates::FormatRfc3339Utc(now + 86400) +
          R"(","terms":{"limits":{"per_transaction":[{"asset":"USD","max":"100"}]}}})",
      201);

  // Only the operator takes or lists backups.
  Reply refused = testing::Send(a.client(), "POST", "/v1/backups", before.admin, "");
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(StringField(refused.json, "type"), "urn:mandated:problem:forbidden");
  EXPECT_EQ(testing::Send(a.client(), "GET", "/v1/backups", before.admin, "").status, 403);

  const json::Value taken = testing::Call(a.client(), "POST", "/v1/backups", kOperatorToken, "", 201);
  const std::string id = StringField(taken, "id");
  const std::string path = StringField(taken, "path");
  EXPECT_TRUE(testing::Matches(id, "[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}")) << id;
  EXPECT_EQ(path, (std::filesystem::path(backups) / id).string());
  EXPECT_TRUE(taken.Find("complete")->as_bool());
  EXPECT_NE(StringField(taken, "sequence"), "0");
  EXPECT_GT(std::stoll(StringField(taken, "bytes")), 0);
  EXPECT_TRUE(std::filesystem::exists(path + "/db/CURRENT"));
  EXPECT_TRUE(std::filesystem::exists(path + "/backup.json"));
  // The data and backup directories the service created are its own alone (0700), whatever
  // the umask: the files inside are readable only through them.
  EXPECT_EQ(std::filesystem::status(data).permissions(), std::filesystem::perms::owner_all);
  EXPECT_EQ(std::filesystem::status(backups).permissions(), std::filesystem::perms::owner_all);

  // The audit log records who took it; everything sequenced before it is in the copy.
  const int64_t size = LogSize(a);
  ASSERT_GT(size, 1);
  std::string recorded;
  for (int64_t seq = size - 1; seq >= 0 && recorded.empty(); --seq) {
    const std::string e = Event(a, seq);
    if (e.find("\"type\":\"backup.created\"") != std::string::npos) recorded = e;
  }
  ASSERT_FALSE(recorded.empty());
  EXPECT_NE(recorded.find("\"subjects\":{\"backup\":\"" + id + "\"}"), std::string::npos)
      << recorded;
  EXPECT_NE(recorded.find("\"actor\":{\"kind\":\"operator\""), std::string::npos) << recorded;
  const std::string first_event = Event(a, 0);

  // After the copy: not in it.
  const testing::PrincipalWithAdmin after =
      testing::CreatePrincipalWithAdmin(a.client(), kOperatorToken, R"({"name":"After Corp"})");
  // A directory without a manifest (a backup that failed), one whose manifest is not ours, and a
  // staging directory no backup is writing (a crash interrupted it) are listed as incomplete.
  const std::filesystem::path root(backups);
  std::filesystem::create_directories(root / "00000000T000000Z-dead");
  std::filesystem::create_directories(root / "00000000T000001Z-odd");
  testing::WriteFile((root / "00000000T000001Z-odd" / "backup.json").string(), "{}");
  std::filesystem::create_directories(root / ".00000000T000002Z-cut.partial");
  const json::Value listed = testing::Call(a.client(), "GET", "/v1/backups", kOperatorToken, "", 200);
  ASSERT_EQ(listed.Find("items")->items().size(), 4u) << json::Write(listed);
  std::vector<std::string> incomplete;
  for (size_t i = 0; i < 3; ++i) {
    const json::Value& it = listed.Find("items")->items()[i];
    EXPECT_FALSE(it.Find("complete")->as_bool()) << json::Write(it);
    incomplete.push_back(StringField(it, "id"));
  }
  EXPECT_EQ(incomplete, (std::vector<std::string>{"00000000T000000Z-dead", "00000000T000001Z-odd",
                                                  "00000000T000002Z-cut"}));
  EXPECT_FALSE(listed.Find("items")->items()[2].Find("in_progress")->as_bool());
  const json::Value& item = listed.Find("items")->items()[3];
  EXPECT_EQ(StringField(item, "id"), id);
  EXPECT_TRUE(item.Find("complete")->as_bool());
  EXPECT_EQ(StringField(item, "sequence"), StringField(taken, "sequence"));
  a.Stop();

  // Restore: the backup copied to a new data directory and a service started on it, with the
  // same key-encryption key (the development one lives beside its data directory), and no
  // backup directory of its own.
  const std::string restored = dir_.Sub("restored");
  std::filesystem::copy(path, restored, std::filesystem::copy_options::recursive);
  std::filesystem::copy_file(data + ".kek", restored + ".kek");
  testing::InProcessService b;
  Start(b, restored, "");
  ASSERT_NE(b.app(), nullptr);
  testing::Call(b.client(), "GET", "/v1/principals/" + before.id, kOperatorToken, "", 200);
  Reply gone = testing::Send(b.client(), "GET", "/v1/principals/" + after.id, kOperatorToken, "");
  EXPECT_EQ(gone.status, 404) << gone.body;
  // The principal's keys came back: its mandate still verifies, and its admin credential works.
  const json::Value verdict = testing::Call(
      b.client(), "POST", "/v1/mandates/verify", before.admin,
      R"({"mandate":")" + StringField(mandate, "token") + "\"}", 200);
  EXPECT_EQ(StringField(verdict, "verdict"), "valid") << json::Write(verdict);
  // The audit log is the same log, and goes on.
  EXPECT_EQ(Event(b, 0), first_event);
  EXPECT_GE(LogSize(b), size - 1);
  // Without a backup directory, backups are off, and say how to turn them on.
  Reply off = testing::Send(b.client(), "POST", "/v1/backups", kOperatorToken, "");
  EXPECT_EQ(off.status, 409) << off.body;
  EXPECT_EQ(StringField(off.json, "type"), "urn:mandated:problem:backups-not-configured");
}

}  // namespace
// A backup_dir the operator made readable by everyone (0755) keeps its mode, but each backup in
// it is the owner's alone: its files are hard links of the live store's, which RocksDB makes
// 0644, and a data directory restored from it with `cp -a` keeps that mode.
TEST_F(BackupTest, EachBackupIsPrivateInAnOpenBackupDirectory) {
  const std::string backups = dir_.Sub("open-backups");
  std::filesystem::create_directories(backups);
  std::filesystem::permissions(backups, std::filesystem::perms(0755),
                               std::filesystem::perm_options::replace);
  testing::InProcessService a;
  Start(a, dir_.Sub("data"), backups);
  ASSERT_NE(a.app(), nullptr);
  const json::Value taken = testing::Call(a.client(), "POST", "/v1/backups", kOperatorToken, "", 201);
  const std::string path = StringField(taken, "path");
  ASSERT_TRUE(std::filesystem::exists(path + "/db/CURRENT"));
  EXPECT_EQ(std::filesystem::status(path).permissions(), std::filesystem::perms::owner_all);
  EXPECT_EQ(std::filesystem::status(backups).permissions(), std::filesystem::perms(0755));
}

}  // namespace mandated
