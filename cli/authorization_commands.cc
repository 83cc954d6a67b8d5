// mandatectl authorization commands (specs/authorization.md): the agent asks before paying
// (`authorize`), then captures or voids its reservation; a principal's people read decisions,
// decide step-up approvals (optionally signing evidence with their own key) and watch headroom.
//
// Routes: with a session token (ses_...) the agent's own routes (/v1/authorizations/...,
// /v1/headroom); with any other credential the principal's (/v1/principals/{p}/...), which
// need --principal or MANDATED_PRINCIPAL. Every POST that moves money carries an
// Idempotency-Key: --idempotency-key K, or a random one that is printed on standard error so
// the command can be retried with it.
#include <algorithm>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/random.h"
#include "cli/agent_key.h"
#include "cli/command_kit.h"
#include "signer/did.h"
#include "signer/hash.h"
#include "signer/jws.h"
#include "signer/signature.h"

namespace mandated::cli {
namespace {

// Exit code of `authorize` when the decision is approval_required (commands.h).
constexpr int kApprovalRequired = 4;
// Lifetime of approval evidence (specs/authorization.md §7 allows at most 300 s).
constexpr int64_t kEvidenceLifetimeSeconds = 120;

bool IsSessionToken(const Context& ctx) { return ctx.token.chars().starts_with("ses_"); }

// "code, code" of an authorization's reasons.
std::string ReasonCodes(const json::Value& a) {
  std::string out;
  if (const json::Value* reasons = a.Find("reasons")) {
    for (const json::Value& r : reasons->items()) {
      out += (out.empty() ? "" : ", ") + Str(r, "code");
    }
  }
  return out;
}

// One line per reason: "  code: detail".
std::string ReasonDetails(const json::Value& a) {
  std::string out;
  if (const json::Value* reasons = a.Find("reasons")) {
    for (const json::Value& r : reasons->items()) {
      out += "  " + Str(r, "code") + ": " + Str(r, "detail") + "\n";
    }
  }
  return out;
}

// An authorization as one line:
//   atz_...  allowed  3000 USD  reservation rsv_... until 2027-01-01T00:10:00Z
//   atz_...  allowed  3000 USD  reservation rsv_... captured 1200   (or voided, expired)
//   atz_...  denied: window-exceeded, principal-ceiling-exceeded
//   atz_...  approval_required  30000 USD  approval apr_... until 2027-01-01T00:15:00Z
std::string AuthorizationLine(const json::Value& a) {
  const std::string decision = Str(a, "decision");
  std::string line = Str(a, "id") + "  ";
  if (decision == "denied") {
    return line + "denied: " + ReasonCodes(a) + "\n";
  }
  line += decision + "  " + Str(a, "amount") + " " + Str(a, "asset");
  const json::Value* approval = a.Find("approval");
  const json::Value* reservation = a.Find("reservation");
  if (decision == "approval_required" && approval != nullptr) {
    line += "  approval " + Str(*approval, "id") + " until " + TimeOf(*approval, "expires_at");
  } else if (reservation != nullptr) {
    const std::string state = Str(*reservation, "state");
    line += "  reservation " + Str(*reservation, "id");
    if (state == "reserved") {
      line += " until " + TimeOf(*reservation, "expires_at");
    } else if (state == "captured") {
      line += " captured " + Str(*reservation, "captured");
    } else {
      line += " " + state;
    }
  }
  return line + "\n";
}

// An authorization in full: its line, its reasons, and the receipt a merchant verifies.
std::string AuthorizationDetail(const json::Value& a) {
  std::string out = AuthorizationLine(a) + ReasonDetails(a);
  if (!Str(a, "receipt").empty()) {
    out += "receipt: " + Str(a, "receipt") + "\n";
  }
  return out;
}

// An approval as one line:
//   apr_...  pending  atz_...  agent agt_...  30000 USD to domain:shop.example  expires T
//   apr_...  approved  atz_...  agent agt_...  30000 USD to ...  by usr_...  evidence did:key:...
std::string ApprovalLine(const json::Value& p) {
  std::string line = Str(p, "id") + "  " + Str(p, "state") + "  " + Str(p, "authorization") +
                     "  agent " + Str(p, "agent");
  if (const json::Value* shown = p.Find("shown")) {
    line += "  " + Str(*shown, "amount") + " " + Str(*shown, "asset");
    if (const json::Value* payee = shown->Find("payee")) {
      line += " to " + Str(*payee, "type") + ":" + Str(*payee, "value");
    }
  }
  if (Str(p, "state") == "pending") {
    line += "  expires " + TimeOf(p, "expires_at");
  }
  if (const json::Value* by = p.Find("decided_by")) {
    line += "  by " + (Str(*by, "user").empty() ? Str(*by, "credential") : Str(*by, "user"));
  }
  if (const json::Value* evidence = p.Find("evidence")) {
    line += "  evidence " + Str(*evidence, "did");
  }
  if (!Str(p, "note").empty()) {
    line += "  note " + json::Write(json::Value::String(Str(p, "note")));
  }
  return line + "\n";
}

// The answer to a decision: the approval, then the authorization it changed.
std::string DecisionLines(const json::Value& p) {
  std::string out = ApprovalLine(p);
  if (const json::Value* after = p.Find("authorization_after")) {
    out += AuthorizationLine(*after);
  }
  return out;
}

// A text table: columns padded to their widest cell, two spaces apart.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(width[i] - row[i].size() + 2, ' ');
      }
    }
    out += line + "\n";
  }
  return out;
}

// Counters of a headroom answer as a table, or `none` when there are none.
std::string CounterTable(const json::Value* counters, const std::string& none) {
  std::vector<std::vector<std::string>> rows = {
      {"COUNTER", "ASSET", "SPENT", "MAX", "REMAINING", "RESETS AT"}};
  if (counters != nullptr) {
    for (const json::Value& c : counters->items()) {
      const std::string resets = TimeOf(c, "resets_at");
      rows.push_back({Str(c, "counter"), Str(c, "asset"), Str(c, "spent"), Str(c, "max"),
                      Str(c, "remaining"), resets.empty() ? "-" : resets});
    }
  }
  return rows.size() == 1 ? none : Table(rows);
}

// One mandate's headroom (specs/authorization.md §8):
//   mandate mnd_...  valid
//   COUNTER                     ASSET  SPENT  MAX    REMAINING  RESETS AT
//   mandate:mnd_...:lifetime    USD    1200   10000  8800       -
//   uses mnd_...  1 of 5 (4 remaining)
std::string MandateHeadroom(const json::Value& h) {
  std::string out = "mandate " + Str(h, "mandate") + "  " + Str(h, "verdict") + "\n";
  out += CounterTable(h.Find("counters"), "no counters\n");
  if (const json::Value* uses = h.Find("uses")) {
    for (const json::Value& u : uses->items()) {
      out += "uses " + Str(u, "mandate") + "  " + Str(u, "uses");
      if (!Str(u, "max_uses").empty()) {
        out += " of " + Str(u, "max_uses") + " (" + Str(u, "remaining") + " remaining)";
      }
      out += "\n";
    }
  }
  return out;
}

// An agent's headroom: its and the principal's ceilings (for a session asking about itself,
// its spend cap too), then each active mandate's when the answer lists them.
//   agent agt_...  ceilings
//   COUNTER                     ASSET  SPENT  MAX    REMAINING  RESETS AT
//   agent:agt_...:day           USD    500    1500   1000       2026-11-19T00:00:00Z
std::string AgentHeadroom(const json::Value& h) {
  std::string out = "agent " + Str(h, "agent");
  if (!Str(h, "session").empty()) out += "  session " + Str(h, "session");
  out += "  ceilings\n" + CounterTable(h.Find("ceilings"), "no ceilings\n");
  const json::Value* mandates = h.Find("mandates");
  if (mandates == nullptr) return out;
  for (const json::Value& m : mandates->items()) out += "\n" + MandateHeadroom(m);
  return mandates->items().empty() ? out + "no active mandates\n" : out;
}

// The Idempotency-Key of a POST: --idempotency-key, or a new random one (22 base64url
// characters) that `note` reports on standard error.
Result<std::string> IdempotencyKey(const Context& ctx, std::string& note) {
  if (std::optional<std::string> key = Flag(ctx, "--idempotency-key")) {
    if (key->empty()) {
      return InvalidArgumentError("--idempotency-key must not be empty", "usage");
    }
    return *key;
  }
  MD_ASSIGN_OR_RETURN(Bytes random, SystemRandom::Get().Generate(16));
  const std::string key = Base64UrlEncode(random);
  note = "idempotency key: " + key + " (retry with --idempotency-key " + key + ")\n";
  return key;
}

// POSTs `body` to `path` once per idempotency key and renders the answer through `line`.
// A replayed answer (the same key sent before) is said so on standard error.
Output PostOnce(const Context& ctx, const std::string& command, const std::string& path,
                const std::string& body, const LineFn& line, Result<ApiResponse>* raw = nullptr) {
  std::string note;
  Result<std::string> key = IdempotencyKey(ctx, note);
  if (!key.ok()) {
    return UsageError(command, key.error().message());
  }
  Result<ApiResponse> r = ClientFor(ctx).PostJson(path, body, *key);
  Output o = Render(ctx, r, line);
  if (r.ok() && r->replayed) {
    note += "replayed: the first answer to idempotency key " + *key + "\n";
  }
  o.err = note + o.err;
  if (raw != nullptr) {
    *raw = std::move(r);
  }
  return o;
}

// The path of one authorization, plus "/<action>" when given: the agent's own route with a
// session token, else the principal's.
Result<std::string> AuthorizationPath(const Context& ctx, const std::string& id,
                                      const std::string& action) {
  const std::string one = "authorizations/" + id + (action.empty() ? "" : "/" + action);
  return IsSessionToken(ctx) ? "/v1/" + one : Where(ctx, one);
}

// {"type","value"} of --payee domain:HOST | address:0x... | did:...
Result<json::Value> ParsePayee(const std::string& spec) {
  json::Value payee = json::Value::Object();
  if (spec.rfind("did:", 0) == 0) {
    payee.Set("type", json::Value::String("did"));
    payee.Set("value", json::Value::String(spec));
    return payee;
  }
  for (const char* type : {"domain", "address"}) {
    const std::string prefix = std::string(type) + ":";
    if (spec.rfind(prefix, 0) == 0 && spec.size() > prefix.size()) {
      payee.Set("type", json::Value::String(type));
      payee.Set("value", json::Value::String(spec.substr(prefix.size())));
      return payee;
    }
  }
  return InvalidArgumentError(
      "--payee wants domain:HOST, address:0x... or did:..., got \"" + spec + "\"", "usage");
}

Output Authorize(Context& ctx) {
  const std::string command = "authorize";
  const std::optional<std::string> mandate = Flag(ctx, "--mandate");
  const std::optional<std::string> payee_spec = Flag(ctx, "--payee");
  const std::optional<std::string> amount = Flag(ctx, "--amount");
  const std::optional<std::string> asset = Flag(ctx, "--asset");
  if (!mandate || !payee_spec || !amount || !asset || !ctx.positional.empty()) {
    return UsageError(command, "give --mandate, --payee, --amount and --asset");
  }
  Result<json::Value> payee = ParsePayee(*payee_spec);
  if (!payee.ok()) {
    return UsageError(command, payee.error().message());
  }
  json::Value body = json::Value::Object();
  body.Set("mandate", json::Value::String(*mandate));
  body.Set("payee", std::move(*payee));
  body.Set("amount", json::Value::String(*amount));
  body.Set("asset", json::Value::String(*asset));
  SetFromFlag(body, "network", ctx, "--network");
  SetFromFlag(body, "category", ctx, "--category");
  SetFromFlag(body, "country", ctx, "--country");
  SetFromFlag(body, "resource", ctx, "--resource");
  SetFromFlag(body, "cart_hash", ctx, "--cart-hash");
  Result<ApiResponse> raw = UnavailableError("not sent");
  Output o =
      PostOnce(ctx, command, "/v1/authorizations", json::Write(body), AuthorizationLine, &raw);
  if (o.exit_code != 0 || !raw.ok()) {
    return o;
  }
  // A recorded decision: its exit code says which (allowed 0, denied 1, approval_required 4).
  Result<json::Value> answer = json::Parse(raw->body);
  const std::string decision = answer.ok() ? Str(*answer, "decision") : "";
  if (decision == "denied") {
    o.err += ReasonDetails(*answer);
    o.exit_code = 1;
  } else if (decision == "approval_required") {
    o.exit_code = kApprovalRequired;
  } else if (decision != "allowed") {
    o.err += "mandatectl authorize: the answer holds no decision\n";
    o.exit_code = 1;
  }
  return o;
}

Output GetAuthorization(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return UsageError("authorizations get", "give exactly one authorization id");
  }
  Result<std::string> path = AuthorizationPath(ctx, ctx.positional[0], "");
  if (!path.ok()) {
    return UsageError("authorizations get", path.error().message());
  }
  return Render(ctx, ClientFor(ctx).Get(*path), AuthorizationDetail);
}

// `capture ID [--amount N]` and `void ID`.
Output MoveReservation(Context& ctx, const std::string& action) {
  if (ctx.positional.size() != 1) {
    return UsageError(action, "give exactly one authorization id");
  }
  Result<std::string> path = AuthorizationPath(ctx, ctx.positional[0], action);
  if (!path.ok()) {
    return UsageError(action, path.error().message());
  }
  std::string body;
  if (action == "capture") {
    if (std::optional<std::string> amount = Flag(ctx, "--amount")) {
      json::Value v = json::Value::Object();
      v.Set("amount", json::Value::String(*amount));
      body = json::Write(v);
    }
  }
  return PostOnce(ctx, action, *path, body, AuthorizationLine);
}

// The evidence JWS of an approver's decision (specs/authorization.md §7), signed with the key
// in `key_file`: iss = its did:key, aud = the service DID, the approval, the decision and the
// shown_sha256 of GET approval, iat = now, exp = now + 120. On failure `failure` is the output.
Result<std::string> Evidence(const Context& ctx, const std::string& command,
                             const std::string& key_file, const std::string& approval_path,
                             bool approve, Output& failure) {
  Result<signer::PrivateKey> key = ReadKeyFile(key_file);
  if (!key.ok()) {
    failure = UsageError(command, key.error().message());
    return key.error();
  }
  MD_ASSIGN_OR_RETURN(std::string audience, ServiceDid(ctx, failure));
  Result<ApiResponse> got = ClientFor(ctx).Get(approval_path);
  if (!got.ok() || got->status < 200 || got->status >= 300) {
    failure = Render(ctx, got, nullptr);  // an error: the line function is never called
    return UnavailableError("no approval");
  }
  Result<json::Value> approval = json::Parse(got->body);
  const std::string shown = approval.ok() ? Str(*approval, "shown_sha256") : "";
  if (shown.empty()) {
    failure =
        Usage("mandatectl: " + ctx.server + " answered an approval without shown_sha256\n", 1);
    return NotFoundError("no shown_sha256");
  }
  // The signature attests to what the approver was shown: the hash is recomputed from the
  // `shown` the server sent, never taken on its word (specs/authorization.md §7).
  const json::Value* shown_doc = approval->Find("shown");
  const std::string recomputed =
      shown_doc != nullptr
          ? HexEncode(signer::Sha256(AsBytes(json::Write(*shown_doc))))
          : std::string();
  if (recomputed != shown) {
    failure = Usage("mandatectl: " + ctx.server + " answered an approval whose shown_sha256 is " +
                        "not the hash of what it shows; nothing was signed\n",
                    1);
    return FailedPreconditionError("shown_sha256 mismatch");
  }
  Result<signer::PublicKey> pub = signer::DerivePublicKey(*key);
  if (!pub.ok()) {
    failure = UsageError(command, pub.error().message());
    return pub.error();
  }
  const int64_t now = SystemClock::Get().NowUnixSeconds();
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String(std::string(signer::JwsAlgFor(key->type))));
  header.Set("typ", json::Value::String("JWT"));
  header.Set("kid", json::Value::String(signer::DidKeyVerificationMethodId(*pub)));
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(signer::DidKeyFromPublicKey(*pub)));
  claims.Set("aud", json::Value::String(audience));
  claims.Set("approval", json::Value::String(Str(*approval, "id")));
  claims.Set("decision", json::Value::String(approve ? "approve" : "deny"));
  claims.Set("shown_sha256", json::Value::String(shown));
  claims.Set("iat", json::Value::Int(now));
  claims.Set("exp", json::Value::Int(now + kEvidenceLifetimeSeconds));
  Result<std::string> jws = signer::SignJws(*key, std::move(header), json::Write(claims));
  if (!jws.ok()) {
    failure = UsageError(command, jws.error().message());
  }
  return jws;
}

Output Decide(Context& ctx, bool approve) {
  const std::string command = std::string("approvals ") + (approve ? "approve" : "deny");
  if (ctx.positional.size() != 1) {
    return UsageError(command, "give exactly one approval id");
  }
  const std::string one = "approvals/" + ctx.positional[0];
  Result<std::string> approval_path = Where(ctx, one);
  if (!approval_path.ok()) {
    return UsageError(command, approval_path.error().message());
  }
  json::Value body = json::Value::Object();
  if (std::optional<std::string> key_file = Flag(ctx, "--key")) {
    Output failure;
    Result<std::string> evidence =
        Evidence(ctx, command, *key_file, *approval_path, approve, failure);
    if (!evidence.ok()) {
      return failure;
    }
    body.Set("evidence", json::Value::String(*evidence));
  }
  SetFromFlag(body, "note", ctx, "--note");
  return PostOnce(ctx, command, *approval_path + (approve ? "/approve" : "/deny"),
                  json::Write(body), DecisionLines);
}

Output Headroom(Context& ctx) {
  const std::optional<std::string> mandate = Flag(ctx, "--mandate");
  const std::optional<std::string> agent = Flag(ctx, "--agent");
  if (!mandate.has_value() && !agent.has_value() && ctx.positional.empty() &&
      IsSessionToken(ctx)) {  // an agent's own ceilings
    return Call(ctx, Method::kGet, "/v1/headroom", "", AgentHeadroom);
  }
  if (mandate.has_value() == agent.has_value() || !ctx.positional.empty()) {
    return UsageError("headroom", "give exactly one of --mandate ID or --agent ID (an agent "
                                  "session may give neither: its own ceilings)");
  }
  if (agent.has_value()) {
    return Call(ctx, Method::kGet, "agents/" + *agent + "/headroom", "", AgentHeadroom);
  }
  return Call(ctx, Method::kGet,
              IsSessionToken(ctx) ? "/v1/headroom?mandate=" + *mandate
                                  : "mandates/" + *mandate + "/headroom",
              "", MandateHeadroom);
}

const char kRetry[] = "; retry with --idempotency-key K (a new key is printed on stderr)";

}  // namespace

std::vector<Command> AuthorizationCommands() {
  return {
      {"authorize",
       "--mandate ID --payee domain:HOST|address:0x...|did:... --amount N --asset ASSET\n"
       "        [--network CAIP2] [--category MCC] [--country CC] [--resource URL]\n"
       "        [--cart-hash H] [--idempotency-key K]",
       std::string("ask before paying (the agent's session token): prints the decision in one "
                   "line; exit 0 allowed (the amount is reserved), 1 denied (reasons on stderr) "
                   "or refused, 4 approval_required (held while a person decides)") +
           kRetry,
       Authorize},
      {"authorizations get", "ID",
       "show one authorization with its reasons and receipt (the agent's own with a session "
       "token, else the principal's)",
       GetAuthorization},
      ListOf("authorizations", "authorizations",
             "[--mandate ID] [--agent ID] [--after ID] [--limit N]",
             "list the principal's authorizations, or one mandate's or agent's",
             {"--mandate", "--agent", "--after", "--limit"}, AuthorizationLine),
      {"capture", "ID [--amount N] [--idempotency-key K]",
       std::string("capture a reservation: all of it, or --amount (at most the reserved "
                   "amount; the rest is released)") +
           kRetry,
       [](Context& ctx) { return MoveReservation(ctx, "capture"); }},
      {"void", "ID [--idempotency-key K]",
       std::string("release a reservation (reserved, or pending an approval)") + kRetry,
       [](Context& ctx) { return MoveReservation(ctx, "void"); }},
      ListOf("approvals", "approvals",
             "[--state pending|approved|denied|expired|withdrawn] [--after ID] "
             "[--limit N]",
             "list the principal's step-up approvals (approver, admin)",
             {"--state", "--after", "--limit"}, ApprovalLine),
      OnOne("approvals", "get", "approvals", "show one approval", ApprovalLine),
      {"approvals approve", "ID [--key FILE] [--note TEXT] [--idempotency-key K]",
       "approve a step-up: the held amount becomes a reservation with a receipt; --key signs "
       "evidence with the user's own key (`agent keygen`, registered with `users create "
       "--did`). A signed decision is new each time: retry it with a new key",
       [](Context& ctx) { return Decide(ctx, true); }},
      {"approvals deny", "ID [--key FILE] [--note TEXT] [--idempotency-key K]",
       "deny a step-up: the held amount is released; --key signs evidence as for approve",
       [](Context& ctx) { return Decide(ctx, false); }},
      {"headroom", "[--mandate ID | --agent ID]",
       "what is left to spend: every counter that applies (spent, max, remaining, resets at) "
       "and uses; --mandate with a session token is the agent's own view, and a session token "
       "alone shows the agent's own ceilings (its, its session's and the principal's)",
       Headroom},
  };
}

}  // namespace mandated::cli
