// mandatectl AP2 commands for a principal's people (specs/ap2.md §9): list, show and revoke its
// AP2 open mandates, and read what one has spent and the payments closed under it. Issuing one
// stays an API call: its constraints are AP2's own JSON.
#include <string>
#include <vector>

#include "cli/command_kit.h"

namespace mandated::cli {
namespace {

// ap2m_...  payment  agent agt_...  expires 2026-12-31T00:00:00Z[  checkout ap2m_...]
//   [  revoked 2026-12-07T10:00:00Z by crd_...]
std::string OpenMandateLine(const json::Value& m) {
  std::string line = Str(m, "id") + "  " + Str(m, "kind") + "  agent " + Str(m, "agent") +
                     "  expires " + TimeOf(m, "expires_at");
  if (!Str(m, "checkout_mandate").empty()) line += "  checkout " + Str(m, "checkout_mandate");
  if (!TimeOf(m, "revoked_at").empty()) {
    line += "  revoked " + TimeOf(m, "revoked_at") + " by " + Str(m, "revoked_by");
  }
  return line + "\n";
}

// ap2m_...  spent 650  uses 3  last use 2026-12-07T10:00:00Z
// ap2c_...  tx order-1  250 USD to shop  2026-12-07T09:00:00Z  [ledger ap2-ap2c_...]
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
  };
}

}  // namespace mandated::cli
