// audit::Log on a real RocksDB: staged events become gap-free leaves only with their change,
// survive a reopen before sequencing, and are found by trail queries (delegations, visibility,
// time bounds, paging); exports verify offline, complete or as a trail with proofs.
#include "audit/log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "audit/bundle.h"
#include "audit/event.h"
#include "base/random.h"
#include "signer/key_store.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::audit {
namespace {

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    log_.reset();
    keys_.reset();
    kv_.reset();
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {signer::kKeysFamily, std::string(kAuditFamily), "state"};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    kv_ = std::move(*kv);
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 9))), clock_,
                                              SystemRandom::Get()));
    Result<std::unique_ptr<Log>> log = Log::Open(*kv_, *keys_, clock_, "audit.test/audit");
    ASSERT_TRUE(log.ok()) << log.error().ToString();
    log_ = std::move(*log);
  }

  // A state change with its event, in one batch.
  void Change(const std::string& type, const std::string& principal,
              std::vector<std::pair<std::string, std::string>> subjects) {
    store::WriteBatch b;
    b.Put("state", type + "/" + std::to_string(++changes_), "x");
    Event e;
    e.type = type;
    e.principal = principal;
    e.actor = Actor::Operator();
    for (auto& [k, v] : subjects) e.Subject(k, v);
    e.data.Set("n", json::Value::Int(changes_));
    e.at_micros = clock_.NowUnixMicros();
    Stage(b, e);
    ASSERT_TRUE(kv_->Write(b).ok());
    clock_.AdvanceSeconds(1);
  }

  std::vector<std::string> Types(const TrailPage& page) {
    std::vector<std::string> out;
    for (const StoredEvent& e : page.items) {
      Result<json::Value> v = json::Parse(e.bytes);
      EXPECT_TRUE(v.ok());
      out.push_back(v->Find("type")->as_string() + "#" + v->Find("data")->Find("n")->number_text());
    }
    return out;
  }

  TrailPage Trail(const TrailQuery& q, size_t limit = 1000) {
    Result<TrailPage> p = log_->Trail(q, std::nullopt, limit);
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    return p.ok() ? *p : TrailPage{};
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::unique_ptr<Log> log_;
  int changes_ = 0;
};

TEST_F(AuditLogTest, StagedEventsBecomeGapFreeLeavesInStagingOrder) {
  for (int i = 0; i < 5; ++i) Change("principal.created", "prn_" + std::to_string(i), {});
  EXPECT_EQ(log_->size(), 0u);  // staged, not yet sequenced
  Result<uint64_t> n = log_->Sequence();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(log_->size(), 5u);
  for (uint64_t s = 0; s < 5; ++s) {
    Result<StoredEvent> e = log_->Event(s);
    ASSERT_TRUE(e.ok());
    const std::string want_prefix = "{\"seq\":" + std::to_string(s) + ",\"at\":\"2026-11-";
    EXPECT_EQ(e->bytes.rfind(want_prefix, 0), 0u) << e->bytes;
    EXPECT_NE(e->bytes.find("\"principal\":\"prn_" + std::to_string(s) + "\""), std::string::npos);
    EXPECT_NE(e->bytes.find("\"actor\":{\"kind\":\"operator\"}"), std::string::npos);
  }
  EXPECT_EQ(log_->Event(5).error().reason(), "audit-event-not-found");
  // Nothing staged remains.
  int staged = 0;
  ASSERT_TRUE(kv_->ScanPrefix(kAuditFamily, "q/", [&](std::string_view, std::string_view) {
                   ++staged;
                   return true;
                 }).ok());
  EXPECT_EQ(staged, 0);
}

TEST_F(AuditLogTest, StagedEventsSurviveAReopenAndTheTreeContinues) {
  Change("a.one", "prn_a", {});
  ASSERT_TRUE(log_->Sequence().ok());
  Result<SignedCheckpoint> first = log_->Publish();
  ASSERT_TRUE(first.ok());
  Change("a.two", "prn_a", {});
  Change("a.three", "prn_a", {});
  Open();  // as after a crash: two events staged, none sequenced
  EXPECT_EQ(log_->size(), 1u);
  Result<SignedCheckpoint> second = log_->Publish();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->size, 3u);
  Result<std::vector<Hash>> proof = log_->Consistency(1, 3);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyConsistency(1, 3, first->root, second->root, *proof).ok());
}

TEST_F(AuditLogTest, MoreThanOneSequencingBatchStaysInOrder) {
  store::WriteBatch b;
  for (int i = 0; i < 5000; ++i) {
    Event e;
    e.type = "bulk";
    e.principal = "prn_bulk";
    e.data.Set("n", json::Value::Int(i));
    e.at_micros = clock_.NowUnixMicros();
    Stage(b, e);
  }
  ASSERT_TRUE(kv_->Write(b).ok());
  Result<uint64_t> n = log_->Sequence();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5000u);
  for (uint64_t s : {0u, 4095u, 4096u, 4999u}) {
    Result<StoredEvent> e = log_->Event(s);
    ASSERT_TRUE(e.ok());
    EXPECT_NE(e->bytes.find("\"n\":" + std::to_string(s) + "}"), std::string::npos) << e->bytes;
  }
  // The whole log exports as a complete prefix that verifies.
  Result<std::string> bundle = log_->Export(TrailQuery{}, 1000000);
  ASSERT_TRUE(bundle.ok());
  BundleVerifyOptions o;
  o.verifier_key = *log_->VerifierKey();
  BundleReport r = VerifyBundle(*bundle, o);
  EXPECT_TRUE(r.ok()) << r.findings[0].code << " " << r.findings[0].detail;
  EXPECT_EQ(r.events, 5000u);
  // An export larger than allowed is refused, not cut.
  EXPECT_EQ(log_->Export(TrailQuery{}, 4999).error().reason(), "audit-export-too-large");

  // Streamed (the route's way): the head under the lock, then the events in pieces of about
  // 64 KiB; the same bytes as the bundle made in memory.
  Result<Log::ExportStart> start = log_->BeginExport(TrailQuery{}, 10);  // bounds trails only
  ASSERT_TRUE(start.ok()) << start.error().ToString();
  EXPECT_EQ(start->stream_events, 5000u);
  std::string streamed = start->head;
  std::vector<size_t> pieces;
  ASSERT_TRUE(log_->StreamEvents(start->stream_events, [&](std::string_view bytes) {
                     pieces.push_back(bytes.size());
                     streamed.append(bytes);
                     return true;
                   }).ok());
  EXPECT_EQ(streamed, *bundle);
  // Read with a new iterator every 10,000 bytes (some 70 of them): the same bytes, none twice.
  std::string reseeked = start->head;
  ASSERT_TRUE(log_->StreamEvents(start->stream_events, [&](std::string_view bytes) {
                     reseeked.append(bytes);
                     return true;
                   }, 10000).ok());
  EXPECT_EQ(reseeked, *bundle);
  ASSERT_GT(pieces.size(), 2u);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_GE(pieces[i], 64u * 1024) << i;
    EXPECT_LT(pieces[i], 64u * 1024 + 4096) << i;
  }
  // A reader that goes away stops the export at the piece it refused.
  int offered = 0;
  Status aborted = log_->StreamEvents(start->stream_events, [&offered](std::string_view) {
    return ++offered < 2;
  });
  EXPECT_EQ(aborted.reason(), "export-aborted");
  EXPECT_EQ(offered, 2);
}

TEST_F(AuditLogTest, TrailsFollowDelegationsAndPurchasesAndStayInTheirPrincipal) {
  Change("agent.created", "prn_a", {{"agent", "agt_1"}});                               // 1
  Change("mandate.issued", "prn_a", {{"mandate", "mnd_root"}, {"agent", "agt_1"}});    // 2
  Change("mandate.issued", "prn_a",
         {{"mandate", "mnd_child"}, {"parent_mandate", "mnd_root"}, {"agent", "agt_1"}});  // 3
  Change("mandate.issued", "prn_a",
         {{"mandate", "mnd_grandchild"}, {"parent_mandate", "mnd_child"}});             // 4
  Change("mandate.issued", "prn_a", {{"mandate", "mnd_unrelated"}});                     // 5
  Change("session.opened", "prn_a", {{"session", "ses_1"}, {"agent", "agt_1"}});          // 6
  Change("authorization.decided", "prn_a",
         {{"authorization", "atz_1"}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
          {"session", "ses_1"}});                                                        // 7
  Change("authorization.decided", "prn_a",
         {{"authorization", "atz_2"}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
          {"session", "ses_1"}});                                                        // 8
  Change("approval.approved", "prn_a", {{"authorization", "atz_1"}, {"approval", "apr_1"}});  // 9
  Change("authorization.captured", "prn_a", {{"authorization", "atz_1"}});               // 10
  Change("mandate.revoked", "prn_a", {{"mandate", "mnd_root"}});                         // 11
  Change("principal.created", "prn_b", {{"principal", "prn_b"}});                        // 12

  TrailQuery purchase;
  purchase.authorization = "atz_1";
  EXPECT_EQ(Types(Trail(purchase)),
            (std::vector<std::string>{"agent.created#1", "mandate.issued#2", "mandate.issued#3",
                                      "session.opened#6", "authorization.decided#7",
                                      "approval.approved#9", "authorization.captured#10",
                                      "mandate.revoked#11"}));
  TrailQuery by_mandate;
  by_mandate.mandate = "mnd_child";
  EXPECT_EQ(Types(Trail(by_mandate)),
            (std::vector<std::string>{"mandate.issued#3", "mandate.issued#4",
                                      "authorization.decided#7", "authorization.decided#8"}));
  // Another principal's auditor sees none of it.
  purchase.visible_principal = "prn_b";
  EXPECT_TRUE(Trail(purchase).items.empty());
  TrailQuery b;
  b.principal = "prn_b";
  b.visible_principal = "prn_b";
  EXPECT_EQ(Types(Trail(b)), (std::vector<std::string>{"principal.created#12"}));
  // Time bounds on `at` (one event per second from the start).
  TrailQuery window;
  window.principal = "prn_a";
  window.from_micros = (1795000000 + 2) * int64_t{1000000};
  window.to_micros = (1795000000 + 4) * int64_t{1000000};
  EXPECT_EQ(Types(Trail(window)),
            (std::vector<std::string>{"mandate.issued#3", "mandate.issued#4"}));
  // Paging: two at a time, then the rest.
  TrailQuery all_a;
  all_a.principal = "prn_a";
  Result<TrailPage> p1 = log_->Trail(all_a, std::nullopt, 2);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->items.size(), 2u);
  ASSERT_TRUE(p1->next_after.has_value());
  Result<TrailPage> p2 = log_->Trail(all_a, p1->next_after, 100);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->items.size(), 9u);
  EXPECT_FALSE(p2->next_after.has_value());
  // Paging one at a time through a bounded window, and through an agent's trail, visits the
  // same events as one page (pages are read from the index from `after` on).
  auto walk = [&](const TrailQuery& q) {
    std::vector<std::string> types;
    std::optional<uint64_t> after;
    for (int guard = 0; guard < 20; ++guard) {
      Result<TrailPage> p = log_->Trail(q, after, 1);
      EXPECT_TRUE(p.ok());
      if (!p.ok()) break;
      for (const std::string& t : Types(*p)) types.push_back(t);
      if (!p->next_after) break;
      EXPECT_EQ(p->items.size(), 1u);
      after = p->next_after;
    }
    return types;
  };
  EXPECT_EQ(walk(window), Types(Trail(window)));
  TrailQuery agent;
  agent.agent = "agt_1";
  agent.visible_principal = "prn_a";
  EXPECT_EQ(walk(agent), (std::vector<std::string>{"agent.created#1", "mandate.issued#2",
                                                   "mandate.issued#3", "session.opened#6",
                                                   "authorization.decided#7",
                                                   "authorization.decided#8"}));
  // The pages (read from the index) hold exactly the events the full selection picks, which
  // is what an export of the same query holds.
  auto exported_seqs = [&](const TrailQuery& q) {
    std::vector<uint64_t> seqs;
    Result<std::string> bundle = log_->Export(q, 1000);
    EXPECT_TRUE(bundle.ok());
    if (!bundle.ok()) return seqs;
    size_t start = bundle->find('\n') + 1;  // past the header
    while (start < bundle->size()) {
      const size_t end = bundle->find('\n', start);
      Result<json::Value> e = json::Parse(std::string_view(*bundle).substr(start, end - start));
      EXPECT_TRUE(e.ok());
      if (e.ok()) seqs.push_back(*e->Find("seq")->as_uint64());
      start = end + 1;
    }
    return seqs;
  };
  auto paged_seqs = [&](const TrailQuery& q) {
    std::vector<uint64_t> seqs;
    std::optional<uint64_t> after;
    for (int guard = 0; guard < 20; ++guard) {
      Result<TrailPage> p = log_->Trail(q, after, 2);
      EXPECT_TRUE(p.ok());
      if (!p.ok()) break;
      for (const StoredEvent& e : p->items) seqs.push_back(e.seq);
      if (!p->next_after) break;
      after = p->next_after;
    }
    return seqs;
  };
  for (const TrailQuery* q : {&all_a, &window, &agent}) {
    const std::vector<uint64_t> paged = paged_seqs(*q);
    EXPECT_FALSE(paged.empty());
    EXPECT_EQ(paged, exported_seqs(*q));
  }
  agent.visible_principal = "prn_b";
  EXPECT_TRUE(Trail(agent).items.empty());
  // `after` at the very end (no overflow into a restart from the first event).
  EXPECT_TRUE(log_->Trail(all_a, std::numeric_limits<uint64_t>::max(), 10)->items.empty());
  // No selector is a precise error.
  EXPECT_EQ(log_->Trail(TrailQuery{}, std::nullopt, 10).error().reason(), "audit-query-invalid");

  // The purchase's export carries an inclusion proof per event and verifies offline.
  purchase.visible_principal = "prn_a";
  Result<std::string> bundle = log_->Export(purchase, 1000);
  ASSERT_TRUE(bundle.ok());
  BundleVerifyOptions o;
  o.verifier_key = *log_->VerifierKey();
  BundleReport r = VerifyBundle(*bundle, o);
  EXPECT_TRUE(r.ok()) << r.findings[0].code << " " << r.findings[0].detail;
  EXPECT_FALSE(r.complete_prefix);
  EXPECT_EQ(r.events, 8u);
  // A changed byte in one of its events breaks that event's proof (and here, as it changes the
  // type, takes the event out of what the purchase's trail selects).
  std::string bad = *bundle;
  const size_t at = bad.find("session.opened");
  ASSERT_NE(at, std::string::npos);
  bad[at] = 'S';
  BundleReport rb = VerifyBundle(bad, o);
  ASSERT_EQ(rb.findings.size(), 2u);
  EXPECT_EQ(rb.findings[0].code, "inclusion-proof-invalid");
  EXPECT_EQ(rb.findings[0].detail, "seq=5");
  EXPECT_EQ(rb.findings[1].code, "event-outside-query");
  EXPECT_EQ(rb.findings[1].detail, "seq=5");
}

// A reader limited to some agents or mandates (specs/access.md, specs/audit.md §4) sees only
// events whose agent and mandate subjects are in its lists, and no delegations, on both the
// expanded selection (mandate=) and the index-paged one (agent=).
TEST_F(AuditLogTest, ALimitedReaderSeesOnlyItsAgentsAndMandates) {
  Change("mandate.issued", "prn_a", {{"mandate", "mnd_m"}, {"agent", "agt_a"}});          // 1
  Change("mandate.issued", "prn_a",
         {{"mandate", "mnd_d"}, {"parent_mandate", "mnd_m"}, {"agent", "agt_b"}});        // 2
  Change("authorization.decided", "prn_a",
         {{"authorization", "atz_1"}, {"mandate", "mnd_d"}, {"agent", "agt_b"}});         // 3
  Change("mandate.used", "prn_a", {{"mandate", "mnd_m"}, {"agent", "agt_a"}});            // 4
  Change("payment.settled", "prn_a", {{"mandate", "mnd_m"}, {"agent", "agt_b"}});         // 5
  TrailQuery m;
  m.mandate = "mnd_m";
  m.visible_principal = "prn_a";
  EXPECT_EQ(Types(Trail(m)),
            (std::vector<std::string>{"mandate.issued#1", "mandate.issued#2",
                                      "authorization.decided#3", "mandate.used#4",
                                      "payment.settled#5"}));
  m.mandate_scope = {"mnd_m"};
  EXPECT_EQ(Types(Trail(m)), (std::vector<std::string>{"mandate.issued#1", "mandate.used#4",
                                                       "payment.settled#5"}));
  // A delegation in the list is still not followed from its parent.
  m.mandate_scope = {"mnd_m", "mnd_d"};
  EXPECT_EQ(Types(Trail(m)), (std::vector<std::string>{"mandate.issued#1", "mandate.used#4",
                                                       "payment.settled#5"}));
  m.mandate_scope = {"mnd_m"};
  m.agent_scope = {"agt_a"};
  EXPECT_EQ(Types(Trail(m)), (std::vector<std::string>{"mandate.issued#1", "mandate.used#4"}));
  // The export holds the same events.
  Result<std::string> bundle = log_->Export(m, 1000);
  ASSERT_TRUE(bundle.ok());
  EXPECT_EQ(std::count(bundle->begin(), bundle->end(), '\n'), 3);

  TrailQuery b;
  b.agent = "agt_b";
  b.agent_scope = {"agt_b"};
  b.mandate_scope = {"mnd_d"};
  EXPECT_EQ(Types(Trail(b)),
            (std::vector<std::string>{"mandate.issued#2", "authorization.decided#3"}));
  Result<TrailPage> first = log_->Trail(b, std::nullopt, 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Types(*first), (std::vector<std::string>{"mandate.issued#2"}));
  ASSERT_TRUE(first->next_after.has_value());
  Result<TrailPage> rest = log_->Trail(b, first->next_after, 10);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Types(*rest), (std::vector<std::string>{"authorization.decided#3"}));
  EXPECT_FALSE(rest->next_after.has_value());
}

// Counts the keys every scan of the audit family visits.
class CountingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status ScanPrefix(std::string_view cf, std::string_view prefix,
                    const store::ScanVisitor& visit) override {
    return ForwardingStore::ScanPrefix(cf, prefix, [&](std::string_view k, std::string_view v) {
      ++visited;
      return visit(k, v);
    });
  }
  size_t visited = 0;
};

// A busy mandate, agent and session: a purchase's trail reads their lifecycle index, not one
// index entry per purchase; a store from before the lifecycle index gets it at start.
TEST_F(AuditLogTest, APurchaseTrailReadsNoneOfTheOtherPurchasesOfItsMandateAgentAndSession) {
  Change("agent.created", "prn_a", {{"agent", "agt_1"}});                               // 1
  Change("mandate.issued", "prn_a", {{"mandate", "mnd_root"}, {"agent", "agt_1"}});    // 2
  Change("mandate.issued", "prn_a",
         {{"mandate", "mnd_child"}, {"parent_mandate", "mnd_root"}, {"agent", "agt_1"}});  // 3
  Change("session.opened", "prn_a", {{"session", "ses_1"}, {"agent", "agt_1"}});          // 4
  for (int i = 0; i < 400; ++i) {  // 5..804: other purchases and uses of the same mandate
    const std::string atz = "atz_other" + std::to_string(i);
    Change(i % 2 == 0 ? "authorization.decided" : "mandate.used", "prn_a",
           {{"authorization", atz}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
            {"session", "ses_1"}});
  }
  Change("authorization.decided", "prn_a",
         {{"authorization", "atz_1"}, {"mandate", "mnd_child"}, {"agent", "agt_1"},
          {"session", "ses_1"}});                                                        // 405
  Change("mandate.suspended", "prn_a", {{"mandate", "mnd_root"}});                       // 406
  Change("session.ended", "prn_a", {{"session", "ses_1"}, {"agent", "agt_1"}});          // 407
  const std::vector<std::string> want = {"agent.created#1", "mandate.issued#2",
                                         "mandate.issued#3", "session.opened#4",
                                         "authorization.decided#405", "mandate.suspended#406",
                                         "session.ended#407"};
  TrailQuery purchase;
  purchase.authorization = "atz_1";
  ASSERT_EQ(Types(Trail(purchase)), want);  // sequences everything

  // The scans of the trail visit the purchase's own entry and lifecycle entries: 1 for atz_1;
  // the parent walk, 1 for mnd_child (issued) and 2 for mnd_root (issued, suspended); the same
  // 1 + 2 for the two mandates' events; 1 for the agent (created); 2 for the session (opened,
  // ended). Not the 400 entries of the other purchases and uses of each.
  const auto visits = [&]() -> size_t {
    CountingStore counting(*kv_);
    Result<std::unique_ptr<Log>> log = Log::Open(counting, *keys_, clock_, "audit.test/audit");
    EXPECT_TRUE(log.ok());
    counting.visited = 0;
    Result<TrailPage> page = (*log)->Trail(purchase, std::nullopt, 100);
    EXPECT_TRUE(page.ok());
    EXPECT_EQ(Types(*page), want);
    return counting.visited;
  };
  EXPECT_EQ(visits(), 1u + (1u + 2u) + (1u + 2u) + 1u + 2u);

  // A store from before the lifecycle index: no l/ entries and no marker.
  store::WriteBatch strip;
  size_t stripped = 0;
  ASSERT_TRUE(kv_->ScanPrefix(kAuditFamily, "l/", [&](std::string_view k, std::string_view) {
                   strip.Delete(kAuditFamily, k);
                   ++stripped;
                   return true;
                 }).ok());
  EXPECT_EQ(stripped, 6u);  // agt_1 1, mnd_child 1, mnd_root 2, ses_1 2
  strip.Delete(kAuditFamily, "meta/lifecycle-index");
  ASSERT_TRUE(kv_->Write(strip).ok());
  Open();  // builds the index again from the trail index
  EXPECT_EQ(*kv_->Get(kAuditFamily, "meta/lifecycle-index"), std::optional<std::string>("1"));
  EXPECT_EQ(Types(Trail(purchase)), want);
  EXPECT_EQ(visits(), 1u + (1u + 2u) + (1u + 2u) + 1u + 2u);
}

TEST_F(AuditLogTest, PassesStartAtTheOldestPendingKeyAndFullPassesFindTheRest) {
  Change("one", "prn_a", {});
  ASSERT_TRUE(log_->Sequence().ok());  // the first pass after opening is a full one
  // A batch that stages an event and is then dropped does not hold later events back.
  {
    store::WriteBatch dropped;
    Event e;
    e.type = "never.written";
    e.at_micros = clock_.NowUnixMicros();
    Stage(dropped, e);
  }
  Change("two", "prn_a", {});
  Result<uint64_t> n = log_->Sequence();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(log_->size(), 2u);
  // A staged key this process did not hand out (another writer's, or one whose batch committed
  // long after): only a full pass walks to it.
  store::WriteBatch foreign;
  foreign.Put(kAuditFamily, "q/0000000000000001" "00000001",
              R"({"at":"1970-01-01T00:00:00.000001Z","type":"late","principal":"prn_a",)"
              R"("actor":{"kind":"service"},"subjects":{},"data":{}})");
  ASSERT_TRUE(kv_->Write(foreign).ok());
  EXPECT_EQ(*log_->Sequence(), 0u);
  EXPECT_EQ(*log_->SequenceAll(), 1u);
  Result<StoredEvent> late = log_->Event(2);
  ASSERT_TRUE(late.ok());
  EXPECT_NE(late->bytes.find("\"type\":\"late\""), std::string::npos);
}

// A batch that commits more than 5 s after it staged its event (a write that waited out a full
// disk, a sequencer that fell behind) is no longer on the list of pending keys: the ordinary
// pass that finds it dropped runs as a full pass, so the event is sequenced now, not at the
// next periodic full pass. One that commits only after that pass dropped it is still sequenced
// by the next ordinary pass, before an event staged after it committed (specs/audit.md §1.1:
// events are sequenced in the order they happened). (Sleeps 6 s of real time: the list's age
// is the steady clock's.)
TEST_F(AuditLogTest, ABatchCommittedLongAfterItStagedIsSequencedByTheNextPassInItsPlace) {
  Change("one", "prn_a", {});
  ASSERT_TRUE(log_->Sequence().ok());  // the full pass after opening
  auto slow_batch = [&](const std::string& type) {
    store::WriteBatch b;
    Event e;
    e.type = type;
    e.principal = "prn_a";
    e.at_micros = clock_.NowUnixMicros();
    Stage(b, e);
    return b;
  };
  store::WriteBatch slow = slow_batch("slow.commit");
  store::WriteBatch later = slow_batch("later.commit");
  store::WriteBatch lone = slow_batch("lone.commit");
  std::this_thread::sleep_for(std::chrono::seconds(6));
  ASSERT_TRUE(kv_->Write(slow).ok());
  Result<uint64_t> n = log_->Sequence();  // drops both keys from the pending list
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(log_->size(), 2u);
  Result<StoredEvent> got = log_->Event(1);
  ASSERT_TRUE(got.ok());
  EXPECT_NE(got->bytes.find("\"type\":\"slow.commit\""), std::string::npos);

  ASSERT_TRUE(kv_->Write(later).ok());
  Change("after", "prn_a", {});  // staged once "later.commit" had committed
  n = log_->Sequence();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  ASSERT_EQ(log_->size(), 4u);
  EXPECT_NE(log_->Event(2)->bytes.find("\"type\":\"later.commit\""), std::string::npos);
  EXPECT_NE(log_->Event(3)->bytes.find("\"type\":\"after\""), std::string::npos);

  // A late batch committed while nothing else is in flight: the next pass sequences it too, not
  // the next periodic full pass (a trail read right after its write must see it).
  ASSERT_TRUE(kv_->Write(lone).ok());
  n = log_->Sequence();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(log_->size(), 5u);
  EXPECT_NE(log_->Event(4)->bytes.find("\"type\":\"lone.commit\""), std::string::npos);
}

// Trail pages end at their limit or once their events hold kTrailPageBytes, whichever is first,
// on both reading paths (one index; a selection); a trail export refuses more bytes of events
// than its bound.
TEST_F(AuditLogTest, LargeEventsEndATrailPageEarlyAndBoundAnExport) {
  const std::string big(kTrailPageBytes * 3 / 4, 'x');  // two fill a page past its bytes
  for (int i = 0; i < 3; ++i) {
    store::WriteBatch b;
    Event e;
    e.type = "usage.recorded";
    e.principal = "prn_big";
    e.actor = Actor::Operator();
    e.Subject("mandate", "mnd_big");
    e.data.Set("pad", json::Value::String(big));
    e.at_micros = clock_.NowUnixMicros();
    Stage(b, e);
    ASSERT_TRUE(kv_->Write(b).ok());
  }
  TrailQuery by_principal;
  by_principal.principal = "prn_big";
  TrailQuery by_mandate;
  by_mandate.mandate = "mnd_big";
  for (const TrailQuery& q : {by_principal, by_mandate}) {
    Result<TrailPage> first = log_->Trail(q, std::nullopt, 1000);
    ASSERT_TRUE(first.ok()) << first.error().ToString();
    ASSERT_EQ(first->items.size(), 2u);
    ASSERT_TRUE(first->next_after.has_value());
    EXPECT_EQ(*first->next_after, first->items[1].seq);
    Result<TrailPage> rest = log_->Trail(q, first->next_after, 1000);
    ASSERT_TRUE(rest.ok());
    ASSERT_EQ(rest->items.size(), 1u);
    EXPECT_FALSE(rest->next_after.has_value());
  }
  Result<Log::ExportStart> refused =
      log_->BeginExport(by_mandate, 1000, SIZE_MAX, {}, 2 * big.size());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason(), "audit-export-too-large");
  EXPECT_TRUE(log_->BeginExport(by_mandate, 1000, SIZE_MAX, {}, 4 * big.size()).ok());
}

TEST_F(AuditLogTest, ProofRangesAreRefusedPrecisely) {
  Change("x", "prn_a", {});
  Change("y", "prn_a", {});
  EXPECT_EQ(log_->Inclusion(2, 2).error().reason(), "audit-proof-range");
  EXPECT_EQ(log_->Inclusion(0, 3).error().reason(), "audit-proof-range");
  EXPECT_EQ(log_->Consistency(0, 2).error().reason(), "audit-proof-range");
  EXPECT_EQ(log_->Consistency(2, 1).error().reason(), "audit-proof-range");
  EXPECT_TRUE(log_->Inclusion(1, 2).ok());
  EXPECT_EQ(log_->CheckpointAt(7).error().reason(), "checkpoint-not-found");
}

TEST_F(AuditLogTest, CheckpointsArePublishedOnlyWhenTheTreeGrew) {
  Change("x", "prn_a", {});
  Result<std::optional<SignedCheckpoint>> c1 = log_->PublishIfGrown();
  ASSERT_TRUE(c1.ok());
  ASSERT_TRUE(c1->has_value());
  Result<std::optional<SignedCheckpoint>> c2 = log_->PublishIfGrown();
  ASSERT_TRUE(c2.ok());
  EXPECT_FALSE(c2->has_value());
  Result<SignedCheckpoint> latest = log_->Latest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->note, (*c1)->note);
  // The note opens with the verifier key and names the origin, size and root.
  Result<NoteVerifier> v = ParseVerifierKey(*log_->VerifierKey());
  ASSERT_TRUE(v.ok());
  Result<std::string> body = OpenNote(latest->note, *v);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, "audit.test/audit\n1\n" + Base64Encode(latest->root) + "\n");
}

}  // namespace
}  // namespace mandated::audit
