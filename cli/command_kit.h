// The pieces every mandatectl command is built from: the parsed command line, the command
// record, flag readers, server calls and their rendering (human text or --json).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "base/secret.h"
#include "cli/commands.h"
#include "cli/http_client.h"

namespace mandated::cli {

// One parsed command line. Thread safety: move-only (it holds the token); one command at a time.
struct Context {
  std::string server;  // without a trailing "/"
  SecretBytes token;   // --token, --token-file or MANDATED_TOKEN; empty when none is given
  std::string principal;  // --principal or MANDATED_PRINCIPAL; "" when neither is given
  // Whether `principal` came from --principal on the command line (audit commands select a
  // principal's trail only then; MANDATED_PRINCIPAL alone does not).
  bool principal_from_flag = false;
  bool json = false;
  bool help = false;
  // --timeout SECONDS: the bound on each request (0: none); unset, kDefaultTimeoutSeconds,
  // except for the streamed `audit export`, which is unbounded unless given.
  std::optional<int> timeout;
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;  // command flags (--name X), repeatable;
                                                  // switches (--offline) map to ""
};

struct Command {
  std::string name;     // "principals create"
  std::string usage;    // arguments
  std::string summary;  // one line
  std::function<Output(Context&)> run;
};

// Renders one record (a 2xx answer's JSON) as human text, one line or a few.
using LineFn = std::function<std::string(const json::Value&)>;

enum class Method { kGet, kPost, kDelete };

// An output with `text` on stdout (code 0) or stderr (any other code).
Output Usage(const std::string& text, int code = 2);
// Usage error (exit 2) for `command`, e.g. "mandatectl users get: give exactly one id".
Output UsageError(const std::string& command, const std::string& message);

// Prints a server answer: JSON as is with --json, else through `human` for 2xx, and the
// problem's type and detail for errors (exit 1). No answer at all (kUnavailable) is exit 3; a
// request that could not be made (kInvalidArgument, e.g. a bad server URL) is exit 2.
Output Render(const Context& ctx, const Result<ApiResponse>& r, const LineFn& human);

// A member as text: strings as they are, other values as JSON; "" when absent.
std::string Str(const json::Value& v, const char* key);
// Unix seconds as "2026-01-02T03:04:05Z" (UTC).
std::string UtcTime(int64_t unix_seconds);
// Unix seconds of member `key` as RFC 3339 UTC; "" when absent.
std::string TimeOf(const json::Value& v, const char* key);

// The whole content of `path`, or of standard input for "-". kUnavailable ("io") when it cannot
// be read, kInvalidArgument ("too-large") when it holds more than `max_bytes`.
Result<std::string> ReadInput(const std::string& path, size_t max_bytes);
// `s` without leading and trailing ASCII white space (a file usually ends in a newline).
std::string Trimmed(const std::string& s);
// The content of `path`, or of standard input for "-", handed to `piece` a buffer at a time
// (for input too large to hold). kUnavailable ("io") when it cannot be read.
Status ReadInPieces(const std::string& path, const std::function<void(std::string_view)>& piece);
// The whole content of the regular file or pipe `path` (at most `max_bytes`) in wiping memory.
// kUnavailable ("io") when it cannot be read, kInvalidArgument ("not-a-small-file") when it is
// not a regular file or is larger.
Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes);
// Writes `content` to `path` exactly (replacing it) through a new temporary file beside it
// (created with O_EXCL|O_NOFOLLOW under a random name, mode 0666 less the umask), fsync and a
// rename. kUnavailable ("io") naming the path when it cannot.
Status WriteOutput(const std::string& path, const std::string& content);
// As WriteOutput, for files that hold a secret (a token): the file is mode 0600 from creation.
Status WriteSecretOutput(const std::string& path, std::string_view content);

// A file written in pieces and put in place whole, for output too large to hold (an audit
// export): the pieces go to a new temporary file beside `path`, created as WriteOutput's, and
// Commit fsyncs it and renames it over `path`; one never committed is removed (also when the
// command dies of SIGINT, SIGTERM or SIGHUP meanwhile), so `path` never holds part of an output.
// "-" writes to standard output as the pieces come.
// Thread safety: one thread.
class OutputFile {
 public:
  // kUnavailable ("io") naming the path when the temporary file cannot be made.
  static Result<std::unique_ptr<OutputFile>> Open(const std::string& path, bool secret = false);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  Status Append(std::string_view bytes);
  Status Commit();

 private:
  OutputFile(std::string path, std::string tmp, int fd) : path_(std::move(path)),
      tmp_(std::move(tmp)), fd_(fd) {}
  Status Failed();
  std::string path_;
  std::string tmp_;  // "" for standard output
  int fd_ = -1;
  bool committed_ = false;
};

// The last value of a command flag, or nullopt.
std::optional<std::string> Flag(const Context& ctx, const std::string& name);
// Every value of a repeatable flag, in command-line order.
std::vector<std::string> Flags(const Context& ctx, const std::string& name);
// A decimal integer in [min, max] (the whole text), or nullopt.
std::optional<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max);
// A flag that must be an integer in [min, max]: nullopt when absent; kInvalidArgument naming
// the flag when malformed or out of range.
Result<std::optional<int64_t>> IntFlag(const Context& ctx, const std::string& name, int64_t min,
                                       int64_t max);
// Sets `key` of `body` to the flag's value as a JSON string, when the flag is given.
void SetFromFlag(json::Value& body, const char* key, const Context& ctx, const std::string& flag);
// Sets `key` of `body` to a JSON array of the repeatable flag's values, when any is given.
void SetListFromFlag(json::Value& body, const char* key, const Context& ctx,
                     const std::string& flag);

// Sets "ceilings" of `body` from the repeatable `--ceiling ASSET:WINDOW:MAX` flags (a CAIP-19
// asset holds ':'; the window and max are always the last two fields), when any is given;
// kInvalidArgument "usage" naming the first malformed one.
Status SetCeilingsFromFlags(json::Value& body, const Context& ctx);
// "  [USD 500000/month]" for each of the "ceilings" of a principal or agent; "" for none.
std::string CeilingsText(const json::Value& owner);

// Resolves a collection: an absolute path ("/v1/keys") is used as is; a relative one ("users")
// lies under the caller's principal, /v1/principals/{principal}/users. kInvalidArgument when
// the principal is needed and not given.
Result<std::string> Where(const Context& ctx, const std::string& collection);

// Sends one request to `collection` (see Where) with ctx's token and renders the answer.
// The client for ctx's server with its token (or none), bounded by its --timeout.
ApiClient ClientFor(const Context& ctx, bool with_token = true);

Output Call(const Context& ctx, Method method, const std::string& collection,
            const std::string& body, const LineFn& line);

// "<group> get ID" (GET <collection>/ID) or "<group> <verb> ID" (POST <collection>/ID/<verb>).
Command OnOne(const std::string& group, const std::string& verb, const std::string& collection,
              const std::string& summary, LineFn line);

// `path` with "?name=value&..." of each given flag of `flags` ("--after" is sent as after=...),
// values percent-encoded.
std::string WithQueryFlags(const Context& ctx, std::string path,
                           const std::vector<std::string>& flags);

// "<group> list": GET <collection> with the given query flags ("--after" is sent as after=...),
// printing one `line` per item and a hint when more may follow, or "no <what>" ("no <group>"
// when `what` is empty) when there is none.
Command ListOf(const std::string& group, const std::string& collection, const std::string& usage,
               const std::string& summary, std::vector<std::string> query_flags, LineFn line,
               const std::string& what = "");

// Wraps `line` for answers that carry a secret `token` shown only once: prints it as
// "token: ..." and says it is not shown again.
LineFn WithToken(LineFn line);

// A session as one line: id, agent, state, expiry (UTC), task, mandates, cap.
std::string SessionLine(const json::Value& s);
// The session request fields shared by `sessions open-for` and `session open`: --task,
// --mandate..., --ttl-minutes, --cap ASSET:MAX. kInvalidArgument names the bad flag.
Result<json::Value> SessionRequest(const Context& ctx);

// The service DID, from the "id" of GET /.well-known/did.json (agent_commands.cc). On failure
// `failure` is what to print: the server unreachable (exit 3), refusing (1), or answering
// without an id (1).
Result<std::string> ServiceDid(const Context& ctx, Output& failure);

// The command groups beyond the operator's (identity_commands.cc, agent_commands.cc,
// mandate_commands.cc, authorization_commands.cc).
std::vector<Command> IdentityCommands();
std::vector<Command> AgentCommands();
std::vector<Command> MandateCommands();
std::vector<Command> AuthorizationCommands();
std::vector<Command> Ap2Commands();

}  // namespace mandated::cli
