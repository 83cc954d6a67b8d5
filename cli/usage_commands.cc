// mandatectl usage commands (specs/usage.md §3-4): a merchant reports a batch of usage events
// from a file; admins and auditors show aggregates and each budget's spend, burn rate and
// projected depletion. With --principal (or MANDATED_PRINCIPAL) the principal's own routes are
// used (the operator needs it); otherwise the caller's principal's.
#include <cctype>
#include <string>
#include <vector>

#include "cli/command_kit.h"

namespace mandated::cli {
namespace {

// Usage batches of 10,000 events fit well within this.
constexpr size_t kMaxBatchBytes = size_t{64} << 20;

std::string Escaped(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

// "usage" under --principal, else "/v1/usage", plus `suffix`.
std::string Collection(const Context& ctx, const std::string& suffix) {
  return (ctx.principal.empty() ? "/v1/usage" : "usage") + suffix;
}

// "?a=x&b=y" of the flags given (flag --group-by is sent as group_by).
std::string Query(const Context& ctx, const std::vector<std::pair<std::string, std::string>>& map) {
  std::string q;
  for (const auto& [flag, param] : map) {
    if (std::optional<std::string> v = Flag(ctx, flag)) {
      q += (q.empty() ? "?" : "&") + param + "=" + Escaped(*v);
    }
  }
  return q;
}

Output Report(Context& ctx) {
  if (ctx.positional.size() != 1) {
    return UsageError("usage report", "give one file of events ({\"events\":[...]}, - for stdin)");
  }
  Result<std::string> body = ReadInput(ctx.positional[0], kMaxBatchBytes);
  if (!body.ok()) {
    return Usage("mandatectl usage report: " + body.error().message() + "\n", 2);
  }
  return Call(ctx, Method::kPost, Collection(ctx, ""), *body, [](const json::Value& v) {
    std::string s = "accepted " + Str(v, "accepted") + ", duplicates " + Str(v, "duplicates") +
                    ", conflicts " + Str(v, "conflicts") + "\n";
    if (const json::Value* results = v.Find("results"); results != nullptr) {
      for (const json::Value& r : results->items()) {
        s += "event #" + Str(r, "index") + ": " + Str(r, "status") + "\n";
      }
    }
    return s;
  });
}

Output Show(Context& ctx) {
  if (!ctx.positional.empty()) return UsageError("usage show", "takes only flags");
  const std::string q = Query(ctx, {{"--group-by", "group_by"}, {"--window", "window"},
                                    {"--from", "from"}, {"--to", "to"}, {"--agent", "agent"},
                                    {"--mandate", "mandate"}, {"--payee", "payee"},
                                    {"--asset", "asset"}, {"--resource", "resource"},
                                    {"--source", "source"}});
  return Call(ctx, Method::kGet, Collection(ctx, q), "", [](const json::Value& v) {
    std::string s;
    const json::Value* items = v.Find("items");
    if (items == nullptr || items->items().empty()) return std::string("no usage\n");
    for (const json::Value& r : items->items()) {
      std::string line;
      if (r.Find("window_start") != nullptr) {
        const std::optional<int64_t> t = r.Find("window_start")->as_int64();
        line += UtcTime(t.value_or(0)) + " ";
      }
      for (const char* k : {"agent", "mandate", "payee", "resource", "source"}) {
        if (r.Find(k) != nullptr) line += std::string(k) + "=" + (Str(r, k).empty() ? "-" : Str(r, k)) + " ";
      }
      line += Str(r, "amount") + " " + Str(r, "asset") + " (" + Str(r, "events") + " events, quantity " +
              Str(r, "quantity") + ")";
      s += line + "\n";
    }
    return s;
  });
}

Output Budgets(Context& ctx) {
  if (!ctx.positional.empty()) return UsageError("usage budgets", "takes only flags");
  if (Flag(ctx, "--mandate").has_value() == Flag(ctx, "--agent").has_value()) {
    return UsageError("usage budgets", "give one of --mandate ID or --agent ID");
  }
  const std::string q = Query(ctx, {{"--mandate", "mandate"}, {"--agent", "agent"},
                                    {"--trailing-minutes", "trailing_minutes"}});
  return Call(ctx, Method::kGet, Collection(ctx, "/budgets" + q), "", [](const json::Value& v) {
    std::string s;
    const json::Value* list = v.Find("budgets");
    if (list == nullptr || list->items().empty()) return std::string("no budgets\n");
    for (const json::Value& b : list->items()) {
      s += Str(b, "counter") + ": spent " + Str(b, "spent") + " of " + Str(b, "max") + " " +
           Str(b, "asset") + ", remaining " + Str(b, "remaining");
      if (const json::Value* burn = b.Find("burn"); burn != nullptr) {
        s += ", burn " + Str(*burn, "per_hour") + "/h over " + Str(*burn, "trailing_minutes") +
             " min";
        const json::Value* d = b.Find("projected_depletion");
        if (d != nullptr && d->as_int64().has_value()) {
          s += ", depletes " + UtcTime(*d->as_int64());
        } else {
          s += ", no depletion at this rate";
        }
      }
      s += "\n";
    }
    return s;
  });
}

}  // namespace

std::vector<Command> UsageCommands() {
  return {
      {"usage report", "FILE",
       "report a batch of usage events from FILE (- for standard input), the body of POST "
       "/v1/usage: {\"events\":[{\"id\",\"payee\",\"asset\",\"amount\",...}]}; each id counts "
       "once, retries are duplicates (a merchant or admin credential)",
       Report},
      {"usage show",
       "[--group-by agent,mandate,payee,asset,resource,source] [--window "
       "minute|hour|day|month|total] [--from T] [--to T] [--agent ID] [--mandate ID] [--payee P] "
       "[--asset A] [--resource R] [--source usage|payment]",
       "aggregated usage per asset and the grouped dimensions, one line per row (T: RFC 3339 or "
       "unix seconds)",
       Show},
      {"usage budgets", "--mandate ID | --agent ID [--trailing-minutes N]",
       "each budget of a mandate (or an agent's mandates): spent, remaining, the burn rate over "
       "the last N minutes (default 60) and when it would run out at that rate",
       Budgets},
  };
}

}  // namespace mandated::cli
