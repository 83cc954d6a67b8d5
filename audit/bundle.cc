// Offline verification of audit export bundles (specs/audit.md §5).
#include "audit/bundle.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "audit/checkpoint.h"
#include "audit/event.h"
#include "audit/merkle.h"
#include "base/bytes.h"
#include "base/json.h"

namespace mandated::audit {
namespace {

constexpr std::string_view kFormat = "mandated-audit-bundle/1";
// A hostile bundle cannot make the report grow without bound: past this many findings the rest
// are counted in one `findings-capped` finding.
constexpr size_t kMaxFindings = 1000;

// "seq=a" or "seq=a..b" for the missing events a..b (a <= b).
std::string SeqRange(uint64_t first, uint64_t last) {
  return "seq=" + std::to_string(first) + (first == last ? "" : ".." + std::to_string(last));
}

// What the query check needs of one event line.
struct LineFacts {
  uint64_t seq = 0;
  std::string type, principal, at;
  std::map<std::string, std::string, std::less<>> subjects;
  std::string Subject(std::string_view kind) const {
    const auto it = subjects.find(kind);
    return it == subjects.end() ? std::string() : it->second;
  }
};

LineFacts FactsOfLine(uint64_t seq, const json::Value& ev) {
  LineFacts f;
  f.seq = seq;
  auto str = [&ev](std::string_view key) {
    const json::Value* v = ev.Find(key);
    return v != nullptr && v->is_string() ? v->as_string() : std::string();
  };
  f.type = str("type");
  f.principal = str("principal");
  f.at = str("at");
  if (const json::Value* s = ev.Find("subjects"); s != nullptr && s->is_object()) {
    for (size_t i = 0; i < s->size(); ++i) {
      if (s->items()[i].is_string()) f.subjects.emplace(s->keys()[i], s->items()[i].as_string());
    }
  }
  return f;
}

// The header's query (specs/audit.md §4): exactly one selector for a trail, optional bounds.
struct BundleQuery {
  std::string authorization, mandate, agent, principal, from, to;
  int selectors() const {
    return !authorization.empty() + !mandate.empty() + !agent.empty() + !principal.empty();
  }
};

// nullopt when the query is not an object of strings naming known members.
std::optional<BundleQuery> ParseQuery(const json::Value* q) {
  if (q == nullptr || !q->is_object()) return std::nullopt;
  BundleQuery out;
  for (size_t i = 0; i < q->size(); ++i) {
    const std::string& k = q->keys()[i];
    const json::Value& v = q->items()[i];
    if (!v.is_string() || v.as_string().empty()) return std::nullopt;
    std::string* slot = k == "authorization" ? &out.authorization
                        : k == "mandate"     ? &out.mandate
                        : k == "agent"       ? &out.agent
                        : k == "principal"   ? &out.principal
                        : k == "from"        ? &out.from
                        : k == "to"          ? &out.to
                                             : nullptr;
    if (slot == nullptr || !slot->empty()) return std::nullopt;
    *slot = v.as_string();
  }
  if (out.selectors() > 1 || ((!out.from.empty() || !out.to.empty()) && out.principal.empty())) {
    return std::nullopt;
  }
  return out;
}

// The seqs of the events a trail of `q` cannot hold (the selection of audit/log.cc, checked
// from the events themselves): for a purchase, the events about the authorization and the
// lifecycle events of its mandates' chain, agent and session; for a mandate, the events about
// it and its delegations (their issuance names the parent); for an agent, the events about it;
// for a principal, its events within the bounds.
std::vector<uint64_t> OutsideQuery(const BundleQuery& q, const std::vector<LineFacts>& events) {
  std::vector<uint64_t> out;
  if (!q.authorization.empty()) {
    std::set<std::string> chain, agents, sessions;
    for (const LineFacts& e : events) {
      if (e.Subject("authorization") != q.authorization) continue;
      if (std::string m = e.Subject("mandate"); !m.empty()) chain.insert(m);
      if (std::string a = e.Subject("agent"); !a.empty()) agents.insert(a);
      if (std::string s = e.Subject("session"); !s.empty()) sessions.insert(s);
    }
    // The ancestors, through the issuance events the trail holds (each walk stops at a mandate
    // already in the chain, so a hostile bundle costs O(n log n)).
    std::map<std::string, std::string> parent_of;
    for (const LineFacts& e : events) {
      if (e.type != "mandate.issued") continue;
      if (std::string parent = e.Subject("parent_mandate"); !parent.empty()) {
        parent_of.emplace(e.Subject("mandate"), std::move(parent));
      }
    }
    const std::vector<std::string> leaves(chain.begin(), chain.end());
    for (const std::string& leaf : leaves) {
      for (auto it = parent_of.find(leaf); it != parent_of.end() && chain.insert(it->second).second;
           it = parent_of.find(it->second)) {
      }
    }
    for (const LineFacts& e : events) {
      const bool in =
          e.Subject("authorization") == q.authorization ||
          (IsLifecycleEvent("mandate", e.type) && chain.count(e.Subject("mandate")) != 0) ||
          (IsLifecycleEvent("agent", e.type) && agents.count(e.Subject("agent")) != 0) ||
          (IsLifecycleEvent("session", e.type) && sessions.count(e.Subject("session")) != 0);
      if (!in) out.push_back(e.seq);
    }
  } else if (!q.mandate.empty()) {
    // The delegations, recursively: children by parent, walked from the named mandate.
    std::multimap<std::string, std::string> children;
    for (const LineFacts& e : events) {
      const std::string m = e.Subject("mandate");
      const std::string parent = e.Subject("parent_mandate");
      if (!m.empty() && !parent.empty()) children.emplace(parent, m);
    }
    std::set<std::string> tree{q.mandate};
    std::vector<std::string> pending{q.mandate};
    while (!pending.empty()) {
      const std::string m = std::move(pending.back());
      pending.pop_back();
      const auto [first, last] = children.equal_range(m);
      for (auto it = first; it != last; ++it) {
        if (tree.insert(it->second).second) pending.push_back(it->second);
      }
    }
    for (const LineFacts& e : events) {
      if (tree.count(e.Subject("mandate")) == 0) out.push_back(e.seq);
    }
  } else if (!q.agent.empty()) {
    for (const LineFacts& e : events) {
      if (e.Subject("agent") != q.agent) out.push_back(e.seq);
    }
  } else if (!q.principal.empty()) {
    for (const LineFacts& e : events) {
      const bool in = (e.principal == q.principal || e.Subject("principal") == q.principal) &&
                      (q.from.empty() || e.at >= q.from) && (q.to.empty() || e.at < q.to);
      if (!in) out.push_back(e.seq);
    }
  }
  return out;
}

Result<Hash> HashFromHex(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  if (!b.ok()) return b.error();
  return HashFromBytes(*b);
}

// The hashes of a proof member (an inclusion or consistency path), or nullopt when it is not an
// array of hex hashes.
std::optional<std::vector<Hash>> HashPath(const json::Value& p) {
  if (!p.is_array()) return std::nullopt;
  std::vector<Hash> path;
  for (const json::Value& h : p.items()) {
    if (!h.is_string()) return std::nullopt;
    Result<Hash> hh = HashFromHex(h.as_string());
    if (!hh.ok()) return std::nullopt;
    path.push_back(*hh);
  }
  return path;
}

// Opens `note` with `verifier` and parses its checkpoint body.
Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  Result<std::string> body = OpenNote(note, verifier);
  if (!body.ok()) return body.error();
  return ParseCheckpointBody(*body);
}

}  // namespace

// What a verification holds between lines: the header's facts, and for a complete prefix the
// frontier of the tree so far (a few dozen hashes), never the events themselves.
struct BundleVerifier::State {
  BundleVerifyOptions options;
  BundleReport report;
  uint64_t dropped = 0;    // findings past kMaxFindings
  bool stopped = false;    // the header failed: nothing more is checked
  bool header_seen = false;
  uint64_t line_no = 0;    // lines seen, the header included
  std::string pending;     // a line not yet ended by "\n"

  json::Value proofs;      // a trail's, from the header
  json::Value consistency;  // the header's consistency proofs by earlier size (an object)
  std::unordered_map<std::string_view, const json::Value*> proof_of;  // into `proofs`
  std::optional<BundleQuery> query;
  std::optional<NoteVerifier> verifier;
  Checkpoint cp;
  std::vector<Result<Checkpoint>> earlier;  // options.earlier_checkpoints, opened
  std::set<uint64_t> wanted;                // sizes whose recomputed root is needed
  std::map<uint64_t, Hash> roots_at;        // size -> recomputed root, for sizes wanted
  Frontier frontier;                        // complete prefix: the leaves so far
  std::vector<LineFacts> facts;             // a trail: what its query is checked against
  std::optional<uint64_t> previous;

  void Find(std::string code, std::string detail) {
    if (report.findings.size() < kMaxFindings) {
      report.findings.push_back(BundleFinding{std::move(code), std::move(detail)});
    } else {
      ++dropped;
    }
  }
  void Stop(std::string code, std::string detail) {
    Find(std::move(code), std::move(detail));
    stopped = true;
    std::string().swap(pending);  // nothing more is read: its memory goes now
  }
  void Header(std::string_view line);
  void Event(std::string_view line);
  void Line(std::string_view line) {
    if (stopped) return;
    ++line_no;
    if (!header_seen) {
      header_seen = true;
      Header(line);
    } else {
      Event(line);
    }
  }
};

// 1. The header.
void BundleVerifier::State::Header(std::string_view line) {
  Result<json::Value> header = json::Parse(line);
  if (!header.ok() || !header->is_object()) {
    return Stop("bundle-malformed", "line 1 is not a JSON object");
  }
  auto str = [&](std::string_view key) -> std::optional<std::string> {
    const json::Value* v = header->Find(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return v->as_string();
  };
  const std::optional<std::string> format = str("format");
  const std::optional<std::string> note = str("checkpoint");
  const std::optional<std::string> bundle_key = str("verifier_key");
  const std::optional<std::string> header_root = str("root");
  const json::Value* header_size = header->Find("size");
  const json::Value* complete = header->Find("complete_prefix");
  json::Value* proofs_v = header->Find("proofs");
  if (!format || *format != kFormat) {
    return Stop("bundle-malformed", "format is not " + std::string(kFormat));
  }
  if (!note || !bundle_key || complete == nullptr || !complete->is_bool() || proofs_v == nullptr ||
      !proofs_v->is_object() || !header_root || header_size == nullptr ||
      !header_size->as_uint64().has_value()) {
    return Stop("bundle-malformed",
                "the header needs checkpoint, verifier_key, size, root, complete_prefix, proofs");
  }
  // The query a trail was selected by (a complete prefix is the whole log: none).
  query = ParseQuery(header->Find("query"));
  if (!complete->as_bool() && (!query || query->selectors() != 1)) {
    return Stop("bundle-malformed", "a trail's query names exactly one of authorization, "
                                    "mandate, agent or principal");
  }
  report.complete_prefix = complete->as_bool();
  if (json::Value* c = header->Find("consistency"); c != nullptr) {
    if (!c->is_object()) return Stop("bundle-malformed", "consistency is not an object");
    consistency = std::move(*c);
  }
  // Proofs by sequence number, indexed once: a bundle may hold a million of them.
  proofs = std::move(*proofs_v);
  proof_of.reserve(proofs.size());
  for (size_t i = 0; i < proofs.size(); ++i) {
    proof_of.emplace(proofs.keys()[i], &proofs.items()[i]);
  }

  // The checkpoint, under the trusted key.
  std::string key_text = options.verifier_key;
  if (key_text.empty()) {
    key_text = *bundle_key;
    report.key_from_bundle = true;
  }
  Result<NoteVerifier> v = ParseVerifierKey(key_text);
  if (!v.ok()) {
    return Stop("verifier-key-malformed", v.error().message());
  }
  verifier = std::move(*v);
  if (!report.key_from_bundle) {
    // The same key whatever its spelling: name, key hash and key bytes.
    Result<NoteVerifier> named = ParseVerifierKey(*bundle_key);
    if (!named.ok() || named->name != verifier->name || named->key_hash != verifier->key_hash ||
        named->key.bytes != verifier->key.bytes) {
      Find("verifier-key-differs", "the bundle names another key than the one trusted");
    }
  }
  Result<Checkpoint> c = OpenCheckpoint(*note, *verifier);
  if (!c.ok()) {
    return Stop("checkpoint-signature-invalid", c.error().message());
  }
  cp = std::move(*c);
  report.origin = cp.origin;
  report.size = cp.size;
  report.root_hex = HashHex(cp.root);
  if (*header_root != report.root_hex) {
    Find("bundle-malformed", "the header's root is not the checkpoint's");
  }
  if (*header_size->as_uint64() != cp.size) {
    Find("bundle-malformed", "the header's size is not the checkpoint's");
  }
  // Earlier checkpoints are opened now, for the sizes whose roots the events must give; what is
  // wrong with them is reported after the events, as it always was.
  std::vector<NoteVerifier> earlier_verifiers;
  for (const std::string& k : options.earlier_keys) {
    Result<NoteVerifier> ek = ParseVerifierKey(k);
    if (!ek.ok()) return Stop("verifier-key-malformed", "an earlier key: " + ek.error().message());
    earlier_verifiers.push_back(std::move(*ek));
  }
  wanted.insert(cp.size);
  for (const std::string& e : options.earlier_checkpoints) {
    Result<Checkpoint> held = OpenCheckpoint(e, *verifier);
    for (size_t i = 0; !held.ok() && i < earlier_verifiers.size(); ++i) {
      Result<Checkpoint> under_earlier = OpenCheckpoint(e, earlier_verifiers[i]);
      if (under_earlier.ok()) held = std::move(under_earlier);
    }
    earlier.push_back(std::move(held));
    if (earlier.back().ok()) wanted.insert(earlier.back()->size);
  }
}

// 2. One event line.
void BundleVerifier::State::Event(std::string_view line) {
  ++report.events;
  Result<json::Value> ev = json::Parse(line);
  const json::Value* seq_v = ev.ok() && ev->is_object() ? ev->Find("seq") : nullptr;
  std::optional<uint64_t> seq = seq_v != nullptr && seq_v->is_number() ? seq_v->as_uint64()
                                                                       : std::nullopt;
  if (!seq) {
    return Find("event-malformed", "line " + std::to_string(line_no) + " is not an event with a seq");
  }
  if (*seq >= cp.size) {
    return Find("event-outside-checkpoint",
                "seq=" + std::to_string(*seq) + " >= size " + std::to_string(cp.size));
  }
  if (previous && *seq <= *previous) {
    Find("event-out-of-order",
         "seq=" + std::to_string(*seq) + " follows seq=" + std::to_string(*previous));
  }
  const Hash leaf = LeafHash(AsBytes(line));
  if (report.complete_prefix) {
    const uint64_t expected = previous ? *previous + 1 : 0;
    if ((!previous || *seq > *previous) && expected < *seq) {
      Find("event-missing", SeqRange(expected, *seq - 1));
    }
    if (wanted.count(frontier.size()) != 0) roots_at[frontier.size()] = frontier.Root();
    frontier.Append(leaf, [](NodeId, const Hash&) {});
  } else {
    facts.push_back(FactsOfLine(*seq, *ev));
    const auto found = proof_of.find(std::to_string(*seq));
    const std::optional<std::vector<Hash>> path =
        found == proof_of.end() ? std::nullopt : HashPath(*found->second);
    if (!path) {
      Find("inclusion-proof-missing", "seq=" + std::to_string(*seq));
    } else if (!VerifyInclusion(leaf, *seq, cp.size, *path, cp.root).ok()) {
      Find("inclusion-proof-invalid", "seq=" + std::to_string(*seq));
    }
  }
  if (!previous || *seq > *previous) previous = *seq;
}

BundleVerifier::BundleVerifier(BundleVerifyOptions options) : s_(std::make_unique<State>()) {
  s_->options = std::move(options);
}

BundleVerifier::~BundleVerifier() = default;

void BundleVerifier::Feed(std::string_view bytes) {
  State& s = *s_;
  while (!bytes.empty() && !s.stopped) {
    const size_t eol = bytes.find('\n');
    if (eol == std::string_view::npos) {
      if (s.pending.size() + bytes.size() > kMaxLineBytes) {
        return s.Stop("bundle-malformed", "line " + std::to_string(s.line_no + 1) +
                                              " is longer than " +
                                              std::to_string(kMaxLineBytes) + " bytes");
      }
      s.pending.append(bytes);
      return;
    }
    if (s.pending.empty()) {
      s.Line(bytes.substr(0, eol));
    } else {
      s.pending.append(bytes.substr(0, eol));
      s.Line(s.pending);
      s.pending.clear();
    }
    bytes.remove_prefix(eol + 1);
  }
}

BundleReport BundleVerifier::Finish() {
  State& s = *s_;
  if (!s.pending.empty()) {
    // A missing final newline is tolerated.
    s.Line(s.pending);
    s.pending.clear();
  }
  if (s.stopped) {
    // The finding that stopped it says why.
  } else if (!s.header_seen) {
    s.Find("bundle-malformed", "the bundle is empty");
  } else {
    Close(s);
  }
  if (s.dropped > 0) {
    s.report.findings.push_back(BundleFinding{
        "findings-capped", std::to_string(s.dropped) + " more findings are not listed"});
  }
  return std::move(s.report);
}

// 3. A complete prefix recomputes the root and the roots of earlier checkpoints; a trail checks
// earlier checkpoints by size and 4. that each event is one the query selects.
void BundleVerifier::Close(State& s) {
  const Checkpoint& cp = s.cp;
  if (s.report.complete_prefix) {
    const uint64_t have = s.previous ? *s.previous + 1 : 0;
    if (have < cp.size) s.Find("event-missing", SeqRange(have, cp.size - 1));
    std::vector<Checkpoint> earlier;
    for (const Result<Checkpoint>& c : s.earlier) {
      if (!c.ok()) {
        s.Find("earlier-checkpoint-invalid", c.error().message());
        continue;
      }
      earlier.push_back(*c);
    }
    if (s.wanted.count(s.frontier.size()) != 0) s.roots_at[s.frontier.size()] = s.frontier.Root();
    if (s.report.findings.empty() || s.roots_at.count(cp.size) != 0) {
      if (s.roots_at[cp.size] != cp.root) {
        s.Find("root-mismatch", "the events hash to " + HashHex(s.roots_at[cp.size]) +
                                    ", the checkpoint says " + HashHex(cp.root));
      }
    }
    for (const Checkpoint& c : earlier) {
      if (c.origin != cp.origin) {
        s.Find("earlier-checkpoint-invalid", "origin " + c.origin + " is not " + cp.origin);
      } else if (c.size > cp.size) {
        s.Find("log-truncated", "an earlier checkpoint has " + std::to_string(c.size) +
                                    " events, this one " + std::to_string(cp.size));
      } else if (s.roots_at.count(c.size) == 0 || s.roots_at[c.size] != c.root) {
        s.Find("earlier-checkpoint-mismatch", "size=" + std::to_string(c.size));
      } else {
        ++s.report.earlier_proven;
      }
    }
    return;
  }
  for (const Result<Checkpoint>& c : s.earlier) {
    if (!c.ok()) {
      s.Find("earlier-checkpoint-invalid", c.error().message());
    } else if (c->origin != cp.origin) {
      s.Find("earlier-checkpoint-invalid", "origin " + c->origin + " is not " + cp.origin);
    } else if (c->size > cp.size) {
      s.Find("log-truncated", "an earlier checkpoint has " + std::to_string(c->size) +
                                  " events, this one " + std::to_string(cp.size));
    } else if (c->size == cp.size) {
      if (c->root != cp.root) {
        // Two trees of one size under one key: a fork.
        s.Find("earlier-checkpoint-mismatch", "size=" + std::to_string(c->size));
      } else {
        ++s.report.earlier_proven;
      }
    } else if (const json::Value* p = s.consistency.is_object()
                                          ? s.consistency.Find(std::to_string(c->size))
                                          : nullptr;
               p != nullptr) {
      // The header proves this tree extends the earlier one; a proof that fails is a fork (or
      // a forged proof: either way the log is not the one the earlier checkpoint signed).
      const std::optional<std::vector<Hash>> path = HashPath(*p);
      if (!path) {
        s.Find("bundle-malformed", "the consistency proof from size " +
                                       std::to_string(c->size) + " is not an array of hashes");
      } else if (!VerifyConsistency(c->size, cp.size, c->root, cp.root, *path).ok()) {
        s.Find("earlier-checkpoint-mismatch",
               "size=" + std::to_string(c->size) + " (its consistency proof fails)");
      } else {
        ++s.report.earlier_proven;
      }
    }
  }
  for (uint64_t seq : OutsideQuery(*s.query, s.facts)) {
    s.Find("event-outside-query", "seq=" + std::to_string(seq));
  }
}

BundleReport VerifyBundle(std::string_view bundle, const BundleVerifyOptions& options) {
  BundleVerifier v(options);
  v.Feed(bundle);
  return v.Finish();
}

}  // namespace mandated::audit
