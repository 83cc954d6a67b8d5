// RFC 9162 §2.1 Merkle tree hashing over SHA-256: the frontier, roots and proofs read from
// stored perfect subtrees, and the §2.1.3.2 / §2.1.4.2 verification algorithms.
#include "audit/merkle.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "signer/hash.h"

namespace mandated::audit {
namespace {

constexpr char kInclusionInvalid[] = "inclusion-proof-invalid";
constexpr char kConsistencyInvalid[] = "consistency-proof-invalid";
constexpr char kProofRange[] = "audit-proof-range";

Hash DigestToHash(const Bytes& digest) {
  Hash h;
  std::copy_n(digest.begin(), h.size(), h.begin());
  return h;
}

// x >> s, with shifts by 64 or more giving 0 (a plain shift by 64 is undefined).
uint64_t ShiftRight(uint64_t x, int s) { return s >= 64 ? 0 : x >> s; }

// Number of hashes in PATH(index, D[0:size]) (RFC 9162 §2.1.3.1). REQUIRES: index < size.
// The paths of `index` and `size - 1` part at the height of their highest differing bit: below
// it every level contributes a sibling; above it, only levels where `index` is a right child
// (a set bit) do, since a left child there has no right sibling within the tree.
size_t InclusionLength(uint64_t index, uint64_t size) {
  const int inner = std::bit_width(index ^ (size - 1));
  return static_cast<size_t>(inner + std::popcount(ShiftRight(index, inner)));
}

// Number of hashes in PROOF(m, D[0:n]) (RFC 9162 §2.1.4.1). REQUIRES: 0 < m < n.
// Below level k = ctz(m) the first m leaves end in a complete subtree, so the proof is the
// inclusion path of node (m - 1) >> k at level k, plus that node itself unless it is the whole
// old tree (m a power of two: the verifier already has it as the old root).
size_t ConsistencyLength(uint64_t m, uint64_t n) {
  const int k = std::countr_zero(m);
  const size_t path = InclusionLength((m - 1) >> k, ((n - 1) >> k) + 1);
  return std::has_single_bit(m) ? path : path + 1;
}

std::string Str(uint64_t v) { return std::to_string(v); }

// MTH(D[begin:end]) from stored nodes: the range splits into perfect subtrees, one per set bit of
// its length, largest first; they are hashed together from the right.
// REQUIRES: begin < end, and begin is a multiple of std::bit_ceil(end - begin) (every range the
// RFC 9162 recursion produces is).
Result<Hash> RangeHash(uint64_t begin, uint64_t end, const NodeReader& read) {
  std::array<Hash, 64> parts;
  int count = 0;
  uint64_t at = begin;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if (((end - begin) & width) == 0) {
      continue;
    }
    MD_ASSIGN_OR_RETURN(parts[count], read(NodeId{level, at >> level}));
    ++count;
    at += width;
  }
  Hash h = parts[count - 1];
  for (int i = count - 2; i >= 0; --i) {
    h = NodeHash(parts[i], h);
  }
  return h;
}

Status InclusionFailure(std::string detail) {
  return InvalidArgumentError("inclusion proof does not verify: " + std::move(detail),
                              kInclusionInvalid);
}

Status ConsistencyFailure(std::string detail) {
  return InvalidArgumentError("consistency proof does not verify: " + std::move(detail),
                              kConsistencyInvalid);
}

}  // namespace

Hash LeafHash(ByteSpan leaf) {
  Bytes buf;
  buf.reserve(leaf.size() + 1);
  buf.push_back(0x00);
  buf.insert(buf.end(), leaf.begin(), leaf.end());
  return DigestToHash(signer::Sha256(buf));
}

Hash NodeHash(const Hash& left, const Hash& right) {
  std::array<uint8_t, 65> buf;
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf.begin() + 1);
  std::copy(right.begin(), right.end(), buf.begin() + 33);
  return DigestToHash(signer::Sha256(buf));
}

Hash EmptyRoot() { return DigestToHash(signer::Sha256(ByteSpan())); }

std::string HashHex(const Hash& h) { return HexEncode(h); }

Result<Hash> HashFromBytes(ByteSpan bytes) {
  if (bytes.size() != Hash().size()) {
    return InvalidArgumentError(
        "a tree hash is 32 bytes, got " + std::to_string(bytes.size()), "bad-hash");
  }
  Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

// ---- Frontier ---------------------------------------------------------------------------------

Result<Frontier> Frontier::Load(uint64_t size, const NodeReader& read) {
  Frontier f;
  f.size_ = size;
  f.peaks_.resize(static_cast<size_t>(std::bit_width(size)));
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) {
      continue;
    }
    MD_ASSIGN_OR_RETURN(f.peaks_[static_cast<size_t>(level)],
                        read(NodeId{level, begin >> level}));
    begin += width;
  }
  return f;
}

void Frontier::Append(const Hash& leaf_hash,
                      const std::function<void(NodeId, const Hash&)>& on_node) {
  if (size_ == UINT64_MAX) {
    // 2^64 - 1 leaves cannot be reached by appending; only a corrupt stored size gets here.
    std::fputs("mandated: audit Merkle tree is full (2^64 - 1 leaves)\n", stderr);
    std::abort();
  }
  Hash h = leaf_hash;
  int level = 0;
  uint64_t index = size_;
  on_node(NodeId{0, index}, h);
  while ((size_ >> level) & 1) {  // level < 64: size_ has a clear bit somewhere
    h = NodeHash(peaks_[static_cast<size_t>(level)], h);
    ++level;
    index >>= 1;
    on_node(NodeId{level, index}, h);
  }
  if (peaks_.size() <= static_cast<size_t>(level)) {
    peaks_.resize(static_cast<size_t>(level) + 1);
  }
  peaks_[static_cast<size_t>(level)] = h;
  ++size_;
}

Hash Frontier::Root() const {
  if (size_ == 0) {
    return EmptyRoot();
  }
  int level = std::countr_zero(size_);
  Hash h = peaks_[static_cast<size_t>(level)];
  for (++level; level < 64; ++level) {
    if ((size_ >> level) & 1) {
      h = NodeHash(peaks_[static_cast<size_t>(level)], h);
    }
  }
  return h;
}

// ---- Roots and proofs from stored nodes ---------------------------------------------------------

Result<Hash> RootAt(uint64_t size, const NodeReader& read) {
  if (size == 0) {
    return EmptyRoot();
  }
  return RangeHash(0, size, read);
}

Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const NodeReader& read) {
  if (index >= size) {
    return InvalidArgumentError(
        "inclusion proof: leaf index " + Str(index) + " is not below tree size " + Str(size),
        kProofRange);
  }
  // Walk down the RFC 9162 §2.1.3.1 recursion collecting siblings; PATH lists them from the
  // leaf up, so the list is reversed at the end. Left siblings are perfect subtrees (one read);
  // only the first right sibling can be a ragged right edge.
  std::vector<Hash> proof;
  proof.reserve(InclusionLength(index, size));
  uint64_t begin = 0;
  uint64_t end = size;
  while (end - begin > 1) {
    const uint64_t k = std::bit_floor(end - begin - 1);  // largest power of two < n
    if (index < begin + k) {
      MD_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, read));
      proof.push_back(right);
      end = begin + k;
    } else {
      MD_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, read));
      proof.push_back(left);
      begin += k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash>> ConsistencyProof(uint64_t m, uint64_t n, const NodeReader& read) {
  if (m == 0 || m > n) {
    return InvalidArgumentError(
        "consistency proof: need 0 < m <= n, got m=" + Str(m) + " n=" + Str(n), kProofRange);
  }
  std::vector<Hash> proof;
  if (m == n) {
    return proof;
  }
  // RFC 9162 §2.1.4.1 SUBPROOF(m, D[begin:end], b), walked down and reversed at the end as above.
  proof.reserve(ConsistencyLength(m, n));
  uint64_t begin = 0;
  uint64_t end = n;
  bool whole_old_tree = true;  // b: D[begin:end] still starts at leaf 0
  while (m != end) {
    const uint64_t k = std::bit_floor(end - begin - 1);
    if (m <= begin + k) {
      MD_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, read));
      proof.push_back(right);
      end = begin + k;
    } else {
      MD_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, read));
      proof.push_back(left);
      begin += k;
      whole_old_tree = false;
    }
  }
  if (!whole_old_tree) {
    MD_ASSIGN_OR_RETURN(Hash node, RangeHash(begin, end, read));
    proof.push_back(node);
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

// ---- Verification -----------------------------------------------------------------------------

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) {
    return InclusionFailure("leaf index " + Str(index) + " is not below tree size " + Str(size));
  }
  const size_t want = InclusionLength(index, size);
  if (proof.size() != want) {
    return InclusionFailure("the proof has " + std::to_string(proof.size()) +
                            " hashes; leaf " + Str(index) + " of a tree of " + Str(size) +
                            " needs " + std::to_string(want));
  }
  // RFC 9162 §2.1.3.2 steps 2-6.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) {
      return InclusionFailure("the proof is too long");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return InclusionFailure("the proof is too short");
  }
  if (r != root) {
    return InclusionFailure("it leads to root " + HashHex(r) + ", not " + HashHex(root));
  }
  return OkStatus();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         const std::vector<Hash>& proof) {
  if (size1 > size2) {
    return ConsistencyFailure("size1 " + Str(size1) + " is above size2 " + Str(size2));
  }
  if (size1 == 0) {
    // RFC 9162 §2.1.4.2 needs 0 < first; an empty tree has no root to prove anything about.
    return ConsistencyFailure("size1 is 0");
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return ConsistencyFailure("equal sizes need an empty proof, got " +
                                std::to_string(proof.size()) + " hashes");
    }
    if (root1 != root2) {
      return ConsistencyFailure("equal sizes " + Str(size1) + " with different roots");
    }
    return OkStatus();
  }
  const size_t want = ConsistencyLength(size1, size2);
  if (proof.size() != want) {
    return ConsistencyFailure("the proof has " + std::to_string(proof.size()) + " hashes; " +
                              Str(size1) + " -> " + Str(size2) + " needs " +
                              std::to_string(want));
  }
  // RFC 9162 §2.1.4.2 steps 2-7; a power-of-two size1 has its root as the implicit first hash.
  size_t next = 0;
  Hash fr;
  if (std::has_single_bit(size1)) {
    fr = root1;
  } else {
    fr = proof[next++];
  }
  Hash sr = fr;
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) {
      return ConsistencyFailure("the proof is too long");
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return ConsistencyFailure("the proof is too short");
  }
  if (fr != root1) {
    return ConsistencyFailure("it leads to old root " + HashHex(fr) + ", not " + HashHex(root1));
  }
  if (sr != root2) {
    return ConsistencyFailure("it leads to new root " + HashHex(sr) + ", not " + HashHex(root2));
  }
  return OkStatus();
}

}  // namespace mandated::audit
