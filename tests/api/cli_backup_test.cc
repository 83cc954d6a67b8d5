// The real mandatectl binary against the real mandated binary started with MANDATED_BACKUP_DIR:
// the operator lists (none yet), takes and lists backups; an admin may not (specs/storage.md
// §Backups, specs/access.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/mandatectl_run.h"
#include "tests/support/test_support.h"

namespace mandated::cli {
namespace {

using testing::LineValue;

class CliBackupTest : public testing::MandatectlTest {};

TEST_F(CliBackupTest, TheOperatorTakesAndListsBackups) {
  const std::string backups = Path("backups");
  ASSERT_NO_FATAL_FAILURE(StartServerWithPrincipal({}, {{"MANDATED_BACKUP_DIR", backups}}));
  Ran none = Exec({"--server", url_, "--token", op_, "backups", "list"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "no backups\n");

  Ran taken = Exec({"--server", url_, "--token", op_, "backups", "create"});
  ASSERT_EQ(taken.exit_code, 0) << taken.err;
  const std::string line_pattern = "([0-9]{8}T[0-9]{6}Z-[0-9a-f]{8})  [0-9T:-]+Z  [1-9][0-9]* bytes  " +
                                   backups + "/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\n";
  EXPECT_TRUE(testing::Matches(taken.out, line_pattern)) << taken.out;
  const std::string id = taken.out.substr(0, taken.out.find(' '));
  EXPECT_TRUE(std::filesystem::exists(backups + "/" + id + "/db/CURRENT"));
  Ran listed = Exec({"--server", url_, "--token", op_, "backups", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, taken.out);

  Ran admin = As(op_, {"credentials", "create", "--role", "admin", "--name", "ops"});
  ASSERT_EQ(admin.exit_code, 0) << admin.err;
  Ran refused = Exec({"--server", url_, "--token", LineValue(admin.out, "token"), "backups", "create"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("error 403 (urn:mandated:problem:forbidden)"), std::string::npos)
      << refused.err;
}

}  // namespace
}  // namespace mandated::cli
