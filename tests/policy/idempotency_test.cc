// Idempotency keys on a real RocksDB with a fake clock (specs/authorization.md §6): claims,
// byte-exact replays, reuse and in-flight refusals, scoping, the TTL boundary, batches never
// written, durability across reopen, 5xx answers not kept, key validation, a race of 16
// threads on 20 keys, and the retention of records past their TTL.
#include "policy/idempotency.h"
#include "identity/tenant_pruner.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <memory>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/hash.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::policy {
namespace {

constexpr int64_t kTtl = 86400;
constexpr char kFp[] = "fp-1";

std::unique_ptr<store::KvStore> OpenStore(const std::string& path) {
  store::RocksStoreOptions o;
  o.path = path;
  o.column_families = {identity::kTenantsFamily};
  Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
  EXPECT_TRUE(kv.ok()) << kv.error().ToString();
  return kv.ok() ? std::move(*kv) : nullptr;
}

std::string KeyHash(std::string_view key) {
  return HexEncode(signer::Sha256(AsBytes(key)));
}

StoredAnswer Answer(int status, std::string body,
                    std::string content_type = "application/json") {
  StoredAnswer a;
  a.status = status;
  a.content_type = std::move(content_type);
  a.body = std::move(body);
  return a;
}

void ExpectSameAnswer(const StoredAnswer& got, const StoredAnswer& want) {
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.content_type, want.content_type);
  EXPECT_EQ(got.body.size(), want.body.size());
  EXPECT_EQ(HexEncode(AsBytes(got.body)), HexEncode(AsBytes(want.body)));  // exact bytes
}

void ExpectError(const Result<IdempotencyKeys::Begin>& r, StatusCode code,
                 const std::string& reason) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
  EXPECT_EQ(r.error().reason(), reason) << r.error().ToString();
}

// The RocksDB store with every Get slowed down, to widen the window between a Start's in-flight
// check and its claim so that racing Starts would overlap there if they could.
class SlowGetStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return ForwardingStore::Get(cf, key);
  }
};

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kv_ = OpenStore(dir_.Sub("db"));
    ASSERT_NE(kv_, nullptr);
    keys_ = std::make_unique<IdempotencyKeys>(*kv_, clock_, kTtl);
    tenant_.emplace(*kv_, "prn_a");
  }

  Result<IdempotencyKeys::Begin> Start(std::string_view key, std::string_view fp = kFp,
                                       std::string_view caller = "agt_1") {
    return keys_->Start(*tenant_, caller, key, fp);
  }

  // Starts `key`, which must be fresh, and returns its claim.
  IdempotencyClaim MustClaim(std::string_view key, std::string_view fp = kFp,
                             std::string_view caller = "agt_1") {
    Result<IdempotencyKeys::Begin> r = Start(key, fp, caller);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (!r.ok()) {
      return {};
    }
    EXPECT_TRUE(r->claim.has_value());
    EXPECT_FALSE(r->replay.has_value());
    return r->claim.has_value() ? std::move(*r->claim) : IdempotencyClaim();
  }

  // Claims `key`, records `answer` in a batch that is written, and releases the claim.
  void ClaimAndRecord(std::string_view key, const StoredAnswer& answer,
                      std::string_view fp = kFp, std::string_view caller = "agt_1") {
    IdempotencyClaim claim = MustClaim(key, fp, caller);
    store::WriteBatch batch;
    claim.Record(batch, answer);
    ASSERT_EQ(batch.size(), 1u);
    ASSERT_TRUE(kv_->Write(batch).ok());
  }

  StoredAnswer MustReplay(std::string_view key, std::string_view fp = kFp,
                          std::string_view caller = "agt_1") {
    Result<IdempotencyKeys::Begin> r = Start(key, fp, caller);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (!r.ok()) {
      return {};
    }
    EXPECT_FALSE(r->claim.has_value());
    EXPECT_TRUE(r->replay.has_value());
    return r->replay.value_or(StoredAnswer());
  }

  std::optional<std::string> Raw(std::string_view key, std::string_view caller = "agt_1") {
    return *tenant_->Get("idem", std::string(caller) + "/" + KeyHash(key));
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<IdempotencyKeys> keys_;
  std::optional<identity::Tenant> tenant_;
};

TEST_F(IdempotencyTest, FreshKeyGivesClaimAndMarksItInFlight) {
  {
    IdempotencyClaim claim = MustClaim("key-1");
    EXPECT_EQ(keys_->InFlightCountForTest(), 1u);
  }
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
  EXPECT_FALSE(Raw("key-1").has_value());
}

TEST_F(IdempotencyTest, RecordedAnswerReplaysByteForByte) {
  // Non-ASCII UTF-8 (2, 3 and 4 byte sequences), embedded quotes, backslashes, control bytes
  // and a NUL.
  const StoredAnswer want =
      Answer(201,
             std::string("{\"note\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xb3 \\\"quoted\\\" "
                         "\\\\ back\",\"raw\":\"a\"b\tc\nd\r") +
                 std::string(1, '\0') + "\x01\x7f\"}",
             "application/json; charset=utf-8");
  ClaimAndRecord("key-1", want);
  ExpectSameAnswer(MustReplay("key-1"), want);
  // And again: a replay changes nothing.
  ExpectSameAnswer(MustReplay("key-1"), want);
  // Stored as the documented JSON with the body as a string.
  std::optional<std::string> raw = Raw("key-1");
  ASSERT_TRUE(raw.has_value());
  Result<json::Value> v = json::Parse(*raw);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->keys(), (std::vector<std::string>{"fingerprint", "status", "content_type", "body",
                                                 "created_at"}));
  EXPECT_EQ(testing::StringField(*v, "body"), want.body);
  EXPECT_EQ(testing::StringField(*v, "fingerprint"), kFp);
  EXPECT_EQ(v->Find("created_at")->as_int64(), clock_.NowUnixSeconds());
}

TEST_F(IdempotencyTest, BodyThatIsNotUtf8ReplaysByteForByte) {
  const StoredAnswer want = Answer(400, std::string("\xff\xfe\x80 \xc0\xaf \xed\xa0\x80 ") +
                                            std::string(1, '\0') + "\xf4\x90\x80\x80",
                                   "application/octet-stream");
  ClaimAndRecord("key-bin", want);
  ExpectSameAnswer(MustReplay("key-bin"), want);
}

TEST_F(IdempotencyTest, EmptyBodyAndFourHundredsAreKept) {
  const StoredAnswer empty = Answer(204, "", "");
  ClaimAndRecord("key-empty", empty);
  ExpectSameAnswer(MustReplay("key-empty"), empty);
  const StoredAnswer problem =
      Answer(499, "{\"type\":\"urn:mandated:problem:x\"}", "application/problem+json");
  ClaimAndRecord("key-499", problem);
  ExpectSameAnswer(MustReplay("key-499"), problem);
}

TEST_F(IdempotencyTest, SameKeyDifferentRequestIsReused) {
  ClaimAndRecord("key-1", Answer(201, "{}"));
  ExpectError(Start("key-1", "fp-other"), StatusCode::kFailedPrecondition,
              "idempotency-key-reused");
  // The refusal changes nothing: the original request still replays.
  ExpectSameAnswer(MustReplay("key-1"), Answer(201, "{}"));
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
}

TEST_F(IdempotencyTest, SameKeyWhileRunningIsInFlight) {
  IdempotencyClaim claim = MustClaim("key-1");
  ExpectError(Start("key-1"), StatusCode::kAborted, "idempotency-key-in-flight");
  // In flight is checked before the fingerprint.
  ExpectError(Start("key-1", "fp-other"), StatusCode::kAborted, "idempotency-key-in-flight");
  EXPECT_EQ(keys_->InFlightCountForTest(), 1u);
  // Released without recording: the key is fresh again.
  claim = IdempotencyClaim();
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
  IdempotencyClaim again = MustClaim("key-1", "fp-other");
}

TEST_F(IdempotencyTest, KeysAreScopedByPrincipalAndCaller) {
  const StoredAnswer want = Answer(201, "{\"id\":\"atz_1\"}");
  ClaimAndRecord("key-1", want, kFp, "agt_1");
  // Another caller in the same principal: fresh, even with another fingerprint, and while it
  // runs the first caller still replays.
  {
    IdempotencyClaim other_caller = MustClaim("key-1", "fp-other", "crd_2");
    ExpectSameAnswer(MustReplay("key-1", kFp, "agt_1"), want);
  }
  // The same caller id in another principal: fresh.
  identity::Tenant other(*kv_, "prn_b");
  Result<IdempotencyKeys::Begin> r = keys_->Start(other, "agt_1", "key-1", kFp);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->claim.has_value());
  EXPECT_FALSE(r->replay.has_value());
  ExpectSameAnswer(MustReplay("key-1", kFp, "agt_1"), want);
}

// created_at is a whole second: a record is kept through the second created_at + ttl, so one
// written at the end of its second is still kept a full ttl later (before, it was new again up
// to a second early).
TEST_F(IdempotencyTest, RecordsAreKeptAFullTtlAndExpireTheSecondAfter) {
  const StoredAnswer want = Answer(201, "{}");
  clock_.AdvanceMicros(999999);  // written at the very end of its second
  ClaimAndRecord("key-1", want);
  clock_.AdvanceMicros(1);
  clock_.AdvanceSeconds(kTtl - 1);  // kTtl - 0.999999 s after it was written
  ExpectSameAnswer(MustReplay("key-1"), want);
  ExpectError(Start("key-1", "fp-other"), StatusCode::kFailedPrecondition,
              "idempotency-key-reused");
  clock_.AdvanceMicros(999999);  // exactly kTtl after
  ExpectSameAnswer(MustReplay("key-1"), want);
  clock_.AdvanceMicros(1);  // past kTtl, in the second after created_at + ttl: new again
  {
    IdempotencyClaim claim = MustClaim("key-1", "fp-other");
    store::WriteBatch batch;
    claim.Record(batch, Answer(201, "{\"second\":true}"));
    ASSERT_TRUE(kv_->Write(batch).ok());
  }
  ExpectSameAnswer(MustReplay("key-1", "fp-other"), Answer(201, "{\"second\":true}"));
  ExpectError(Start("key-1"), StatusCode::kFailedPrecondition, "idempotency-key-reused");
}

// Records past their TTL are deleted; a fresh one, one whose key is in flight, and one written
// again for a reused key are kept; what clients see does not change.
TEST_F(IdempotencyTest, PruneDeletesOnlyRecordsPastTheirTtl) {
  ClaimAndRecord("old-1", Answer(201, "{}"));
  ClaimAndRecord("old-2", Answer(409, "{}"));
  ClaimAndRecord("reused", Answer(201, "{\"first\":true}"));
  ClaimAndRecord("running", Answer(201, "{}"));
  clock_.AdvanceSeconds(kTtl + 1);  // all four are now past their TTL
  ClaimAndRecord("fresh", Answer(201, "{}"));
  ClaimAndRecord("reused", Answer(201, "{\"second\":true}"));  // a new record for the key
  IdempotencyClaim running = MustClaim("running");  // in flight: its old record stays for now

  Result<identity::PrunePass> pass = keys_->PruneExpired(*tenant_, "", 100);
  ASSERT_TRUE(pass.ok()) << pass.error().ToString();
  EXPECT_EQ(pass->examined, 5u);
  EXPECT_EQ(pass->pruned, 2u);
  EXPECT_EQ(pass->next_after, "");
  EXPECT_FALSE(Raw("old-1").has_value());
  EXPECT_FALSE(Raw("old-2").has_value());
  EXPECT_TRUE(Raw("fresh").has_value());
  EXPECT_TRUE(Raw("running").has_value());
  ExpectSameAnswer(MustReplay("reused"), Answer(201, "{\"second\":true}"));
  // A pruned key is simply new, as it was before the prune.
  EXPECT_TRUE(MustClaim("old-1").recorded() == false);
}

// The pruner takes the operator's keys, then each principal's, a bounded pass at a time, and
// starts over after the last principal.
TEST_F(IdempotencyTest, PrunerCyclesThroughThePrincipalsInBoundedPasses) {
  const identity::Tenant op(*kv_, ""), b(*kv_, "prn_b");
  for (const identity::Tenant* t : std::vector<const identity::Tenant*>{&op, &*tenant_, &b}) {
    for (int i = 0; i < 3; ++i) {
      Result<IdempotencyKeys::Begin> begin =
          keys_->Start(*t, "crd_1", "k-" + std::to_string(i), kFp);
      ASSERT_TRUE(begin.ok() && begin->claim.has_value());
      IdempotencyClaim claim = std::move(*begin->claim);
      store::WriteBatch batch;
      claim.Record(batch, Answer(201, "{}"));
      ASSERT_TRUE(kv_->Write(batch).ok());
    }
  }
  clock_.AdvanceSeconds(kTtl + 1);
  std::vector<std::string> asked_after;
  identity::TenantPruner pruner(
      *kv_,
      {{"idempotency records",
        [&](const identity::Tenant& t, const std::string& after, size_t limit) {
          return keys_->PruneExpired(t, after, limit);
        }}},
      [&](const std::string& after, size_t limit) -> Result<std::vector<std::string>> {
        asked_after.push_back(after);
        EXPECT_EQ(limit, 1u);
        if (after.empty()) return std::vector<std::string>{"prn_a"};
        if (after == "prn_a") return std::vector<std::string>{"prn_b"};
        return std::vector<std::string>{};
      },
      /*records_per_pass=*/2);
  std::vector<bool> more;
  for (int i = 0; i < 6; ++i) more.push_back(*pruner.PassOnce());
  // Per principal: a pass of 2 (more waiting), a pass of 1 (done, next principal's turn).
  EXPECT_EQ(more, (std::vector<bool>{true, true, true, true, true, false}));
  EXPECT_EQ(asked_after, (std::vector<std::string>{"", "prn_a", "prn_b"}));
  size_t left = 0;
  for (const std::string cf_prefix : {"/idem/", "prn_a/idem/", "prn_b/idem/"}) {
    ASSERT_TRUE(kv_->ScanPrefix(identity::kTenantsFamily, cf_prefix,
                                [&](std::string_view, std::string_view) {
                                  ++left;
                                  return true;
                                }).ok());
  }
  EXPECT_EQ(left, 0u);
}

TEST_F(IdempotencyTest, RecordInBatchNeverWrittenKeepsNothing) {
  {
    IdempotencyClaim claim = MustClaim("key-1");
    store::WriteBatch batch;
    batch.Put(identity::kTenantsFamily, "prn_a/atz/atz_1", "{}");
    claim.Record(batch, Answer(201, "{}"));
    EXPECT_EQ(batch.size(), 2u);
    // "Crash" before the commit: the batch is dropped with the claim.
  }
  EXPECT_FALSE(Raw("key-1").has_value());
  EXPECT_FALSE(kv_->Get(identity::kTenantsFamily, "prn_a/atz/atz_1")->has_value());
  IdempotencyClaim again = MustClaim("key-1");
}

TEST_F(IdempotencyTest, RecordAlonePersistsAcrossReopen) {
  const StoredAnswer want =
      Answer(400, "{\"type\":\"urn:mandated:problem:bad-amount\",\"detail\":\"\xc3\xa9\"}",
             "application/problem+json");
  {
    IdempotencyClaim claim = MustClaim("key-1");
    ASSERT_TRUE(claim.RecordAlone(want).ok());
  }
  tenant_.reset();
  keys_.reset();
  kv_.reset();  // closes RocksDB
  kv_ = OpenStore(dir_.Sub("db"));
  ASSERT_NE(kv_, nullptr);
  keys_ = std::make_unique<IdempotencyKeys>(*kv_, clock_, kTtl);
  tenant_.emplace(*kv_, "prn_a");
  ExpectSameAnswer(MustReplay("key-1"), want);
}

TEST_F(IdempotencyTest, FiveHundredsAreNotRecorded) {
  {
    IdempotencyClaim claim = MustClaim("key-1");
    store::WriteBatch batch;
    claim.Record(batch, Answer(500, "{}"));
    claim.Record(batch, Answer(503, "{}"));
    EXPECT_TRUE(batch.empty());
    ASSERT_TRUE(claim.RecordAlone(Answer(507, "{}")).ok());
    ASSERT_TRUE(claim.RecordAlone(Answer(500, "{}")).ok());
  }
  EXPECT_FALSE(Raw("key-1").has_value());
  EXPECT_EQ(kv_->Stats().write_batches, 0u);
  IdempotencyClaim again = MustClaim("key-1");  // the retry runs again
}

TEST_F(IdempotencyTest, EmptyClaimRecordsNothing) {
  IdempotencyClaim empty;
  store::WriteBatch batch;
  empty.Record(batch, Answer(201, "{}"));
  EXPECT_TRUE(batch.empty());
  EXPECT_TRUE(empty.RecordAlone(Answer(201, "{}")).ok());
  EXPECT_EQ(kv_->Stats().write_batches, 0u);
}

TEST_F(IdempotencyTest, MovesReleaseExactlyOnce) {
  IdempotencyClaim a = MustClaim("key-a");
  IdempotencyClaim b = MustClaim("key-b");
  EXPECT_EQ(keys_->InFlightCountForTest(), 2u);
  IdempotencyClaim moved(std::move(a));  // ownership moves; nothing released
  EXPECT_EQ(keys_->InFlightCountForTest(), 2u);
  moved = std::move(b);  // releases key-a, takes key-b
  EXPECT_EQ(keys_->InFlightCountForTest(), 1u);
  IdempotencyClaim a_again = MustClaim("key-a");
  ExpectError(Start("key-b"), StatusCode::kAborted, "idempotency-key-in-flight");
  // The moved-from claims hold nothing: recording through them writes nothing.
  store::WriteBatch batch;
  a.Record(batch, Answer(201, "{}"));  // NOLINT(bugprone-use-after-move): deliberate
  b.Record(batch, Answer(201, "{}"));  // NOLINT(bugprone-use-after-move): deliberate
  EXPECT_TRUE(batch.empty());
  auto& self = moved;
  moved = std::move(self);  // self-move keeps the claim
  EXPECT_EQ(keys_->InFlightCountForTest(), 2u);
  moved = IdempotencyClaim();
  a_again = IdempotencyClaim();
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
  IdempotencyClaim b_again = MustClaim("key-b");
}

TEST_F(IdempotencyTest, BadKeysAreRefusedBeforeAnythingElse) {
  ExpectError(Start(""), StatusCode::kInvalidArgument, "missing-idempotency-key");
  ExpectError(Start(std::string(256, 'k')), StatusCode::kInvalidArgument, "bad-idempotency-key");
  ExpectError(Start("a b"), StatusCode::kInvalidArgument, "bad-idempotency-key");
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
  IdempotencyClaim ok = MustClaim(std::string(255, 'k'));
}

TEST(IdempotencyKeyValidation, Boundaries) {
  EXPECT_TRUE(ValidateIdempotencyKey("a").ok());
  EXPECT_TRUE(ValidateIdempotencyKey("!").ok());  // 0x21
  EXPECT_TRUE(ValidateIdempotencyKey("~").ok());  // 0x7e
  EXPECT_TRUE(ValidateIdempotencyKey("order-42_retry.1:x/y=").ok());
  EXPECT_TRUE(ValidateIdempotencyKey(std::string(255, 'x')).ok());
  std::string all_printable;
  for (int c = 0x21; c <= 0x7e; ++c) {
    all_printable.push_back(static_cast<char>(c));
  }
  EXPECT_TRUE(ValidateIdempotencyKey(all_printable).ok());

  const Status missing = ValidateIdempotencyKey("");
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.reason(), "missing-idempotency-key");

  const std::vector<std::string> bad = {
      std::string(256, 'x'),
      std::string(1000, 'x'),
      " ",
      "a b",
      "a\tb",
      "\t",
      "a\nb",
      std::string(1, '\0'),
      std::string("a") + std::string(1, '\0'),
      "\x7f",
      "a\x7f",
      "\x20",
      "\x80",
      "caf\xc3\xa9",
      "\xff",
      std::string(254, 'x') + " ",
  };
  for (const std::string& key : bad) {
    const Status s = ValidateIdempotencyKey(key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << HexEncode(AsBytes(key));
    EXPECT_EQ(s.reason(), "bad-idempotency-key") << HexEncode(AsBytes(key));
  }
}

TEST(IdempotencyFingerprint, MatchesTheDocumentedConstruction) {
  // sha256("POST\n/v1/authorizations\n" + hex(sha256(body))), computed independently.
  EXPECT_EQ(RequestFingerprint("POST", "/v1/authorizations", "{\"amount\":\"1200\"}"),
            "83ea71b3e314aed691326a399e1bc8c0ebb994422f971f8421efd89de755b807");
  EXPECT_EQ(RequestFingerprint("POST", "/v1/authorizations", ""),
            "2205c40c76b045a95c4a9fe72d931d805b0324dfcab8b328b9fef48cfca5a409");
  const std::string base = RequestFingerprint("POST", "/v1/a", "{}");
  EXPECT_NE(RequestFingerprint("PUT", "/v1/a", "{}"), base);
  EXPECT_NE(RequestFingerprint("POST", "/v1/b", "{}"), base);
  EXPECT_NE(RequestFingerprint("POST", "/v1/a", "{ }"), base);
  // The separators keep method and path apart.
  EXPECT_NE(RequestFingerprint("POST/", "v1/a", "{}"), base);
}

TEST_F(IdempotencyTest, ConcurrentStartsClaimEachKeyOnceAtATime) {
  constexpr int kThreads = 16;
  constexpr int kStartsPerThread = 200;
  constexpr int kKeys = 20;
  std::array<std::atomic<int>, kKeys> active{};   // claims of a key held right now
  std::array<std::atomic<int>, kKeys> claims{};   // claims of a key ever granted
  std::atomic<int> overlaps{0};
  std::atomic<int> replays{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> other_errors{0};
  std::mutex seen_mu;
  std::map<int, std::vector<StoredAnswer>> seen;  // replays per key

  auto worker = [&](int t) {
    std::vector<std::pair<int, StoredAnswer>> mine;
    for (int i = 0; i < kStartsPerThread; ++i) {
      const int k = (t * 7 + i) % kKeys;
      const std::string key = "key-" + std::to_string(k);
      Result<IdempotencyKeys::Begin> r = Start(key, "fp-" + std::to_string(k));
      if (!r.ok()) {
        if (r.error().code() == StatusCode::kAborted &&
            r.error().reason() == "idempotency-key-in-flight") {
          in_flight.fetch_add(1);
        } else {
          other_errors.fetch_add(1);
        }
        continue;
      }
      if (r->replay.has_value()) {
        replays.fetch_add(1);
        mine.emplace_back(k, std::move(*r->replay));
        continue;
      }
      IdempotencyClaim claim = std::move(*r->claim);
      if (active[k].fetch_add(1) != 0) {
        overlaps.fetch_add(1);
      }
      // The first claim of each key fails with a 503 (not kept, so the key is claimed again);
      // a later claim records its own answer.
      const int n = claims[k].fetch_add(1);
      store::WriteBatch batch;
      claim.Record(batch, Answer(n == 0 ? 503 : 201,
                                 "{\"key\":" + std::to_string(k) + ",\"thread\":" +
                                     std::to_string(t) + ",\"i\":" + std::to_string(i) + "}"));
      if (!batch.empty() && !kv_->Write(batch).ok()) {
        other_errors.fetch_add(1);
      }
      std::this_thread::yield();
      active[k].fetch_sub(1);
      // `claim` is released here, after its batch is written.
    }
    std::lock_guard<std::mutex> lock(seen_mu);
    for (auto& [k, a] : mine) {
      seen[k].push_back(std::move(a));
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(worker, t);
  }
  for (std::thread& th : threads) {
    th.join();
  }

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(keys_->InFlightCountForTest(), 0u);
  int total_claims = 0;
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(claims[k].load(), 2) << "key " << k;
    total_claims += claims[k].load();
  }
  EXPECT_EQ(total_claims + replays.load() + in_flight.load(), kThreads * kStartsPerThread);

  // Exactly one stored answer per key, and every replay of the key equals it.
  int records = 0;
  ASSERT_TRUE(tenant_->Scan("idem", "", [&](std::string_view, std::string_view) {
                       ++records;
                       return true;
                     }).ok());
  EXPECT_EQ(records, kKeys);
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "key-" + std::to_string(k);
    const StoredAnswer stored = MustReplay(key, "fp-" + std::to_string(k));
    EXPECT_EQ(stored.status, 201);
    EXPECT_EQ(stored.body.rfind("{\"key\":" + std::to_string(k) + ",", 0), 0u) << stored.body;
    EXPECT_FALSE(seen[k].empty()) << "key " << k;
    for (const StoredAnswer& a : seen[k]) {
      ExpectSameAnswer(a, stored);
    }
  }
}

TEST_F(IdempotencyTest, RacingFirstStartsOfOneKeyGiveOneClaim) {
  SlowGetStore slow(*kv_);
  IdempotencyKeys keys(slow, clock_, kTtl);
  identity::Tenant tenant(slow, "prn_a");
  constexpr int kThreads = 16;
  for (int round = 0; round < 5; ++round) {
    const std::string key = "race-" + std::to_string(round);
    std::atomic<int> ready{0};
    std::atomic<int> in_flight{0};
    std::atomic<int> other{0};
    std::mutex mu;
    std::vector<IdempotencyClaim> claims;  // held until every thread is done
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
          std::this_thread::yield();
        }
        Result<IdempotencyKeys::Begin> r = keys.Start(tenant, "agt_1", key, kFp);
        if (r.ok() && r->claim.has_value()) {
          std::lock_guard<std::mutex> lock(mu);
          claims.push_back(std::move(*r->claim));
        } else if (!r.ok() && r.error().code() == StatusCode::kAborted &&
                   r.error().reason() == "idempotency-key-in-flight") {
          in_flight.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      });
    }
    for (std::thread& th : threads) {
      th.join();
    }
    ASSERT_EQ(claims.size(), 1u) << "round " << round;
    EXPECT_EQ(in_flight.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
    // The owner records (batch written) and releases: the next Start replays.
    store::WriteBatch batch;
    claims[0].Record(batch, Answer(201, "{\"round\":" + std::to_string(round) + "}"));
    ASSERT_TRUE(slow.Write(batch, store::Durability::kSync).ok());
    claims.clear();
    Result<IdempotencyKeys::Begin> again = keys.Start(tenant, "agt_1", key, kFp);
    ASSERT_TRUE(again.ok()) << again.error().ToString();
    ASSERT_TRUE(again->replay.has_value());
    ExpectSameAnswer(*again->replay, Answer(201, "{\"round\":" + std::to_string(round) + "}"));
  }
  EXPECT_EQ(keys.InFlightCountForTest(), 0u);
}

}  // namespace
}  // namespace mandated::policy
