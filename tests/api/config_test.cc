// Configuration layering: defaults < file < environment < flags, with precise errors.
#include "api/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/support/test_support.h"

namespace mandated::api {
namespace {

GetEnv EnvOf(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(ServerConfig, DefaultsRunWithNoConfiguration) {
  Result<ParsedCommandLine> p = LoadServerConfig({}, EnvOf({}));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->config.data_dir, "./mandated-data");
  EXPECT_EQ(p->config.listen_host, "127.0.0.1");
  EXPECT_EQ(p->config.listen_port, 8420);
  EXPECT_EQ(p->config.max_body_bytes, 65536u);
  EXPECT_EQ(p->config.backup_dir, "");  // backups off until a directory is named
  Result<ParsedCommandLine> b =
      LoadServerConfig({"--backup-dir", "/srv/backups"}, EnvOf({{"MANDATED_BACKUP_DIR", "/env"}}));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->config.backup_dir, "/srv/backups");
  EXPECT_EQ(LoadServerConfig({}, EnvOf({{"MANDATED_BACKUP_DIR", "/env"}}))->config.backup_dir,
            "/env");
  EXPECT_FALSE(LoadServerConfig({"--backup-dir="}, EnvOf({})).ok());
}

TEST(ServerConfig, FlagsBeatEnvironmentWhichBeatsTheFile) {
  mandated::testing::TempDir dir;
  const std::string file = dir.Sub("mandated.json");
  std::ofstream(file) << R"({"data_dir":"/from/file","workers":7,"listen":"0.0.0.0:9000"})";
  Result<ParsedCommandLine> p =
      LoadServerConfig({"--config", file, "--listen", "127.0.0.1:9100"},
                       EnvOf({{"MANDATED_DATA_DIR", "/from/env"}, {"MANDATED_LISTEN", "[::1]:9200"}}));
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->config.data_dir, "/from/env");
  EXPECT_EQ(p->config.worker_threads, 7);
  EXPECT_EQ(p->config.listen_host, "127.0.0.1");
  EXPECT_EQ(p->config.listen_port, 9100);
  Result<ParsedCommandLine> env_only = LoadServerConfig({}, EnvOf({{"MANDATED_LISTEN", "[::1]:9200"}}));
  EXPECT_EQ(env_only->config.listen_host, "::1");
  EXPECT_EQ(env_only->config.listen_port, 9200);
}

TEST(ServerConfig, ErrorsNameWhatIsWrong) {
  auto bad = [](std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    Result<ParsedCommandLine> p = LoadServerConfig(args, EnvOf(env));
    EXPECT_FALSE(p.ok());
    return p.ok() ? std::string() : p.error().message();
  };
  EXPECT_NE(bad({"--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(bad({"--listen", "nohost"}).find("HOST:PORT"), std::string::npos);
  EXPECT_NE(bad({"--listen", "h:70000"}).find("between"), std::string::npos);
  EXPECT_NE(bad({"--workers", "x"}).find("integer"), std::string::npos);
  EXPECT_NE(bad({}, {{"MANDATED_MAX_BODY_BYTES", "1"}}).find("MANDATED_MAX_BODY_BYTES"),
            std::string::npos);
  EXPECT_NE(bad({"--data-dir"}).find("needs a value"), std::string::npos);
  for (const char* host : {"example.com:99999", "example.com:0", "example.com:", ":443",
                           "example.com:80:81", "example.com:08"}) {
    EXPECT_NE(bad({"--public-host", host}).find("(1-65535)"), std::string::npos) << host;
  }
  EXPECT_EQ(LoadServerConfig({"--public-host", "pay.example.com:8443"}, EnvOf({}))
                ->config.public_host,
            "pay.example.com:8443");
  EXPECT_EQ(bad({"--config"}), "--config: needs a value");
  EXPECT_EQ(bad({"--config="}), "--config: needs a value");
  mandated::testing::TempDir dir;
  std::ofstream(dir.Sub("c.json")) << R"({"data_dir":"a","data_dir":"b"})";
  EXPECT_NE(bad({"--config", dir.Sub("c.json")}).find("duplicate"), std::string::npos);
  std::ofstream(dir.Sub("d.json")) << R"({"colour":"blue"})";
  EXPECT_NE(bad({"--config", dir.Sub("d.json")}).find("unknown setting"), std::string::npos);
}

// An empty KEK file would mean the development KEK; a backup directory that is, holds or lies in
// the data directory would list the live store as a backup to delete.
TEST(ServerConfig, AnEmptyKekFileAndABackupDirOverlappingTheDataAreRefused) {
  auto bad = [](std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    Result<ParsedCommandLine> p = LoadServerConfig(args, EnvOf(env));
    EXPECT_FALSE(p.ok()) << ::testing::PrintToString(args);
    return p.ok() ? std::string() : p.error().ToString();
  };
  EXPECT_NE(bad({"--kek-file", ""}).find("--kek-file: must not be empty"), std::string::npos);
  EXPECT_NE(bad({"--kek-file="}).find("bad-config"), std::string::npos);
  // And so is an empty variable (a unit file's ${KEK} that expanded to nothing), which every
  // other setting reads as unset.
  EXPECT_NE(bad({}, {{"MANDATED_KEK_FILE", ""}}).find("MANDATED_KEK_FILE: is empty"),
            std::string::npos);
  EXPECT_TRUE(LoadServerConfig({}, EnvOf({{"MANDATED_BACKUP_DIR", ""}})).ok());
  // A flag naming the file wins, as over any variable; asking for help reads no KEK.
  EXPECT_EQ(LoadServerConfig({"--kek-file", "/etc/m.kek"}, EnvOf({{"MANDATED_KEK_FILE", ""}}))
                ->config.kek_file,
            "/etc/m.kek");
  EXPECT_TRUE(LoadServerConfig({"--help"}, EnvOf({{"MANDATED_KEK_FILE", ""}})).ok());
  const std::string apart = "--backup-dir: must lie outside the data directory";
  EXPECT_NE(bad({"--data-dir", "/srv/m", "--backup-dir", "/srv/m"}).find(apart), std::string::npos);
  EXPECT_NE(bad({"--data-dir", "/srv/m", "--backup-dir", "/srv/m/b"}).find(apart),
            std::string::npos);
  EXPECT_NE(bad({"--data-dir", "/srv/m/", "--backup-dir", "/srv/m/./b/.."}).find(apart),
            std::string::npos);
  EXPECT_NE(bad({"--data-dir", "/srv/m/data", "--backup-dir", "/srv"}).find(apart),
            std::string::npos);
  EXPECT_NE(bad({"--data-dir", "/srv/m/", "--backup-dir", "/srv/m"}).find(apart),
            std::string::npos);
  EXPECT_NE(bad({"--data-dir", "/srv/m", "--backup-dir", "/srv/m/"}).find(apart),
            std::string::npos);
  EXPECT_NE(bad({"--backup-dir", "./mandated-data"}).find(apart), std::string::npos);
  // Beside it (a name sharing its prefix included) is fine.
  for (const std::string b : {"/srv/m-backups", "/srv/backups", "/srv/mm"}) {
    Result<ParsedCommandLine> ok =
        LoadServerConfig({"--data-dir", "/srv/m", "--backup-dir", b}, EnvOf({}));
    EXPECT_TRUE(ok.ok()) << b << ": " << ok.error().ToString();
  }
}

TEST(ServerConfig, HelpAndVersion) {
  EXPECT_TRUE(LoadServerConfig({"--help"}, EnvOf({}))->show_help);
  EXPECT_TRUE(LoadServerConfig({"--version"}, EnvOf({}))->show_version);
  EXPECT_NE(ServerUsage().find("--data-dir DIR"), std::string::npos);
  EXPECT_NE(ServerUsage().find("MANDATED_LISTEN"), std::string::npos);
  // --help lists every setting, under its flag and its environment variable.
  const std::vector<std::pair<std::string, std::string>> names = ServerSettingNames();
  EXPECT_EQ(names.size(), 26u);
  for (const auto& [flag, env] : names) {
    EXPECT_NE(ServerUsage().find("  " + flag + " "), std::string::npos) << flag;
    EXPECT_NE(ServerUsage().find(" " + env + " "), std::string::npos) << env;
  }
}

}  // namespace
}  // namespace mandated::api
