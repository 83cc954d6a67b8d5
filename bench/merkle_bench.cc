// Audit Merkle tree benchmarks (audit/merkle.h), each beside a raw baseline: signer::Sha256 over
// the bytes the operation must hash, called directly. Names: Merkle/<Operation>/<ours|raw>:
//
//   Append          Frontier::Append of a precomputed leaf hash, nodes handed to a callback that
//                   drops them; amortized one node hash (65 bytes) per leaf;
//   AppendRaw       one SHA-256 of 65 bytes;
//   InclusionProof  InclusionProof for a leaf of a 1,000,000-leaf tree, nodes read from an
//                   in-memory hash map filled by Append; 20 hashes out;
//   InclusionProofRaw  one SHA-256 over the proof's 20 * 32 bytes (reading the proof once);
//   VerifyInclusion VerifyInclusion of one such proof (one 65-byte node hash per proof hash);
//   VerifyInclusionRaw as many SHA-256 calls of 65 bytes, chained (the RFC 9162 work alone).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "audit/merkle.h"
#include "base/bytes.h"
#include "signer/hash.h"

namespace mandated::audit {
namespace {

constexpr uint64_t kTreeSize = 1000000;

Hash Leaf(uint64_t i) { return LeafHash(AsBytes("event-" + std::to_string(i))); }

// Perfect-subtree hashes keyed by level and index, as the audit log stores them.
// Thread safety: not synchronized (built once before timing, then only read).
struct NodeMap {
  std::unordered_map<uint64_t, Hash> nodes;
  Frontier frontier;

  static uint64_t Key(NodeId id) { return (id.index << 6) | static_cast<uint64_t>(id.level); }

  NodeReader Reader() const {
    return [this](NodeId id) -> Result<Hash> {
      auto it = nodes.find(Key(id));
      if (it == nodes.end()) {
        return NotFoundError("missing node");
      }
      return it->second;
    };
  }
};

NodeMap BuildMillionLeafTree() {
  NodeMap t;
  t.nodes.reserve(2 * kTreeSize);
  const auto store = [&t](NodeId id, const Hash& h) { t.nodes[NodeMap::Key(id)] = h; };
  for (uint64_t i = 0; i < kTreeSize; ++i) {
    t.frontier.Append(Leaf(i), store);
  }
  return t;
}

const NodeMap& MillionLeafTree() {
  static const NodeMap tree = BuildMillionLeafTree();
  return tree;
}

// Leaves spread over the tree, so proofs differ in shape and in the ragged right edge.
uint64_t PickLeaf(uint64_t n) { return (n * 7919 + 12345) % kTreeSize; }

void BM_Append_Ours(benchmark::State& state) {
  Frontier f;
  const Hash leaf = Leaf(0);
  const auto drop = [](NodeId, const Hash&) {};
  for (auto _ : state) {
    f.Append(leaf, drop);
  }
  benchmark::DoNotOptimize(f.Root());
  state.counters["leaves"] = static_cast<double>(f.size());
}

void BM_Append_Raw(benchmark::State& state) {
  std::array<uint8_t, 65> buf{};
  buf[0] = 0x01;
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::Sha256(buf));
  }
}

void BM_InclusionProof_Ours(benchmark::State& state) {
  const NodeMap& tree = MillionLeafTree();
  const NodeReader read = tree.Reader();
  uint64_t n = 0;
  size_t hashes = 0;
  for (auto _ : state) {
    Result<std::vector<Hash>> proof = InclusionProof(PickLeaf(n++), kTreeSize, read);
    hashes += proof->size();
    benchmark::DoNotOptimize(proof);
  }
  state.counters["proof_hashes"] =
      benchmark::Counter(static_cast<double>(hashes), benchmark::Counter::kAvgIterations);
}

void BM_InclusionProof_Raw(benchmark::State& state) {
  const Bytes proof_bytes(20 * 32, 0x5a);
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer::Sha256(proof_bytes));
  }
}

void BM_VerifyInclusion_Ours(benchmark::State& state) {
  const NodeMap& tree = MillionLeafTree();
  const uint64_t index = PickLeaf(1);
  const std::vector<Hash> proof = *InclusionProof(index, kTreeSize, tree.Reader());
  const Hash root = tree.frontier.Root();
  const Hash leaf = Leaf(index);
  if (!VerifyInclusion(leaf, index, kTreeSize, proof, root).ok()) {
    state.SkipWithError("the benchmark proof does not verify");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(VerifyInclusion(leaf, index, kTreeSize, proof, root));
  }
  state.counters["proof_hashes"] = static_cast<double>(proof.size());
}

void BM_VerifyInclusion_Raw(benchmark::State& state) {
  const size_t hashes = InclusionProof(PickLeaf(1), kTreeSize, MillionLeafTree().Reader())->size();
  std::array<uint8_t, 65> buf{};
  buf[0] = 0x01;
  for (auto _ : state) {
    for (size_t i = 0; i < hashes; ++i) {
      const Bytes d = signer::Sha256(buf);
      std::copy(d.begin(), d.end(), buf.begin() + 1);
    }
    benchmark::DoNotOptimize(buf);
  }
}

BENCHMARK(BM_Append_Ours)->Name("Merkle/Append/ours");
BENCHMARK(BM_Append_Raw)->Name("Merkle/Append/raw");
BENCHMARK(BM_InclusionProof_Ours)->Name("Merkle/InclusionProof/ours");
BENCHMARK(BM_InclusionProof_Raw)->Name("Merkle/InclusionProof/raw");
BENCHMARK(BM_VerifyInclusion_Ours)->Name("Merkle/VerifyInclusion/ours");
BENCHMARK(BM_VerifyInclusion_Raw)->Name("Merkle/VerifyInclusion/raw");

}  // namespace
}  // namespace mandated::audit

BENCHMARK_MAIN();
