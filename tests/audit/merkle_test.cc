// RFC 9162 Merkle tree (audit/merkle.h): every transparency-dev/merkle proof vector, the RFC 6962
// reference tree, exhaustive small trees against a naive MTH / PATH / PROOF, huge sizes, and
// NodeReader failures.
#include "audit/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/hash.h"
#include "tests/support/test_support.h"

namespace mandated::audit {

// Readable NodeIds in assertion failures (found by argument-dependent lookup).
void PrintTo(const NodeId& id, std::ostream* os) { *os << id.level << "/" << id.index; }

namespace {

constexpr char kInclusionInvalid[] = "inclusion-proof-invalid";
constexpr char kConsistencyInvalid[] = "consistency-proof-invalid";
constexpr char kProofRange[] = "audit-proof-range";

Hash HexHash(std::string_view hex) {
  Result<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << hex;
  Result<Hash> h = HashFromBytes(b.ok() ? *b : Bytes());
  EXPECT_TRUE(h.ok()) << hex;
  return h.ok() ? *h : Hash{};
}

void ExpectRefused(const Status& s, const char* reason) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.reason(), reason) << s.ToString();
}

// ---- A naive RFC 9162 §2.1 model over leaf hashes (the definitions, written recursively) -------

uint64_t LargestPowerOfTwoBelow(uint64_t n) {  // REQUIRES: n >= 2
  uint64_t k = 1;
  while (k * 2 < n) {
    k *= 2;
  }
  return k;
}

class Naive {
 public:
  explicit Naive(const std::vector<Hash>& leaves) : leaves_(leaves) {}

  // MTH(D[begin:end]).
  Hash Mth(uint64_t begin, uint64_t end) {
    if (end == begin) {
      return EmptyRoot();
    }
    if (end - begin == 1) {
      return leaves_[begin];
    }
    auto it = cache_.find({begin, end});
    if (it != cache_.end()) {
      return it->second;
    }
    const uint64_t k = LargestPowerOfTwoBelow(end - begin);
    const Hash h = NodeHash(Mth(begin, begin + k), Mth(begin + k, end));
    cache_.emplace(std::make_pair(begin, end), h);
    return h;
  }

  // PATH(m, D[begin:end]) with m relative to begin.
  std::vector<Hash> Path(uint64_t m, uint64_t begin, uint64_t end) {
    if (end - begin <= 1) {
      return {};
    }
    const uint64_t k = LargestPowerOfTwoBelow(end - begin);
    std::vector<Hash> out;
    if (m < k) {
      out = Path(m, begin, begin + k);
      out.push_back(Mth(begin + k, end));
    } else {
      out = Path(m - k, begin + k, end);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

  // SUBPROOF(m, D[begin:end], b) with m relative to begin.
  std::vector<Hash> Subproof(uint64_t m, uint64_t begin, uint64_t end, bool b) {
    if (m == end - begin) {
      if (b) {
        return {};
      }
      return {Mth(begin, end)};
    }
    const uint64_t k = LargestPowerOfTwoBelow(end - begin);
    std::vector<Hash> out;
    if (m <= k) {
      out = Subproof(m, begin, begin + k, b);
      out.push_back(Mth(begin + k, end));
    } else {
      out = Subproof(m - k, begin + k, end, false);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

  std::vector<Hash> Proof(uint64_t m, uint64_t n) {
    return m == n ? std::vector<Hash>{} : Subproof(m, 0, n, true);
  }

 private:
  const std::vector<Hash>& leaves_;
  std::map<std::pair<uint64_t, uint64_t>, Hash> cache_;
};

// ---- An in-memory tree: nodes stored from Frontier::Append's on_node ----------------------------

class MemoryTree {
 public:
  void Append(const Hash& leaf) {
    std::vector<NodeId> seen;
    const uint64_t index = frontier_.size();
    frontier_.Append(leaf, [&](NodeId id, const Hash& h) {
      seen.push_back(id);
      EXPECT_TRUE(nodes_.emplace(std::make_pair(id.level, id.index), h).second)
          << "node " << id.level << "/" << id.index << " reported twice";
    });
    leaves_.push_back(leaf);
    // The leaf first, then one node per level upwards, each the parent of the previous one.
    ASSERT_EQ(seen.size(), static_cast<size_t>(std::countr_one(index)) + 1);
    for (size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i], (NodeId{static_cast<int>(i), index >> i}));
    }
  }

  // A reader for a tree of `size` leaves; fails the test if asked for a node at or past `size`.
  NodeReader Reader(uint64_t size) {
    return [this, size](NodeId id) -> Result<Hash> {
      ++reads_;
      EXPECT_GE(id.level, 0);
      EXPECT_LT(id.level, 64);
      EXPECT_LE(id.index + 1, size >> id.level)
          << "node " << id.level << "/" << id.index << " reaches past size " << size;
      auto it = nodes_.find({id.level, id.index});
      if (it == nodes_.end()) {
        return NotFoundError("no node " + std::to_string(id.level) + "/" +
                             std::to_string(id.index));
      }
      return it->second;
    };
  }

  const Frontier& frontier() const { return frontier_; }
  const std::vector<Hash>& leaves() const { return leaves_; }
  int TakeReads() { return std::exchange(reads_, 0); }

 private:
  Frontier frontier_;
  std::vector<Hash> leaves_;
  std::map<std::pair<int, uint64_t>, Hash> nodes_;
  int reads_ = 0;
};

Hash TestLeaf(uint64_t i) { return LeafHash(AsBytes("leaf-" + std::to_string(i))); }

// ---- Hashing ------------------------------------------------------------------------------------

TEST(MerkleHash, LeafNodeAndEmpty) {
  EXPECT_EQ(HashHex(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const Hash l = TestLeaf(1);
  const Hash r = TestLeaf(2);
  Bytes node_input = {0x01};
  node_input.insert(node_input.end(), l.begin(), l.end());
  node_input.insert(node_input.end(), r.begin(), r.end());
  const Hash node = NodeHash(l, r);
  EXPECT_EQ(Bytes(node.begin(), node.end()), signer::Sha256(node_input));
  EXPECT_NE(node, NodeHash(r, l));
  // A node is not the leaf hash of its children's concatenation (domain separation).
  EXPECT_NE(node, LeafHash(Bytes(node_input.begin() + 1, node_input.end())));
  const Bytes leaf_input = {0x00, 'a', 'b', 'c'};
  const Hash leaf = LeafHash(AsBytes("abc"));
  EXPECT_EQ(Bytes(leaf.begin(), leaf.end()), signer::Sha256(leaf_input));
}

TEST(MerkleHash, HashFromBytesNeedsExactly32) {
  for (size_t n : {0, 1, 31, 33, 64}) {
    const Result<Hash> h = HashFromBytes(Bytes(n, 0xab));
    ASSERT_FALSE(h.ok()) << n;
    EXPECT_EQ(h.error().code(), StatusCode::kInvalidArgument);
  }
  const Hash e = EmptyRoot();
  const Result<Hash> h = HashFromBytes(e);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, e);
}

// ---- RFC 6962 / 9162 reference tree (values from transparency-dev/merkle, see SOURCES.md) ------

json::Value LoadJson(const std::string& file) {
  Result<json::Value> doc =
      json::Parse(testing::ReadFileOrDie(testing::SourcePath("tests/vectors/merkle/" + file)));
  EXPECT_TRUE(doc.ok()) << file << ": " << (doc.ok() ? "" : doc.error().ToString());
  return doc.ok() ? *doc : json::Value();
}

const json::Value& Member(const json::Value& object, std::string_view key) {
  static const json::Value kNull;
  const json::Value* v = object.Find(key);
  EXPECT_NE(v, nullptr) << "missing member " << key;
  return v != nullptr ? *v : kNull;
}

uint64_t U64(const json::Value& object, std::string_view key) {
  const std::optional<uint64_t> v = Member(object, key).as_uint64();
  EXPECT_TRUE(v.has_value()) << key;
  return v.value_or(0);
}

std::vector<Hash> HexHashes(const json::Value& array) {
  std::vector<Hash> out;
  for (const json::Value& v : array.items()) {
    out.push_back(HexHash(v.as_string()));
  }
  return out;
}

TEST(MerkleReference, RootsAndProofsOfTheEightLeafTree) {
  const json::Value ref = LoadJson("rfc6962-reference.json");
  EXPECT_EQ(HashHex(EmptyRoot()), Member(ref, "empty_root").as_string());
  int leaf_hashes = 0;
  for (const json::Value& c : Member(ref, "leaf_hashes").items()) {
    EXPECT_EQ(HashHex(LeafHash(*HexDecode(Member(c, "leaf").as_string()))),
              Member(c, "hash").as_string());
    ++leaf_hashes;
  }
  EXPECT_EQ(leaf_hashes, 2);  // the empty leaf and "L123456" (rfc6962_test.go)
  MemoryTree tree;
  for (const json::Value& leaf : Member(ref, "leaves").items()) {
    tree.Append(LeafHash(*HexDecode(leaf.as_string())));
  }
  ASSERT_EQ(tree.leaves().size(), 8u);
  int roots = 0;
  for (const json::Value& r : Member(ref, "roots").items()) {
    const uint64_t n = U64(r, "size");
    const Hash want = HexHash(Member(r, "root").as_string());
    Result<Hash> at = RootAt(n, tree.Reader(n));
    ASSERT_TRUE(at.ok()) << at.error().ToString();
    EXPECT_EQ(*at, want) << "size " << n;
    Result<Frontier> f = Frontier::Load(n, tree.Reader(n));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->Root(), want) << "size " << n;
    ++roots;
  }
  EXPECT_EQ(roots, 8);
  EXPECT_EQ(HashHex(tree.frontier().Root()),
            Member(Member(ref, "roots").items()[7], "root").as_string());

  int inclusion = 0;
  for (const json::Value& c : Member(ref, "inclusion").items()) {
    const uint64_t i = U64(c, "leaf_index");
    const uint64_t n = U64(c, "size");
    const std::vector<Hash> want = HexHashes(Member(c, "proof"));
    Result<std::vector<Hash>> got = InclusionProof(i, n, tree.Reader(n));
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_EQ(*got, want) << i << " of " << n;
    const Hash root = *RootAt(n, tree.Reader(n));
    EXPECT_TRUE(VerifyInclusion(tree.leaves()[i], i, n, want, root).ok()) << i << " of " << n;
    ++inclusion;
  }
  EXPECT_EQ(inclusion, 5);

  int consistency = 0;
  for (const json::Value& c : Member(ref, "consistency").items()) {
    const uint64_t m = U64(c, "size1");
    const uint64_t n = U64(c, "size2");
    const std::vector<Hash> want = HexHashes(Member(c, "proof"));
    Result<std::vector<Hash>> got = ConsistencyProof(m, n, tree.Reader(n));
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_EQ(*got, want) << m << " -> " << n;
    const Hash root1 = *RootAt(m, tree.Reader(m));
    const Hash root2 = *RootAt(n, tree.Reader(n));
    EXPECT_TRUE(VerifyConsistency(m, n, root1, root2, want).ok()) << m << " -> " << n;
    ++consistency;
  }
  EXPECT_EQ(consistency, 5);
}

// ---- transparency-dev/merkle testdata (tests/vectors/merkle/{inclusion,consistency}.json) -------

// A vector's hash: exact when it decodes to 32 bytes. Upstream also has hashes of other lengths
// ("", "WrongLeaf", "don't care 1"), which the typed API cannot hold: HashFromBytes refuses them,
// and the verifier then sees a 32-byte stand-in (SHA-256 of 0xff || the bytes, so equal inputs
// give equal stand-ins and no stand-in is a real tree hash).
struct VectorHash {
  Hash hash{};
  bool exact = true;
};

VectorHash DecodeVectorHash(const json::Value& v) {
  Result<Bytes> raw = Base64Decode(v.as_string());
  EXPECT_TRUE(raw.ok()) << "not base64: " << v.as_string();
  if (!raw.ok()) {
    return VectorHash{Hash{}, false};
  }
  Result<Hash> h = HashFromBytes(*raw);
  if (h.ok()) {
    return VectorHash{*h, true};
  }
  EXPECT_EQ(h.error().code(), StatusCode::kInvalidArgument);
  Bytes tagged = {0xff};
  tagged.insert(tagged.end(), raw->begin(), raw->end());
  Hash stand_in{};
  const Bytes d = signer::Sha256(tagged);
  std::copy(d.begin(), d.end(), stand_in.begin());
  return VectorHash{stand_in, false};
}

struct VectorProof {
  std::vector<Hash> hashes;
  bool exact = true;
};

VectorProof DecodeVectorProof(const json::Value& v) {
  VectorProof p;
  if (v.is_null()) {  // Go's nil slice
    return p;
  }
  EXPECT_TRUE(v.is_array());
  for (const json::Value& e : v.items()) {
    const VectorHash h = DecodeVectorHash(e);
    p.hashes.push_back(h.hash);
    p.exact = p.exact && h.exact;
  }
  return p;
}

std::string ShortName(const std::string& name) {
  const std::string prefix = "testdata/";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

// The reference tree the generated vectors were made from (their 8 leaves are RFC 6962's).
MemoryTree ReferenceTree() {
  MemoryTree tree;
  const json::Value ref = LoadJson("rfc6962-reference.json");
  for (const json::Value& leaf : Member(ref, "leaves").items()) {
    tree.Append(LeafHash(*HexDecode(leaf.as_string())));
  }
  return tree;
}

TEST(MerkleVectors, EveryInclusionCase) {
  const json::Value cases = LoadJson("inclusion.json");
  MemoryTree tree = ReferenceTree();
  int run = 0;
  int verified = 0;
  int refused_by_verifier = 0;
  int hash_length_refused = 0;
  for (const json::Value& c : cases.items()) {
    const std::string name = ShortName(Member(c, "name").as_string());
    SCOPED_TRACE(name + " (" + Member(c, "desc").as_string() + ")");
    ++run;
    // Older upstream files spell the index "leafIndex", newer ones "leafIdx".
    const uint64_t index = U64(c, c.Find("leafIdx") != nullptr ? "leafIdx" : "leafIndex");
    const uint64_t size = U64(c, "treeSize");
    const VectorHash root = DecodeVectorHash(Member(c, "root"));
    const VectorHash leaf = DecodeVectorHash(Member(c, "leafHash"));
    const VectorProof proof = DecodeVectorProof(Member(c, "proof"));
    const bool want_error = Member(c, "wantErr").as_bool();
    const bool exact = root.exact && leaf.exact && proof.exact;
    const Status s = VerifyInclusion(leaf.hash, index, size, proof.hashes, root.hash);
    if (!exact) {
      // Refused already: a hash of the wrong length does not decode. Every such upstream case is
      // a wantErr case; with stand-ins the verifier must refuse it too, except where the wrong
      // length is the whole fault (both root and leaf empty, so their stand-ins agree).
      ++hash_length_refused;
      EXPECT_TRUE(want_error);
      if (name == "inclusion/single-entry/empty-root-and-leaf.json") {
        EXPECT_TRUE(s.ok()) << s.ToString();
      } else {
        ExpectRefused(s, kInclusionInvalid);
      }
      continue;
    }
    if (!want_error) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      ++verified;
      if (size <= 8 && name.find("single-entry") == std::string::npos) {
        // Our generator, from stored nodes of the reference tree, gives the same proof.
        Result<std::vector<Hash>> ours = InclusionProof(index, size, tree.Reader(size));
        ASSERT_TRUE(ours.ok());
        EXPECT_EQ(*ours, proof.hashes);
        EXPECT_EQ(tree.leaves()[index], leaf.hash);
      }
    } else {
      ExpectRefused(s, kInclusionInvalid);
      ++refused_by_verifier;
    }
  }
  std::printf(
      "[ merkle ] inclusion: %d cases, %d verified, %d refused by VerifyInclusion, %d refused for "
      "a hash of the wrong length\n",
      run, verified, refused_by_verifier, hash_length_refused);
  EXPECT_EQ(run, 129);
  EXPECT_EQ(verified, 6);
  EXPECT_EQ(hash_length_refused, 27);
  EXPECT_EQ(refused_by_verifier, 96);
}

TEST(MerkleVectors, EveryConsistencyCase) {
  const json::Value cases = LoadJson("consistency.json");
  MemoryTree tree = ReferenceTree();
  // Upstream accepts these because its verifier compares byte strings of any length; their roots
  // are 12-byte placeholders ("don't care 2"), which our typed API cannot hold.
  const std::set<std::string> length_agnostic_ok = {
      "consistency/additional/sizes-are-equal-and-proof-is-empty-where-both-sizes-are-one.json",
      "consistency/additional/sizes-are-equal-and-proof-is-empty-where-both-sizes-are-zero.json",
      "consistency/additional/sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-one.json",
      "consistency/additional/"
      "sizes-are-equal-and-proof-is-not-empty-where-both-sizes-are-zero.json",
      "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
  };
  int run = 0;
  int verified = 0;
  int refused_by_verifier = 0;
  int hash_length_refused = 0;
  for (const json::Value& c : cases.items()) {
    const std::string name = ShortName(Member(c, "name").as_string());
    SCOPED_TRACE(name + " (" + Member(c, "desc").as_string() + ")");
    ++run;
    const uint64_t size1 = U64(c, "size1");
    const uint64_t size2 = U64(c, "size2");
    const VectorHash root1 = DecodeVectorHash(Member(c, "root1"));
    const VectorHash root2 = DecodeVectorHash(Member(c, "root2"));
    const VectorProof proof = DecodeVectorProof(Member(c, "proof"));
    const bool want_error = Member(c, "wantErr").as_bool();
    const bool exact = root1.exact && root2.exact && proof.exact;
    const Status s = VerifyConsistency(size1, size2, root1.hash, root2.hash, proof.hashes);
    if (!exact) {
      ++hash_length_refused;
      if (!want_error) {
        ASSERT_EQ(length_agnostic_ok.count(name), 1u);
        // Same question with 32-byte roots: equal sizes, equal roots, empty proof. Size 1 is
        // consistent; size 0 is refused on purpose (RFC 9162 §2.1.4.2 needs 0 < size1).
        if (size1 == 0) {
          ExpectRefused(s, kConsistencyInvalid);
        } else {
          EXPECT_TRUE(s.ok()) << s.ToString();
        }
      } else {
        ExpectRefused(s, kConsistencyInvalid);
      }
      continue;
    }
    if (!want_error) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      ++verified;
      Result<std::vector<Hash>> ours = ConsistencyProof(size1, size2, tree.Reader(size2));
      ASSERT_TRUE(ours.ok());
      EXPECT_EQ(*ours, proof.hashes);
      EXPECT_EQ(*RootAt(size1, tree.Reader(size1)), root1.hash);
      EXPECT_EQ(*RootAt(size2, tree.Reader(size2)), root2.hash);
    } else {
      ExpectRefused(s, kConsistencyInvalid);
      ++refused_by_verifier;
    }
  }
  std::printf(
      "[ merkle ] consistency: %d cases, %d verified, %d refused by VerifyConsistency, %d refused "
      "for a hash of the wrong length (%zu of them upstream-valid placeholders)\n",
      run, verified, refused_by_verifier, hash_length_refused, length_agnostic_ok.size());
  EXPECT_EQ(run, 137);
  EXPECT_EQ(verified, 5);
  EXPECT_EQ(hash_length_refused, 31);
  EXPECT_EQ(refused_by_verifier, 101);
}

// ---- Exhaustive small trees ---------------------------------------------------------------------

// At most this many node reads for a root or proof of a tree of n leaves: O(log n).
int ReadBound(uint64_t n) { return 2 * std::bit_width(n) + 2; }

TEST(MerkleTrees, RootsFrontiersAndLoadsUpTo257) {
  MemoryTree tree;
  Naive naive(tree.leaves());
  for (uint64_t n = 1; n <= 257; ++n) {
    SCOPED_TRACE("size " + std::to_string(n));
    tree.Append(TestLeaf(n - 1));
    ASSERT_EQ(tree.frontier().size(), n);
    const Hash want = naive.Mth(0, n);
    EXPECT_EQ(tree.frontier().Root(), want);

    tree.TakeReads();
    Result<Hash> at = RootAt(n, tree.Reader(n));
    ASSERT_TRUE(at.ok()) << at.error().ToString();
    EXPECT_EQ(*at, want);
    EXPECT_EQ(tree.TakeReads(), std::popcount(n));

    Result<Frontier> loaded = Frontier::Load(n, tree.Reader(n));
    ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
    EXPECT_EQ(tree.TakeReads(), std::popcount(n));
    EXPECT_EQ(loaded->size(), n);
    EXPECT_EQ(loaded->Root(), want);
    // A loaded frontier carries on exactly like the original.
    Frontier next = *loaded;
    std::vector<NodeId> ids;
    next.Append(TestLeaf(n), [&ids](NodeId id, const Hash&) { ids.push_back(id); });
    EXPECT_EQ(next.size(), n + 1);
    EXPECT_EQ(ids.size(), static_cast<size_t>(std::countr_one(n)) + 1);
    std::vector<Hash> longer = tree.leaves();
    longer.push_back(TestLeaf(n));
    EXPECT_EQ(next.Root(), Naive(longer).Mth(0, n + 1));
  }
  Frontier empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.Root(), EmptyRoot());
  EXPECT_EQ(*RootAt(0, tree.Reader(0)), EmptyRoot());
  Result<Frontier> none = Frontier::Load(0, tree.Reader(0));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->Root(), EmptyRoot());
  EXPECT_EQ(tree.TakeReads(), 0);
}

TEST(MerkleTrees, EveryInclusionProofUpTo70) {
  MemoryTree tree;
  for (uint64_t i = 0; i < 257; ++i) {
    tree.Append(TestLeaf(i));
  }
  Naive naive(tree.leaves());
  const Hash stranger = TestLeaf(1000);
  int proofs = 0;
  auto check = [&](uint64_t i, uint64_t n) {
    SCOPED_TRACE("leaf " + std::to_string(i) + " of " + std::to_string(n));
    const Hash root = naive.Mth(0, n);
    tree.TakeReads();
    Result<std::vector<Hash>> proof = InclusionProof(i, n, tree.Reader(n));
    ASSERT_TRUE(proof.ok()) << proof.error().ToString();
    EXPECT_LE(tree.TakeReads(), ReadBound(n));
    EXPECT_EQ(*proof, naive.Path(i, 0, n));
    const Hash& leaf = tree.leaves()[i];
    EXPECT_TRUE(VerifyInclusion(leaf, i, n, *proof, root).ok());
    ++proofs;
    // Every single-bit flip of every hash, a wrong leaf, index or size, and every length change
    // is refused.
    for (size_t k = 0; k < proof->size(); ++k) {
      std::vector<Hash> bad = *proof;
      bad[k][k % 32] ^= 0x01;
      ExpectRefused(VerifyInclusion(leaf, i, n, bad, root), kInclusionInvalid);
    }
    ExpectRefused(VerifyInclusion(stranger, i, n, *proof, root), kInclusionInvalid);
    if (i + 1 < n) {
      ExpectRefused(VerifyInclusion(leaf, i + 1, n, *proof, root), kInclusionInvalid);
    }
    ExpectRefused(VerifyInclusion(leaf, i, 2 * n, *proof, root), kInclusionInvalid);
    ExpectRefused(VerifyInclusion(leaf, n, n, *proof, root), kInclusionInvalid);
    std::vector<Hash> longer = *proof;
    longer.push_back(root);
    ExpectRefused(VerifyInclusion(leaf, i, n, longer, root), kInclusionInvalid);
    if (!proof->empty()) {
      std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
      ExpectRefused(VerifyInclusion(leaf, i, n, shorter, root), kInclusionInvalid);
    }
  };
  for (uint64_t n = 1; n <= 70; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      check(i, n);
    }
  }
  EXPECT_EQ(proofs, 70 * 71 / 2);
  // Deeper trees: the edges and the middle.
  for (uint64_t n = 71; n <= 257; ++n) {
    for (uint64_t i : {uint64_t{0}, n / 2, n - 2, n - 1}) {
      check(i, n);
    }
  }
}

TEST(MerkleTrees, EveryConsistencyProofUpTo70) {
  MemoryTree tree;
  for (uint64_t i = 0; i < 257; ++i) {
    tree.Append(TestLeaf(i));
  }
  Naive naive(tree.leaves());
  int proofs = 0;
  auto check = [&](uint64_t m, uint64_t n) {
    SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
    const Hash root1 = naive.Mth(0, m);
    const Hash root2 = naive.Mth(0, n);
    tree.TakeReads();
    Result<std::vector<Hash>> proof = ConsistencyProof(m, n, tree.Reader(n));
    ASSERT_TRUE(proof.ok()) << proof.error().ToString();
    EXPECT_LE(tree.TakeReads(), ReadBound(n));
    EXPECT_EQ(*proof, naive.Proof(m, n));
    EXPECT_TRUE(VerifyConsistency(m, n, root1, root2, *proof).ok());
    ++proofs;
    for (size_t k = 0; k < proof->size(); ++k) {
      std::vector<Hash> bad = *proof;
      bad[k][31 - k % 32] ^= 0x80;
      ExpectRefused(VerifyConsistency(m, n, root1, root2, bad), kConsistencyInvalid);
    }
    Hash wrong1 = root1;
    wrong1[0] ^= 1;
    Hash wrong2 = root2;
    wrong2[31] ^= 1;
    ExpectRefused(VerifyConsistency(m, n, wrong1, root2, *proof), kConsistencyInvalid);
    ExpectRefused(VerifyConsistency(m, n, root1, wrong2, *proof), kConsistencyInvalid);
    ExpectRefused(VerifyConsistency(n, m == n ? n + 1 : m, root2, root1, *proof),
                  kConsistencyInvalid);
    std::vector<Hash> longer = *proof;
    longer.push_back(root2);
    ExpectRefused(VerifyConsistency(m, n, root1, root2, longer), kConsistencyInvalid);
    if (!proof->empty()) {
      std::vector<Hash> shorter(proof->begin() + 1, proof->end());
      ExpectRefused(VerifyConsistency(m, n, root1, root2, shorter), kConsistencyInvalid);
      ExpectRefused(VerifyConsistency(m, 2 * n, root1, root2, *proof), kConsistencyInvalid);
    }
  };
  for (uint64_t n = 1; n <= 70; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      check(m, n);
    }
  }
  EXPECT_EQ(proofs, 70 * 71 / 2);
  for (uint64_t n = 71; n <= 257; ++n) {
    for (uint64_t m : {uint64_t{1}, n / 3, n / 2, n - 1, n}) {
      check(m, n);
    }
  }
}

// ---- Range and argument edges -------------------------------------------------------------------

TEST(MerkleEdges, GeneratorsRefuseRangesOutsideTheTree) {
  MemoryTree tree;
  for (uint64_t i = 0; i < 5; ++i) {
    tree.Append(TestLeaf(i));
  }
  ExpectRefused(InclusionProof(0, 0, tree.Reader(0)).status(), kProofRange);
  ExpectRefused(InclusionProof(5, 5, tree.Reader(5)).status(), kProofRange);
  ExpectRefused(InclusionProof(UINT64_MAX, 5, tree.Reader(5)).status(), kProofRange);
  ExpectRefused(ConsistencyProof(0, 5, tree.Reader(5)).status(), kProofRange);
  ExpectRefused(ConsistencyProof(0, 0, tree.Reader(0)).status(), kProofRange);
  ExpectRefused(ConsistencyProof(6, 5, tree.Reader(5)).status(), kProofRange);
  Result<std::vector<Hash>> same = ConsistencyProof(5, 5, tree.Reader(5));
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
  EXPECT_EQ(tree.TakeReads(), 0);
}

TEST(MerkleEdges, VerifiersRefuseImpossibleArguments) {
  const Hash h = TestLeaf(0);
  const Hash root2 = NodeHash(h, TestLeaf(1));
  ExpectRefused(VerifyInclusion(h, 0, 0, {}, h), kInclusionInvalid);
  ExpectRefused(VerifyInclusion(h, 1, 1, {}, h), kInclusionInvalid);
  ExpectRefused(VerifyInclusion(h, UINT64_MAX, UINT64_MAX, {}, h), kInclusionInvalid);
  EXPECT_TRUE(VerifyInclusion(h, 0, 1, {}, h).ok());
  ExpectRefused(VerifyInclusion(h, 0, 1, {h}, h), kInclusionInvalid);
  // Far too long: no tree has a 65-hash path.
  ExpectRefused(VerifyInclusion(h, 0, UINT64_MAX, std::vector<Hash>(65, h), h), kInclusionInvalid);

  EXPECT_TRUE(VerifyConsistency(1, 1, h, h, {}).ok());
  ExpectRefused(VerifyConsistency(1, 1, h, root2, {}), kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(1, 1, h, h, {h}), kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}), kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(0, 1, EmptyRoot(), h, {}), kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(2, 1, root2, h, {}), kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(1, 2, h, root2, {}), kConsistencyInvalid);
  EXPECT_TRUE(VerifyConsistency(1, 2, h, root2, {TestLeaf(1)}).ok());
  ExpectRefused(VerifyConsistency(1, 2, h, root2, std::vector<Hash>(200, h)),
                kConsistencyInvalid);
  ExpectRefused(VerifyConsistency(UINT64_MAX - 1, UINT64_MAX, h, h, {h}), kConsistencyInvalid);
}

// A virtual tree whose leaves all hash to the same value: every perfect subtree of level L has
// the same hash, so any size up to 2^64 - 1 is consistent and cheap. The reader records what is
// read and checks it lies below the size.
class UniformTree {
 public:
  UniformTree() {
    levels_[0] = LeafHash(AsBytes("uniform"));
    for (size_t l = 1; l < levels_.size(); ++l) {
      levels_[l] = NodeHash(levels_[l - 1], levels_[l - 1]);
    }
  }
  NodeReader Reader(uint64_t size) {
    return [this, size](NodeId id) -> Result<Hash> {
      EXPECT_GE(id.level, 0);
      EXPECT_LT(id.level, 64);
      EXPECT_LE(id.index + 1, size >> id.level)
          << "node " << id.level << "/" << id.index << " reaches past size " << size;
      read_.push_back(id);
      return levels_[static_cast<size_t>(id.level)];
    };
  }
  const Hash& leaf() const { return levels_[0]; }
  std::vector<NodeId> TakeRead() { return std::exchange(read_, {}); }

 private:
  std::array<Hash, 64> levels_;
  std::vector<NodeId> read_;
};

TEST(MerkleEdges, SizesUpTo2To64) {
  UniformTree tree;
  const uint64_t two63 = uint64_t{1} << 63;
  // Inclusion at the extremes, including sizes whose path length is 64 (size - 1 >= 2^63).
  const std::pair<uint64_t, uint64_t> inclusions[] = {
      {0, two63},          {two63 - 1, two63},     {0, two63 + 1},
      {two63, two63 + 1},  {0, UINT64_MAX},        {UINT64_MAX - 1, UINT64_MAX},
      {two63, UINT64_MAX}, {12345, UINT64_MAX - 7}, {two63 - 1, two63 + 3}};
  for (const auto& [i, n] : inclusions) {
    SCOPED_TRACE("leaf " + std::to_string(i) + " of " + std::to_string(n));
    Result<Hash> root = RootAt(n, tree.Reader(n));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(tree.TakeRead().size(), static_cast<size_t>(std::popcount(n)));
    Result<Frontier> f = Frontier::Load(n, tree.Reader(n));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->Root(), *root);
    tree.TakeRead();
    Result<std::vector<Hash>> proof = InclusionProof(i, n, tree.Reader(n));
    ASSERT_TRUE(proof.ok()) << proof.error().ToString();
    EXPECT_LE(tree.TakeRead().size(), 128u);
    EXPECT_LE(proof->size(), 64u);
    EXPECT_TRUE(VerifyInclusion(tree.leaf(), i, n, *proof, *root).ok());
    std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
    ExpectRefused(VerifyInclusion(tree.leaf(), i, n, shorter, *root), kInclusionInvalid);
    ExpectRefused(VerifyInclusion(tree.leaf(), i, n, *proof, tree.leaf()), kInclusionInvalid);
  }
  // The exact nodes read for leaf 0 of 2^63 + 1 leaves, walking down from the root: the lone
  // last leaf, then the right sibling at every level from 62 down to 0.
  tree.TakeRead();
  ASSERT_TRUE(InclusionProof(0, two63 + 1, tree.Reader(two63 + 1)).ok());
  std::vector<NodeId> want = {NodeId{0, two63}};
  for (int l = 62; l >= 0; --l) {
    want.push_back(NodeId{l, 1});
  }
  EXPECT_EQ(tree.TakeRead(), want);

  const std::pair<uint64_t, uint64_t> consistencies[] = {
      {1, UINT64_MAX},  {two63, two63 + 1},         {two63 - 1, two63 + 1},
      {3, two63},       {UINT64_MAX - 1, UINT64_MAX}, {two63 + 5, UINT64_MAX},
      {UINT64_MAX, UINT64_MAX}};
  for (const auto& [m, n] : consistencies) {
    SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
    const Hash root1 = *RootAt(m, tree.Reader(m));
    const Hash root2 = *RootAt(n, tree.Reader(n));
    tree.TakeRead();
    Result<std::vector<Hash>> proof = ConsistencyProof(m, n, tree.Reader(n));
    ASSERT_TRUE(proof.ok()) << proof.error().ToString();
    EXPECT_LE(tree.TakeRead().size(), 130u);
    EXPECT_TRUE(VerifyConsistency(m, n, root1, root2, *proof).ok());
    std::vector<Hash> longer = *proof;
    longer.push_back(root1);
    ExpectRefused(VerifyConsistency(m, n, root1, root2, longer), kConsistencyInvalid);
  }
}

// ---- NodeReader failures pass through unchanged -------------------------------------------------

TEST(MerkleReaderErrors, EveryReadFailurePropagates) {
  MemoryTree tree;
  for (uint64_t i = 0; i < 100; ++i) {
    tree.Append(TestLeaf(i));
  }
  const Status failure = DataLossError("disk on fire", "storage-corruption");
  // A reader over a tree of 100 leaves that fails on its `fail_at`-th call (from 1).
  auto failing = [&](int fail_at, int* calls) -> NodeReader {
    NodeReader inner = tree.Reader(100);
    return [inner, fail_at, calls, failure](NodeId id) -> Result<Hash> {
      if (++*calls == fail_at) {
        return failure;
      }
      return inner(id);
    };
  };
  using Op = std::function<Status(const NodeReader&)>;
  const std::pair<const char*, Op> ops[] = {
      {"RootAt", [](const NodeReader& r) { return RootAt(99, r).status(); }},
      {"Load", [](const NodeReader& r) { return Frontier::Load(99, r).status(); }},
      {"InclusionProof", [](const NodeReader& r) { return InclusionProof(37, 99, r).status(); }},
      {"InclusionProof last",
       [](const NodeReader& r) { return InclusionProof(98, 99, r).status(); }},
      {"ConsistencyProof",
       [](const NodeReader& r) { return ConsistencyProof(37, 99, r).status(); }},
      {"ConsistencyProof pow2",
       [](const NodeReader& r) { return ConsistencyProof(64, 99, r).status(); }},
  };
  for (const auto& [label, op] : ops) {
    SCOPED_TRACE(label);
    int total = 0;
    ASSERT_TRUE(op(failing(-1, &total)).ok());
    ASSERT_GT(total, 0);
    for (int k = 1; k <= total; ++k) {
      int calls = 0;
      EXPECT_EQ(op(failing(k, &calls)), failure) << "failing read " << k << " of " << total;
      EXPECT_EQ(calls, k) << "reads continued after a failure";
    }
  }
  // kNotFound from a reader missing a node is passed through as well.
  const NodeReader empty = [](NodeId) -> Result<Hash> { return NotFoundError("no such node"); };
  EXPECT_EQ(RootAt(3, empty).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Frontier::Load(3, empty).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(InclusionProof(0, 3, empty).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ConsistencyProof(1, 3, empty).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mandated::audit
