// Backup routes: the operator takes a consistent copy of the whole store while the service runs,
// and lists the copies taken (specs/storage.md §Backups, specs/api.md §Backups).
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "api/app.h"
#include "api/handler_util.h"
#include "api/http_server.h"
#include "api/problem.h"
#include "audit/event.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/log.h"

namespace mandated::api {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "backup.json";

Status NotConfigured() {
  return FailedPreconditionError(
      "backups are off: start the service with --backup-dir DIR (MANDATED_BACKUP_DIR)",
      "backups-not-configured");
}

// "20261207T115030Z": sorts as the time it names.
std::string CompactUtc(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
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

// Writes `text` to `path` through a temporary file and a rename, so a reader sees all or none.
Status WriteWhole(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return UnavailableError("cannot write " + tmp.string(), "backup-failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return UnavailableError("cannot rename " + tmp.string() + ": " + ec.message(), "backup-failed");
  return OkStatus();
}

}  // namespace

Result<json::Value> App::TakeBackup() {
  if (config_.backup_dir.empty()) return NotConfigured();
  // One at a time: each flushes every memtable, and two would only race for the disk.
  std::lock_guard<std::mutex> lock(backup_mu_);
  std::error_code ec;
  fs::create_directories(config_.backup_dir, ec);
  if (ec) {
    return UnavailableError("cannot create " + config_.backup_dir + ": " + ec.message(),
                            "backup-failed");
  }
  const int64_t now = clock_->NowUnixSeconds();
  MD_ASSIGN_OR_RETURN(Bytes tag, random_->Generate(4));
  const std::string id = CompactUtc(now) + "-" + HexEncode(tag);
  const fs::path dir = fs::path(config_.backup_dir) / id;
  fs::create_directory(dir, ec);
  if (ec) {
    return UnavailableError("cannot create " + dir.string() + ": " + ec.message(),
                            "backup-failed");
  }
  // The copy is laid out as a data directory (its store in db/), so a restore is a start with
  // --data-dir pointing at it.
  Result<uint64_t> sequence = store_->Checkpoint((dir / "db").string());
  if (!sequence.ok()) {
    fs::remove_all(dir, ec);  // nothing half made stays behind
    return sequence.error();
  }
  uint64_t bytes = 0, files = 0;
  SizeOf(dir / "db", &bytes, &files);
  const audit::Actor& actor = audit::CurrentActor();
  json::Value manifest = json::Value::Object();
  manifest.Set("id", json::Value::String(id));
  manifest.Set("created_at", json::Value::Int(now));
  manifest.Set("sequence", json::Value::String(std::to_string(*sequence)));
  manifest.Set("bytes", json::Value::String(std::to_string(bytes)));
  manifest.Set("files", json::Value::Int(static_cast<int64_t>(files)));
  manifest.Set("created_by", json::Value::String(actor.kind));
  // The manifest marks the copy complete: a directory without one is a backup that failed.
  MD_RETURN_IF_ERROR(WriteWhole(dir / kManifest, json::Write(manifest)));

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
    return Status(s.code(), "backup " + id + " was taken but could not be recorded: " +
                                s.message(),
                  "backup-not-recorded");
  }
  log::Info("backup taken", {{"backup", id}, {"path", dir.string()}, {"bytes", std::to_string(bytes)}});
  manifest.Set("path", json::Value::String(dir.string()));
  manifest.Set("complete", json::Value::Bool(true));
  return manifest;
}

Result<json::Value> App::ListBackups() {
  if (config_.backup_dir.empty()) return NotConfigured();
  std::vector<json::Value> found;
  std::error_code ec;
  for (fs::directory_iterator it(config_.backup_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code dir_ec;
    if (!it->is_directory(dir_ec) || dir_ec) continue;
    const std::string id = it->path().filename().string();
    json::Value item = json::Value::Object();
    item.Set("id", json::Value::String(id));
    std::ifstream in(it->path() / kManifest, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<json::Value> manifest = in.good() || in.eof() ? json::Parse(text)
                                                         : Result<json::Value>(json::Value());
    if (manifest.ok() && manifest->is_object()) {
      item = *manifest;
      item.Set("complete", json::Value::Bool(true));
    } else {
      item.Set("complete", json::Value::Bool(false));
    }
    item.Set("path", json::Value::String(it->path().string()));
    found.push_back(std::move(item));
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return UnavailableError("cannot read " + config_.backup_dir + ": " + ec.message(),
                            "backup-failed");
  }
  std::sort(found.begin(), found.end(), [](const json::Value& a, const json::Value& b) {
    return a.Find("id")->as_string() < b.Find("id")->as_string();
  });
  json::Value items = json::Value::Array();
  for (json::Value& v : found) items.Append(std::move(v));
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
