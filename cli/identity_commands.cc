// mandatectl commands for a principal's users, credentials, agents and sessions
// (specs/access.md), run with an admin credential or the operator token.
#include <string>

#include "cli/command_kit.h"

namespace mandated::cli {
namespace {

// "a,b,c" of a string array member; "" when absent or empty.
std::string Joined(const json::Value& v, const char* key) {
  std::string out;
  if (const json::Value* list = v.Find(key)) {
    for (const json::Value& item : list->items()) {
      out += (out.empty() ? "" : ",") + item.as_string();
    }
  }
  return out;
}

// "  <label> <value>" when `value` is not empty.
std::string Part(const std::string& label, const std::string& value) {
  return value.empty() ? "" : "  " + label + (label.empty() ? "" : " ") + value;
}

std::string UserLine(const json::Value& u) {
  return Str(u, "id") + "  " + Str(u, "name") + "  " + Joined(u, "roles") + "  " + Str(u, "state") +
         Part("did", Str(u, "did")) + "\n";
}

std::string CredentialLine(const json::Value& c) {
  const json::Value* expires = c.Find("expires_at");
  return Str(c, "id") + "  " + Str(c, "role") + "  " + Str(c, "name") + "  " + Str(c, "state") +
         Part("user", Str(c, "user")) + Part("agents", Joined(c, "agents")) +
         Part("mandates", Joined(c, "mandates")) +
         Part("expires", expires != nullptr ? UtcTime(expires->as_int64().value_or(0)) : "") + "\n";
}

std::string AgentLine(const json::Value& a) {
  const json::Value* rate = a.Find("rate_limit");
  return Str(a, "id") + "  " + Str(a, "name") + "  " + Str(a, "custody") + "  " +
         Str(a, "key_type") + "  " + Str(a, "state") + "  " + Str(a, "did") +
         Part("", Str(a, "address")) + Part("", Str(a, "did_pkh")) +
         Part("rate", rate != nullptr ? Str(*rate, "per_second") + "/" + Str(*rate, "burst") : "") +
         CeilingsText(a) + "\n";
}

}  // namespace

std::string SessionLine(const json::Value& s) {
  const json::Value* cap = s.Find("spend_cap");
  const json::Value* expires = s.Find("expires_at");
  return Str(s, "id") + "  agent " + Str(s, "agent") + "  " + Str(s, "state") +
         Part("", Str(s, "revoked_reason")) + "  expires " +
         UtcTime(expires != nullptr ? expires->as_int64().value_or(0) : 0) + "  task " +
         json::Write(json::Value::String(Str(s, "task"))) +
         Part("mandates", Joined(s, "mandates")) +
         Part("cap", cap != nullptr ? Str(*cap, "asset") + ":" + Str(*cap, "max") : "") + "\n";
}

Result<json::Value> SessionRequest(const Context& ctx) {
  std::optional<std::string> task = Flag(ctx, "--task");
  if (!task.has_value()) {
    return InvalidArgumentError("--task is required", "usage");
  }
  json::Value body = json::Value::Object();
  body.Set("task", json::Value::String(*task));
  SetListFromFlag(body, "mandates", ctx, "--mandate");
  if (std::optional<std::string> cap = Flag(ctx, "--cap")) {
    // CAIP-19 assets contain ':'; the amount is after the last one.
    const size_t colon = cap->rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == cap->size()) {
      return InvalidArgumentError("--cap wants ASSET:MAX, got \"" + *cap + "\"", "usage");
    }
    json::Value c = json::Value::Object();
    c.Set("asset", json::Value::String(cap->substr(0, colon)));
    c.Set("max", json::Value::String(cap->substr(colon + 1)));
    body.Set("spend_cap", std::move(c));
  }
  MD_ASSIGN_OR_RETURN(std::optional<int64_t> ttl, IntFlag(ctx, "--ttl-minutes", 1, 1000000));
  if (ttl.has_value()) {
    body.Set("ttl_minutes", json::Value::Int(*ttl));
  }
  return body;
}

namespace {

const char kPage[] = "[--after ID] [--limit N]";

Output CreateUser(Context& ctx) {
  std::optional<std::string> name = Flag(ctx, "--name");
  if (!name.has_value() || Flags(ctx, "--role").empty()) {
    return UsageError("users create", "--name and at least one --role are required");
  }
  json::Value body = json::Value::Object();
  body.Set("name", json::Value::String(*name));
  SetListFromFlag(body, "roles", ctx, "--role");
  SetFromFlag(body, "did", ctx, "--did");
  return Call(ctx, Method::kPost, "users", json::Write(body), UserLine);
}

Output CreateCredential(Context& ctx) {
  std::optional<std::string> role = Flag(ctx, "--role");
  Result<std::optional<int64_t>> expires = IntFlag(ctx, "--expires-at", 1, INT64_MAX);
  if (!role.has_value() || !expires.ok()) {
    return UsageError("credentials create",
                      expires.ok() ? "--role is required" : expires.error().message());
  }
  json::Value body = json::Value::Object();
  body.Set("role", json::Value::String(*role));
  SetFromFlag(body, "name", ctx, "--name");
  SetFromFlag(body, "user", ctx, "--user");
  SetListFromFlag(body, "agents", ctx, "--agent");
  SetListFromFlag(body, "mandates", ctx, "--mandate");
  if (expires->has_value()) {
    body.Set("expires_at", json::Value::Int(**expires));
  }
  return Call(ctx, Method::kPost, "credentials", json::Write(body), WithToken(CredentialLine));
}

// The agent request of `agents create`, or kInvalidArgument naming the bad flag.
Result<json::Value> AgentRequest(const Context& ctx) {
  std::optional<std::string> name = Flag(ctx, "--name");
  std::optional<std::string> did = Flag(ctx, "--did");
  std::optional<std::string> custodial = Flag(ctx, "--custodial");
  if (!name.has_value() || did.has_value() == custodial.has_value()) {
    return InvalidArgumentError("give --name and exactly one of --did DID or --custodial KEYTYPE",
                                "usage");
  }
  json::Value body = json::Value::Object();
  body.Set("name", json::Value::String(*name));
  if (did.has_value()) {
    body.Set("did", json::Value::String(*did));
  } else {
    json::Value c = json::Value::Object();
    c.Set("key_type", json::Value::String(*custodial));
    MD_ASSIGN_OR_RETURN(std::optional<int64_t> chain, IntFlag(ctx, "--chain-id", 1, INT64_MAX));
    if (chain.has_value()) {
      c.Set("chain_id", json::Value::Int(*chain));
    }
    body.Set("custodial", std::move(c));
  }
  if (std::optional<std::string> rate = Flag(ctx, "--rate")) {
    const size_t slash = rate->find('/');
    std::optional<int64_t> per_second = ParseInt(rate->substr(0, slash), 1, 1000000);
    std::optional<int64_t> burst =
        slash == std::string::npos ? std::nullopt : ParseInt(rate->substr(slash + 1), 1, 1000000);
    if (!per_second.has_value() || !burst.has_value()) {
      return InvalidArgumentError(
          "--rate wants PER_SECOND/BURST (1 to 1000000 each), got \"" + *rate + "\"", "usage");
    }
    json::Value r = json::Value::Object();
    r.Set("per_second", json::Value::Int(*per_second));
    r.Set("burst", json::Value::Int(*burst));
    body.Set("rate_limit", std::move(r));
  }
  MD_RETURN_IF_ERROR(SetCeilingsFromFlags(body, ctx));
  return body;
}

Output OpenSessionFor(Context& ctx) {
  Result<json::Value> body = SessionRequest(ctx);
  if (ctx.positional.size() != 1 || !body.ok()) {
    return UsageError("sessions open-for",
                      body.ok() ? "give exactly one agent id" : body.error().message());
  }
  return Call(ctx, Method::kPost, "agents/" + ctx.positional[0] + "/sessions", json::Write(*body),
              WithToken(SessionLine));
}

}  // namespace

std::vector<Command> IdentityCommands() {
  return {
      {"users create", "--name NAME --role ROLE [--role ROLE]... [--did DID]",
       "add a user to the principal; roles: admin, approver, auditor, merchant; --did is the "
       "did:key (see `agent keygen`) that signs the user's approval evidence",
       CreateUser},
      ListOf("users", "users", kPage, "list the principal's users: id, name, roles, state",
             {"--after", "--limit"}, UserLine),
      OnOne("users", "get", "users", "show one user", UserLine),
      OnOne("users", "disable", "users", "disable a user and revoke all its credentials", UserLine),
      {"credentials create",
       "--role ROLE [--name NAME] [--user ID] [--agent ID]... [--mandate ID]... "
       "[--expires-at UNIX]",
       "issue an API credential; its token is printed once and never again", CreateCredential},
      ListOf("credentials", "credentials", kPage, "list the principal's credentials (no secrets)",
             {"--after", "--limit"}, CredentialLine),
      OnOne("credentials", "get", "credentials", "show one credential", CredentialLine),
      OnOne("credentials", "revoke", "credentials", "revoke a credential, at once and for good",
            CredentialLine),
      {"agents create",
       "--name NAME (--did DID | --custodial KEYTYPE [--chain-id N]) [--rate PER_SECOND/BURST] "
       "[--ceiling ASSET:WINDOW:MAX]...",
       "register an agent: its own did:key (see `agent keygen`), or a key the service holds; "
       "ceilings bound all its payments, e.g. USD:day:50000",
       [](Context& ctx) {
         Result<json::Value> body = AgentRequest(ctx);
         if (!body.ok()) {
           return UsageError("agents create", body.error().message());
         }
         return Call(ctx, Method::kPost, "agents", json::Write(*body), AgentLine);
       }},
      ListOf("agents", "agents", kPage,
             "list the principal's agents: id, name, custody, key type, state, DID",
             {"--after", "--limit"}, AgentLine),
      OnOne("agents", "get", "agents", "show one agent", AgentLine),
      OnOne("agents", "suspend", "agents", "suspend an agent; its open sessions are revoked",
            AgentLine),
      OnOne("agents", "resume", "agents",
            "resume a suspended agent (its old sessions stay revoked)", AgentLine),
      OnOne("agents", "revoke", "agents", "revoke an agent for good; its open sessions are revoked",
            AgentLine),
      ListOf("sessions", "sessions", "[--agent ID] [--after ID] [--limit N]",
             "list the principal's sessions, or one agent's", {"--agent", "--after", "--limit"},
             SessionLine),
      OnOne("sessions", "get", "sessions", "show one session", SessionLine),
      OnOne("sessions", "revoke", "sessions", "revoke a session", SessionLine),
      {"sessions open-for",
       "AGENT_ID --task TASK [--mandate ID]... [--ttl-minutes N] [--cap ASSET:MAX]",
       "open a session for an agent (e.g. a custodial one); its token is printed once",
       OpenSessionFor},
  };
}

}  // namespace mandated::cli
