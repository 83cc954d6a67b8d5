// What a merchant is told when the facilitator's storage fails during a verify (specs/errors.md:
// storage messages name files of the data directory and are not shown), and the settle code a
// refused transfer's revert text gives (specs/evm.md §6.2).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "audit/event.h"
#include "base/json.h"
#include "base/random.h"
#include "settlement/facilitator.h"
#include "settlement/ledger.h"
#include "settlement/usage.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

// Reads of one family (x402 unless told) fail as a broken disk would, with a path in the message.
class BrokenReads final : public testing::ForwardingStore {
 public:
  explicit BrokenReads(store::KvStore& inner, std::string family = kX402Family)
      : ForwardingStore(inner), family_(std::move(family)) {}
  Result<std::optional<std::string>> Get(std::string_view cf, std::string_view key) override {
    if (cf == family_) {
      return UnavailableError("get: IO error: /srv/mandated/db/000123.sst: Input/output error",
                              "storage-io");
    }
    return ForwardingStore::Get(cf, key);
  }

 private:
  std::string family_;
};

TEST(FacilitatorErrorsTest, AStorageFailureAtVerifyShowsNoPathToTheMerchant) {
  for (const std::string& family : {std::string(kX402Family), std::string(kLedgerFamily)}) {
    SCOPED_TRACE(family);  // the nonce's read, then the payer's balance
    testing::TempDir dir;
    store::RocksStoreOptions o;
    o.path = dir.Sub("db");
    o.column_families = {kX402Family, kLedgerFamily, kUsageFamily,
                         std::string(audit::kAuditFamily)};
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    BrokenReads broken(**kv, family);
    testing::FakeClock clock(1750000001);  // the vector's signature is valid then
    Ledger ledger(broken, clock, SystemRandom::Get());
    Result<std::unique_ptr<UsageMeter>> usage = UsageMeter::Open(broken, clock);
    ASSERT_TRUE(usage.ok()) << usage.error().ToString();
    Facilitator facilitator(broken, ledger, **usage, clock);

    Result<json::Value> vec = json::Parse(testing::ReadFileOrDie(
        testing::SourcePath("tests/vectors/x402/vector_v2_base_sepolia_usdc_10000.json")));
    ASSERT_TRUE(vec.ok());
    const json::Value* body = vec->Find("facilitatorRequests")->Find("POST /verify");
    ASSERT_NE(body, nullptr);
    Result<VerifyResponse> v = facilitator.Verify(*body);
    ASSERT_TRUE(v.ok()) << v.error().ToString();
    EXPECT_FALSE(v->is_valid);
    EXPECT_EQ(v->invalid_message, "the facilitator's storage could not be read; ask again");
    EXPECT_EQ(v->invalid_message.find("/srv/mandated"), std::string::npos);
    // Not the payer's fault (no "insufficient balance"): ask again, as for a node that did not
    // answer.
    EXPECT_EQ(v->invalid_reason, "unexpected_verify_error");
    // Settle answers the same (§5.3 step 2 makes §5.2's checks), not a 5xx problem.
    Result<SettleResponse> st = facilitator.Settle(*body);  // the vector's settle body is the same
    ASSERT_TRUE(st.ok()) << st.error().ToString();
    EXPECT_FALSE(st->success);
    EXPECT_EQ(st->error_reason, "unexpected_verify_error");
    EXPECT_EQ(st->error_message, "the facilitator's storage could not be read; ask again");
  }
}

// The revert texts of FiatToken v2 (USDC), of OpenZeppelin's custom errors and of the test
// token in tests/interop/contracts, each read as the reference's parseEip3009TransferError reads
// them.
TEST(FacilitatorErrorsTest, RevertTextsOfARefusedTransferGiveTheReferencesSettleCodes) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"execution reverted: FiatTokenV2: authorization is expired",
       "invalid_exact_evm_payload_authorization_valid_before"},
      {"execution reverted: authorization is expired",
       "invalid_exact_evm_payload_authorization_valid_before"},
      {"AuthorizationExpired()", "invalid_exact_evm_payload_authorization_valid_before"},
      {"execution reverted: FiatTokenV2: authorization is not yet valid",
       "invalid_exact_evm_payload_authorization_valid_after"},
      {"execution reverted: FiatTokenV2: authorization is used or canceled",
       "invalid_exact_evm_nonce_already_used"},
      {"AuthorizationAlreadyUsed(address,bytes32)", "invalid_exact_evm_nonce_already_used"},
      {"execution reverted: ERC20: transfer amount exceeds balance",
       "invalid_exact_evm_insufficient_balance"},
      {"ERC20InsufficientBalance(address,uint256,uint256)",
       "invalid_exact_evm_insufficient_balance"},
      {"execution reverted: FiatTokenV2: invalid signature", "invalid_exact_evm_signature"},
      {"execution reverted: ECRecover: invalid signature 's' value",
       "invalid_exact_evm_signature"},
      {"execution reverted: ERC20: transfer to the zero address",
       "invalid_exact_evm_transaction_failed"},
      {"", "invalid_exact_evm_transaction_failed"},
      // Words out of order are no match ("expired" before "authorization").
      {"expired authorization", "invalid_exact_evm_transaction_failed"},
  };
  for (const auto& [text, code] : cases) {
    EXPECT_EQ(SettleCodeOfRevert(text), code) << text;
  }
}

}  // namespace
}  // namespace mandated::settlement
