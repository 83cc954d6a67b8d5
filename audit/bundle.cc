// Offline verification of audit export bundles (specs/audit.md §5).
#include "audit/bundle.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "base/bytes.h"
#include "base/json.h"

namespace mandated::audit {
namespace {

constexpr std::string_view kFormat = "mandated-audit-bundle/1";

Result<Hash> HashFromHex(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  if (!b.ok()) return b.error();
  return HashFromBytes(*b);
}

// The lines of `text` (without their "\n"); a missing final newline is tolerated.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Opens `note` with `verifier` and parses its checkpoint body.
Result<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  Result<std::string> body = OpenNote(note, verifier);
  if (!body.ok()) return body.error();
  return ParseCheckpointBody(*body);
}

}  // namespace

BundleReport VerifyBundle(std::string_view bundle, const BundleVerifyOptions& options) {
  BundleReport report;
  auto find = [&report](std::string code, std::string detail) {
    report.findings.push_back(BundleFinding{std::move(code), std::move(detail)});
  };
  const std::vector<std::string_view> lines = Lines(bundle);
  if (lines.empty()) {
    find("bundle-malformed", "the bundle is empty");
    return report;
  }

  // 1. The header.
  Result<json::Value> header = json::Parse(lines[0]);
  if (!header.ok() || !header->is_object()) {
    find("bundle-malformed", "line 1 is not a JSON object");
    return report;
  }
  auto str = [&](std::string_view key) -> std::optional<std::string> {
    const json::Value* v = header->Find(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return v->as_string();
  };
  const std::optional<std::string> format = str("format");
  const std::optional<std::string> note = str("checkpoint");
  const std::optional<std::string> bundle_key = str("verifier_key");
  const json::Value* complete = header->Find("complete_prefix");
  const json::Value* proofs = header->Find("proofs");
  if (!format || *format != kFormat) {
    find("bundle-malformed", "format is not " + std::string(kFormat));
    return report;
  }
  if (!note || !bundle_key || complete == nullptr || !complete->is_bool() || proofs == nullptr ||
      !proofs->is_object()) {
    find("bundle-malformed", "the header needs checkpoint, verifier_key, complete_prefix, proofs");
    return report;
  }
  // Proofs by sequence number, indexed once: a bundle may hold a million of them.
  std::unordered_map<std::string_view, const json::Value*> proof_of;
  proof_of.reserve(proofs->size());
  for (size_t i = 0; i < proofs->size(); ++i) {
    proof_of.emplace(proofs->keys()[i], &proofs->items()[i]);
  }
  report.complete_prefix = complete->as_bool();

  // The checkpoint, under the trusted key.
  std::string key_text = options.verifier_key;
  if (key_text.empty()) {
    key_text = *bundle_key;
    report.key_from_bundle = true;
  } else if (key_text != *bundle_key) {
    find("verifier-key-differs", "the bundle names another key than the one trusted");
  }
  Result<NoteVerifier> verifier = ParseVerifierKey(key_text);
  if (!verifier.ok()) {
    find("verifier-key-malformed", verifier.error().message());
    return report;
  }
  Result<Checkpoint> cp = OpenCheckpoint(*note, *verifier);
  if (!cp.ok()) {
    find("checkpoint-signature-invalid", cp.error().message());
    return report;
  }
  report.origin = cp->origin;
  report.size = cp->size;
  report.root_hex = HashHex(cp->root);
  if (const std::optional<std::string> size_root = str("root");
      size_root && *size_root != report.root_hex) {
    find("bundle-malformed", "the header's root is not the checkpoint's");
  }

  // 2. The events.
  std::vector<Hash> leaves;  // complete prefix: by position
  std::optional<uint64_t> previous;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    ++report.events;
    Result<json::Value> ev = json::Parse(line);
    const json::Value* seq_v = ev.ok() && ev->is_object() ? ev->Find("seq") : nullptr;
    std::optional<uint64_t> seq = seq_v != nullptr && seq_v->is_number() ? seq_v->as_uint64()
                                                                         : std::nullopt;
    if (!seq) {
      find("event-malformed", "line " + std::to_string(i + 1) + " is not an event with a seq");
      continue;
    }
    if (*seq >= cp->size) {
      find("event-outside-checkpoint",
           "seq=" + std::to_string(*seq) + " >= size " + std::to_string(cp->size));
      continue;
    }
    if (previous && *seq <= *previous) {
      find("event-out-of-order",
           "seq=" + std::to_string(*seq) + " follows seq=" + std::to_string(*previous));
    }
    const Hash leaf = LeafHash(AsBytes(line));
    if (report.complete_prefix) {
      const uint64_t expected = previous ? *previous + 1 : 0;
      if (!previous || *seq > *previous) {
        for (uint64_t missing = expected; missing < *seq; ++missing) {
          find("event-missing", "seq=" + std::to_string(missing));
        }
      }
      leaves.push_back(leaf);
    } else {
      const auto found = proof_of.find(std::to_string(*seq));
      const json::Value* p = found == proof_of.end() ? nullptr : found->second;
      std::vector<Hash> path;
      bool well_formed = p != nullptr && p->is_array();
      if (well_formed) {
        for (const json::Value& h : p->items()) {
          Result<Hash> hh = h.is_string() ? HashFromHex(h.as_string()) : Result<Hash>(Hash{});
          if (!h.is_string() || !hh.ok()) {
            well_formed = false;
            break;
          }
          path.push_back(*hh);
        }
      }
      if (!well_formed) {
        find("inclusion-proof-missing", "seq=" + std::to_string(*seq));
      } else if (!VerifyInclusion(leaf, *seq, cp->size, path, cp->root).ok()) {
        find("inclusion-proof-invalid", "seq=" + std::to_string(*seq));
      }
    }
    if (!previous || *seq > *previous) previous = *seq;
  }

  // 3. A complete prefix recomputes the root, and the roots of earlier checkpoints.
  std::map<uint64_t, Hash> roots_at;  // size -> recomputed root, for sizes asked
  if (report.complete_prefix) {
    const uint64_t have = previous ? *previous + 1 : 0;
    for (uint64_t missing = have; missing < cp->size; ++missing) {
      find("event-missing", "seq=" + std::to_string(missing));
    }
    std::vector<uint64_t> wanted{cp->size};
    std::vector<Checkpoint> earlier;
    for (const std::string& e : options.earlier_checkpoints) {
      Result<Checkpoint> c = OpenCheckpoint(e, *verifier);
      if (!c.ok()) {
        find("earlier-checkpoint-invalid", c.error().message());
        continue;
      }
      earlier.push_back(*c);
      wanted.push_back(c->size);
    }
    Frontier f;
    for (const Hash& h : leaves) {
      for (uint64_t w : wanted) {
        if (w == f.size()) roots_at[w] = f.Root();
      }
      f.Append(h, [](NodeId, const Hash&) {});
    }
    for (uint64_t w : wanted) {
      if (w == f.size()) roots_at[w] = f.Root();
    }
    if (report.findings.empty() || roots_at.count(cp->size) != 0) {
      if (roots_at[cp->size] != cp->root) {
        find("root-mismatch", "the events hash to " + HashHex(roots_at[cp->size]) +
                                  ", the checkpoint says " + HashHex(cp->root));
      }
    }
    for (const Checkpoint& c : earlier) {
      if (c.origin != cp->origin) {
        find("earlier-checkpoint-invalid", "origin " + c.origin + " is not " + cp->origin);
      } else if (c.size > cp->size) {
        find("log-truncated", "an earlier checkpoint has " + std::to_string(c.size) +
                                  " events, this one " + std::to_string(cp->size));
      } else if (roots_at.count(c.size) == 0 || roots_at[c.size] != c.root) {
        find("earlier-checkpoint-mismatch", "size=" + std::to_string(c.size));
      }
    }
  } else {
    for (const std::string& e : options.earlier_checkpoints) {
      Result<Checkpoint> c = OpenCheckpoint(e, *verifier);
      if (!c.ok()) {
        find("earlier-checkpoint-invalid", c.error().message());
      } else if (c->size > cp->size) {
        find("log-truncated", "an earlier checkpoint has " + std::to_string(c->size) +
                                  " events, this one " + std::to_string(cp->size));
      }
    }
  }
  return report;
}

}  // namespace mandated::audit
