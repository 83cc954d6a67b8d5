// Offline verification of export bundles (specs/audit.md §5): signature of the checkpoint,
// every event line, the recomputed root or each inclusion proof, and earlier checkpoints.
#pragma once

#include <cstdint>
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
  bool ok() const { return findings.empty(); }
};

struct BundleVerifyOptions {
  std::string verifier_key;                    // trusted key; empty: the bundle's own
  std::vector<std::string> earlier_checkpoints;  // signed notes held from before
};

// Never fails: every problem becomes a finding. Thread safety: stateless.
BundleReport VerifyBundle(std::string_view bundle, const BundleVerifyOptions& options);

}  // namespace mandated::audit
