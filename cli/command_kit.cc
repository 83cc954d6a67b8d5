// Shared building blocks of mandatectl commands: flags, paths, calls and rendering.
#include "cli/command_kit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <iterator>

#include "base/random.h"

namespace mandated::cli {
namespace {

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string QueryEscape(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

Output Usage(const std::string& text, int code) {
  Output o;
  (code == 0 ? o.out : o.err) = text;
  o.exit_code = code;
  return o;
}

Output UsageError(const std::string& command, const std::string& message) {
  return Usage("mandatectl " + command + ": " + message + "\n");
}

Output Render(const Context& ctx, const Result<ApiResponse>& r, const LineFn& human) {
  Output o;
  if (!r.ok()) {
    o.err = "mandatectl: " + r.error().message() + "\n";
    o.exit_code = r.error().code() == StatusCode::kUnavailable ? 3 : 2;
    return o;
  }
  Result<json::Value> body = json::Parse(r->body);
  if (r->status >= 200 && r->status < 300) {
    if (ctx.json || !body.ok()) {
      o.out = r->body + "\n";
    } else {
      o.out = human(*body);
    }
    return o;
  }
  o.exit_code = 1;
  if (ctx.json) {
    o.out = r->body + "\n";
    return o;
  }
  if (body.ok() && body->is_object() && body->Find("detail") != nullptr) {
    const json::Value* type = body->Find("type");
    o.err = "error " + std::to_string(r->status) + " (" +
            (type != nullptr ? type->as_string() : std::string("?")) +
            "): " + body->Find("detail")->as_string() + "\n";
  } else {
    o.err = "error " + std::to_string(r->status) + ": " + r->body + "\n";
  }
  return o;
}

std::string Str(const json::Value& v, const char* key) {
  const json::Value* f = v.Find(key);
  if (f == nullptr) {
    return "";
  }
  return f->is_string() ? f->as_string() : json::Write(*f);
}

std::string UtcTime(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(unix_seconds);
  }
  return buf;
}

std::string TimeOf(const json::Value& v, const char* key) {
  const json::Value* t = v.Find(key);
  return t != nullptr && t->is_number() ? UtcTime(t->as_int64().value_or(0)) : "";
}

std::optional<std::string> Flag(const Context& ctx, const std::string& name) {
  auto range = ctx.flags.equal_range(name);
  if (range.first == range.second) {
    return std::nullopt;
  }
  return std::prev(range.second)->second;
}

std::vector<std::string> Flags(const Context& ctx, const std::string& name) {
  std::vector<std::string> out;
  auto range = ctx.flags.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(it->second);
  }
  return out;
}

Status SetCeilingsFromFlags(json::Value& body, const Context& ctx) {
  json::Value ceilings = json::Value::Array();
  for (const std::string& spec : Flags(ctx, "--ceiling")) {
    const size_t a = spec.find(':', spec.find('/') == std::string::npos ? 0 : spec.find('/'));
    const size_t b = spec.rfind(':');
    const size_t w = b == std::string::npos || b == 0 ? std::string::npos : spec.rfind(':', b - 1);
    if (a == std::string::npos || w == std::string::npos || w == 0) {
      return InvalidArgumentError("--ceiling wants ASSET:WINDOW:MAX, got \"" + spec + "\"",
                                  "usage");
    }
    json::Value c = json::Value::Object();
    c.Set("asset", json::Value::String(spec.substr(0, w)));
    c.Set("window", json::Value::String(spec.substr(w + 1, b - w - 1)));
    c.Set("max", json::Value::String(spec.substr(b + 1)));
    ceilings.Append(std::move(c));
  }
  if (!ceilings.items().empty()) body.Set("ceilings", std::move(ceilings));
  return OkStatus();
}

std::string CeilingsText(const json::Value& owner) {
  std::string out;
  if (const json::Value* ceilings = owner.Find("ceilings")) {
    for (const json::Value& c : ceilings->items()) {
      out += "  [" + Str(c, "asset") + " " + Str(c, "max") + "/" + Str(c, "window") + "]";
    }
  }
  return out;
}

std::optional<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

Result<std::optional<int64_t>> IntFlag(const Context& ctx, const std::string& name, int64_t min,
                                       int64_t max) {
  std::optional<std::string> text = Flag(ctx, name);
  if (!text.has_value()) {
    return std::optional<int64_t>();
  }
  std::optional<int64_t> v = ParseInt(*text, min, max);
  if (!v.has_value()) {
    return InvalidArgumentError(name + " wants a whole number from " + std::to_string(min) +
                                    " to " + std::to_string(max) + ", got \"" + *text + "\"",
                                "usage");
  }
  return v;
}

void SetFromFlag(json::Value& body, const char* key, const Context& ctx, const std::string& flag) {
  if (std::optional<std::string> v = Flag(ctx, flag)) {
    body.Set(key, json::Value::String(*v));
  }
}

void SetListFromFlag(json::Value& body, const char* key, const Context& ctx,
                     const std::string& flag) {
  std::vector<std::string> values = Flags(ctx, flag);
  if (values.empty()) {
    return;
  }
  json::Value list = json::Value::Array();
  for (std::string& v : values) {
    list.Append(json::Value::String(std::move(v)));
  }
  body.Set(key, std::move(list));
}

Result<std::string> Where(const Context& ctx, const std::string& collection) {
  if (collection.rfind('/', 0) == 0) {
    return collection;
  }
  if (ctx.principal.empty()) {
    return InvalidArgumentError("give the principal with --principal ID or MANDATED_PRINCIPAL",
                                "usage");
  }
  return "/v1/principals/" + ctx.principal + "/" + collection;
}

ApiClient ClientFor(const Context& ctx, bool with_token) {
  const int timeout = ctx.timeout.value_or(kDefaultTimeoutSeconds);
  if (!with_token) {
    return ApiClient(ctx.server, SecretBytes(), timeout);
  }
  return ApiClient(ctx.server, ctx.token, timeout);
}

Output Call(const Context& ctx, Method method, const std::string& collection,
            const std::string& body, const LineFn& line) {
  Result<std::string> path = Where(ctx, collection);
  if (!path.ok()) {
    return Usage("mandatectl: " + path.error().message() + "\n");
  }
  ApiClient c = ClientFor(ctx);
  switch (method) {
    case Method::kGet:
      return Render(ctx, c.Get(*path), line);
    case Method::kPost:
      return Render(ctx, c.PostJson(*path, body), line);
    case Method::kDelete:
      return Render(ctx, c.Delete(*path), line);
  }
  return Usage("mandatectl: unknown method\n");
}

Command OnOne(const std::string& group, const std::string& verb, const std::string& collection,
              const std::string& summary, LineFn line) {
  const std::string name = group + " " + verb;
  return {name, "ID", summary, [=](Context& ctx) {
            if (ctx.positional.size() != 1) {
              return UsageError(name, "give exactly one id");
            }
            const std::string one = collection + "/" + ctx.positional[0];
            return verb == "get" ? Call(ctx, Method::kGet, one, "", line)
                                 : Call(ctx, Method::kPost, one + "/" + verb, "", line);
          }};
}

std::string WithQueryFlags(const Context& ctx, std::string path,
                           const std::vector<std::string>& flags) {
  char sep = '?';
  for (const std::string& f : flags) {
    if (std::optional<std::string> v = Flag(ctx, f)) {
      path += sep + f.substr(2) + "=" + QueryEscape(*v);
      sep = '&';
    }
  }
  return path;
}

Command ListOf(const std::string& group, const std::string& collection, const std::string& usage,
               const std::string& summary, std::vector<std::string> query_flags, LineFn line,
               const std::string& what) {
  return {group + " list", usage, summary, [=](Context& ctx) {
            const std::string path = WithQueryFlags(ctx, collection, query_flags);
            return Call(ctx, Method::kGet, path, "", [&](const json::Value& v) {
              std::string out;
              if (const json::Value* items = v.Find("items")) {
                for (const json::Value& item : items->items()) {
                  out += line(item);
                }
              }
              if (const json::Value* next = v.Find("next_after")) {
                out += "(more: --after " + next->as_string() + ")\n";
              }
              return out.empty() ? "no " + (what.empty() ? group : what) + "\n" : out;
            });
          }};
}

LineFn WithToken(LineFn line) {
  return [line = std::move(line)](const json::Value& v) {
    return line(v) + "token: " + Str(v, "token") +
           "\nThis token is shown once and cannot be retrieved again: store it now.\n";
  };
}

std::string Trimmed(const std::string& s) {
  const char* kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string::npos) {
    return "";
  }
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

Result<std::string> ReadInput(const std::string& path, size_t max_bytes) {
  FILE* f = path == "-" ? stdin : fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return UnavailableError("cannot read " + path + ": " + strerror(errno), "io");
  }
  std::string out;
  char buf[65536];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out.size() <= max_bytes) {
    out.append(buf, n);
  }
  const bool failed = ferror(f) != 0;
  if (f != stdin) {
    fclose(f);
  }
  if (failed) {
    return UnavailableError("cannot read " + path, "io");
  }
  if (out.size() > max_bytes) {
    return InvalidArgumentError(path + " is larger than " + std::to_string(max_bytes >> 20) + " MiB",
                                "too-large");
  }
  return out;
}

Status ReadInPieces(const std::string& path, const std::function<void(std::string_view)>& piece) {
  FILE* f = path == "-" ? stdin : fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return UnavailableError("cannot read " + path + ": " + strerror(errno), "io");
  }
  std::string buf(size_t{1} << 20, '\0');
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) {
    piece(std::string_view(buf.data(), n));
  }
  const bool failed = ferror(f) != 0;
  if (f != stdin) {
    fclose(f);
  }
  if (failed) {
    return UnavailableError("cannot read " + path, "io");
  }
  return OkStatus();
}

Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return UnavailableError("cannot read " + path + ": " + strerror(errno), "io");
  }
  struct stat st {};
  // A regular file, or a pipe (`<(pass show ...)`, /dev/stdin): read up to the cap either way.
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) ||
      (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)) {
    close(fd);
    return InvalidArgumentError(path + " is not a regular file or pipe of at most " +
                                    std::to_string(max_bytes) + " bytes",
                                "not-a-small-file");
  }
  SecretBytes buffer(max_bytes + 1);  // one byte more tells an over-long pipe
  size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = read(fd, buffer.data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      close(fd);
      return UnavailableError("cannot read " + path, "io");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got > max_bytes) {
    return InvalidArgumentError(path + " is not a regular file or pipe of at most " +
                                    std::to_string(max_bytes) + " bytes",
                                "not-a-small-file");
  }
  return SecretBytes(ByteSpan(buffer.data(), got));
}

namespace {

// The temporary file of the OutputFile being written (mandatectl writes one at a time), for the
// signal handler: interrupted (Ctrl-C, a kill), the command removes it before it dies, as it
// does on every other failure. Set before the handlers are installed and cleared after they are
// restored, so the handler reads it only while it is stable.
char g_temporary[4096];
volatile sig_atomic_t g_have_temporary = 0;
constexpr int kRemoveOnSignals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction g_previous[3];

void RemoveTemporaryAndDie(int sig) {
  if (g_have_temporary != 0) unlink(g_temporary);
  signal(sig, SIG_DFL);
  raise(sig);
}

void WatchTemporary(const std::string& tmp) {
  if (tmp.size() >= sizeof(g_temporary)) return;  // no path that long is made here
  std::memcpy(g_temporary, tmp.c_str(), tmp.size() + 1);
  g_have_temporary = 1;
  struct sigaction sa {};
  sa.sa_handler = RemoveTemporaryAndDie;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < std::size(kRemoveOnSignals); ++i) {
    sigaction(kRemoveOnSignals[i], &sa, &g_previous[i]);
  }
}

void UnwatchTemporary() {
  if (g_have_temporary == 0) return;
  for (size_t i = 0; i < std::size(kRemoveOnSignals); ++i) {
    sigaction(kRemoveOnSignals[i], &g_previous[i], nullptr);
  }
  g_have_temporary = 0;
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Open(const std::string& path, bool secret) {
  if (path == "-") {
    return std::unique_ptr<OutputFile>(new OutputFile(path, "", STDOUT_FILENO));
  }
  // A random name with O_EXCL|O_NOFOLLOW: never an existing file or a link planted there.
  const mode_t mode = secret ? 0600 : 0666;
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    std::array<uint8_t, 8> noise{};
    if (Status s = SystemRandom::Get().Fill(noise); !s.ok()) {
      return UnavailableError("cannot write " + path + ": " + s.message(), "io");
    }
    static const char kHex[] = "0123456789abcdef";
    tmp = path + ".tmp-";
    for (uint8_t b : noise) {
      tmp += {kHex[b >> 4], kHex[b & 15]};
    }
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) {
      break;
    }
  }
  if (fd < 0) {
    return UnavailableError("cannot write " + path + ": " + strerror(errno), "io");
  }
  std::unique_ptr<OutputFile> f(new OutputFile(path, tmp, fd));
  WatchTemporary(tmp);
  if (secret && fchmod(fd, 0600) != 0) {  // exactly 0600, whatever the umask
    return f->Failed();
  }
  return f;
}

OutputFile::~OutputFile() {
  if (!tmp_.empty() && !committed_) {
    if (fd_ >= 0) close(fd_);
    unlink(tmp_.c_str());
  }
  if (!tmp_.empty()) UnwatchTemporary();
}

Status OutputFile::Failed() {
  return UnavailableError("cannot write " + path_ + ": " + strerror(errno), "io");
}

Status OutputFile::Append(std::string_view bytes) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Failed();
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status OutputFile::Commit() {
  if (tmp_.empty()) {
    return OkStatus();  // standard output: written as it came
  }
  bool ok = fsync(fd_) == 0;
  ok = close(fd_) == 0 && ok;
  fd_ = -1;
  ok = ok && rename(tmp_.c_str(), path_.c_str()) == 0;
  if (!ok) {
    return Failed();  // the destructor removes the temporary file
  }
  committed_ = true;
  UnwatchTemporary();  // renamed: nothing is left to remove
  return OkStatus();
}

namespace {

// Writes `content` to `path` through an OutputFile.
Status WriteThroughTemporary(const std::string& path, std::string_view content, bool secret) {
  Result<std::unique_ptr<OutputFile>> f = OutputFile::Open(path == "-" ? "./-" : path, secret);
  if (!f.ok()) return f.error();
  MD_RETURN_IF_ERROR((*f)->Append(content));
  return (*f)->Commit();
}

}  // namespace

Status WriteOutput(const std::string& path, const std::string& content) {
  return WriteThroughTemporary(path, content, false);
}

Status WriteSecretOutput(const std::string& path, std::string_view content) {
  return WriteThroughTemporary(path, content, true);
}

}  // namespace mandated::cli
