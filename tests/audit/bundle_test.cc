// audit::VerifyBundle on bundles exported by audit::Log from a real RocksDB, then altered
// (specs/audit.md §5): an event of another trail spliced in with its genuine proof, an earlier
// checkpoint of a fork or another origin, a header whose size or root is not the checkpoint's,
// and hostile bundles that would otherwise make the report grow without bound.
#include <gtest/gtest.h>

#include <limits>

#include "audit/bundle.h"
#include "audit/checkpoint.h"
#include "audit/event.h"
#include "audit/log.h"
#include "base/random.h"
#include "signer/key_store.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::audit {
namespace {

std::vector<std::string> Findings(const BundleReport& r) {
  std::vector<std::string> out;
  for (const BundleFinding& f : r.findings) out.push_back(f.code + " " + f.detail);
  return out;
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {signer::kKeysFamily, std::string(kAuditFamily)};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 9))), clock_,
                                              SystemRandom::Get()));
    log_ = std::move(*Log::Open(*kv_, *keys_, clock_, "audit.test/audit"));
    // The events of audit/log_test.cc's trails, one a second: seq 0 .. 11.
    Change("agent.created", "prn_a", {{"agent", "agt_1"}});                                // 0
    Change("mandate.issued", "prn_a", {{"mandate", "mnd_root"}, {"agent", "agt_1"}});      // 1
    Change("mandate.issued", "prn_a",
           {{"mandate", "mnd_child"}, {"parent_mandate", "mnd_root"}, {"agent", "agt_1"}});  // 2
    Change("mandate.issued", "prn_a",
           {{"mandate", "mnd_grandchild"}, {"parent_mandate", "mnd_child"}});              // 3
    Change("mandate.issued", "prn_a", {{"mandate", "mnd_unrelated"}});                      // 4
    Change("session.opened", "prn_a", {{"session", "ses_1"}, {"agent", "agt_1"}});           // 5
    Change("authorization.decided", "prn_a",
           {{"authorization", "atz_1"}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
            {"session", "ses_1"}});                                                         // 6
    Change("authorization.decided", "prn_a",
           {{"authorization", "atz_2"}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
            {"session", "ses_1"}});                                                         // 7
    Change("approval.approved", "prn_a", {{"authorization", "atz_1"}, {"approval", "apr_1"}});  // 8
    Change("authorization.captured", "prn_a", {{"authorization", "atz_1"}});                // 9
    Change("mandate.revoked", "prn_a", {{"mandate", "mnd_root"}});                          // 10
    Change("principal.created", "prn_b", {{"principal", "prn_b"}});                         // 11
    ASSERT_TRUE(log_->Sequence().ok());
    ASSERT_EQ(log_->size(), 12u);
    options_.verifier_key = *log_->VerifierKey();
  }

  void Change(const std::string& type, const std::string& principal,
              std::vector<std::pair<std::string, std::string>> subjects) {
    store::WriteBatch b;
    Event e;
    e.type = type;
    e.principal = principal;
    e.actor = Actor::Operator();
    for (auto& [k, v] : subjects) e.Subject(k, v);
    e.at_micros = clock_.NowUnixMicros();
    Stage(b, e);
    ASSERT_TRUE(kv_->Write(b).ok());
    clock_.AdvanceSeconds(1);
  }

  std::string Export(const TrailQuery& q) {
    Result<std::string> b = log_->Export(q, 1000);
    EXPECT_TRUE(b.ok()) << b.error().ToString();
    return b.ok() ? *b : "";
  }

  // `bundle` with event `seq` of the log added in its place, with its genuine inclusion proof
  // against the bundle's size.
  std::string Splice(const std::string& bundle, uint64_t seq) {
    const size_t header_end = bundle.find('\n');
    json::Value header = *json::Parse(bundle.substr(0, header_end));
    const uint64_t size = *header.Find("size")->as_uint64();
    std::vector<Hash> proof = *log_->Inclusion(seq, size);
    json::Value arr = json::Value::Array();
    for (const Hash& h : proof) arr.Append(json::Value::String(HashHex(h)));
    json::Value proofs = *header.Find("proofs");
    proofs.AppendMember(std::to_string(seq), std::move(arr));
    header.Set("proofs", std::move(proofs));
    std::string out = json::Write(header) + "\n";
    bool placed = false;
    size_t start = header_end + 1;
    const std::string event = log_->Event(seq)->bytes;
    while (start < bundle.size()) {
      const size_t end = bundle.find('\n', start);
      const std::string line = bundle.substr(start, end - start);
      if (!placed && *json::Parse(line)->Find("seq")->as_uint64() > seq) {
        out += event + "\n";
        placed = true;
      }
      out += line + "\n";
      start = end + 1;
    }
    if (!placed) out += event + "\n";
    return out;
  }

  // `bundle` with its header changed by `edit`.
  static std::string EditHeader(const std::string& bundle,
                                const std::function<void(json::Value&)>& edit) {
    const size_t header_end = bundle.find('\n');
    json::Value header = *json::Parse(bundle.substr(0, header_end));
    edit(header);
    return json::Write(header) + bundle.substr(header_end);
  }

  // A checkpoint note signed by the log's own audit key.
  std::string SignedByTheService(const Checkpoint& c) {
    signer::KeyInfo key = *log_->AuditKey();
    return *SignNote(CheckpointBody(c), "audit.test/audit", key.public_key,
                     [this, &key](ByteSpan m) { return keys_->Sign(key.id, m); });
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Log> log_;
  BundleVerifyOptions options_;
};

TEST_F(BundleTest, AnEventOfAnotherTrailSplicedInIsOutsideTheQuery) {
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  const std::string genuine = Export(purchase);
  EXPECT_TRUE(VerifyBundle(genuine, options_).ok())
      << ::testing::PrintToString(Findings(VerifyBundle(genuine, options_)));
  // The other purchase's decision, under the same mandate, agent and session: its proof is
  // genuine, but this trail does not hold it.
  BundleReport r = VerifyBundle(Splice(genuine, 7), options_);
  EXPECT_EQ(Findings(r), (std::vector<std::string>{"event-outside-query seq=7"}));
  // The grandchild's issuance is not part of the chain (only ancestors are).
  EXPECT_EQ(Findings(VerifyBundle(Splice(genuine, 3), options_)),
            (std::vector<std::string>{"event-outside-query seq=3"}));

  // A mandate's trail holds its delegations (their issuance names it), not an unrelated one.
  TrailQuery mandate;
  mandate.mandate = "mnd_child";
  const std::string tree = Export(mandate);
  EXPECT_TRUE(VerifyBundle(tree, options_).ok())
      << ::testing::PrintToString(Findings(VerifyBundle(tree, options_)));
  EXPECT_EQ(Findings(VerifyBundle(Splice(tree, 4), options_)),
            (std::vector<std::string>{"event-outside-query seq=4"}));
  EXPECT_EQ(Findings(VerifyBundle(Splice(tree, 1), options_)),
            (std::vector<std::string>{"event-outside-query seq=1"}));

  TrailQuery agent;
  agent.agent = "agt_1";
  const std::string agents = Export(agent);
  EXPECT_TRUE(VerifyBundle(agents, options_).ok());
  EXPECT_EQ(Findings(VerifyBundle(Splice(agents, 4), options_)),
            (std::vector<std::string>{"event-outside-query seq=4"}));

  // A principal's trail within bounds: seq 2 and 3 (at +2 s and +3 s).
  TrailQuery window;
  window.principal = "prn_a";
  window.from_micros = (1795000000 + 2) * int64_t{1000000};
  window.to_micros = (1795000000 + 4) * int64_t{1000000};
  const std::string bounded = Export(window);
  EXPECT_TRUE(VerifyBundle(bounded, options_).ok());
  EXPECT_EQ(Findings(VerifyBundle(Splice(bounded, 4), options_)),
            (std::vector<std::string>{"event-outside-query seq=4"}));
  TrailQuery b;
  b.principal = "prn_b";
  EXPECT_EQ(Findings(VerifyBundle(Splice(Export(b), 0), options_)),
            (std::vector<std::string>{"event-outside-query seq=0"}));

  // A trail's query names exactly one selector.
  const std::string no_query =
      EditHeader(genuine, [](json::Value& h) { h.Set("query", json::Value::Object()); });
  EXPECT_EQ(Findings(VerifyBundle(no_query, options_)),
            (std::vector<std::string>{"bundle-malformed a trail's query names exactly one of "
                                      "authorization, mandate, agent or principal"}));
}

TEST_F(BundleTest, AnEarlierCheckpointOfTheSameSizeMustHaveTheSameRootAndOrigin) {
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  const std::string trail = Export(purchase);
  Result<SignedCheckpoint> latest = log_->Latest();
  ASSERT_TRUE(latest.ok());
  // The service's own note of the same tree passes.
  options_.earlier_checkpoints = {latest->note};
  EXPECT_TRUE(VerifyBundle(trail, options_).ok());

  // A fork: another root at the same size, under the same key.
  Checkpoint fork{"audit.test/audit", latest->size, latest->root, {}};
  fork.root[0] ^= 1;
  options_.earlier_checkpoints = {SignedByTheService(fork)};
  EXPECT_EQ(Findings(VerifyBundle(trail, options_)),
            (std::vector<std::string>{"earlier-checkpoint-mismatch size=12"}));
  // A smaller tree of another origin, signed under the same key name.
  Checkpoint elsewhere{"elsewhere.test/audit", 3, latest->root, {}};
  options_.earlier_checkpoints = {SignedByTheService(elsewhere)};
  EXPECT_EQ(Findings(VerifyBundle(trail, options_)),
            (std::vector<std::string>{
                "earlier-checkpoint-invalid origin elsewhere.test/audit is not audit.test/audit"}));
}

TEST_F(BundleTest, TheHeadersSizeRootAndKeyAreTheCheckpoints) {
  const std::string whole = Export(TrailQuery{});
  ASSERT_TRUE(VerifyBundle(whole, options_).ok());
  EXPECT_EQ(Findings(VerifyBundle(
                EditHeader(whole, [](json::Value& h) { h.Set("size", json::Value::Uint(11)); }),
                options_)),
            (std::vector<std::string>{"bundle-malformed the header's size is not the "
                                      "checkpoint's"}));
  const std::string rootless = EditHeader(whole, [](json::Value& h) {
    json::Value copy = json::Value::Object();
    for (size_t i = 0; i < h.size(); ++i) {
      if (h.keys()[i] != "root") copy.Set(h.keys()[i], h.items()[i]);
    }
    h = std::move(copy);
  });
  EXPECT_EQ(Findings(VerifyBundle(rootless, options_)),
            (std::vector<std::string>{"bundle-malformed the header needs checkpoint, "
                                      "verifier_key, size, root, complete_prefix, proofs"}));
  // The trusted key is compared with the header's as a key: a header naming something else
  // is a finding, the rest still verifies under the trusted key.
  const std::string renamed = EditHeader(whole, [](json::Value& h) {
    h.Set("verifier_key", json::Value::String("not a key"));
  });
  EXPECT_EQ(Findings(VerifyBundle(renamed, options_)),
            (std::vector<std::string>{
                "verifier-key-differs the bundle names another key than the one trusted"}));
}

TEST_F(BundleTest, AHostileBundleCannotGrowTheReportWithoutBound) {
  // Signed by its own key, claiming a tree of 2^64 - 1 events as a complete prefix and holding
  // three: the missing ones are two ranges, not one finding each.
  const uint64_t huge = std::numeric_limits<uint64_t>::max();
  signer::PrivateKey key = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
  const signer::PublicKey pub = *signer::DerivePublicKey(key);
  Checkpoint c{"hostile.test/audit", huge, Hash{}, {}};
  const std::string note = *SignNote(CheckpointBody(c), c.origin, pub,
                                     [&key](ByteSpan m) { return signer::Sign(key, m); });
  json::Value header = json::Value::Object();
  header.Set("format", json::Value::String("mandated-audit-bundle/1"));
  header.Set("query", json::Value::Object());
  header.Set("checkpoint", json::Value::String(note));
  header.Set("verifier_key", json::Value::String(VerifierKeyString(c.origin, pub)));
  header.Set("size", json::Value::Uint(huge));
  header.Set("root", json::Value::String(HashHex(c.root)));
  header.Set("complete_prefix", json::Value::Bool(true));
  header.Set("proofs", json::Value::Object());
  const std::string hostile =
      json::Write(header) + "\n{\"seq\":0}\n{\"seq\":1}\n{\"seq\":5}\n";
  BundleReport r = VerifyBundle(hostile, {});
  EXPECT_TRUE(r.key_from_bundle);
  EXPECT_EQ(Findings(r), (std::vector<std::string>{
                             "event-missing seq=2..4",
                             "event-missing seq=6.." + std::to_string(huge - 1)}));

  // Many bad lines: 1,000 findings, then one that counts the rest.
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  std::string junk = Export(purchase);
  for (int i = 0; i < 1500; ++i) junk += "junk\n";
  BundleReport capped = VerifyBundle(junk, options_);
  ASSERT_EQ(capped.findings.size(), 1001u);
  EXPECT_EQ(capped.findings[0].code, "event-malformed");
  EXPECT_EQ(capped.findings[1000].code, "findings-capped");
  EXPECT_EQ(capped.findings[1000].detail, "500 more findings are not listed");
}

// The service's audit key is rotated (specs/audit.md §2): a checkpoint an auditor kept from
// before is signed by the earlier key, which the auditor names beside the trusted one; it is
// then compared as any earlier checkpoint is, and a fork under it is still caught.
TEST_F(BundleTest, CheckpointsFromBeforeAKeyRotationVerifyUnderTheEarlierKey) {
  Result<SignedCheckpoint> before = log_->Latest();
  ASSERT_TRUE(before.ok());
  const std::string earlier_key = *log_->VerifierKey();
  Checkpoint fork{"audit.test/audit", before->size, before->root, {}};
  fork.root[0] ^= 1;
  const std::string forked = SignedByTheService(fork);  // by the key about to be retired
  ASSERT_TRUE(keys_->Rotate(log_->AuditKey()->id).ok());
  Change("principal.created", "prn_c", {{"principal", "prn_c"}});
  ASSERT_TRUE(log_->Sequence().ok());
  const std::string whole = Export(TrailQuery{});  // its checkpoint signed by the new key
  options_.verifier_key = *log_->VerifierKey();
  ASSERT_NE(options_.verifier_key, earlier_key);

  options_.earlier_checkpoints = {before->note};
  std::vector<std::string> codes;
  for (const BundleFinding& f : VerifyBundle(whole, options_).findings) codes.push_back(f.code);
  EXPECT_EQ(codes, std::vector<std::string>{"earlier-checkpoint-invalid"});
  options_.earlier_keys = {earlier_key};
  BundleReport r = VerifyBundle(whole, options_);
  EXPECT_TRUE(r.ok()) << Findings(r)[0];
  EXPECT_EQ(r.size, 13u);
  options_.earlier_checkpoints = {forked};
  EXPECT_EQ(Findings(VerifyBundle(whole, options_)),
            (std::vector<std::string>{"earlier-checkpoint-mismatch size=12"}));
  // The earlier key vouches for earlier checkpoints only: a bundle whose own checkpoint it
  // signed is not trusted by it.
  BundleVerifyOptions old_only;
  old_only.verifier_key = earlier_key;
  old_only.earlier_keys = {earlier_key};
  EXPECT_EQ(VerifyBundle(whole, old_only).findings[0].code, "verifier-key-differs");
  old_only.earlier_keys = {"not a key"};
  EXPECT_EQ(VerifyBundle(whole, old_only).findings[0].code, "verifier-key-differs");
  options_.earlier_keys = {"not a key"};
  EXPECT_EQ(VerifyBundle(whole, options_).findings[0].code, "verifier-key-malformed");
}

// A trail's events cannot show that its tree extends a checkpoint the auditor kept from before;
// a consistency proof in the header does (specs/audit.md §5), and a fork or an altered proof is
// caught by it.
TEST_F(BundleTest, ATrailProvesItsTreeExtendsEarlierCheckpointsByConsistencyProofs) {
  Result<SignedCheckpoint> early = log_->Latest();  // 12 events
  ASSERT_TRUE(early.ok());
  Change("principal.created", "prn_d", {{"principal", "prn_d"}});
  Change("principal.created", "prn_e", {{"principal", "prn_e"}});
  ASSERT_TRUE(log_->Sequence().ok());
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  Result<Log::ExportStart> start = log_->BeginExport(purchase, 1000, 1000, {12, 12});
  ASSERT_TRUE(start.ok()) << start.error().ToString();
  const std::string proven = start->head;  // a trail: the whole bundle
  options_.earlier_checkpoints = {early->note};
  BundleReport r = VerifyBundle(proven, options_);
  EXPECT_TRUE(r.ok()) << Findings(r)[0];
  EXPECT_EQ(r.size, 14u);
  EXPECT_EQ(r.earlier_proven, 1u);
  // Without the proof the earlier checkpoint is compared by size only: nothing found, nothing
  // shown.
  r = VerifyBundle(Export(purchase), options_);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.earlier_proven, 0u);

  // Another tree of 12 events under the same key: the proof does not lead from it.
  Checkpoint fork{"audit.test/audit", 12, early->root, {}};
  fork.root[5] ^= 1;
  options_.earlier_checkpoints = {SignedByTheService(fork)};
  EXPECT_EQ(Findings(VerifyBundle(proven, options_)),
            (std::vector<std::string>{
                "earlier-checkpoint-mismatch size=12 (its consistency proof fails)"}));
  // The proof altered, or not a list of hashes.
  options_.earlier_checkpoints = {early->note};
  const std::string altered = EditHeader(proven, [](json::Value& h) {
    json::Value& proof = h.Find("consistency")->Find("12")->items()[0];
    std::string hex = proof.as_string();
    hex[0] = hex[0] == '0' ? '1' : '0';
    proof = json::Value::String(hex);
  });
  EXPECT_EQ(Findings(VerifyBundle(altered, options_)),
            (std::vector<std::string>{
                "earlier-checkpoint-mismatch size=12 (its consistency proof fails)"}));
  const std::string junk = EditHeader(proven, [](json::Value& h) {
    h.Find("consistency")->Set("12", json::Value::String("x"));
  });
  EXPECT_EQ(Findings(VerifyBundle(junk, options_)),
            (std::vector<std::string>{"bundle-malformed the consistency proof from size 12 is "
                                      "not an array of hashes"}));
  for (uint64_t bad : {uint64_t{0}, uint64_t{15}}) {
    Result<Log::ExportStart> refused = log_->BeginExport(purchase, 1000, 1000, {bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().reason(), "audit-proof-range");
  }
}

// What a report says, as one comparable list: its findings, then the facts it read.
std::vector<std::string> Summary(const BundleReport& r) {
  std::vector<std::string> out = Findings(r);
  out.push_back("events=" + std::to_string(r.events) + " size=" + std::to_string(r.size) +
                " root=" + r.root_hex + " origin=" + r.origin +
                " complete=" + (r.complete_prefix ? "1" : "0") +
                " own_key=" + (r.key_from_bundle ? "1" : "0"));
  return out;
}

// The report of `bundle` fed to a BundleVerifier `piece` bytes at a time.
BundleReport FedInPieces(const std::string& bundle, size_t piece,
                         const BundleVerifyOptions& options) {
  BundleVerifier v(options);
  for (size_t at = 0; at < bundle.size(); at += piece) {
    v.Feed(std::string_view(bundle).substr(at, piece));
  }
  return v.Finish();
}

TEST_F(BundleTest, ABundleFedInPiecesOfAnySizeGetsTheReportOfTheWholeBundle) {
  // The streamed whole-log export is verified as it is read: lines cut anywhere, pieces of one
  // byte to more than the bundle, must give the same verdict as the bundle at once, for good
  // bundles and bad ones alike.
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  const std::string whole = Export(TrailQuery{});
  const std::string trail = Export(purchase);
  std::string altered = whole;  // event 4 says it is 9: the order, the gap and the roots tell
  altered[altered.find("\"seq\":4") + 6] = '9';
  std::string unterminated = whole;
  unterminated.pop_back();  // a missing final newline is tolerated
  Result<SignedCheckpoint> earlier = log_->CheckpointAt(log_->size());
  ASSERT_TRUE(earlier.ok());
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {whole, {}},
      {trail, {}},
      {unterminated, {}},
      {altered,
       {"event-missing", "event-out-of-order", "event-out-of-order", "event-out-of-order",
        "event-out-of-order", "event-out-of-order", "root-mismatch",
        "earlier-checkpoint-mismatch"}},
      {Splice(trail, 4), {"event-outside-query"}},
      {"", {"bundle-malformed"}},
      {"{\"format\":\"x\"}\n{\"seq\":0}\n", {"bundle-malformed"}},
  };
  options_.earlier_checkpoints = {earlier->note};
  for (const auto& [bundle, expected_findings] : cases) {
    const BundleReport at_once = VerifyBundle(bundle, options_);
    std::vector<std::string> codes;
    for (const BundleFinding& f : at_once.findings) codes.push_back(f.code);
    EXPECT_EQ(codes, expected_findings) << bundle.substr(0, 80);
    for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{1000},
                         bundle.size() + 1}) {
      EXPECT_EQ(Summary(FedInPieces(bundle, piece, options_)), Summary(at_once))
          << "pieces of " << piece;
    }
  }
}

}  // namespace
}  // namespace mandated::audit
