// mandatectl AP2 commands for a principal's people (specs/ap2.md §9): list, show and revoke its
// AP2 open mandates, and read what one has spent and the payments closed under it. Issuing one
// stays an API call: its constraints are AP2's own JSON. And for anyone holding an open mandate
// (a merchant, an auditor): download its principal's public AP2 keys and status list, and verify
// it offline against them (specs/ap2.md §5.6).
#include <string>
#include <utility>
#include <vector>

#include "cli/command_kit.h"
#include "cli/offline_kit.h"
#include "mandates/ap2_offline.h"
#include "mandates/sd_jwt.h"
#include "mandates/verifier.h"

namespace mandated::cli {
namespace {

// ap2m_...  payment  agent agt_...  expires 2026-12-31T00:00:00Z[  checkout ap2m_...]
//   [  status list 0 entry 5][  revoked 2026-12-07T10:00:00Z by crd_...]
std::string OpenMandateLine(const json::Value& m) {
  std::string line = Str(m, "id") + "  " + Str(m, "kind") + "  agent " + Str(m, "agent") +
                     "  expires " + TimeOf(m, "expires_at");
  if (!Str(m, "checkout_mandate").empty()) line += "  checkout " + Str(m, "checkout_mandate");
  if (const json::Value* st = m.Find("status_list"); st != nullptr && st->is_object()) {
    line += "  status list " + Str(*st, "list") + " entry " + Str(*st, "idx");
  }
  if (!TimeOf(m, "revoked_at").empty()) {
    line += "  revoked " + TimeOf(m, "revoked_at") + " by " + Str(m, "revoked_by");
  }
  return line + "\n";
}

// ap2m_...  spent 650  uses 3  last use 2026-12-07T10:00:00Z
// ap2c_...  tx order-1  250 USD to shop  2026-12-07T09:00:00Z  [ledger ap2-ap2c_...]
//   [authorization atz_... under mnd_...] (all on one line; the last for a custodial closing)
// (more: mandatectl ap2 closings ap2m_... --after KEY)
std::string ClosingsText(const json::Value& c) {
  const json::Value empty = json::Value::Object();
  const json::Value* usage = c.Find("usage");
  const json::Value& u = usage != nullptr ? *usage : empty;
  std::string out = Str(c, "mandate") + "  spent " + Str(u, "spent") + "  uses " + Str(u, "uses");
  if (!TimeOf(u, "last_use_at").empty()) out += "  last use " + TimeOf(u, "last_use_at");
  out += "\n";
  if (const json::Value* items = c.Find("items")) {
    for (const json::Value& r : items->items()) {
      const json::Value* amount = r.Find("payment_amount");
      const json::Value* payee = r.Find("payee");
      out += Str(r, "id") + "  tx " + Str(r, "transaction_id") + "  " +
             (amount != nullptr ? Str(*amount, "amount") + " " + Str(*amount, "currency") : "") +
             " to " + (payee != nullptr ? Str(*payee, "id") : "") + "  " +
             TimeOf(r, "closed_at");
      if (!Str(r, "ledger_transfer").empty()) out += "  ledger " + Str(r, "ledger_transfer");
      if (!Str(r, "x402_nonce").empty()) out += "  x402 " + Str(r, "x402_nonce");
      if (!Str(r, "authorization").empty()) {
        out += "  authorization " + Str(r, "authorization") + " under " +
               Str(r, "authorization_mandate");
      }
      out += "\n";
    }
  }
  if (!Str(c, "next_after").empty()) {
    out += "(more: mandatectl ap2 closings " + Str(c, "mandate") + " --after " +
           Str(c, "next_after") + ")\n";
  }
  return out;
}

Output Closings(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return UsageError("ap2 closings", "give exactly one open mandate id");
  }
  return Call(ctx, Method::kGet,
              WithQueryFlags(ctx, "ap2/mandates/" + ctx.positional[0] + "/closings",
                             {"--after", "--limit"}),
              "", ClosingsText);
}

// What `ap2 fetch` needs of an open mandate, read without verifying anything: its principal (iss)
// and, when it names one, the path and number of its status list
// ("<scheme>://<host>/v1/ap2/status-lists/<principal>/<n>").
struct OpenRefs {
  std::string principal;
  std::string status_path;  // "" when the mandate names no status list
  std::string list;
};

Result<OpenRefs> OpenRefsOf(const std::string& file, const std::string& token) {
  auto bad = [&](const std::string& why) { return InvalidArgumentError(file + ": " + why, "usage"); };
  Result<mandates::sdjwt::Presentation> p = mandates::sdjwt::Parse(token);
  if (!p.ok()) return bad("not an SD-JWT: " + p.error().message());
  const json::Value& claims = p->hops[0].payload;
  OpenRefs refs;
  refs.principal = Str(claims, "iss");
  if (!IsIdText(refs.principal)) {
    return bad("issuer \"" + refs.principal + "\" is not a principal of a mandated service");
  }
  const json::Value* status = claims.Find("status");
  if (status == nullptr) return refs;
  const json::Value* list = status->is_object() ? status->Find("status_list") : nullptr;
  const std::string uri = list != nullptr && list->is_object() ? Str(*list, "uri") : "";
  const std::string path = PathOfUri(uri);
  const std::string prefix = "/v1/ap2/status-lists/" + refs.principal + "/";
  if (path.rfind(prefix, 0) != 0 || !IsIdText(path.substr(prefix.size()))) {
    return bad("status list URI \"" + uri + "\" is not one of this mandate's principal");
  }
  refs.status_path = path;
  refs.list = path.substr(prefix.size());
  return refs;
}

Output Fetch(Context& ctx) {
  const std::optional<std::string> out_dir = Flag(ctx, "--out");
  if (ctx.positional.size() != 1 || !out_dir.has_value() || out_dir->empty()) {
    return UsageError("ap2 fetch", "give one open mandate file and --out DIR");
  }
  Result<std::string> token = ReadToken(ctx.positional[0]);
  Result<OpenRefs> refs =
      token.ok() ? OpenRefsOf(ctx.positional[0], *token) : Result<OpenRefs>(token.status());
  if (!refs.ok()) return UsageError("ap2 fetch", refs.error().message());
  std::vector<std::pair<std::string, std::string>> wanted = {
      {"/principals/" + refs->principal + "/ap2-jwks.json", "ap2-jwks.json"}};
  if (!refs->status_path.empty()) {
    wanted.emplace_back(refs->status_path, "ap2-status-" + refs->list + ".jwt");
  }
  return FetchDocuments(ctx, "ap2 fetch", *out_dir, wanted);
}

Output Verify(Context& ctx) {
  const std::string command = "ap2 verify";
  if (ctx.positional.size() != 1) return UsageError(command, "give one open mandate file");
  // Exactly one key set: every key in it speaks for the mandate's principal, so keys of
  // another principal (or anyone's) must never be mixed in.
  const std::vector<std::string> jwks_files = Flags(ctx, "--jwks");
  if (jwks_files.size() != 1) {
    return UsageError(command, "give the mandate's principal's AP2 keys with exactly one --jwks "
                               "FILE (ap2 fetch downloads them)");
  }
  Result<std::string> token = ReadToken(ctx.positional[0]);
  if (!token.ok()) return UsageError(command, token.error().message());
  Result<int64_t> now = VerificationTime(ctx);
  if (!now.ok()) return UsageError(command, now.error().message());
  mandates::ap2::PublishedKeySet keys;
  for (const std::string& file : jwks_files) {
    Result<json::Value> jwks = ReadJson(file);
    Status added = jwks.ok() ? keys.Add(*jwks) : jwks.status();
    if (!added.ok()) return UsageError(command, "--jwks " + file + ": " + added.message());
  }
  // The keys given are the mandate's principal's: its lists speak for that principal.
  Result<mandates::sdjwt::Presentation> parsed = mandates::sdjwt::Parse(*token);
  const std::string principal = parsed.ok() ? Str(parsed->hops[0].payload, "iss") : "";
  mandates::TokenStatusListSource statuses(
      keys, [principal](std::string_view) { return principal; });
  for (const std::string& file : Flags(ctx, "--status-list")) {
    Result<std::string> list = ReadToken(file);
    if (!list.ok()) return UsageError(command, "--status-list " + list.error().message());
    statuses.Add(std::move(*list));
  }
  const mandates::ap2::OpenVerdict verdict =
      mandates::ap2::VerifyOpenMandate(*token, keys, statuses, *now);
  return VerdictOutput(json::Write(mandates::ap2::OpenVerdictToJson(verdict, *now)),
                       verdict.valid);
}

}  // namespace

std::vector<Command> Ap2Commands() {
  return {
      ListOf("ap2", "ap2/mandates", "[--agent ID] [--after ID] [--limit N]",
             "list the principal's AP2 open mandates: id, kind, agent, expiry, revocation",
             {"--agent", "--after", "--limit"}, OpenMandateLine, "AP2 open mandates"),
      OnOne("ap2", "get", "ap2/mandates", "show one AP2 open mandate", OpenMandateLine),
      OnOne("ap2", "revoke", "ap2/mandates",
            "revoke an AP2 open mandate for good: no closing of it is accepted from then on",
            OpenMandateLine),
      {"ap2 closings", "ID [--after KEY] [--limit N]",
       "what an AP2 open mandate has spent (minor units) and the payments closed under it",
       Closings},
      {"ap2 fetch", "TOKEN_FILE --out DIR",
       "download what ap2 verify needs of an open mandate (its principal's ap2-jwks.json and "
       "ap2-status-<n>.jwt); no credential",
       Fetch},
      {"ap2 verify", "TOKEN_FILE --jwks FILE [--status-list FILE]... [--at TIME]",
       "verify an AP2 open mandate offline: signature by a published key, disclosures, expiry, "
       "status entry; prints the verdict JSON, exit 0 valid, 1 invalid",
       Verify},
  };
}

}  // namespace mandated::cli
