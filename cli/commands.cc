// mandatectl: global flags, dispatch, help, and the operator's commands (health, principals,
// keys). The other groups are in identity_commands.cc, agent_commands.cc,
// mandate_commands.cc, authorization_commands.cc, ap2_commands.cc, audit_commands.cc and
// usage_commands.cc.
#include "cli/commands.h"

#include <stdlib.h>

#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "cli/command_kit.h"

namespace mandated::cli {

// The audit group (audit_commands.cc).
std::vector<Command> AuditCommands();
// The usage group (usage_commands.cc).
std::vector<Command> UsageCommands();

namespace {

// A token file larger than this is not a token file.
constexpr size_t kMaxTokenFileBytes = 16 * 1024;

std::string PrincipalLine(const json::Value& p) {
  return Str(p, "id") + "  " + Str(p, "name") + CeilingsText(p) + "\n";
}

std::string KeyLine(const json::Value& k) {
  std::string line = Str(k, "id") + "  " + Str(k, "type") + "  " + Str(k, "purpose") + "  " +
                     Str(k, "owner") + "  " + Str(k, "state") + "  " + Str(k, "did");
  if (!Str(k, "address").empty()) {
    line += "  " + Str(k, "address");
  }
  return line + "\n";
}

// 20261207T115030Z-1a2b3c4d  2026-12-07T11:50:30Z  52311 bytes  /var/backups/mandated/20261207T...
// or, for a directory without its manifest: <id>  incomplete (delete it)  <path>, and for the
// backup being taken: <id>  in progress  <path>
std::string BackupLine(const json::Value& b) {
  const json::Value* complete = b.Find("complete");
  if (complete == nullptr || !complete->as_bool()) {
    const json::Value* busy = b.Find("in_progress");
    return Str(b, "id") + (busy != nullptr && busy->as_bool() ? "  in progress  "
                                                               : "  incomplete (delete it)  ") +
           Str(b, "path") + "\n";
  }
  return Str(b, "id") + "  " + TimeOf(b, "created_at") + "  " + Str(b, "bytes") + " bytes  " +
         Str(b, "path") + "\n";
}

std::vector<Command> OperatorCommands() {
  return {
      {"version", "", "print the mandatectl version",
       [](Context&) {
         Output o;
         o.out = std::string("mandatectl ") + MANDATED_VERSION + "\n";
         return o;
       }},
      {"health", "", "check that the server is ready to serve (GET /readyz)",
       [](Context& ctx) {
         return Call(ctx, Method::kGet, "/readyz", "", [&](const json::Value& v) {
           return ctx.server + ": " + Str(v, "status") + "\n";
         });
       }},
      {"principals create", "--name NAME [--ceiling ASSET:WINDOW:MAX]...",
       "create a principal (operator token); ceilings are e.g. USD:month:500000",
       [](Context& ctx) {
         std::optional<std::string> name = Flag(ctx, "--name");
         if (!name.has_value()) {
           return UsageError("principals create", "--name is required");
         }
         json::Value body = json::Value::Object();
         body.Set("name", json::Value::String(*name));
         if (Status s = SetCeilingsFromFlags(body, ctx); !s.ok()) {
           return Usage("mandatectl: " + s.message() + "\n");
         }
         return Call(ctx, Method::kPost, "/v1/principals", json::Write(body), PrincipalLine);
       }},
      ListOf("principals", "/v1/principals", "[--after ID] [--limit N]",
             "list principals (operator token)", {"--after", "--limit"}, PrincipalLine),
      OnOne("principals", "get", "/v1/principals", "show one principal", PrincipalLine),
      {"keys create", "--type Ed25519|P-256|secp256k1 --purpose PURPOSE [--owner OWNER]",
       "generate a key in the server's key store (operator token); prints public parts only",
       [](Context& ctx) {
         std::optional<std::string> type = Flag(ctx, "--type");
         std::optional<std::string> purpose = Flag(ctx, "--purpose");
         if (!type.has_value() || !purpose.has_value()) {
           return UsageError("keys create", "--type and --purpose are required");
         }
         json::Value body = json::Value::Object();
         body.Set("type", json::Value::String(*type));
         body.Set("purpose", json::Value::String(*purpose));
         SetFromFlag(body, "owner", ctx, "--owner");
         return Call(ctx, Method::kPost, "/v1/keys", json::Write(body), KeyLine);
       }},
      ListOf("keys", "/v1/keys", "[--owner OWNER]",
             "list keys: id, type, purpose, owner, state, did (operator token)", {"--owner"},
             KeyLine),
      OnOne("keys", "get", "/v1/keys", "show one key's public parts (operator token)", KeyLine),
      OnOne("keys", "rotate", "/v1/keys",
            "replace an active key by a new one; the old one only verifies", KeyLine),
      OnOne("keys", "disable", "/v1/keys", "stop a key from signing or verifying for good",
            KeyLine),
      {"backups create", "",
       "copy the whole store while the server runs, into its --backup-dir (operator token); "
       "start a server with --data-dir on the printed path to restore it",
       [](Context& ctx) { return Call(ctx, Method::kPost, "/v1/backups", "", BackupLine); }},
      ListOf("backups", "/v1/backups", "",
             "list the backups in the server's --backup-dir, oldest first (operator token)", {},
             BackupLine),
  };
}

std::vector<Command> Commands() {
  std::vector<Command> all = OperatorCommands();
  for (std::vector<Command> group : {IdentityCommands(), AgentCommands(), MandateCommands(),
                                     AuthorizationCommands(), Ap2Commands(), AuditCommands(),
                                     UsageCommands()}) {
    all.insert(all.end(), std::make_move_iterator(group.begin()),
               std::make_move_iterator(group.end()));
  }
  return all;
}

std::string GeneralUsage(const std::vector<Command>& commands) {
  std::string s =
      "mandatectl: the client of a mandated server, for its operator, principals' admins and "
      "agents.\n\n"
      "Usage: mandatectl [--server URL] [--token-file FILE | --token TOKEN] [--principal ID] "
      "[--json]\n                  [--timeout SECONDS] COMMAND [ARGS]\n\n"
      "Global flags:\n"
      "  --server URL      server base URL, http:// or https:// (env MANDATED_SERVER; default\n"
      "                    http://127.0.0.1:8420)\n"
      "  --token-file FILE the bearer token, read from FILE (one line): the operator token, a\n"
      "                    credential (crd_...) or, for `session show|end` and the agent's\n"
      "                    `authorize`, `authorizations`, `capture`, `void` and `headroom`, a\n"
      "                    session token (ses_...) (env MANDATED_TOKEN holds the token itself)\n"
      "  --token TOKEN     the bearer token on the command line, where other local users can\n"
      "                    see it (ps, /proc): prefer MANDATED_TOKEN or --token-file\n"
      "  --principal ID    the principal (prn_...) that users, credentials, agents and sessions\n"
      "                    commands act on (env MANDATED_PRINCIPAL); `audit trail|export` select\n"
      "                    a principal's trail only with --principal itself\n"
      "  --json            print the server's JSON instead of text\n"
      "  --timeout SECONDS give up on a request whose whole answer has not come in SECONDS\n"
      "                    (default 120; 0: no bound; `audit export` has none unless given);\n"
      "                    an answer over 64 MiB is given up too (exit 3)\n"
      "  --help            help for mandatectl or for one command\n\nCommands:\n";
  std::string group;
  for (const Command& c : commands) {
    const std::string first = c.name.substr(0, c.name.find(' '));
    if (first != group && !group.empty()) {
      s += "\n";
    }
    group = first;
    s += "  " + c.name + (c.usage.empty() ? "" : " " + c.usage) + "\n      " + c.summary + "\n";
  }
  s += "\nExit codes: 0 ok, 1 refused by the server (or, for `mandates verify`, an invalid\n"
       "verdict; for `authorize`, denied; for `audit verify`, a bundle that does not verify),\n"
       "2 usage or local error (e.g. a key file, a bad server URL), 3 server unreachable (or\n"
       "its answer cut short: an `audit export` that ended early),\n"
       "4 `authorize` needs a person's approval (approval_required), 5 `audit verify` without\n"
       "--key: verified against the bundle's own key only, 6 the answer could not be written\n"
       "to standard output (the server may have acted on the request).\n";
  return s;
}

// The bearer token of --token-file: the file's one line, without its line end.
// kUnavailable when it cannot be read; kInvalidArgument when it is empty, holds more than one
// line or is not a small regular file.
Result<SecretBytes> TokenFromFile(const std::string& path) {
  MD_ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, kMaxTokenFileBytes));
  std::string_view line = text.chars();
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (line.empty()) {
    return InvalidArgumentError(path + " is empty", "usage");
  }
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    return InvalidArgumentError(path + " holds more than one line", "usage");
  }
  return SecretBytes(AsBytes(line));
}

// What a command's usage line says it takes: the flags it names (each repeatable when written
// "--x ARG..." or "[--x ARG]..." or twice), and whether it takes any positional argument (a
// bare upper-case word that is not a flag's value).
struct UsageShape {
  std::set<std::string> flags;
  std::set<std::string> repeatable;
  bool positional = false;
};

UsageShape ShapeOf(const std::string& usage) {
  UsageShape shape;
  std::map<std::string, int> seen;
  std::istringstream in(usage);
  std::string tok;
  std::string last_flag;
  bool after_flag = false;
  while (in >> tok) {
    size_t b = 0;
    while (b < tok.size() && (tok[b] == '[' || tok[b] == '(')) ++b;
    std::string core = tok.substr(b);
    const bool dots = core.size() >= 3 && core.compare(core.size() - 3, 3, "...") == 0;
    if (dots) core.resize(core.size() - 3);
    while (!core.empty() && (core.back() == ']' || core.back() == ')' || core.back() == ',')) {
      core.pop_back();
    }
    if (core.rfind("--", 0) == 0) {
      const std::string name = core.substr(0, core.find_first_of("|="));
      shape.flags.insert(name);
      if (++seen[name] > 1 || dots) shape.repeatable.insert(name);
      last_flag = name;
      after_flag = true;
      continue;
    }
    if (core.empty() || core == "|") {
      after_flag = false;
      continue;
    }
    if (after_flag) {  // the value of the flag before it
      after_flag = false;
      if (dots) shape.repeatable.insert(last_flag);
      continue;
    }
    if (std::isupper(static_cast<unsigned char>(core[0]))) shape.positional = true;
  }
  return shape;
}

}  // namespace

Output RunCommand(const std::vector<std::string>& args) {
  const std::vector<Command> commands = Commands();
  Context ctx;
  const char* env_server = getenv("MANDATED_SERVER");
  const char* env_token = getenv("MANDATED_TOKEN");
  const char* env_principal = getenv("MANDATED_PRINCIPAL");
  ctx.server = env_server != nullptr && *env_server != '\0' ? env_server : "http://127.0.0.1:8420";
  if (env_token != nullptr) {
    ctx.token = SecretBytes(AsBytes(env_token));
  }
  ctx.principal = env_principal != nullptr ? env_principal : "";
  std::optional<std::string> token_file;
  bool token_given = false;
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    // "--flag=value" is "--flag value".
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (a.rfind("--", 0) == 0) {
      if (const size_t eq = a.find('='); eq != std::string::npos) {
        inline_value = a.substr(eq + 1);
        a.resize(eq);
      }
    }
    auto value = [&](std::string* out) {
      if (inline_value) {
        *out = *inline_value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (inline_value && (a == "--json" || a == "--help" || a == "--offline" || a == "--new" ||
                         a == "--trust-bundle-key" || a == "--earlier")) {
      return Usage("mandatectl: " + a + " takes no value\n");
    }
    if (a == "--json") {
      ctx.json = true;
    } else if (a == "--help" || a == "-h") {
      ctx.help = true;
    } else if (a == "--offline" || a == "--new" || a == "--trust-bundle-key" || a == "--earlier") {
      ctx.flags.emplace(a, "");  // a command switch: takes no value
    } else if (a == "--server") {
      if (!value(&ctx.server)) return Usage("mandatectl: --server needs a URL\n");
    } else if (a == "--token") {
      if (inline_value) {
        ctx.token = SecretBytes(AsBytes(*inline_value));
      } else {
        if (i + 1 >= args.size()) return Usage("mandatectl: --token needs a value\n");
        ctx.token = SecretBytes(AsBytes(args[++i]));
      }
      token_given = true;
    } else if (a == "--token-file") {
      token_file.emplace();
      if (!value(&*token_file)) return Usage("mandatectl: --token-file needs a file\n");
    } else if (a == "--timeout") {
      std::string v;
      if (!value(&v)) return Usage("mandatectl: --timeout needs a number of seconds\n");
      int seconds = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
      if (v.empty() || ec != std::errc() || end != v.data() + v.size() || seconds < 0 ||
          seconds > 86400) {
        return Usage("mandatectl: --timeout wants whole seconds, 0-86400 (0: none), not \"" + v +
                     "\"\n");
      }
      ctx.timeout = seconds;
    } else if (a == "--principal") {
      if (!value(&ctx.principal)) return Usage("mandatectl: --principal needs an id\n");
      ctx.principal_from_flag = true;
    } else if (a.rfind("--", 0) == 0) {
      std::string v;
      if (!value(&v)) return Usage("mandatectl: " + a + " needs a value\n");
      ctx.flags.emplace(a, v);
    } else {
      words.push_back(a);
    }
  }
  if (token_given && token_file.has_value()) {
    return Usage("mandatectl: give --token or --token-file, not both\n");
  }
  while (!ctx.server.empty() && ctx.server.back() == '/') {
    ctx.server.pop_back();
  }
  // Longest command name that prefixes the words.
  const Command* found = nullptr;
  size_t used = 0;
  for (const Command& c : commands) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= c.name.size()) {
      size_t sp = c.name.find(' ', start);
      if (sp == std::string::npos) sp = c.name.size();
      parts.push_back(c.name.substr(start, sp - start));
      start = sp + 1;
    }
    if (parts.size() <= words.size() && parts.size() > used &&
        std::equal(parts.begin(), parts.end(), words.begin())) {
      found = &c;
      used = parts.size();
    }
  }
  if (found == nullptr) {
    if (words.empty() || ctx.help) {
      return Usage(GeneralUsage(commands), words.empty() && !ctx.help ? 2 : 0);
    }
    return Usage("mandatectl: unknown command \"" + words[0] + "\"\n\n" + GeneralUsage(commands));
  }
  if (ctx.help) {
    return Usage("Usage: mandatectl " + found->name +
                     (found->usage.empty() ? "" : " " + found->usage) + "\n  " + found->summary +
                     "\n",
                 0);
  }
  // Only what the command's usage names: a misspelled flag would otherwise be ignored (a
  // capture of the whole hold for "--amout 100"), a word too many dropped ("--name Acme Corp").
  const UsageShape shape = ShapeOf(found->usage);
  const std::string usage_line =
      "Usage: mandatectl " + found->name + (found->usage.empty() ? "" : " " + found->usage) + "\n";
  for (auto it = ctx.flags.begin(); it != ctx.flags.end(); it = ctx.flags.upper_bound(it->first)) {
    if (shape.flags.count(it->first) == 0) {
      return Usage("mandatectl " + found->name + ": unknown flag " + it->first + "\n" + usage_line);
    }
    if (ctx.flags.count(it->first) > 1 && shape.repeatable.count(it->first) == 0) {
      return Usage("mandatectl " + found->name + ": " + it->first + " given more than once\n" +
                   usage_line);
    }
  }
  if (!shape.positional && words.size() > used) {
    return Usage("mandatectl " + found->name + ": unexpected argument \"" + words[used] +
                 "\"\n" + usage_line);
  }
  if (token_file.has_value()) {
    Result<SecretBytes> token = TokenFromFile(*token_file);
    if (!token.ok()) {
      return Usage("mandatectl: --token-file: " + token.error().message() + "\n");
    }
    ctx.token = std::move(*token);
  }
  ctx.positional.assign(words.begin() + static_cast<long>(used), words.end());
  return found->run(ctx);
}

}  // namespace mandated::cli
