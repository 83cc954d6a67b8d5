// mandatectl mandate commands: issue, list, show, revoke / suspend / resume, and verification
// online (POST /v1/mandates/verify) or offline (mandates::VerifyMandate in-process, over the
// documents `mandates fetch` downloads), so both answer with the same verdict JSON.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/command_kit.h"
#include "cli/offline_kit.h"
#include "mandates/credential.h"
#include "mandates/verifier.h"
#include "signer/jws.h"

namespace mandated::cli {
namespace {

std::string MandateLine(const json::Value& m) {
  std::string line = Str(m, "id") + "  agent " + Str(m, "agent") + "  " + Str(m, "state");
  if (!Str(m, "state_reason").empty()) {
    line += " (" + Str(m, "state_reason") + ")";
  }
  line += "  valid " + Str(m, "valid_from") + " to " + Str(m, "valid_until");
  if (!Str(m, "parent").empty()) {
    line += "  parent " + Str(m, "parent");
  }
  line += "  uses " + Str(m, "uses");
  if (!Str(m, "max_uses").empty()) {
    line += "/" + Str(m, "max_uses");
  }
  return line + "\n";
}

// Runs `call` and renders its record answer; with --token-out, writes the record's compact
// token to that file, mode 0600. The file is opened (as a temporary beside it) before the call,
// so a path that cannot be written is a usage error (exit 2) before anything is asked of the
// server, never after a mandate was issued.
Output WithTokenOut(const Context& ctx, const std::string& command,
                    const std::function<Result<ApiResponse>()>& call, const LineFn& line) {
  const std::optional<std::string> token_out = Flag(ctx, "--token-out");
  std::unique_ptr<OutputFile> file;
  if (token_out.has_value()) {
    Result<std::unique_ptr<OutputFile>> opened = OutputFile::Open(*token_out, /*secret=*/true);
    if (!opened.ok()) {
      return UsageError(command, "--token-out: " + opened.error().message());
    }
    file = std::move(*opened);
  }
  Result<ApiResponse> r = call();
  Output o = Render(ctx, r, line);
  if (o.exit_code != 0 || !file) {
    return o;  // the temporary file is removed with `file`
  }
  Result<json::Value> record = json::Parse(r->body);
  const std::string token = record.ok() ? Str(*record, "token") : "";
  Status written = token.empty() ? InvalidArgumentError("the answer holds no token", "usage")
                                 : file->Append(token + "\n");
  if (written.ok()) written = file->Commit();
  if (!written.ok()) {
    o.err += "mandatectl " + command + ": " + written.message() + "\n";
    o.exit_code = 2;
  }
  return o;
}

Output Issue(Context& ctx) {
  const std::optional<std::string> agent = Flag(ctx, "--agent");
  const std::optional<std::string> from = Flag(ctx, "--valid-from");
  const std::optional<std::string> until = Flag(ctx, "--valid-until");
  const std::optional<std::string> terms_file = Flag(ctx, "--terms");
  if (!agent || !from || !until || !terms_file || !ctx.positional.empty()) {
    return UsageError("mandates issue",
                      "give --agent, --valid-from, --valid-until and --terms FILE|-");
  }
  Result<json::Value> terms = ReadJson(*terms_file);
  if (!terms.ok()) {
    return UsageError("mandates issue", "--terms " + terms.error().message());
  }
  Result<std::string> path = Where(ctx, "mandates");
  if (!path.ok()) {
    return UsageError("mandates issue", path.error().message());
  }
  json::Value body = json::Value::Object();
  body.Set("agent", json::Value::String(*agent));
  SetFromFlag(body, "parent", ctx, "--parent");
  body.Set("valid_from", json::Value::String(*from));
  body.Set("valid_until", json::Value::String(*until));
  body.Set("terms", std::move(*terms));
  return WithTokenOut(
      ctx, "mandates issue",
      [&] { return ClientFor(ctx).PostJson(*path, json::Write(body)); },
      [](const json::Value& v) { return json::Write(v) + "\n"; });
}

Output Show(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return UsageError("mandates show", "give exactly one mandate id");
  }
  Result<std::string> path = Where(ctx, "mandates/" + ctx.positional[0]);
  if (!path.ok()) {
    return UsageError("mandates show", path.error().message());
  }
  return WithTokenOut(ctx, "mandates show",
                      [&] { return ClientFor(ctx).Get(*path); }, MandateLine);
}

// The body of POST /v1/mandates/verify from the command line (without "use"), read from the
// token, chain and purchase files. kInvalidArgument / kUnavailable name the bad file.
Result<json::Value> VerifyBody(const Context& ctx) {
  if (ctx.positional.size() != 1) {
    return InvalidArgumentError("give exactly one token file", "usage");
  }
  json::Value body = json::Value::Object();
  MD_ASSIGN_OR_RETURN(std::string token, ReadToken(ctx.positional[0]));
  body.Set("mandate", json::Value::String(std::move(token)));
  const std::vector<std::string> chain_files = Flags(ctx, "--chain");
  if (!chain_files.empty()) {
    json::Value chain = json::Value::Array();
    for (const std::string& file : chain_files) {
      MD_ASSIGN_OR_RETURN(std::string link, ReadToken(file));
      chain.Append(json::Value::String(std::move(link)));
    }
    body.Set("chain", std::move(chain));
  }
  if (std::optional<std::string> purchase = Flag(ctx, "--purchase")) {
    MD_ASSIGN_OR_RETURN(json::Value p, ReadJson(*purchase));
    body.Set("purchase", std::move(p));
  }
  SetListFromFlag(body, "trusted_issuers", ctx, "--trusted-issuer");
  return body;
}

Output VerifyOffline(const Context& ctx, const json::Value& body) {
  const std::string command = "mandates verify --offline";
  if (Flag(ctx, "--use").has_value()) {
    return UsageError(command, "--use records a use, which only the service can do: verify "
                               "online to count a use");
  }
  const std::vector<std::string> documents = Flags(ctx, "--did-document");
  if (documents.empty()) {
    return UsageError(command, "give the issuer's DID document with --did-document FILE");
  }
  Result<mandates::VerifyRequest> request = mandates::ParseVerifyRequest(body);
  if (!request.ok()) {
    return UsageError(command, request.error().message() + " (" + request.error().reason() + ")");
  }
  Result<int64_t> now = VerificationTime(ctx);
  if (!now.ok()) {
    return UsageError(command, now.error().message());
  }
  mandates::DocumentResolver resolver;
  for (const std::string& file : documents) {
    Result<json::Value> doc = ReadJson(file);
    Status added = doc.ok() ? resolver.AddDidDocument(*doc) : doc.status();
    if (!added.ok()) {
      return UsageError(command, "--did-document " + file + ": " + added.message());
    }
  }
  for (const std::string& file : Flags(ctx, "--jwks")) {
    Result<json::Value> jwks = ReadJson(file);
    Status added = jwks.ok() ? resolver.AddJwks(*jwks) : jwks.status();
    if (!added.ok()) {
      return UsageError(command, "--jwks " + file + ": " + added.message());
    }
  }
  mandates::TokenStatusListSource statuses(resolver);
  for (const std::string& file : Flags(ctx, "--status-list")) {
    Result<std::string> list = ReadToken(file);
    if (!list.ok()) {
      return UsageError(command, "--status-list " + list.error().message());
    }
    statuses.Add(std::move(*list));
  }
  const mandates::Verdict verdict =
      mandates::VerifyMandate(*request, resolver, statuses, mandates::VerifyOptions{*now});
  return VerdictOutput(json::Write(mandates::VerdictToJson(verdict, *now)), verdict.valid);
}

Output Verify(Context& ctx) {
  const bool offline = Flag(ctx, "--offline").has_value();
  Result<json::Value> body = VerifyBody(ctx);
  if (!body.ok()) {
    return UsageError(offline ? "mandates verify --offline" : "mandates verify",
                      body.error().message());
  }
  if (offline) {
    return VerifyOffline(ctx, *body);
  }
  for (const char* flag : {"--did-document", "--jwks", "--status-list", "--at"}) {
    if (Flag(ctx, flag).has_value()) {
      return UsageError("mandates verify", std::string(flag) + " is for --offline verification");
    }
  }
  if (std::optional<std::string> use = Flag(ctx, "--use")) {
    json::Value u = json::Value::Object();
    u.Set("key", json::Value::String(*use));
    body->Set("use", std::move(u));
  }
  Result<ApiResponse> r =
      ClientFor(ctx).PostJson("/v1/mandates/verify", json::Write(*body));
  if (!r.ok() || r->status < 200 || r->status >= 300) {
    return Render(ctx, r, nullptr);  // an error: the line function is never called
  }
  Result<json::Value> verdict = json::Parse(r->body);
  if (!verdict.ok() || !verdict->is_object() || Str(*verdict, "verdict").empty()) {
    return Usage("mandatectl: " + ctx.server + " answered no verdict: " + r->body + "\n", 1);
  }
  return VerdictOutput(r->body, Str(*verdict, "verdict") == "valid");
}

// What `mandates fetch` needs of one token: its issuer's principal and its status list.
struct TokenRefs {
  std::string principal;
  std::string status_path;  // "/v1/status-lists/<principal>/<n>"
  std::string list_principal;
  std::string list;         // <n>
};

// Reads, without verifying anything, where a token's documents are: the issuer
// did:web:<host>:principals:<id> and status.status_list.uri ".../v1/status-lists/<p>/<n>".
Result<TokenRefs> RefsOf(const std::string& file, const std::string& token) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError(file + ": " + why, "usage");
  };
  Result<signer::Jws> jws = signer::ParseJws(token);
  if (!jws.ok()) {
    return bad("not a compact JWS: " + jws.error().message());
  }
  Result<json::Value> claims = json::Parse(jws->payload);
  if (!claims.ok() || !claims->is_object()) {
    return bad("the token's payload is not a JSON object");
  }
  TokenRefs refs;
  const std::string iss = Str(*claims, "iss");
  const std::string marker = ":principals:";
  const size_t at = iss.find(marker);
  if (iss.rfind("did:web:", 0) != 0 || at == std::string::npos ||
      at + marker.size() == iss.size()) {
    return bad("issuer \"" + iss + "\" is not a principal of a mandated service");
  }
  refs.principal = iss.substr(at + marker.size());
  const json::Value* status = claims->Find("status");
  const json::Value* list = status != nullptr && status->is_object()
                                ? status->Find("status_list")
                                : nullptr;
  const std::string uri = list != nullptr && list->is_object() ? Str(*list, "uri") : "";
  refs.status_path = PathOfUri(uri);
  const std::string prefix = "/v1/status-lists/";
  const size_t slash = refs.status_path.rfind('/');
  if (refs.status_path.rfind(prefix, 0) != 0 || slash <= prefix.size() ||
      slash + 1 == refs.status_path.size()) {
    return bad("status list URI \"" + uri + "\" is not one of a mandated service");
  }
  refs.list_principal = refs.status_path.substr(prefix.size(), slash - prefix.size());
  refs.list = refs.status_path.substr(slash + 1);
  for (const std::string* part : {&refs.principal, &refs.list_principal, &refs.list}) {
    if (!IsIdText(*part)) return bad("unexpected character in \"" + *part + "\"");
  }
  return refs;
}

Output Fetch(Context& ctx) {
  const std::optional<std::string> out_dir = Flag(ctx, "--out");
  if (ctx.positional.size() != 1 || !out_dir.has_value() || out_dir->empty()) {
    return UsageError("mandates fetch", "give one token file and --out DIR");
  }
  std::vector<std::string> files = {ctx.positional[0]};
  for (const std::string& f : Flags(ctx, "--chain")) {
    files.push_back(f);
  }
  std::vector<TokenRefs> refs;
  for (const std::string& file : files) {
    Result<std::string> token = ReadToken(file);
    Result<TokenRefs> r = token.ok() ? RefsOf(file, *token) : Result<TokenRefs>(token.status());
    if (!r.ok()) {
      return UsageError("mandates fetch", r.error().message());
    }
    refs.push_back(std::move(*r));
  }
  // The documents to get, each once, as (server path, file name). The mandate's own principal
  // gets the plain names; another principal's documents carry its id.
  const std::string& first = refs.front().principal;
  std::vector<std::pair<std::string, std::string>> wanted;
  auto want = [&wanted](std::string path, std::string name) {
    for (const auto& w : wanted) {
      if (w.first == path) return;
    }
    wanted.emplace_back(std::move(path), std::move(name));
  };
  for (const TokenRefs& r : refs) {
    const std::string suffix = r.principal == first ? "" : "-" + r.principal;
    want("/principals/" + r.principal + "/did.json", "did" + suffix + ".json");
    want("/principals/" + r.principal + "/jwks.json", "jwks" + suffix + ".json");
  }
  for (const TokenRefs& r : refs) {
    const std::string infix = r.list_principal == first ? "" : r.list_principal + "-";
    want(r.status_path, "status-" + infix + r.list + ".jwt");
  }
  return FetchDocuments(ctx, "mandates fetch", *out_dir, wanted);
}

}  // namespace

std::vector<Command> MandateCommands() {
  return {
      {"mandates issue",
       "--agent ID [--parent ID] --valid-from RFC3339 --valid-until RFC3339 --terms FILE|- "
       "[--token-out FILE]",
       "issue a mandate (or delegate from --parent); prints the record JSON, --token-out "
       "writes its compact token (mode 0600)",
       Issue},
      ListOf("mandates", "mandates", "[--agent ID] [--after ID] [--limit N]",
             "list the principal's mandates, or one agent's", {"--agent", "--after", "--limit"},
             MandateLine),
      {"mandates show", "ID [--token-out FILE]",
       "show one mandate (--json for terms and token; --token-out writes its token, mode 0600)",
       Show},
      OnOne("mandates", "revoke", "mandates", "revoke a mandate and its descendants for good",
            MandateLine),
      OnOne("mandates", "suspend", "mandates", "suspend an active mandate", MandateLine),
      OnOne("mandates", "resume", "mandates", "resume a suspended mandate", MandateLine),
      {"mandates verify",
       "TOKEN_FILE [--chain FILE]... [--purchase FILE] [--trusted-issuer DID]... [--use KEY]\n"
       "      | --offline TOKEN_FILE --did-document FILE... [--jwks FILE]... "
       "[--status-list FILE]...\n"
       "        [--chain FILE]... [--purchase FILE] [--trusted-issuer DID]... "
       "[--at UNIX|RFC3339]",
       "verify a mandate token: online (POST /v1/mandates/verify; --use counts a use) or "
       "--offline with fetched documents; prints the verdict JSON, exit 0 valid, 1 invalid",
       Verify},
      {"mandates fetch", "TOKEN_FILE [--chain FILE]... --out DIR",
       "download what --offline verification needs (issuer did.json, jwks.json, status-<n>.jwt) "
       "into DIR (no --token needed)",
       Fetch},
  };
}

}  // namespace mandated::cli
