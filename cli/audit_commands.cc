// mandatectl audit commands (specs/audit.md §4, §5): compliance reads a purchase's trail, exports
// it as a bundle with the signed checkpoint and proofs, and verifies that bundle offline with a
// verifier key it trusts (`audit verify` needs no server and no token).
//
// Selectors: --authorization, --mandate or --agent name one trail; without them the global
// --principal names the principal's, which --from and --to bound, but only when given on the
// command line: MANDATED_PRINCIPAL, set for every other command, selects nothing here. An
// export with no selector is the whole log (the operator's).
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cctype>
#include <string>
#include <vector>

#include "audit/bundle.h"
#include "audit/checkpoint.h"
#include "cli/command_kit.h"

namespace mandated::cli {
namespace {

// Exit code of `audit verify` when the bundle does not verify (commands.h: 1).
constexpr int kNotVerified = 1;
// Exit code of `audit verify` for a bundle that verifies only under its own key: no --key or
// --key-file, and no --trust-bundle-key. Anyone can sign a forged bundle with a key of their own,
// so this is not "verified" (specs/audit.md §5).
constexpr int kOwnKeyOnly = 5;
// Trail pages are fetched this many events at a time (the route's maximum).
constexpr int kTrailPage = 1000;
// Notes and key files larger than this are refused (bundles are read in pieces, of any size).
constexpr size_t kMaxInputBytes = size_t{1} << 20;

// Percent-encodes a query value (RFC 3986 unreserved characters pass).
std::string Escaped(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

// The output file of `-o FILE` (a word, not a --flag, so it arrives among the positional
// arguments, which are left without it). "" when not given; kInvalidArgument when -o has no
// file or is given twice.
Result<std::string> OutputPath(Context& ctx) {
  std::string path;
  int named = 0;
  std::vector<std::string> rest;
  for (size_t i = 0; i < ctx.positional.size(); ++i) {
    if (ctx.positional[i] == "-o") {
      if (i + 1 >= ctx.positional.size() || ctx.positional[i + 1].empty()) {
        return InvalidArgumentError("-o needs a file", "usage");
      }
      path = ctx.positional[++i];
      ++named;
    } else {
      rest.push_back(ctx.positional[i]);
    }
  }
  if (named > 1) {
    return InvalidArgumentError("name one output file", "usage");
  }
  ctx.positional = std::move(rest);
  return path;
}

// The trail query (specs/audit.md §4) of the command's selector, e.g. "authorization=atz_...";
// "" for the whole log when `allow_none`. The principal is a selector only when it came from
// --principal (ctx.principal_from_flag). kInvalidArgument when several selectors, none (and not
// `allow_none`), an empty id, or --from/--to without a principal selector are given.
Result<std::string> TrailQuery(const Context& ctx, bool allow_none) {
  std::string query;
  int named = 0;
  for (const char* kind : {"authorization", "mandate", "agent"}) {
    const std::vector<std::string> ids = Flags(ctx, std::string("--") + kind);
    if (ids.empty()) {
      continue;
    }
    if (ids.size() > 1 || ids[0].empty()) {
      return InvalidArgumentError(std::string("give --") + kind + " once, with an id", "usage");
    }
    query = std::string(kind) + "=" + Escaped(ids[0]);
    ++named;
  }
  const std::string choose_one =
      "give one of --authorization ID, --mandate ID, --agent ID or --principal ID";
  if (named > 1) {
    return InvalidArgumentError(choose_one, "usage");
  }
  const std::optional<std::string> from = Flag(ctx, "--from");
  const std::optional<std::string> to = Flag(ctx, "--to");
  const bool principal = ctx.principal_from_flag && !ctx.principal.empty();
  if (named == 0 && principal) {
    query = "principal=" + Escaped(ctx.principal);
    if (from.has_value()) {
      query += "&from=" + Escaped(*from);
    }
    if (to.has_value()) {
      query += "&to=" + Escaped(*to);
    }
    return query;
  }
  if (from.has_value() || to.has_value()) {
    return InvalidArgumentError("--from and --to bound a --principal trail only", "usage");
  }
  if (named == 0 && !allow_none) {
    return InvalidArgumentError(
        choose_one + (ctx.principal.empty() ? "" : " (MANDATED_PRINCIPAL does not select a trail)"),
        "usage");
  }
  return query;
}

// Who caused an event: "operator", "service", "ses_..." or "crd_...(admin)".
std::string ActorText(const json::Value* actor) {
  if (actor == nullptr || !actor->is_object()) {
    return "?";
  }
  const std::string id = Str(*actor, "id");
  if (id.empty()) {
    return Str(*actor, "kind");
  }
  const std::string role = Str(*actor, "role");
  return role.empty() ? id : id + "(" + role + ")";
}

// The ids an event is about, space-separated, but for the actor's own (shown as the actor);
// a delegation's parent as "parent:mnd_...", and the principal only when nothing else is named
// (every event of a trail is the principal's).
std::string SubjectsText(const json::Value* subjects, const std::string& actor_id) {
  if (subjects == nullptr || !subjects->is_object()) {
    return "";
  }
  std::string out;
  for (size_t i = 0; i < subjects->size(); ++i) {
    const std::string& kind = subjects->keys()[i];
    const json::Value& id = subjects->items()[i];
    if ((kind == "principal" && subjects->size() > 1) || !id.is_string() ||
        (!actor_id.empty() && id.as_string() == actor_id)) {
      continue;
    }
    out += (out.empty() ? "" : " ") + (kind == "parent_mandate" ? "parent:" : std::string()) +
           id.as_string();
  }
  return out;
}

// What an event's data says in a few words: a decision with its amount and reasons, a
// reservation's state, a name, a role, a key's purpose, a state and why, a successor key.
std::string DataSummary(const json::Value* data) {
  if (data == nullptr || !data->is_object()) {
    return "";
  }
  std::vector<std::string> parts;
  // The amount and payee: the record's own, or those of the request or of what an approver
  // was shown.
  const json::Value* nested = data->Find("request");
  if (nested == nullptr || !nested->is_object()) {
    nested = data->Find("shown");
  }
  const json::Value& money = nested != nullptr && nested->is_object() ? *nested : *data;
  if (!Str(*data, "decision").empty()) {
    parts.push_back(Str(*data, "decision"));
  }
  if (!Str(money, "amount").empty() && !Str(money, "asset").empty()) {
    parts.push_back(Str(money, "amount") + " " + Str(money, "asset"));
  }
  if (const json::Value* payee = money.Find("payee"); payee != nullptr && payee->is_object()) {
    parts.push_back("to " + Str(*payee, "type") + ":" + Str(*payee, "value"));
  }
  if (const json::Value* r = data->Find("reservation"); r != nullptr && r->is_object()) {
    const std::string state = Str(*r, "state");
    parts.push_back("reservation " + state +
                    (state == "captured" ? " " + Str(*r, "captured") : std::string()));
  }
  if (const json::Value* reasons = data->Find("reasons");
      reasons != nullptr && reasons->is_array() && !reasons->items().empty()) {
    std::string codes;
    for (const json::Value& r : reasons->items()) {
      codes += (codes.empty() ? "" : ",") + (r.is_object() ? Str(r, "code") : json::Write(r));
    }
    parts.push_back("reasons " + codes);
  }
  if (const json::Value* name = data->Find("name"); name != nullptr && name->is_string()) {
    parts.push_back(json::Write(*name));
  }
  for (const char* key : {"role", "roles", "purpose"}) {
    if (!Str(*data, key).empty()) {
      parts.push_back(std::string(key) + " " + Str(*data, key));
    }
  }
  if (!Str(*data, "state").empty()) {
    const std::string why = Str(*data, "state_reason");
    parts.push_back(Str(*data, "state") + (why.empty() ? "" : " (" + why + ")"));
  }
  if (const json::Value* next = data->Find("successor"); next != nullptr && next->is_object()) {
    parts.push_back("successor " + Str(*next, "id"));
  }
  std::string out;
  for (const std::string& p : parts) {
    out += (out.empty() ? "" : " ") + p;
  }
  return out;
}

// One trail item ({"seq","event"}) as one line: #seq, at, type, actor, subjects, summary, e.g.
//   #10  2026-12-05T11:04:28.975394Z  mandate.issued  crd_...(admin)  mnd_... agt_...  active
std::string EventLine(const json::Value& item) {
  const std::string seq = Str(item, "seq");
  Result<json::Value> e = json::Parse(Str(item, "event"));
  if (!e.ok() || !e->is_object()) {
    return "#" + seq + "  (not an event: " + Str(item, "event") + ")\n";
  }
  const json::Value* actor = e->Find("actor");
  const std::string actor_id = actor != nullptr && actor->is_object() ? Str(*actor, "id") : "";
  std::string line = "#" + seq + "  " + Str(*e, "at") + "  " + Str(*e, "type") + "  " +
                     ActorText(actor);
  for (const std::string& part :
       {SubjectsText(e->Find("subjects"), actor_id), DataSummary(e->Find("data"))}) {
    if (!part.empty()) {
      line += "  " + part;
    }
  }
  return line + "\n";
}

Output Trail(Context& ctx) {
  const std::string command = "audit trail";
  Result<std::string> query = TrailQuery(ctx, false);
  if (!query.ok()) {
    return UsageError(command, query.error().message());
  }
  if (!ctx.positional.empty()) {
    return UsageError(command, "unexpected argument \"" + ctx.positional[0] + "\"");
  }
  ApiClient client = ClientFor(ctx);
  json::Value items = json::Value::Array();
  std::string after;
  for (;;) {
    std::string path = "/v1/audit/trail?" + *query + "&limit=" + std::to_string(kTrailPage);
    if (!after.empty()) {
      path += "&after=" + after;
    }
    Result<ApiResponse> r = client.Get(path);
    if (!r.ok() || r->status < 200 || r->status >= 300) {
      return Render(ctx, r, nullptr);  // an error: the line function is never called
    }
    Result<json::Value> page = json::Parse(r->body);
    const json::Value* got = page.ok() && page->is_object() ? page->Find("items") : nullptr;
    if (got == nullptr || !got->is_array()) {
      return Usage("mandatectl: " + ctx.server + " answered a trail page without items\n", 1);
    }
    for (const json::Value& item : got->items()) {
      items.Append(item);
    }
    const json::Value* next = page->Find("next_after");
    if (next == nullptr) {
      break;
    }
    const std::string next_after = Str(*page, "next_after");
    if (next_after == after) {
      return Usage("mandatectl: " + ctx.server + " answered the same trail page twice\n", 1);
    }
    after = next_after;
  }
  Output o;
  if (ctx.json) {
    json::Value all = json::Value::Object();
    all.Set("items", std::move(items));
    o.out = json::Write(all) + "\n";
    return o;
  }
  for (const json::Value& item : items.items()) {
    o.out += EventLine(item);
  }
  if (o.out.empty()) {
    o.out = "no audit events\n";
  }
  return o;
}

// What `export` prints of the bundle it saved: the event lines counted and the header's
// "size", learned as the bundle streams past (only its header line is kept).
class BundleCounter {
 public:
  void Add(std::string_view bytes) {
    if (!header_done_) {
      const size_t eol = bytes.find('\n');
      header_.append(bytes.substr(0, eol));
      if (eol == std::string_view::npos) return;
      header_done_ = true;
      bytes.remove_prefix(eol + 1);
    }
    for (char c : bytes) {
      if (c == '\n') ++events_;
    }
    if (!bytes.empty()) last_ = bytes.back();
  }
  // A last event line without "\n" counts too.
  uint64_t events() const {
    return events_ + (header_done_ && last_ != '\n' && last_ != 0 ? 1 : 0);
  }
  std::string Summary() const {
    Result<json::Value> header = json::Parse(header_);
    return std::to_string(events()) + (events() == 1 ? " event" : " events") +
           ", checkpoint size " +
           (header.ok() && header->is_object() ? Str(*header, "size") : std::string("?"));
  }
  // A complete prefix holds exactly `size` events: fewer is an answer cut short that the HTTP
  // layer took for a whole one (kUnavailable "answer-incomplete"). A trail holds any number.
  Status CheckComplete() const {
    Result<json::Value> header = json::Parse(header_);
    if (!header.ok() || !header->is_object()) return OkStatus();  // verify names what is wrong
    const json::Value* complete = header->Find("complete_prefix");
    const json::Value* size = header->Find("size");
    if (complete == nullptr || !complete->is_bool() || !complete->as_bool() || size == nullptr ||
        !size->as_uint64().has_value() || *size->as_uint64() == events()) {
      return OkStatus();
    }
    return UnavailableError("the export holds " + std::to_string(events()) +
                                " events where its header says " +
                                std::to_string(*size->as_uint64()) + ": it was cut short",
                            "answer-incomplete");
  }

 private:
  std::string header_;
  bool header_done_ = false;
  uint64_t events_ = 0;
  char last_ = 0;
};

Output Export(Context& ctx) {
  const std::string command = "audit export";
  Result<std::string> out = OutputPath(ctx);
  if (!out.ok()) {
    return UsageError(command, out.error().message());
  }
  if (out->empty()) {
    return UsageError(command, "give the bundle file with -o FILE (- for standard output)");
  }
  Result<std::string> query = TrailQuery(ctx, true);
  if (!query.ok()) {
    return UsageError(command, query.error().message());
  }
  if (!ctx.positional.empty()) {
    return UsageError(command, "unexpected argument \"" + ctx.positional[0] + "\"");
  }
  // Earlier checkpoints held: the bundle carries the proof that its tree extends each one
  // (`audit verify --checkpoint` checks it), by their sizes.
  std::string sizes;
  for (const std::string& path : Flags(ctx, "--checkpoint")) {
    Result<std::string> note = ReadInput(path, kMaxInputBytes);
    if (!note.ok()) {
      return UsageError(command, note.error().message());
    }
    const size_t body_end = note->find("\n\n");
    Result<audit::Checkpoint> c = audit::ParseCheckpointBody(
        body_end == std::string::npos ? std::string_view() : std::string_view(*note).substr(0, body_end + 1));
    if (!c.ok()) {
      return UsageError(command, path + " is not a signed checkpoint note: " + c.error().message());
    }
    sizes += (sizes.empty() ? "" : ",") + std::to_string(c->size);
  }
  if (!sizes.empty()) {
    *query += (query->empty() ? "" : "&") + std::string("consistency_from=") + sizes;
  }
  // The whole log may be larger than memory: the bundle goes to the file as it arrives, and the
  // file takes its name only once all of it arrived (specs/audit.md §5).
  Result<std::unique_ptr<OutputFile>> file = OutputFile::Open(*out);
  if (!file.ok()) {
    return UsageError(command, file.error().message());
  }
  BundleCounter counter;
  Status written = OkStatus();
  Result<ApiResponse> r =
      ApiClient(ctx.server, ctx.token, ctx.timeout.value_or(0))
          .GetStreamed("/v1/audit/export" + (query->empty() ? "" : "?" + *query),
                       [&](std::string_view bytes) {
                         counter.Add(bytes);
                         written = (*file)->Append(bytes);
                         return written.ok();
                       });
  if (!written.ok()) {
    return UsageError(command, written.message());
  }
  if (r.ok() && r->status >= 200 && r->status < 300) {
    if (Status s = counter.CheckComplete(); !s.ok()) r = s;
  }
  if (!r.ok() || r->status < 200 || r->status >= 300) {
    return Render(ctx, r, nullptr);  // an error: the line function is never called
  }
  if (Status s = (*file)->Commit(); !s.ok()) {
    return UsageError(command, s.message());
  }
  Output o;
  if (*out != "-") {
    o.out = "wrote " + *out + ": " + counter.Summary() + "\n";
  }
  return o;
}

// `audit checkpoint [--new] [-o FILE]`: the latest signed note, or a new one (POST).
Output Checkpoint(Context& ctx) {
  const std::string command = "audit checkpoint";
  Result<std::string> out = OutputPath(ctx);
  if (!out.ok()) {
    return UsageError(command, out.error().message());
  }
  if (!ctx.positional.empty()) {
    return UsageError(command, "unexpected argument \"" + ctx.positional[0] + "\"");
  }
  ApiClient client = ClientFor(ctx);
  Result<ApiResponse> r = Flag(ctx, "--new").has_value()
                              ? client.PostJson("/v1/audit/checkpoints", "")
                              : client.Get("/v1/audit/checkpoint");
  if (!r.ok() || r->status < 200 || r->status >= 300) {
    return Render(ctx, r, nullptr);  // an error: the line function is never called
  }
  Result<json::Value> v = json::Parse(r->body);
  const std::string note = v.ok() && v->is_object() ? Str(*v, "note") : "";
  if (note.empty()) {
    return Usage("mandatectl: " + ctx.server + " answered a checkpoint without a note\n", 1);
  }
  Output o;
  if (!out->empty() && *out != "-") {
    if (Status s = WriteOutput(*out, note); !s.ok()) {
      return UsageError(command, s.message());
    }
    o.out = ctx.json ? r->body + "\n"
                     : "wrote " + *out + ": checkpoint size " + Str(*v, "size") + ", root " +
                           Str(*v, "root") + "\n";
    return o;
  }
  o.out = ctx.json ? r->body + "\n" : note;
  return o;
}

// The verifier key of --key or --key-file, "" when neither; kInvalidArgument when both are
// given or the key is not a note verifier key, kUnavailable when the file cannot be read.
Result<std::string> TrustedKey(const Context& ctx) {
  const std::optional<std::string> key = Flag(ctx, "--key");
  const std::optional<std::string> file = Flag(ctx, "--key-file");
  if (key.has_value() && file.has_value()) {
    return InvalidArgumentError("give --key or --key-file, not both", "usage");
  }
  std::string text;
  if (key.has_value()) {
    text = Trimmed(*key);
  } else if (file.has_value()) {
    MD_ASSIGN_OR_RETURN(std::string content, ReadInput(*file, kMaxInputBytes));
    text = Trimmed(content);
  } else {
    return std::string();
  }
  if (Result<audit::NoteVerifier> v = audit::ParseVerifierKey(text); !v.ok()) {
    return InvalidArgumentError("not a verifier key (NAME+HASH+KEY): " + v.error().message(),
                                "usage");
  }
  return text;
}

// `audit verify BUNDLE`: offline, no server (specs/audit.md §5).
Output Verify(Context& ctx) {
  const std::string command = "audit verify";
  if (ctx.positional.size() != 1) {
    return UsageError(command, "give exactly one bundle file");
  }
  audit::BundleVerifyOptions options;
  Result<std::string> key = TrustedKey(ctx);
  if (!key.ok()) {
    return UsageError(command, key.error().message());
  }
  options.verifier_key = *key;
  const std::vector<std::string> notes = Flags(ctx, "--checkpoint");
  for (const std::string& path : notes) {
    Result<std::string> note = ReadInput(path, kMaxInputBytes);
    if (!note.ok()) {
      return UsageError(command, note.error().message());
    }
    options.earlier_checkpoints.push_back(std::move(*note));
  }
  // Keys the service signed with before a rotation of its audit key, for earlier checkpoints.
  for (const std::string& k : Flags(ctx, "--earlier-key")) {
    if (Result<audit::NoteVerifier> v = audit::ParseVerifierKey(Trimmed(k)); !v.ok()) {
      return UsageError(command, "--earlier-key is not a verifier key (NAME+HASH+KEY): " +
                                     v.error().message());
    }
    options.earlier_keys.push_back(Trimmed(k));
  }
  const bool trust_bundle_key = Flag(ctx, "--trust-bundle-key").has_value();
  if (trust_bundle_key && !options.verifier_key.empty()) {
    return UsageError(command, "give --key (or --key-file) or --trust-bundle-key, not both");
  }
  // Read in pieces and verified as it is read: a whole-log bundle may be larger than memory.
  audit::BundleVerifier verifier(options);
  if (Status s = ReadInPieces(ctx.positional[0],
                              [&verifier](std::string_view piece) { verifier.Feed(piece); });
      !s.ok()) {
    return UsageError(command, s.message());
  }
  const audit::BundleReport report = verifier.Finish();

  Output o;
  // Under the bundle's own key a clean report proves only that the bundle is self-consistent.
  const bool own_key_only = report.ok() && report.key_from_bundle && !trust_bundle_key;
  o.exit_code = !report.ok() ? kNotVerified : own_key_only ? kOwnKeyOnly : 0;
  if (report.key_from_bundle) {
    o.err = trust_bundle_key
                ? "warning: --trust-bundle-key: the bundle was checked against its own verifier "
                  "key, which proves only that it is self-consistent; only a key you trust "
                  "proves it is the service's log\n"
                : "mandatectl audit verify: no --key given: verified against the bundle's own "
                  "key only: pass --key (the service's `audit key`) to trust it\n";
  }
  if (ctx.json) {
    json::Value v = json::Value::Object();
    v.Set("verified", json::Value::Bool(report.ok() && !own_key_only));
    v.Set("origin", json::Value::String(report.origin));
    v.Set("size", json::Value::Uint(report.size));
    v.Set("root", json::Value::String(report.root_hex));
    v.Set("events", json::Value::Uint(report.events));
    v.Set("complete_prefix", json::Value::Bool(report.complete_prefix));
    v.Set("key_from_bundle", json::Value::Bool(report.key_from_bundle));
    v.Set("earlier_checkpoints", json::Value::Uint(notes.size()));
    json::Value findings = json::Value::Array();
    for (const audit::BundleFinding& f : report.findings) {
      json::Value one = json::Value::Object();
      one.Set("code", json::Value::String(f.code));
      one.Set("detail", json::Value::String(f.detail));
      findings.Append(std::move(one));
    }
    v.Set("findings", std::move(findings));
    o.out = json::Write(v) + "\n";
    return o;
  }
  if (!report.origin.empty()) {
    o.out += "origin: " + report.origin + "\n";
    o.out += "size: " + std::to_string(report.size) + "\n";
    o.out += "root: " + report.root_hex + "\n";
  }
  o.out += "events: " + std::to_string(report.events) +
           (report.complete_prefix ? " (the whole log: the root is recomputed from them)\n"
                                   : " (each with an inclusion proof)\n");
  o.out += std::string("key: ") +
           (!report.key_from_bundle ? "trusted (--key)\n"
            : trust_bundle_key      ? "the bundle's own (--trust-bundle-key)\n"
                                    : "the bundle's own (not trusted: give --key)\n");
  if (!notes.empty()) {
    o.out += "earlier checkpoints: " + std::to_string(notes.size());
    if (!report.complete_prefix) {
      // A trail's events do not show its tree extends an earlier one: a consistency proof does
      // (`audit export --checkpoint`), or the same size and root.
      o.out += ", " + std::to_string(report.earlier_proven) + " shown extended by this tree";
    }
    o.out += "\n";
  }
  for (const audit::BundleFinding& f : report.findings) {
    o.out += f.code + (f.detail.empty() ? "" : " " + f.detail) + "\n";
  }
  o.out += !report.ok()   ? "not verified: " + std::to_string(report.findings.size()) +
                               (report.findings.size() == 1 ? " finding\n" : " findings\n")
            : own_key_only ? "verified against the bundle's own key only: pass --key to trust it\n"
                           : "verified\n";
  return o;
}

}  // namespace

std::vector<Command> AuditCommands() {
  const std::string selector =
      "--authorization ID | --mandate ID | --agent ID | --principal ID [--from T] [--to T]";
  return {
      {"audit trail", selector,
       "the audit events of a purchase (authorization: with its mandates' chain, agent and "
       "session), a mandate and its delegations, an agent, or a principal (T: RFC 3339 or unix "
       "seconds), one line each: #seq, time, type, actor, subjects, what changed; --json for "
       "the raw items (an auditor credential or the operator token; every page is fetched)",
       Trail},
      {"audit export", "[" + selector + "] [--checkpoint NOTE_FILE]... -o FILE",
       "save an export bundle (specs/audit.md §5) of a trail, byte for byte, with the signed "
       "checkpoint and a proof for each event; with no selector the whole log (operator "
       "token; MANDATED_PRINCIPAL selects nothing here, --principal does); each --checkpoint "
       "(a note kept from before) adds the proof that the log extends it, which `audit verify "
       "--checkpoint` checks; -o - writes it to standard output",
       Export},
      {"audit verify",
       "BUNDLE [--key VKEY | --key-file FILE | --trust-bundle-key] [--checkpoint NOTE_FILE]... "
       "[--earlier-key VKEY]...",
       "verify an export bundle offline (no server): the checkpoint's signature under the "
       "trusted verifier key (`audit key`), every event (each one its query selects) and proof "
       "or the recomputed root, and each earlier checkpoint held (signed by the trusted key or, "
       "from before a rotation of the audit key, by an --earlier-key); prints every finding; "
       "exit 0 "
       "verified, 1 not verified, 2 usage or an unreadable file, 5 verified against the "
       "bundle's own key only (no --key: anyone can sign a bundle with a key of their own). "
       "--trust-bundle-key accepts the bundle's own key (exit 0), which proves nothing about "
       "whose log it is",
       Verify},
      {"audit checkpoint", "[--new] [-o FILE]",
       "print (or save, -o) the latest signed checkpoint note exactly; keep it to check later "
       "bundles with `audit verify --checkpoint`; --new publishes one of the current tree "
       "first (POST /v1/audit/checkpoints, auditor or operator)",
       Checkpoint},
      {"audit key", "[--earlier]",
       "print the audit verifier key (NAME+HASH+KEY) that `audit verify --key` trusts; "
       "--earlier prints instead the keys it replaced (rotated out, newest first, one a line), "
       "for `audit verify --earlier-key` (better: the copy you kept when each was current)",
       [](Context& ctx) {
         if (!ctx.positional.empty()) {
           return UsageError("audit key", "takes no arguments");
         }
         const bool earlier = Flag(ctx, "--earlier").has_value();
         return Call(ctx, Method::kGet, "/v1/audit/key", "", [earlier](const json::Value& v) {
           if (earlier) {
             std::string out;
             const json::Value* list = v.Find("earlier_verifier_keys");
             for (size_t i = 0; list != nullptr && list->is_array() && i < list->size(); ++i) {
               out += list->items()[i].as_string() + "\n";
             }
             return out;
           }
           return Str(v, "verifier_key") + "\n";
         });
       }},
  };
}

}  // namespace mandated::cli
