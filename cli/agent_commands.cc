// mandatectl commands run by an agent: a local key (`agent keygen`, `agent did`), and its own
// session opened with a signed assertion (`session open`, `session show`, `session end`).
#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "cli/agent_key.h"
#include "cli/command_kit.h"
#include "signer/signature.h"

namespace mandated::cli {
namespace {

// A local result: `text` for humans, or `json` with --json.
Output Local(const Context& ctx, const std::string& text, const json::Value& json) {
  Output o;
  o.out = ctx.json ? json::Write(json) + "\n" : text;
  return o;
}

// The one --key or --out file flag of a command.
std::optional<std::string> KeyPath(const Context& ctx, const char* flag) {
  std::optional<std::string> path = Flag(ctx, flag);
  return path.has_value() && !path->empty() ? path : std::nullopt;
}

Output KeyGen(Context& ctx) {
  const std::optional<std::string> out = KeyPath(ctx, "--out");
  Result<signer::KeyType> type = signer::KeyTypeFromName(Flag(ctx, "--type").value_or("Ed25519"));
  if (!out.has_value() || !type.ok()) {
    return UsageError("agent keygen", "give --out FILE and --type Ed25519, P-256 or secp256k1");
  }
  Result<signer::PrivateKey> key = signer::GenerateKey(*type, SystemRandom::Get());
  Result<std::string> did = key.ok() ? DidKeyOf(*key) : Result<std::string>(key.status());
  Status written = did.ok() ? WriteKeyFile(*out, *key) : did.status();
  if (!written.ok()) {
    return UsageError("agent keygen", written.message());
  }
  json::Value v = json::Value::Object();
  v.Set("did", json::Value::String(*did));
  v.Set("type", json::Value::String(std::string(signer::KeyTypeName(*type))));
  v.Set("key_file", json::Value::String(*out));
  return Local(ctx,
               "wrote " + *out + " (" + std::string(signer::KeyTypeName(*type)) +
                   " private key, mode 0600: keep it secret)\ndid: " + *did +
                   "\nregister it: mandatectl agents create --name NAME --did " + *did + "\n",
               v);
}

Output ShowDid(Context& ctx) {
  const std::optional<std::string> path = KeyPath(ctx, "--key");
  if (!path.has_value()) {
    return UsageError("agent did", "--key FILE is required");
  }
  Result<signer::PrivateKey> key = ReadKeyFile(*path);
  Result<std::string> did = key.ok() ? DidKeyOf(*key) : Result<std::string>(key.status());
  if (!did.ok()) {
    return UsageError("agent did", did.error().message());
  }
  json::Value v = json::Value::Object();
  v.Set("did", json::Value::String(*did));
  return Local(ctx, *did + "\n", v);
}

}  // namespace

Result<std::string> ServiceDid(const Context& ctx, Output& failure) {
  Result<ApiResponse> r = ClientFor(ctx, false).Get("/.well-known/did.json");
  if (!r.ok() || r->status < 200 || r->status >= 300) {
    failure = Render(ctx, r, nullptr);  // an error: the line function is never called
    return UnavailableError("no service DID");
  }
  Result<json::Value> doc = json::Parse(r->body);
  if (doc.ok() && doc->is_object() && !Str(*doc, "id").empty()) {
    return Str(*doc, "id");
  }
  failure = Usage("mandatectl: " + ctx.server + " answered no service DID\n", 1);
  return NotFoundError("no service DID");
}

namespace {

Output OpenSession(Context& ctx) {
  const std::optional<std::string> path = KeyPath(ctx, "--key");
  Result<json::Value> body = SessionRequest(ctx);
  if (!path.has_value() || !body.ok()) {
    return UsageError("session open",
                      body.ok() ? "--key FILE is required" : body.error().message());
  }
  Result<signer::PrivateKey> key = ReadKeyFile(*path);
  if (!key.ok()) {
    return UsageError("session open", key.error().message());
  }
  Output failure;
  Result<std::string> audience = ServiceDid(ctx, failure);
  if (!audience.ok()) {
    return failure;
  }
  Result<std::string> assertion =
      SessionAssertion(*key, *audience, SystemClock::Get().NowUnixSeconds(), SystemRandom::Get());
  if (!assertion.ok()) {
    return UsageError("session open", assertion.error().message());
  }
  body->Set("assertion", json::Value::String(*assertion));
  // The agent proves itself with the assertion; no bearer token is sent.
  return Render(ctx,
                ClientFor(ctx, false).PostJson("/v1/sessions", json::Write(*body)),
                WithToken(SessionLine));
}

}  // namespace

std::vector<Command> AgentCommands() {
  return {
      {"agent keygen", "--out FILE [--type Ed25519|P-256|secp256k1]",
       "generate an agent key locally into a new FILE (mode 0600) and print its did:key "
       "(no server involved)",
       KeyGen},
      {"agent did", "--key FILE", "print the did:key of an agent key file", ShowDid},
      {"session open",
       "--key FILE --task TASK [--mandate ID]... [--ttl-minutes N] [--cap ASSET:MAX]",
       "open a session as the agent, signing an assertion with its key; prints the session "
       "token once (no --token needed)",
       OpenSession},
      {"session show", "", "show the calling session (--token is the session token)",
       [](Context& ctx) { return Call(ctx, Method::kGet, "/v1/session", "", SessionLine); }},
      {"session end", "", "end the calling session (--token is the session token)",
       [](Context& ctx) { return Call(ctx, Method::kDelete, "/v1/session", "", SessionLine); }},
  };
}

}  // namespace mandated::cli
