// api::Idempotent (specs/authorization.md §6) over a real RocksDB: which answer a key keeps.
#include "api/idempotent_route.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "identity/tenant.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_support.h"

namespace mandated::api {
namespace {

// The x402 payer holds (its answer recorded with the hold), then fails to render the payment
// with a 4xx: the retry must get the recorded hold, not the error that came after it.
TEST(IdempotentRouteTest, AnErrorAfterTheAnswerWasRecordedKeepsTheFirstAnswer) {
  testing::TempDir dir;
  store::RocksStoreOptions o;
  o.path = dir.Sub("db");
  o.column_families = {identity::kTenantsFamily};
  Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
  ASSERT_TRUE(kv.ok()) << kv.error().ToString();
  testing::FakeClock clock;
  policy::IdempotencyKeys keys(**kv, clock);

  Request req;
  req.method = "POST";
  req.path = "/v1/x402/pay";
  req.body = R"({"mandate":"mnd_1"})";
  req.request_id = "req_1";
  req.headers.emplace("idempotency-key", "pay-0001");
  Access a;
  a.caller.role = identity::Role::kAgent;
  a.caller.principal_id = "prn_a";
  a.caller.agent_id = "agt_1";
  a.tenant.emplace(**kv, "prn_a");

  const std::string held = R"({"id":"atz_1","decision":"allowed"})";
  int runs = 0;
  auto work = [&](const policy::IdempotencyClaim* claim) -> Result<policy::Answer> {
    ++runs;
    store::WriteBatch batch;
    claim->Record(batch, policy::StoredAnswer{201, "application/json", held});
    EXPECT_TRUE((*kv)->Write(batch).ok());
    return FailedPreconditionError("the mandate was revoked meanwhile", "mandate-state");
  };
  const Response first = Idempotent(keys, req, a, work);
  EXPECT_EQ(first.status, 409);
  const Response retry = Idempotent(keys, req, a, work);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(retry.status, 201);
  EXPECT_EQ(retry.body, held);

  // An error with nothing recorded before it is what the key keeps.
  req.headers.clear();
  req.headers.emplace("idempotency-key", "pay-0002");
  auto refused = [&](const policy::IdempotencyClaim*) -> Result<policy::Answer> {
    ++runs;
    return FailedPreconditionError("the mandate is revoked", "mandate-state");
  };
  EXPECT_EQ(Idempotent(keys, req, a, refused).status, 409);
  const Response replayed = Idempotent(keys, req, a, refused);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(replayed.status, 409);
}

}  // namespace
}  // namespace mandated::api
