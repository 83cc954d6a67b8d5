// mandatectl command table and implementations.
#include "cli/commands.h"

#include <stdlib.h>

#include <functional>
#include <map>

#include "base/json.h"
#include "cli/http_client.h"

namespace mandated::cli {
namespace {

struct Context {
  std::string server;
  std::string token;
  bool json = false;
  bool help = false;
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;  // command flags (--name X)
};

struct Command {
  std::string name;     // "principals create"
  std::string usage;    // arguments
  std::string summary;  // one line
  std::function<Output(Context&)> run;
};

Output Usage(const std::string& text, int code = 2) {
  Output o;
  (code == 0 ? o.out : o.err) = text;
  o.exit_code = code;
  return o;
}

// Prints a server answer: JSON as is with --json, else through `human` for 2xx, and the
// problem's detail for errors.
Output Render(const Context& ctx, const Result<ApiResponse>& r,
              const std::function<std::string(const json::Value&)>& human) {
  Output o;
  if (!r.ok()) {
    o.err = "mandatectl: " + r.error().message() + "\n";
    o.exit_code = 3;
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
  if (f == nullptr) return "";
  return f->is_string() ? f->as_string() : json::Write(*f);
}

std::string PrincipalLine(const json::Value& p) {
  std::string line = Str(p, "id") + "  " + Str(p, "name");
  const json::Value* ceilings = p.Find("ceilings");
  if (ceilings != nullptr) {
    for (const json::Value& c : ceilings->items()) {
      line += "  [" + Str(c, "asset") + " " + Str(c, "max") + "/" + Str(c, "window") + "]";
    }
  }
  return line + "\n";
}

std::string KeyLine(const json::Value& k) {
  std::string line = Str(k, "id") + "  " + Str(k, "type") + "  " + Str(k, "purpose") + "  " +
                     Str(k, "owner") + "  " + Str(k, "state") + "  " + Str(k, "did");
  if (!Str(k, "address").empty()) {
    line += "  " + Str(k, "address");
  }
  return line + "\n";
}

// "keys rotate ID" and "keys disable ID": POST /v1/keys/{id}/<action>.
Command KeyAction(const std::string& action, const std::string& summary) {
  return {"keys " + action, "ID", summary, [action](Context& ctx) {
            if (ctx.positional.size() != 1) {
              return Usage("mandatectl keys " + action + ": give exactly one key id\n");
            }
            ApiClient c(ctx.server, ctx.token);
            return Render(ctx, c.PostJson("/v1/keys/" + ctx.positional[0] + "/" + action, ""),
                          KeyLine);
          }};
}

std::vector<Command> Commands() {
  return {
      {"version", "", "print the mandatectl version",
       [](Context&) {
         Output o;
         o.out = std::string("mandatectl ") + MANDATED_VERSION + "\n";
         return o;
       }},
      {"health", "", "check that the server is up (GET /healthz and /readyz)",
       [](Context& ctx) {
         ApiClient c(ctx.server, ctx.token);
         Result<ApiResponse> r = c.Get("/readyz");
         return Render(ctx, r, [&](const json::Value& v) {
           return ctx.server + ": " + Str(v, "status") + "\n";
         });
       }},
      {"principals create", "--name NAME [--ceiling ASSET:WINDOW:MAX]...",
       "create a principal (operator token); ceilings are e.g. USD:month:500000",
       [](Context& ctx) {
         auto name = ctx.flags.find("--name");
         if (name == ctx.flags.end()) {
           return Usage("mandatectl principals create: --name is required\n");
         }
         json::Value body = json::Value::Object();
         body.Set("name", json::Value::String(name->second));
         json::Value ceilings = json::Value::Array();
         auto range = ctx.flags.equal_range("--ceiling");
         for (auto it = range.first; it != range.second; ++it) {
           const std::string& spec = it->second;
           size_t a = spec.find(':', spec.find('/') == std::string::npos ? 0 : spec.find('/'));
           size_t b = spec.rfind(':');
           // CAIP-19 assets contain ':'; the window and max are always the last two fields.
           size_t w = spec.rfind(':', b - 1);
           if (a == std::string::npos || b == std::string::npos || w == std::string::npos ||
               w == 0) {
             return Usage("mandatectl: --ceiling wants ASSET:WINDOW:MAX, got \"" + spec + "\"\n");
           }
           json::Value c = json::Value::Object();
           c.Set("asset", json::Value::String(spec.substr(0, w)));
           c.Set("window", json::Value::String(spec.substr(w + 1, b - w - 1)));
           c.Set("max", json::Value::String(spec.substr(b + 1)));
           ceilings.Append(std::move(c));
         }
         if (!ceilings.items().empty()) {
           body.Set("ceilings", std::move(ceilings));
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.PostJson("/v1/principals", json::Write(body)), PrincipalLine);
       }},
      {"principals list", "[--after ID] [--limit N]", "list principals (operator token)",
       [](Context& ctx) {
         std::string path = "/v1/principals";
         std::string sep = "?";
         for (const char* f : {"--after", "--limit"}) {
           if (auto it = ctx.flags.find(f); it != ctx.flags.end()) {
             path += sep + std::string(f + 2) + "=" + it->second;
             sep = "&";
           }
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.Get(path), [](const json::Value& v) {
           std::string out;
           for (const json::Value& p : v.Find("items")->items()) out += PrincipalLine(p);
           if (const json::Value* next = v.Find("next_after")) {
             out += "(more: --after " + next->as_string() + ")\n";
           }
           return out.empty() ? std::string("no principals\n") : out;
         });
       }},
      {"keys create", "--type Ed25519|P-256|secp256k1 --purpose PURPOSE [--owner OWNER]",
       "generate a key in the server's key store (operator token); prints public parts only",
       [](Context& ctx) {
         auto type = ctx.flags.find("--type");
         auto purpose = ctx.flags.find("--purpose");
         if (type == ctx.flags.end() || purpose == ctx.flags.end()) {
           return Usage("mandatectl keys create: --type and --purpose are required\n");
         }
         json::Value body = json::Value::Object();
         body.Set("type", json::Value::String(type->second));
         body.Set("purpose", json::Value::String(purpose->second));
         if (auto owner = ctx.flags.find("--owner"); owner != ctx.flags.end()) {
           body.Set("owner", json::Value::String(owner->second));
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.PostJson("/v1/keys", json::Write(body)), KeyLine);
       }},
      {"keys list", "[--owner OWNER]", "list keys: id, type, purpose, owner, state, did (operator token)",
       [](Context& ctx) {
         std::string path = "/v1/keys";
         if (auto owner = ctx.flags.find("--owner"); owner != ctx.flags.end()) {
           path += "?owner=" + owner->second;
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.Get(path), [](const json::Value& v) {
           std::string out;
           for (const json::Value& k : v.Find("items")->items()) out += KeyLine(k);
           return out.empty() ? std::string("no keys\n") : out;
         });
       }},
      {"keys get", "ID", "show one key's public parts (operator token)",
       [](Context& ctx) {
         if (ctx.positional.size() != 1) {
           return Usage("mandatectl keys get: give exactly one key id\n");
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.Get("/v1/keys/" + ctx.positional[0]), KeyLine);
       }},
      KeyAction("rotate", "replace an active key by a new one; the old one only verifies"),
      KeyAction("disable", "stop a key from signing or verifying for good"),
      {"principals get", "ID", "show one principal (operator token)",
       [](Context& ctx) {
         if (ctx.positional.size() != 1) {
           return Usage("mandatectl principals get: give exactly one principal id\n");
         }
         ApiClient c(ctx.server, ctx.token);
         return Render(ctx, c.Get("/v1/principals/" + ctx.positional[0]), PrincipalLine);
       }},
  };
}

std::string GeneralUsage(const std::vector<Command>& commands) {
  std::string s =
      "mandatectl: operator, merchant and compliance commands for a mandated server.\n\n"
      "Usage: mandatectl [--server URL] [--token TOKEN] [--json] COMMAND [ARGS]\n\n"
      "Global flags:\n"
      "  --server URL   server base URL (env MANDATED_SERVER; default http://127.0.0.1:8420)\n"
      "  --token TOKEN  bearer credential (env MANDATED_TOKEN)\n"
      "  --json         print the server's JSON instead of text\n"
      "  --help         help for mandatectl or for one command\n\nCommands:\n";
  for (const Command& c : commands) {
    std::string head = "  " + c.name + (c.usage.empty() ? "" : " " + c.usage);
    s += head + "\n      " + c.summary + "\n";
  }
  s += "\nExit codes: 0 ok, 1 refused by the server, 2 usage error, 3 server unreachable.\n";
  return s;
}

}  // namespace

Output RunCommand(const std::vector<std::string>& args) {
  const std::vector<Command> commands = Commands();
  Context ctx;
  const char* env_server = getenv("MANDATED_SERVER");
  const char* env_token = getenv("MANDATED_TOKEN");
  ctx.server = env_server != nullptr && *env_server != '\0' ? env_server : "http://127.0.0.1:8420";
  ctx.token = env_token != nullptr ? env_token : "";
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    if (a == "--json") {
      ctx.json = true;
    } else if (a == "--help" || a == "-h") {
      ctx.help = true;
    } else if (a == "--server") {
      if (!value(&ctx.server)) return Usage("mandatectl: --server needs a URL\n");
    } else if (a == "--token") {
      if (!value(&ctx.token)) return Usage("mandatectl: --token needs a value\n");
    } else if (a.rfind("--", 0) == 0) {
      std::string v;
      if (!value(&v)) return Usage("mandatectl: " + a + " needs a value\n");
      ctx.flags.emplace(a, v);
    } else {
      words.push_back(a);
    }
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
  ctx.positional.assign(words.begin() + static_cast<long>(used), words.end());
  return found->run(ctx);
}

}  // namespace mandated::cli
