// Shared parts of the offline verification commands (cli/offline_kit.h).
#include "cli/offline_kit.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/secret.h"
#include "cli/http_client.h"
#include "mandates/credential.h"

namespace mandated::cli {
namespace {

// Input files (tokens, terms, documents) larger than this are refused.
constexpr size_t kMaxInputBytes = 16 << 20;

}  // namespace

Result<std::string> ReadToken(const std::string& path) {
  MD_ASSIGN_OR_RETURN(std::string text, ReadInput(path, kMaxInputBytes));
  std::string token = Trimmed(text);
  if (token.empty()) {
    return InvalidArgumentError(path + " holds no token", "usage");
  }
  return token;
}

Result<json::Value> ReadJson(const std::string& path) {
  MD_ASSIGN_OR_RETURN(std::string text, ReadInput(path, kMaxInputBytes));
  Result<json::Value> v = json::Parse(text);
  if (!v.ok()) {
    return InvalidArgumentError(path + ": " + v.error().message(), "usage");
  }
  return v;
}

std::string PathOfUri(const std::string& uri) {
  const size_t scheme = uri.find("://");
  const size_t path_at = scheme == std::string::npos ? scheme : uri.find('/', scheme + 3);
  return path_at == std::string::npos ? "" : uri.substr(path_at);
}

bool IsIdText(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) {
    return OkStatus();
  }
  struct stat st {};
  if (errno == EEXIST && stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return OkStatus();
  }
  return UnavailableError("cannot create directory " + dir + ": " + strerror(errno), "io");
}

Result<int64_t> VerificationTime(const Context& ctx) {
  const std::optional<std::string> at = Flag(ctx, "--at");
  if (!at.has_value()) {
    return SystemClock::Get().NowUnixSeconds();
  }
  if (std::optional<int64_t> seconds = ParseInt(*at, 0, 253402300799)) {
    return *seconds;
  }
  Result<int64_t> parsed = mandates::ParseRfc3339Utc(*at);
  if (!parsed.ok()) {
    return InvalidArgumentError(
        "--at wants Unix seconds or YYYY-MM-DDTHH:MM:SSZ, got \"" + *at + "\"", "usage");
  }
  return parsed;
}

Output VerdictOutput(const std::string& verdict_json, bool valid) {
  Output o;
  o.out = verdict_json + "\n";
  o.exit_code = valid ? 0 : 1;
  return o;
}

Output FetchDocuments(const Context& ctx, const std::string& command, const std::string& out_dir,
                      const std::vector<std::pair<std::string, std::string>>& wanted) {
  if (Status made = MakeDir(out_dir); !made.ok()) {
    return UsageError(command, made.message());
  }
  // Public documents: no credential is sent.
  ApiClient client = ClientFor(ctx, false);
  json::Value written = json::Value::Array();
  std::string text;
  for (const auto& [path, name] : wanted) {
    Result<ApiResponse> r = client.Get(path);
    if (!r.ok() || r->status < 200 || r->status >= 300) {
      Output failure = Render(ctx, r, nullptr);  // an error: the line function is never called
      failure.err = "mandatectl " + command + ": GET " + path + ": " + failure.err;
      return failure;
    }
    const std::string file = out_dir + "/" + name;
    if (Status s = WriteOutput(file, r->body); !s.ok()) {
      return UsageError(command, s.message());
    }
    written.Append(json::Value::String(file));
    text += file + "\n";
  }
  Output o;
  if (ctx.json) {
    json::Value v = json::Value::Object();
    v.Set("files", std::move(written));
    o.out = json::Write(v) + "\n";
  } else {
    o.out = text;
  }
  return o;
}

}  // namespace mandated::cli
