// Backup routes: the operator takes a consistent copy of the whole store while the service runs,
// and lists the copies taken (specs/storage.md §Backups, specs/api.md §Backups).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/problem.h"
#include "audit/event.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/log.h"
#include "mandates/credential.h"

namespace mandated::api {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "backup.json";

Status NotConfigured() {
  return FailedPreconditionError(
      "backups are off: start the service with --backup-dir DIR (MANDATED_BACKUP_DIR)",
      "backups-not-configured");
}

// A backup is made as ".<id>.partial" and renamed to <id> once whole.
std::string StagingName(const std::string& id) { return "." + id + ".partial"; }
std::optional<std::string> StagedId(const std::string& name) {
  constexpr std::string_view kSuffix = ".partial";
  if (name.size() <= 1 + kSuffix.size() || name[0] != '.' ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return std::nullopt;
  }
  return name.substr(1, name.size() - 1 - kSuffix.size());
}

// "20261207T115030Z" (RFC 3339 without separators): sorts as the time it names.
std::string CompactUtc(int64_t unix_seconds) {
  std::string text = mandates::FormatRfc3339Utc(unix_seconds);
  std::erase_if(text, [](char c) { return c == '-' || c == ':'; });
  return text;
}

// Total size and count of the regular files under `dir` (what copying the backup off the machine
// moves; hard-linked files count in full).
void SizeOf(const fs::path& dir, uint64_t* bytes, uint64_t* files) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec) || size_ec) continue;
    const uintmax_t n = it->file_size(size_ec);
    if (size_ec) continue;
    *bytes += n;
    *files += 1;
  }
}

// Writes `text` to `path` (inside the staging directory, whose rename publishes it whole) and
// makes it durable.
Status WriteFile(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot create " + path.string(), "backup-failed");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  if (::close(fd) != 0 || !ok) {
    return UnavailableError("cannot write " + path.string(), "backup-failed");
  }
  return OkStatus();
}

// Makes the entries of directory `dir` (a file created or renamed in it) durable.
Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("cannot open " + dir.string(), "backup-failed");
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return UnavailableError("cannot sync " + dir.string(), "backup-failed");
  return OkStatus();
}

}  // namespace

Result<json::Value> App::TakeBackup() {
  if (config_.backup_dir.empty()) return NotConfigured();
  // One at a time: each flushes every memtable, and two would only race for the disk.
  std::lock_guard<std::mutex> lock(backup_mu_);
  std::error_code ec;
  // Created for the service alone, as the data directory is: backups are its records.
  if (fs::create_directories(config_.backup_dir, ec) && !ec) {
    fs::permissions(config_.backup_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  if (ec) {
    return UnavailableError("cannot create " + config_.backup_dir + ": " + ec.message(),
                            "backup-failed");
  }
  const int64_t now = clock_->NowUnixSeconds();
  MD_ASSIGN_OR_RETURN(Bytes tag, random_->Generate(4));
  const std::string id = CompactUtc(now) + "-" + HexEncode(tag);
  const fs::path dir = fs::path(config_.backup_dir) / id;
  // Made under a staging name and renamed once whole: a listing never shows a copy in the making
  // as complete, and what a failure leaves is only ever its own staging directory.
  const fs::path staging = fs::path(config_.backup_dir) / (StagingName(id));
  std::error_code exists_ec;
  if (fs::exists(dir, exists_ec)) {
    return AlreadyExistsError("backup " + id + " exists already: ask again", "backup-exists");
  }
  {
    std::lock_guard<std::mutex> taking(backup_id_mu_);
    backup_taking_ = id;
  }
  auto not_taking = [this] {
    std::lock_guard<std::mutex> taking(backup_id_mu_);
    backup_taking_.clear();
  };
  const bool created = fs::create_directory(staging, ec);
  if (ec) {
    not_taking();
    return UnavailableError("cannot create " + staging.string() + ": " + ec.message(),
                            "backup-failed");
  }
  if (!created) {  // another backup's staging directory: never touched
    not_taking();
    return AlreadyExistsError("backup " + id + " exists already: ask again", "backup-exists");
  }
  auto fail = [&](Status s) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);  // nothing half made stays behind
    not_taking();
    return s;
  };
  // The copy's files are hard links of the live store's (RocksDB makes them 0644): the backup's
  // own directory is the owner's alone, whatever the umask and the mode of backup_dir, and so is
  // a data directory restored from it with `cp -a`.
  fs::permissions(staging, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) {
    return fail(UnavailableError("cannot make " + staging.string() + " private: " + ec.message(),
                                 "backup-failed"));
  }
  // The copy is laid out as a data directory (its store in db/), so a restore is a start with
  // --data-dir on a copy of it.
  Result<uint64_t> sequence = store_->Checkpoint((staging / "db").string());
  if (!sequence.ok()) return fail(sequence.error());
  uint64_t bytes = 0, files = 0;
  SizeOf(staging / "db", &bytes, &files);
  json::Value manifest = json::Value::Object();
  manifest.Set("id", json::Value::String(id));
  manifest.Set("created_at", json::Value::Int(now));
  manifest.Set("sequence", json::Value::String(std::to_string(*sequence)));
  manifest.Set("bytes", json::Value::String(std::to_string(bytes)));
  manifest.Set("files", json::Value::Int(static_cast<int64_t>(files)));
  manifest.Set("created_by", json::Value::String(audit::CurrentActor().kind));
  if (Status w = WriteFile(staging / kManifest, json::Write(manifest)); !w.ok()) return fail(w);
  if (Status d = SyncDirectory(staging); !d.ok()) return fail(d);
  fs::rename(staging, dir, ec);
  if (ec) {
    return fail(UnavailableError("cannot rename " + staging.string() + ": " + ec.message(),
                                 "backup-failed"));
  }
  // The rename made durable before the audit log says the backup exists (it is then whole
  // under its id after a power loss too). If it cannot be, the request fails as a whole: the
  // renamed copy goes too, so no backup is listed complete that no audit event names.
  if (Status d = SyncDirectory(config_.backup_dir); !d.ok()) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    not_taking();
    return d;
  }
  not_taking();

  audit::Event e;
  e.type = "backup.created";
  e.Subject("backup", id);
  e.data = manifest;
  e.at_micros = clock_->NowUnixMicros();
  store::WriteBatch batch;
  audit::Stage(batch, e);
  if (Status s = store_->Write(batch); !s.ok()) {
    log::Error("backup taken but not recorded in the audit log",
               {{"backup", id}, {"error", s.ToString()}});
    return InternalError("backup " + id + " was taken but could not be recorded: " + s.message(),
                         "backup-not-recorded");
  }
  log::Info("backup taken",
            {{"backup", id}, {"path", dir.string()}, {"bytes", std::to_string(bytes)}});
  manifest.Set("path", json::Value::String(dir.string()));
  manifest.Set("complete", json::Value::Bool(true));
  return manifest;
}

Result<json::Value> App::ListBackups() {
  if (config_.backup_dir.empty()) return NotConfigured();
  std::vector<std::pair<std::string, json::Value>> found;  // by id
  std::error_code ec;
  for (fs::directory_iterator it(config_.backup_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec) || dir_ec) continue;
    const std::string name = it->path().filename().string();
    const std::optional<std::string> staged = StagedId(name);
    const std::string id = staged.value_or(name);
    json::Value item = json::Value::Object();
    if (!staged) {
      // Complete when its manifest reads as ours: an object naming this very directory.
      std::ifstream in(it->path() / kManifest, std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      Result<json::Value> manifest = json::Parse(text);
      const json::Value* named = manifest.ok() && manifest->is_object() ? manifest->Find("id")
                                                                         : nullptr;
      if (named != nullptr && named->is_string() && named->as_string() == name) {
        item = std::move(*manifest);
      }
    }
    const bool complete = item.Find("id") != nullptr;
    if (!complete) item.Set("id", json::Value::String(id));
    item.Set("path", json::Value::String(it->path().string()));
    item.Set("complete", json::Value::Bool(complete));
    // A staging directory is the backup being taken, or one a crash interrupted.
    if (staged) {
      std::lock_guard<std::mutex> taking(backup_id_mu_);
      item.Set("in_progress", json::Value::Bool(*staged == backup_taking_));
    }
    found.emplace_back(id, std::move(item));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return UnavailableError("cannot read " + config_.backup_dir + ": " + ec.message(),
                            "backup-failed");
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  json::Value items = json::Value::Array();
  for (auto& [id, v] : found) items.Append(std::move(v));
  json::Value out = json::Value::Object();
  out.Set("backup_dir", json::Value::String(config_.backup_dir));
  out.Set("items", std::move(items));
  return out;
}

void App::RegisterBackupRoutes() {
  const AccessGuard& g = *guard_;
  router_.Add("POST", "/v1/backups",
              g.Guard(identity::Permission::kManageBackups, [this](Request& req, const Access&) {
                Result<json::Value> taken = TakeBackup();
                if (!taken.ok()) return ProblemResponse(taken.error(), req);
                AnnotateRequestLog("backup", taken->Find("id")->as_string());
                return JsonResponse(201, *taken);
              }));
  router_.Add("GET", "/v1/backups",
              g.Guard(identity::Permission::kManageBackups, [this](Request& req, const Access&) {
                Result<json::Value> listed = ListBackups();
                if (!listed.ok()) return ProblemResponse(listed.error(), req);
                return JsonResponse(200, *listed);
              }));
}

}  // namespace mandated::api
