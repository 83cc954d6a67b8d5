// settlement::Ledger on a real RocksDB: balances and history, refusals that write nothing
// (overdraft, reused ids, bad fields), external accounts below zero, restarts, the audit events
// staged in the transfer's batch, write failures that leave memory as it was, and many threads
// moving value around a ring of accounts without overdrawing or losing a unit.
#include "settlement/ledger.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "audit/event.h"
#include "base/asset.h"
#include "base/random.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/staged_events.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

constexpr char kState[] = "state";

// A KvStore that forwards to another one and fails every Write while `fail_writes` is set.
// Thread safety: as the wrapped store.
class FailingWrites final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::atomic<bool> fail_writes{false};

  Status Write(const store::WriteBatch& batch, store::Durability d) override {
    if (fail_writes) {
      return UnavailableError("injected write failure", "storage-io");
    }
    return ForwardingStore::Write(batch, d);
  }
};

Amount A(uint64_t v) { return Amount::FromUint64(v); }

Transfer Move(const std::string& from, const std::string& to, uint64_t amount,
              const std::string& kind = "payment", const std::string& asset = "USD") {
  Transfer t;
  t.debit = from;
  t.credit = to;
  t.asset = asset;
  t.amount = A(amount);
  t.kind = kind;
  return t;
}

Transfer Deposit(const std::string& to, uint64_t amount, const std::string& asset = "USD") {
  return Move("external:deposits", to, amount, "deposit", asset);
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    ledger_.reset();
    failing_.reset();
    kv_.reset();
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kLedgerFamily, std::string(audit::kAuditFamily), kState};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    kv_ = std::move(*kv);
    failing_ = std::make_unique<FailingWrites>(*kv_);
    ledger_ = std::make_unique<Ledger>(*failing_, clock_, SystemRandom::Get());
  }

  std::vector<Transfer> ApplyOk(std::vector<Transfer> transfers,
                                store::WriteBatch batch = store::WriteBatch()) {
    Result<std::vector<Transfer>> r = ledger_->Apply(std::move(transfers), std::move(batch));
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : std::vector<Transfer>{};
  }
  Status ApplyStatus(std::vector<Transfer> transfers,
                     store::WriteBatch batch = store::WriteBatch()) {
    return ledger_->Apply(std::move(transfers), std::move(batch)).status();
  }

  std::string BalanceText(const std::string& account, const std::string& asset = "USD") {
    Result<Balance> b = ledger_->GetBalance(account, asset);
    EXPECT_TRUE(b.ok()) << b.error().ToString();
    return b.ok() ? b->Text() : "?";
  }

  // Every key of the ledger and audit families with its value: a snapshot to compare.
  std::map<std::string, std::string> Snapshot() {
    std::map<std::string, std::string> out;
    for (std::string_view cf : {std::string_view(kLedgerFamily), audit::kAuditFamily,
                                std::string_view(kState)}) {
      Status s = kv_->ScanPrefix(cf, "", [&](std::string_view k, std::string_view v) {
        out[std::string(cf) + "|" + std::string(k)] = std::string(v);
        return true;
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1795000000};
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<FailingWrites> failing_;
  std::unique_ptr<Ledger> ledger_;
};

TEST(LedgerAccountsTest, AccountIds) {
  for (const char* ok : {"eip155:8453:0x1111111111111111111111111111111111111111",
                         "eip155:1:0xabcdef0123456789abcdef0123456789abcdef01", "principal:prn_abc",
                         "agent:agt_x", "merchant:shop.example", "external:deposits",
                         "principal:A-Z_a.z-0"}) {
    EXPECT_TRUE(ValidateAccountId(ok).ok()) << ok;
  }
  for (const char* bad :
       {"", "principal:", "principal", "user:u1", "principal:a/b", "principal:a b",
        "eip155:8453:0xABCDEF0123456789abcdef0123456789abcdef01",  // upper-case hex
        "eip155:8453:0x111111111111111111111111111111111111111",   // 39 hex
        "eip155:08453:0x1111111111111111111111111111111111111111",  // leading zero
        "eip155::0x1111111111111111111111111111111111111111", "eip155:8453",
        "external:" /* empty name */}) {
    Status s = ValidateAccountId(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.reason(), "bad-account") << bad;
  }
  EXPECT_FALSE(ValidateAccountId("principal:" + std::string(129, 'a')).ok());
  EXPECT_TRUE(ValidateAccountId("principal:" + std::string(128, 'a')).ok());
  EXPECT_TRUE(AllowsNegative("external:deposits"));
  EXPECT_FALSE(AllowsNegative("principal:external"));
  EXPECT_FALSE(AllowsNegative("merchant:x"));
}

TEST(LedgerValuesTest, TransferJsonRoundTripsAndIsStrict) {
  Transfer t = Move("principal:p1", "merchant:m1", 1234, "payment");
  t.id = "xfr_1";
  t.reference = "order 7";
  t.principal = "prn_1";
  t.at = 1795000000;
  const std::string text = json::Write(TransferToJson(t));
  EXPECT_EQ(text,
            R"({"id":"xfr_1","debit":"principal:p1","credit":"merchant:m1","asset":"USD",)"
            R"("amount":"1234","kind":"payment","reference":"order 7","principal":"prn_1",)"
            R"("at":1795000000})");
  Result<Transfer> back = TransferFromJson(*json::Parse(text));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->id, "xfr_1");
  EXPECT_EQ(back->amount, A(1234));
  EXPECT_EQ(back->reference, "order 7");

  json::Value extra = TransferToJson(t);
  extra.Set("fee", json::Value::String("1"));
  EXPECT_EQ(TransferFromJson(extra).error().reason(), "unknown-field");
  json::Value number = TransferToJson(t);
  number.Set("amount", json::Value::Int(1234));
  EXPECT_EQ(TransferFromJson(number).error().reason(), "amount-not-string");
}

TEST(LedgerValuesTest, BalanceText) {
  Balance b;
  b.magnitude = A(42);
  EXPECT_EQ(b.Text(), "42");
  b.negative = true;
  EXPECT_EQ(b.Text(), "-42");
}

TEST_F(LedgerTest, DepositsAndPaymentsMoveBalances) {
  std::vector<Transfer> d = ApplyOk({Deposit("principal:p1", 1000)});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].id.substr(0, 4), "xfr_");
  EXPECT_EQ(d[0].id.size(), 4u + 32u);
  EXPECT_EQ(d[0].at, 1795000000);
  ApplyOk({Move("principal:p1", "merchant:m1", 300)});

  Result<Balance> p1 = ledger_->GetBalance("principal:p1", "USD");
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->credits, A(1000));
  EXPECT_EQ(p1->debits, A(300));
  EXPECT_EQ(p1->transfers, 2u);
  EXPECT_FALSE(p1->negative);
  EXPECT_EQ(p1->Text(), "700");
  EXPECT_EQ(BalanceText("merchant:m1"), "300");
  EXPECT_EQ(BalanceText("external:deposits"), "-1000");
  EXPECT_EQ(BalanceText("principal:never"), "0");
  EXPECT_EQ(BalanceText("principal:p1", "EUR"), "0");
  EXPECT_EQ(json::Write(BalanceToJson(*p1)),
            R"({"account":"principal:p1","asset":"USD","balance":"700","credits":"1000",)"
            R"("debits":"300","transfers":2})");

  // Exactly to zero is allowed; one more unit is not.
  ApplyOk({Move("principal:p1", "merchant:m1", 700)});
  EXPECT_EQ(BalanceText("principal:p1"), "0");
  EXPECT_EQ(ApplyStatus({Move("principal:p1", "merchant:m1", 1)}).reason(), "insufficient-funds");
}

// A token's CAIP-19 id in its checksummed spelling is the same asset as in lower case (the one
// the x402 facilitator debits): one balance, one history, stored in lower case.
TEST_F(LedgerTest, AnEip155AssetIsOneBalanceWhateverItsCase) {
  const std::string mixed = "eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
  const std::string lower = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  std::vector<Transfer> d = ApplyOk({Deposit("agent:a1", 900, mixed)});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].asset, lower);
  ApplyOk({Move("agent:a1", "merchant:m1", 400, "payment", lower)});
  EXPECT_EQ(BalanceText("agent:a1", mixed), "500");
  EXPECT_EQ(BalanceText("agent:a1", lower), "500");
  Result<std::vector<Balance>> all = ledger_->Balances("agent:a1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].asset, lower);
  Result<std::vector<Transfer>> history = ledger_->History("agent:a1", mixed, "", 10);
  ASSERT_TRUE(history.ok()) << history.error().ToString();
  EXPECT_EQ(history->size(), 2u);
  // Not every asset is folded: ISO codes and other namespaces are exact.
  EXPECT_EQ(CanonicalAssetId("USD"), "USD");
  EXPECT_EQ(CanonicalAssetId("solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp/token:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
            "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp/token:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
}

TEST_F(LedgerTest, BalancesListsEveryAssetInOrder) {
  const std::string usdc = "eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  ApplyOk({Deposit("agent:a1", 5, "USD"), Deposit("agent:a1", 7, "EUR"),
           Deposit("agent:a1", 1000000, usdc), Deposit("agent:a2", 9, "USD")});
  Result<std::vector<Balance>> all = ledger_->Balances("agent:a1");
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].asset, "EUR");
  EXPECT_EQ((*all)[0].Text(), "7");
  EXPECT_EQ((*all)[1].asset, "USD");
  EXPECT_EQ((*all)[1].Text(), "5");
  EXPECT_EQ((*all)[2].asset, usdc);
  EXPECT_EQ((*all)[2].Text(), "1000000");
  EXPECT_TRUE(ledger_->Balances("agent:nobody")->empty());
  EXPECT_EQ(ledger_->Balances("nobody").error().reason(), "bad-account");
}

TEST_F(LedgerTest, RefusalsWriteNothing) {
  ApplyOk({Deposit("principal:p1", 100)});
  const std::map<std::string, std::string> before = Snapshot();
  auto with_caller_write = [] {
    store::WriteBatch b;
    b.Put(kState, "caller-record", "x");
    return b;
  };

  // Overdraft: a message naming account, asset, balance and amount.
  Status s = ApplyStatus({Move("principal:p1", "merchant:m1", 101)}, with_caller_write());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.reason(), "insufficient-funds");
  EXPECT_EQ(s.message(), "account principal:p1 holds 100 USD, less than the 101 to move");

  // The second transfer overdraws after the first of the same call: the whole call is refused.
  s = ApplyStatus({Move("principal:p1", "merchant:m1", 60), Move("principal:p1", "merchant:m2", 41)},
                  with_caller_write());
  EXPECT_EQ(s.reason(), "insufficient-funds");
  EXPECT_EQ(s.message(), "account principal:p1 holds 40 USD, less than the 41 to move");

  struct Case {
    Transfer t;
    StatusCode code;
    std::string reason;
  };
  Transfer same = Move("principal:p1", "principal:p1", 1);
  Transfer zero = Move("principal:p1", "merchant:m1", 0);
  Transfer bad_debit = Move("principal:", "merchant:m1", 1);
  Transfer bad_credit = Move("principal:p1", "wallet:x", 1);
  Transfer bad_asset = Move("principal:p1", "merchant:m1", 1, "payment", "usd");
  Transfer bad_kind = Move("principal:p1", "merchant:m1", 1, "gift");
  Transfer bad_id = Move("principal:p1", "merchant:m1", 1);
  bad_id.id = "xfr/1";
  Transfer bad_reference = Move("principal:p1", "merchant:m1", 1);
  bad_reference.reference = "line\nbreak";
  Transfer long_reference = Move("principal:p1", "merchant:m1", 1);
  long_reference.reference = std::string(257, 'r');
  const std::vector<Case> cases = {
      {same, StatusCode::kInvalidArgument, "bad-transfer"},
      {zero, StatusCode::kInvalidArgument, "bad-amount"},
      {bad_debit, StatusCode::kInvalidArgument, "bad-account"},
      {bad_credit, StatusCode::kInvalidArgument, "bad-account"},
      {bad_asset, StatusCode::kInvalidArgument, "bad-asset"},
      {bad_kind, StatusCode::kInvalidArgument, "bad-transfer"},
      {bad_id, StatusCode::kInvalidArgument, "bad-transfer"},
      {bad_reference, StatusCode::kInvalidArgument, "bad-transfer"},
      {long_reference, StatusCode::kInvalidArgument, "bad-transfer"},
  };
  for (const Case& c : cases) {
    // A valid transfer first: it must not be written either.
    Status r = ApplyStatus({Deposit("principal:p1", 5), c.t}, with_caller_write());
    EXPECT_EQ(r.code(), c.code) << r.ToString();
    EXPECT_EQ(r.reason(), c.reason) << r.ToString();
  }
  EXPECT_EQ(ApplyStatus({}).reason(), "bad-transfer");

  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(BalanceText("principal:p1"), "100");
  EXPECT_EQ(BalanceText("merchant:m1"), "0");
}

TEST_F(LedgerTest, ExternalAccountsGoBelowZero) {
  ApplyOk({Deposit("principal:p1", 50), Deposit("principal:p2", 70)});
  EXPECT_EQ(BalanceText("external:deposits"), "-120");
  // Withdrawals go back out to an external account, which then holds them.
  ApplyOk({Move("principal:p1", "external:withdrawals", 50, "withdrawal")});
  EXPECT_EQ(BalanceText("external:withdrawals"), "50");
  EXPECT_EQ(BalanceText("principal:p1"), "0");
  // One external account may pay another.
  ApplyOk({Move("external:withdrawals", "external:deposits", 80, "adjustment")});
  EXPECT_EQ(BalanceText("external:withdrawals"), "-30");
  EXPECT_EQ(BalanceText("external:deposits"), "-40");
  Result<Balance> b = ledger_->GetBalance("external:deposits", "USD");
  EXPECT_TRUE(b->negative);
  EXPECT_EQ(b->magnitude, A(40));
  EXPECT_EQ(b->credits, A(80));
  EXPECT_EQ(b->debits, A(120));
}

TEST_F(LedgerTest, ReadingBalancesThatNeverMovedHoldsNothing) {
  ApplyOk({Deposit("principal:p1", 50)});
  const size_t held = ledger_->held_balances();
  EXPECT_EQ(held, 2u);  // principal:p1 and external:deposits in USD
  for (int i = 0; i < 200; ++i) {
    Result<Balance> b = ledger_->GetBalance("agent:a" + std::to_string(i), "USD");
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->Text(), "0");
    EXPECT_EQ(b->transfers, 0u);
  }
  EXPECT_EQ(ledger_->held_balances(), held);
  // A stored balance not yet held (a fresh Ledger over the same store) reads right, too.
  Ledger fresh(*kv_, clock_, SystemRandom::Get());
  Result<Balance> stored = fresh.GetBalance("principal:p1", "USD");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->Text(), "50");
  EXPECT_EQ(stored->transfers, 1u);
  EXPECT_EQ(fresh.held_balances(), 0u);
}

TEST_F(LedgerTest, TransferIdsAreUsedOnce) {
  Transfer t = Deposit("principal:p1", 10);
  t.id = "xfr_settle_nonce_1";
  t.reference = "nonce 1";
  std::vector<Transfer> first = ApplyOk({t});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, "xfr_settle_nonce_1");
  const std::map<std::string, std::string> before = Snapshot();

  Status again = ApplyStatus({t});
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(again.reason(), "transfer-exists");
  // Reused inside one call.
  Transfer u = Deposit("principal:p2", 1);
  u.id = "xfr_twice";
  EXPECT_EQ(ApplyStatus({u, u}).reason(), "transfer-exists");
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(BalanceText("principal:p1"), "10");

  Result<Transfer> got = ledger_->GetTransfer("xfr_settle_nonce_1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->reference, "nonce 1");
  EXPECT_EQ(got->kind, "deposit");
  EXPECT_EQ(ledger_->GetTransfer("xfr_nope").error().reason(), "transfer-not-found");
  EXPECT_EQ(ledger_->GetTransfer("../etc").error().reason(), "transfer-not-found");
}

TEST_F(LedgerTest, AuditEventsAreStagedInTheTransfersBatch) {
  (void)testing::TakeStaged(*kv_);
  Transfer t = Deposit("principal:p1", 250);
  t.principal = "prn_1";
  t.reference = "wire 42";
  store::WriteBatch caller;
  caller.Put(kState, "order/1", "paid");
  std::vector<Transfer> out = ApplyOk({t, Move("principal:p1", "agent:a1", 50)}, std::move(caller));
  ASSERT_EQ(out.size(), 2u);

  std::vector<testing::StagedEvent> events = testing::TakeStaged(*kv_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(testing::Types(events),
            (std::vector<std::string>{"ledger.transferred", "ledger.transferred"}));
  EXPECT_EQ(events[0].principal(), "prn_1");
  EXPECT_EQ(events[0].subject("transfer"), out[0].id);
  EXPECT_EQ(events[0].subject("debit_account"), "external:deposits");
  EXPECT_EQ(events[0].subject("credit_account"), "principal:p1");
  EXPECT_EQ(events[0].subject_count(), 3u);
  EXPECT_EQ(events[0].data_string("amount"), "250");
  EXPECT_EQ(events[0].data_string("reference"), "wire 42");
  EXPECT_EQ(events[0].data_string("kind"), "deposit");
  EXPECT_EQ(json::Write(*events[0].json.Find("data")), json::Write(TransferToJson(out[0])));
  EXPECT_EQ(events[1].principal(), "");
  EXPECT_EQ(events[1].subject("credit_account"), "agent:a1");
  EXPECT_EQ(events[1].data_string("amount"), "50");
  // The caller's own write went with them.
  EXPECT_EQ(kv_->Get(kState, "order/1")->value_or(""), "paid");

  // A refused call stages nothing.
  EXPECT_FALSE(ApplyStatus({Move("agent:a1", "merchant:m", 51)}).ok());
  EXPECT_TRUE(testing::TakeStaged(*kv_).empty());
}

TEST_F(LedgerTest, BeforeWriteSeesTheOutcomeAndWritesWithIt) {
  ApplyOk({Deposit("principal:p1", 100)});
  std::vector<std::string> seen;
  Result<std::vector<Transfer>> r = ledger_->Apply(
      {Move("principal:p1", "merchant:m1", 30)}, store::WriteBatch(),
      [&](const std::vector<Transfer>& ts, const std::vector<Balance>& after,
          store::WriteBatch& batch) {
        for (const Balance& b : after) {
          seen.push_back(b.account + "=" + b.Text());
        }
        batch.Put(kState, "answer", ts[0].id);
      });
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(seen, (std::vector<std::string>{"merchant:m1=30", "principal:p1=70"}));
  EXPECT_EQ(kv_->Get(kState, "answer")->value_or(""), (*r)[0].id);

  // Not called for a refused call.
  bool called = false;
  Result<std::vector<Transfer>> refused = ledger_->Apply(
      {Move("principal:p1", "merchant:m1", 71)}, store::WriteBatch(),
      [&](const std::vector<Transfer>&, const std::vector<Balance>&, store::WriteBatch&) {
        called = true;
      });
  EXPECT_EQ(refused.error().reason(), "insufficient-funds");
  EXPECT_FALSE(called);
}

TEST_F(LedgerTest, HistoryPagesByTransferId) {
  std::vector<std::string> ids;
  ids.push_back(ApplyOk({Deposit("agent:a1", 100)})[0].id);
  for (int i = 0; i < 4; ++i) {
    clock_.AdvanceSeconds(1);
    ids.push_back(ApplyOk({Move("agent:a1", "merchant:m" + std::to_string(i), 10 + i)})[0].id);
  }
  ApplyOk({Deposit("agent:a1", 5, "EUR")});  // another asset: another history
  ApplyOk({Deposit("agent:a2", 5)});         // another account

  Result<std::vector<Transfer>> page = ledger_->History("agent:a1", "USD", "", 2);
  ASSERT_TRUE(page.ok()) << page.error().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[0]);
  EXPECT_EQ((*page)[1].id, ids[1]);
  EXPECT_EQ((*page)[1].amount, A(10));
  page = ledger_->History("agent:a1", "USD", ids[1], 2);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[2]);
  EXPECT_EQ((*page)[1].id, ids[3]);
  page = ledger_->History("agent:a1", "USD", ids[3], 100);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, ids[4]);
  EXPECT_EQ((*page)[0].at, 1795000004);
  EXPECT_TRUE(ledger_->History("agent:a1", "USD", ids[4], 100)->empty());
  // The payee's history holds the same transfer.
  page = ledger_->History("merchant:m2", "USD", "", 10);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, ids[3]);
  EXPECT_EQ(ledger_->History("agent:a1", "EUR", "", 10)->size(), 1u);
  EXPECT_TRUE(ledger_->History("agent:a1", "GBP", "", 10)->empty());
  // A cursor from elsewhere.
  EXPECT_EQ(ledger_->History("agent:a2", "USD", ids[1], 10).error().reason(),
            "transfer-not-found");
  EXPECT_EQ(ledger_->History("agent:a1", "EUR", ids[1], 10).error().reason(),
            "transfer-not-found");
  EXPECT_EQ(ledger_->History("agent:a1", "usd", "", 10).error().reason(), "bad-asset");
}

TEST_F(LedgerTest, RestartKeepsBalancesAndHistory) {
  ApplyOk({Deposit("principal:p1", 1000)});
  const std::string pay = ApplyOk({Move("principal:p1", "merchant:m1", 400)})[0].id;
  Open();
  EXPECT_EQ(BalanceText("principal:p1"), "600");
  EXPECT_EQ(BalanceText("merchant:m1"), "400");
  EXPECT_EQ(BalanceText("external:deposits"), "-1000");
  Result<Balance> p1 = ledger_->GetBalance("principal:p1", "USD");
  EXPECT_EQ(p1->transfers, 2u);
  // The reopened ledger continues each history where it stopped, and checks against what it read.
  const std::string more = ApplyOk({Move("principal:p1", "merchant:m1", 600)})[0].id;
  EXPECT_EQ(ApplyStatus({Move("principal:p1", "merchant:m1", 1)}).reason(), "insufficient-funds");
  Result<std::vector<Transfer>> h = ledger_->History("principal:p1", "USD", pay, 10);
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].id, more);
}

TEST_F(LedgerTest, AFailedWriteLeavesBalancesAsTheyWere) {
  ApplyOk({Deposit("principal:p1", 100)});
  const std::map<std::string, std::string> before = Snapshot();
  failing_->fail_writes = true;
  Status s = ApplyStatus({Move("principal:p1", "merchant:m1", 100)});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  failing_->fail_writes = false;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(BalanceText("principal:p1"), "100");
  EXPECT_EQ(BalanceText("merchant:m1"), "0");
  // The id was not taken and the funds are still there to move.
  ApplyOk({Move("principal:p1", "merchant:m1", 100)});
  EXPECT_EQ(BalanceText("principal:p1"), "0");
  EXPECT_EQ(BalanceText("merchant:m1"), "100");
}

TEST_F(LedgerTest, AmountsBeyond64BitsAndOverflow) {
  const Amount big = *Amount::Parse("100000000000000000000000000000");  // 1e29 > 2^64
  Transfer t = Deposit("agent:whale", 0, "eip155:1/erc20:0x6b175474e89094c44da98b954eedeac495271d0f");
  t.amount = big;
  ApplyOk({t});
  EXPECT_EQ(BalanceText("agent:whale", t.asset), "100000000000000000000000000000");
  t.amount = Amount::Max();
  Status s = ApplyStatus({t});
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.reason(), "amount-out-of-range");
  EXPECT_EQ(BalanceText("agent:whale", t.asset), "100000000000000000000000000000");
}

// Threads move random amounts around a ring of accounts (and some back out to an external one)
// while others read: no account goes below zero, no unit is created or lost, and what is stored
// equals what memory says.
TEST_F(LedgerTest, ConcurrentTransfersAroundARingConserveValue) {
  constexpr int kAccounts = 6;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  constexpr uint64_t kFunding = 1000;
  auto account = [](int i) { return "agent:ring" + std::to_string(i % kAccounts); };
  std::vector<Transfer> funding;
  for (int i = 0; i < kAccounts; ++i) funding.push_back(Deposit(account(i), kFunding));
  ApplyOk(funding);

  std::atomic<int> applied{0}, refused{0}, other_errors{0}, negative_seen{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      std::mt19937 rng(1234 + th);
      for (int n = 0; n < kPerThread; ++n) {
        const int from = static_cast<int>(rng() % kAccounts);
        const uint64_t amount = 1 + rng() % 400;
        std::vector<Transfer> ts;
        ts.push_back(Move(account(from), account(from + 1 + static_cast<int>(rng() % 2)), amount));
        if (n % 10 == 0) {  // a two-leg call crossing the ring the other way
          ts.push_back(Move(account(from + 3), account(from), amount / 2 + 1));
        }
        Status s = ledger_->Apply(std::move(ts), store::WriteBatch()).status();
        if (s.ok()) {
          ++applied;
        } else if (s.reason() == "insufficient-funds") {
          ++refused;
        } else {
          ++other_errors;
          ADD_FAILURE() << s.ToString();
        }
        Result<Balance> b = ledger_->GetBalance(account(n), "USD");
        if (!b.ok() || b->negative) ++negative_seen;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(negative_seen.load(), 0);
  EXPECT_EQ(applied + refused, kThreads * kPerThread);
  EXPECT_GT(applied.load(), kThreads * kPerThread / 4);  // the test did move value
  EXPECT_GT(refused.load(), 0);                           // and did meet empty accounts

  auto check = [&] {
    Uint128 sum = 0;
    uint64_t history_entries = 0;
    for (int i = 0; i < kAccounts; ++i) {
      Result<Balance> b = ledger_->GetBalance(account(i), "USD");
      ASSERT_TRUE(b.ok());
      EXPECT_FALSE(b->negative) << account(i);
      sum += b->magnitude.raw();
      Result<std::vector<Transfer>> h = ledger_->History(account(i), "USD", "", 100000);
      ASSERT_TRUE(h.ok());
      EXPECT_EQ(h->size(), b->transfers) << account(i);
      Uint128 in = 0, out = 0;
      for (const Transfer& t : *h) {
        (t.credit == account(i) ? in : out) += t.amount.raw();
      }
      EXPECT_TRUE(in == b->credits.raw() && out == b->debits.raw()) << account(i);
      history_entries += h->size();
    }
    EXPECT_TRUE(sum == Uint128{kAccounts * kFunding}) << "value created or lost";
    EXPECT_EQ(BalanceText("external:deposits"), "-" + std::to_string(kAccounts * kFunding));
    EXPECT_GE(history_entries, static_cast<uint64_t>(2 * applied.load()));
  };
  check();
  Open();  // what was stored says the same
  check();
}

}  // namespace
}  // namespace mandated::settlement
