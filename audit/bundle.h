// Offline verification of export bundles (specs/audit.md §5): signature of the checkpoint,
// every event line, the recomputed root or each inclusion proof, and earlier checkpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace mandated::audit {

struct BundleFinding {
  std::string code;    // e.g. "event-missing", "root-mismatch" (specs/audit.md §5)
  std::string detail;  // what exactly, e.g. "seq=5"
};

struct BundleReport {
  std::vector<BundleFinding> findings;  // empty: the bundle verifies
  bool key_from_bundle = false;         // the verifier key was the bundle's own
  std::string origin;
  uint64_t size = 0;                    // the checkpoint's tree size
  std::string root_hex;
  uint64_t events = 0;                  // event lines read
  bool complete_prefix = false;
  // Earlier checkpoints shown extended by this bundle's tree: for a complete prefix, every one
  // whose root the events recompute; for a trail, those of the same size and root, or with a
  // consistency proof in the header that verifies. The others were compared by size only.
  uint64_t earlier_proven = 0;
  bool ok() const { return findings.empty(); }
};

struct BundleVerifyOptions {
  std::string verifier_key;                    // trusted key; empty: the bundle's own
  std::vector<std::string> earlier_checkpoints;  // signed notes held from before
  // Keys the service signed checkpoints with before (its audit key was rotated since): an
  // earlier checkpoint opens under the trusted key or one of these. The bundle's own checkpoint
  // must open under the trusted key.
  std::vector<std::string> earlier_keys;
};

// A bundle line longer than this is refused (bundle-malformed). A trail's header carries an
// inclusion proof per event, so it is the longest line a genuine bundle has.
inline constexpr size_t kMaxLineBytes = size_t{4} << 30;

// Verifies a bundle fed in pieces of any size, so that a whole-log export of any length is
// checked without holding it: a complete prefix keeps the tree's frontier (a few dozen hashes),
// a trail what its query check needs of each event (a trail export is bounded).
// Never fails: every problem becomes a finding of Finish's report.
// Thread safety: one thread at a time.
class BundleVerifier {
 public:
  explicit BundleVerifier(BundleVerifyOptions options);
  ~BundleVerifier();
  BundleVerifier(const BundleVerifier&) = delete;
  BundleVerifier& operator=(const BundleVerifier&) = delete;

  // The next bytes of the bundle (lines end with "\n"; a piece may end inside a line).
  void Feed(std::string_view bytes);
  // The report, once the whole bundle was fed (a last line without "\n" is taken as it is).
  BundleReport Finish();

 private:
  struct State;
  static void Close(State& s);
  std::unique_ptr<State> s_;
};

// The whole bundle at once. Never fails: every problem becomes a finding. Thread safety:
// stateless.
BundleReport VerifyBundle(std::string_view bundle, const BundleVerifyOptions& options);

}  // namespace mandated::audit
