// RFC 9162 §2.1 Merkle tree hashing over SHA-256: leaf and node hashes, the running frontier of
// an append-only tree, roots, inclusion and consistency proofs, and their verification.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace mandated::audit {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(ByteSpan leaf);                  // SHA-256(0x00 || leaf)
Hash NodeHash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)
Hash EmptyRoot();                              // SHA-256 of the empty string
std::string HashHex(const Hash& h);
Result<Hash> HashFromBytes(ByteSpan bytes);    // kInvalidArgument unless exactly 32 bytes

// A perfect subtree: level L, index i covers leaves [i << L, (i + 1) << L). Level 0 is a leaf.
struct NodeId {
  int level = 0;
  uint64_t index = 0;
  bool operator==(const NodeId&) const = default;
};

// Where stored perfect-subtree hashes come from (the audit log keeps them in RocksDB; tests keep
// them in memory). Only nodes whose whole range lies below the tree size are ever asked for.
// kNotFound (or any error) is passed through to the caller.
using NodeReader = std::function<Result<Hash>(NodeId)>;

// The right edge of an append-only tree: one perfect-subtree hash per set bit of the size.
// Thread safety: not synchronized.
class Frontier {
 public:
  Frontier() = default;
  // Rebuilds the frontier of a tree of `size` leaves from stored nodes.
  static Result<Frontier> Load(uint64_t size, const NodeReader& read);

  uint64_t size() const { return size_; }
  // Appends one leaf hash. `on_node` is called for every perfect subtree this append completes,
  // the leaf itself (level 0) first, then upwards; the caller stores them.
  void Append(const Hash& leaf_hash, const std::function<void(NodeId, const Hash&)>& on_node);
  // The RFC 9162 root of the tree so far (EmptyRoot() for size 0).
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> peaks_;  // peaks_[level] valid where bit `level` of size_ is set
};

// The root of the first `size` leaves, from stored nodes (O(log size) reads).
Result<Hash> RootAt(uint64_t size, const NodeReader& read);

// RFC 9162 §2.1.3.1 PATH(m, D[0:n]) for leaf `index` < `size`, from stored nodes.
Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const NodeReader& read);

// RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) for 0 < m <= n (empty for m == n).
Result<std::vector<Hash>> ConsistencyProof(uint64_t m, uint64_t n, const NodeReader& read);

// RFC 9162 §2.1.3.2. OK, or kInvalidArgument with reason "inclusion-proof-invalid" and a detail
// saying what failed (index out of range, wrong proof length, root mismatch).
Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       const std::vector<Hash>& proof, const Hash& root);

// RFC 9162 §2.1.4.2. OK, or kInvalidArgument with reason "consistency-proof-invalid".
Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         const std::vector<Hash>& proof);

}  // namespace mandated::audit
