// AP2 open mandates checked offline (specs/ap2.md §5.5), against the real service on loopback:
// each open mandate names its entry in the principal's AP2 Token Status List in a `status`
// claim; the list is served without a credential, signed by the principal's AP2 issuer key,
// whose public keys are published too; a revocation sets the entry (and, for a checkout
// mandate, those of the payment mandates issued for it). The npm @sd-jwt/sd-jwt-vc verifier
// (tests/interop/ap2_status.mjs, pinned in tests/interop/package-lock.json) verifies a mandate
// with only those public documents, fetching the list itself, and refuses it once revoked.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/config.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "identity/tenant.h"
#include "mandates/status_list.h"
#include "signer/did.h"
#include "signer/jws.h"
#include "signer/signature.h"
#include "tests/support/http_json.h"
#include "tests/support/in_process_service.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::Reply;
using testing::StringField;

constexpr char kOperatorToken[] = "ap2-status-operator-token-8c41d0e95b";
constexpr char kPaymentConstraints[] =
    R"([{"type":"payment.reference","conditional_transaction_id":"no-checkout"},)"
    R"({"type":"payment.amount_range","currency":"USD","max":5000}])";
constexpr char kCheckoutConstraints[] =
    R"([{"type":"checkout.line_items","items":[{"id":"r1","acceptable_items":)"
    R"([{"id":"sku-1","title":"Tea"}],"quantity":1}]}])";

const json::Value* At(const json::Value& v, std::initializer_list<std::string_view> path) {
  const json::Value* cur = &v;
  for (std::string_view k : path) {
    if (cur == nullptr || !cur->is_object()) return nullptr;
    cur = cur->Find(k);
  }
  return cur;
}
int64_t IntAt(const json::Value& v, std::initializer_list<std::string_view> path) {
  const json::Value* n = At(v, path);
  return n != nullptr && n->is_number() ? n->as_int64().value_or(-1) : -1;
}

class Ap2StatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.Start(dir_.Sub("data"), kOperatorToken);
    ASSERT_NE(service_.app(), nullptr);
    const testing::PrincipalWithAdmin p = testing::CreatePrincipalWithAdmin(
        service_.client(), kOperatorToken, R"({"name":"AP2 Status Corp"})");
    principal_ = p.id;
    base_ = p.base;
    admin_ = p.admin;
    origin_ = "http://127.0.0.1:" + std::to_string(service_.app()->port());
    const std::string did = signer::DidKeyFromPublicKey(
        *signer::DerivePublicKey(*signer::GenerateKey(signer::KeyType::kP256, random_)));
    agent_ = StringField(Call("POST", base_ + "/agents", admin_,
                              R"({"name":"buyer","did":")" + did + R"("})", 201),
                         "id");
  }

  json::Value Call(const std::string& method, const std::string& path, const std::string& token,
                   const std::string& body, int want) {
    return testing::Call(service_.client(), method, path, token, body, want);
  }
  json::Value Issue(const std::string& kind, const std::string& constraints,
                    const std::string& extra = "") {
    return Call("POST", base_ + "/ap2/mandates", admin_,
                R"({"agent":")" + agent_ + R"(","kind":")" + kind + R"(","constraints":)" +
                    constraints + extra + "}",
                201);
  }
  json::Value Revoke(const std::string& id) {
    return Call("POST", base_ + "/ap2/mandates/" + id + "/revoke", admin_, "", 200);
  }
  std::string ListPath(int n) {
    return "/v1/ap2/status-lists/" + principal_ + "/" + std::to_string(n);
  }
  // The root JWT's payload of an issued open mandate.
  json::Value RootClaims(const std::string& token) {
    Result<signer::Jws> jws = signer::ParseJws(token.substr(0, token.find('~')));
    EXPECT_TRUE(jws.ok());
    Result<json::Value> v = json::Parse(jws.ok() ? jws->payload : "");
    return v.ok() ? *v : json::Value();
  }
  // GETs list 0 without a credential, checks its signature with the published AP2 issuer key
  // that its kid names and its claims, and returns its entries.
  mandates::StatusArray List0() {
    httplib::Result r = service_.client().Get(ListPath(0));
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/statuslist+jwt");
    // max-age counts down from the list's ttl (300 s) while the signed list is served from
    // memory: what is left of it, never more than the ttl.
    const std::string cache = r->get_header_value("Cache-Control");
    const std::string prefix = "public, max-age=";
    EXPECT_EQ(cache.substr(0, prefix.size()), prefix);
    const int max_age = std::atoi(cache.substr(std::min(prefix.size(), cache.size())).c_str());
    EXPECT_GT(max_age, 0) << cache;
    EXPECT_LE(max_age, 300) << cache;
    Result<signer::Jws> jws = signer::ParseJws(r->body);
    EXPECT_TRUE(jws.ok()) << r->body;
    if (!jws.ok()) return {};
    EXPECT_EQ(jws->typ, "statuslist+jwt");
    EXPECT_EQ(jws->alg, "ES256");
    const json::Value jwks = Call("GET", "/principals/" + principal_ + "/ap2-jwks.json", "", "", 200);
    bool verified = false;
    for (const json::Value& k : jwks.Find("keys")->items()) {
      if (StringField(k, "kid") != jws->kid) continue;
      Result<signer::PublicKey> key = signer::PublicKeyFromJwk(k);
      EXPECT_TRUE(key.ok());
      verified = key.ok() && signer::VerifyJws(*jws, *key).ok();
    }
    EXPECT_TRUE(verified) << "no published key " << jws->kid << " verifies the list";
    Result<json::Value> payload = json::Parse(jws->payload);
    EXPECT_TRUE(payload.ok());
    if (!payload.ok()) return {};
    EXPECT_EQ(StringField(*payload, "iss"), principal_);
    EXPECT_EQ(StringField(*payload, "sub"), origin_ + ListPath(0));
    EXPECT_EQ(IntAt(*payload, {"ttl"}), 300);
    EXPECT_EQ(IntAt(*payload, {"status_list", "bits"}), 2);
    Result<mandates::StatusArray> arr = mandates::DecodeStatusList(
        2, StringField(*payload->Find("status_list"), "lst"), 1 << 20);
    EXPECT_TRUE(arr.ok());
    return arr.ok() ? *arr : mandates::StatusArray();
  }
  uint8_t Entry(const mandates::StatusArray& list, size_t idx) {
    Result<uint8_t> v = list.Get(idx);
    EXPECT_TRUE(v.ok()) << idx;
    return v.ok() ? *v : 255;
  }

  testing::TempDir dir_;
  testing::InProcessService service_;
  SystemRandom random_;
  std::string principal_, base_, admin_, origin_, agent_;
};

TEST_F(Ap2StatusTest, OpenMandatesNameTheirEntryInASignedPublicList) {
  // No AP2 issuer key before the first open mandate: an empty set, and no list.
  const json::Value none = Call("GET", "/principals/" + principal_ + "/ap2-jwks.json", "", "", 200);
  ASSERT_NE(none.Find("keys"), nullptr);
  EXPECT_EQ(none.Find("keys")->items().size(), 0u);
  EXPECT_EQ(testing::Send(service_.client(), "GET", ListPath(0), "").status, 404);

  const json::Value payment = Issue("payment", kPaymentConstraints);
  const json::Value checkout = Issue("checkout", kCheckoutConstraints);
  const std::string uri = origin_ + ListPath(0);
  EXPECT_EQ(json::Write(*payment.Find("status_list")),
            R"({"list":0,"idx":0,"uri":")" + uri + R"("})");
  EXPECT_EQ(json::Write(*checkout.Find("status_list")),
            R"({"list":0,"idx":1,"uri":")" + uri + R"("})");
  // The token's status claim (draft-ietf-oauth-status-list §6.1), in the signed root itself.
  EXPECT_EQ(json::Write(*RootClaims(StringField(payment, "token")).Find("status")),
            R"({"status_list":{"idx":0,"uri":")" + uri + R"("}})");
  EXPECT_EQ(json::Write(*RootClaims(StringField(checkout, "token")).Find("status")),
            R"({"status_list":{"idx":1,"uri":")" + uri + R"("}})");
  // The record read back carries it too.
  const json::Value read =
      Call("GET", base_ + "/ap2/mandates/" + StringField(payment, "id"), admin_, "", 200);
  EXPECT_EQ(json::Write(*read.Find("status_list")), json::Write(*payment.Find("status_list")));

  const json::Value jwks = Call("GET", "/principals/" + principal_ + "/ap2-jwks.json", "", "", 200);
  ASSERT_EQ(jwks.Find("keys")->items().size(), 1u);
  EXPECT_EQ(StringField(jwks.Find("keys")->items()[0], "kid"), StringField(payment, "key_id"));
  EXPECT_EQ(StringField(jwks.Find("keys")->items()[0], "alg"), "ES256");

  const mandates::StatusArray list = List0();
  EXPECT_EQ(list.size(), 16384u);
  EXPECT_EQ(Entry(list, 0), 0);
  EXPECT_EQ(Entry(list, 1), 0);

  // HTTP caching: the same ETag answers 304 with no body.
  httplib::Result first = service_.client().Get(ListPath(0));
  ASSERT_TRUE(first);
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  httplib::Result again = service_.client().Get(ListPath(0), {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_EQ(again->body, "");

  // Lists never allocated, names that are no number, principals that do not exist.
  for (const std::string& path : {ListPath(1), "/v1/ap2/status-lists/" + principal_ + "/x",
                                  "/v1/ap2/status-lists/" + principal_ + "/-1"}) {
    const Reply r = testing::Send(service_.client(), "GET", path, "");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(StringField(r.json, "type"), "urn:mandated:problem:status-list-not-found") << path;
  }
  EXPECT_EQ(testing::Send(service_.client(), "GET", "/v1/ap2/status-lists/prn_nobody/0", "").status,
            404);
  EXPECT_EQ(
      testing::Send(service_.client(), "GET", "/principals/prn_nobody/ap2-jwks.json", "").status,
      404);
  // The vc+jwt lists are another family: AP2 issuance allocated none of theirs.
  EXPECT_EQ(testing::Send(service_.client(), "GET", "/v1/status-lists/" + principal_ + "/0", "")
                .status,
            404);
}

TEST_F(Ap2StatusTest, RevocationSetsTheEntryAndACheckoutsStopsItsPaymentMandates) {
  const json::Value checkout = Issue("checkout", kCheckoutConstraints);          // idx 0
  const std::string checkout_id = StringField(checkout, "id");
  const json::Value bound = Issue("payment", R"([{"type":"payment.amount_range","currency":"USD","max":5000}])",
                                  R"(,"checkout_mandate":")" + checkout_id + "\"");  // idx 1
  const json::Value other = Issue("payment", kPaymentConstraints);               // idx 2
  ASSERT_EQ(IntAt(bound, {"status_list", "idx"}), 1);
  ASSERT_EQ(IntAt(other, {"status_list", "idx"}), 2);

  Revoke(StringField(other, "id"));
  mandates::StatusArray list = List0();
  EXPECT_EQ(Entry(list, 0), 0);
  EXPECT_EQ(Entry(list, 1), 0);
  EXPECT_EQ(Entry(list, 2), 1);

  // The checkout mandate's revocation also stops the payment mandate issued for it; its record
  // stays as it was (its closings are refused from the checkout's record, specs/ap2.md §9).
  Revoke(checkout_id);
  list = List0();
  EXPECT_EQ(Entry(list, 0), 1);
  EXPECT_EQ(Entry(list, 1), 1);
  EXPECT_EQ(Entry(list, 2), 1);
  EXPECT_EQ(Entry(list, 3), 0);
  const json::Value bound_now =
      Call("GET", base_ + "/ap2/mandates/" + StringField(bound, "id"), admin_, "", 200);
  EXPECT_EQ(bound_now.Find("revoked_at"), nullptr);

  // The audit trail names the payment mandate the revocation reached.
  const json::Value trail = Call("GET", "/v1/audit/trail?limit=1000&principal=" + principal_,
                                 kOperatorToken, "", 200);
  std::vector<std::string> reached;
  int revocations = 0;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    if (StringField(*e, "type") != "ap2.mandate_revoked") continue;
    ++revocations;
    const json::Value* pm = At(*e, {"data", "payment_mandates"});
    if (pm == nullptr) continue;
    for (const json::Value& id : pm->items()) reached.push_back(id.as_string());
  }
  EXPECT_EQ(revocations, 2);
  EXPECT_EQ(reached, std::vector<std::string>{StringField(bound, "id")});

  // A new mandate takes the next entry, valid.
  const json::Value later = Issue("payment", kPaymentConstraints);
  EXPECT_EQ(IntAt(later, {"status_list", "idx"}), 3);
  EXPECT_EQ(Entry(List0(), 3), 0);
}

TEST_F(Ap2StatusTest, ConcurrentIssuancesTakeDistinctEntries) {
  constexpr int kThreads = 8;
  constexpr int kEach = 4;
  std::mutex mu;
  std::vector<int64_t> idx;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", service_.app()->port());
      for (int j = 0; j < kEach; ++j) {
        const json::Value m = testing::Call(
            client, "POST", base_ + "/ap2/mandates", admin_,
            R"({"agent":")" + agent_ + R"(","kind":"payment","constraints":)" +
                kPaymentConstraints + "}",
            201);
        std::lock_guard<std::mutex> lock(mu);
        idx.push_back(IntAt(m, {"status_list", "idx"}));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::sort(idx.begin(), idx.end());
  std::vector<int64_t> want(kThreads * kEach);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<int64_t>(i);
  EXPECT_EQ(idx, want);
}

TEST_F(Ap2StatusTest, ADamagedEntryDoesNotStopARevocation) {
  const json::Value checkout = Issue("checkout", kCheckoutConstraints);  // idx 0
  const std::string checkout_id = StringField(checkout, "id");
  const json::Value bound = Issue(
      "payment", R"([{"type":"payment.amount_range","currency":"USD","max":5000}])",
      R"(,"checkout_mandate":")" + checkout_id + "\"");  // idx 1
  // The bound payment mandate's stored entry now names an index past its list's end.
  const identity::Tenant t(service_.app()->store_for_testing(), principal_);
  Result<std::optional<std::string>> raw = t.Get("ap2-mandate", StringField(bound, "id"));
  ASSERT_TRUE(raw.ok() && raw->has_value());
  Result<json::Value> record = json::Parse(**raw);
  ASSERT_TRUE(record.ok());
  record->Find("status_list")->Set("idx", json::Value::Int(99999));
  store::WriteBatch batch;
  t.Put(batch, "ap2-mandate", StringField(bound, "id"), json::Write(*record));
  ASSERT_TRUE(service_.app()->store_for_testing().Write(batch).ok());

  const json::Value revoked = Revoke(checkout_id);
  EXPECT_NE(revoked.Find("revoked_at"), nullptr);
  const mandates::StatusArray list = List0();
  EXPECT_EQ(Entry(list, 0), 1);
  EXPECT_EQ(Entry(list, 1), 0);  // the damaged entry named another index: nothing set for it
  // The event names what was not set.
  const json::Value trail = Call("GET", "/v1/audit/trail?limit=1000&principal=" + principal_,
                                 kOperatorToken, "", 200);
  std::string unset;
  for (const json::Value& item : trail.Find("items")->items()) {
    Result<json::Value> e = json::Parse(StringField(item, "event"));
    ASSERT_TRUE(e.ok());
    if (StringField(*e, "type") != "ap2.mandate_revoked") continue;
    const json::Value* u = At(*e, {"data", "status_not_set"});
    if (u != nullptr) unset = json::Write(*u);
  }
  EXPECT_EQ(unset, R"([{"list":0,"idx":99999}])");
}

// After the principal rotates its AP2 issuer key, the list is signed by the new key and the
// published set holds both (the new one first), so mandates signed before still verify; a
// revocation after the rotation still reaches the old mandate's entry.
TEST_F(Ap2StatusTest, AfterAKeyRotationBothKeysArePublishedAndTheListFollowsTheNewOne) {
  const json::Value before = Issue("payment", kPaymentConstraints);
  const std::string old_key = StringField(before, "key_id");
  const json::Value rotated =
      Call("POST", base_ + "/keys/" + old_key + "/rotate", admin_, "", 200);
  const std::string new_key = StringField(rotated, "id");
  ASSERT_NE(new_key, old_key);
  const json::Value after = Issue("payment", kPaymentConstraints);
  EXPECT_EQ(StringField(after, "key_id"), new_key);

  const json::Value jwks = Call("GET", "/principals/" + principal_ + "/ap2-jwks.json", "", "", 200);
  std::vector<std::string> kids;
  for (const json::Value& k : jwks.Find("keys")->items()) kids.push_back(StringField(k, "kid"));
  EXPECT_EQ(kids, (std::vector<std::string>{new_key, old_key}));

  Revoke(StringField(before, "id"));
  httplib::Result r = service_.client().Get(ListPath(0));
  ASSERT_TRUE(r);
  Result<signer::Jws> jws = signer::ParseJws(r->body);
  ASSERT_TRUE(jws.ok());
  EXPECT_EQ(jws->kid, new_key);
  const mandates::StatusArray list = List0();  // verified with the published key its kid names
  EXPECT_EQ(Entry(list, 0), 1);
  EXPECT_EQ(Entry(list, 1), 0);

  // The new key disabled too (say compromised), with no issuance since: the list is still
  // served, signed by a key made for it and published (before: 404 key-not-found).
  Call("POST", base_ + "/keys/" + new_key + "/disable", admin_, "", 200);
  httplib::Result served = service_.client().Get(ListPath(0));
  ASSERT_TRUE(served);
  ASSERT_EQ(served->status, 200) << served->body;
  Result<signer::Jws> signed_by = signer::ParseJws(served->body);
  ASSERT_TRUE(signed_by.ok());
  EXPECT_NE(signed_by->kid, new_key);
  EXPECT_NE(signed_by->kid, old_key);
  EXPECT_EQ(Entry(List0(), 0), 1);  // verified with the key its kid names, from the JWKS
}

// A list may be cached for status_list_ttl_s: when that is longer than the hour a list is
// otherwise valid for, its exp follows the ttl, so a cached copy never outlives its validity.
TEST_F(Ap2StatusTest, AListIsValidAtLeastAsLongAsItMayBeCached) {
  Issue("payment", kPaymentConstraints);
  service_.Stop();
  service_.Start(dir_.Sub("data"), kOperatorToken, nullptr,
                 [](api::ServerConfig& c) { c.status_list_ttl_s = 7200; });
  ASSERT_NE(service_.app(), nullptr);
  httplib::Result r = service_.client().Get(ListPath(0));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Cache-Control"), "public, max-age=7200");
  Result<signer::Jws> jws = signer::ParseJws(r->body);
  ASSERT_TRUE(jws.ok());
  Result<json::Value> payload = json::Parse(jws->payload);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(IntAt(*payload, {"ttl"}), 7200);
  EXPECT_EQ(IntAt(*payload, {"exp"}) - IntAt(*payload, {"iat"}), 7200);
}

TEST_F(Ap2StatusTest, SdJwtVcVerifierFetchesTheListAndRefusesARevokedMandate) {
  const json::Value payment = Issue("payment", kPaymentConstraints);
  const json::Value checkout = Issue("checkout", kCheckoutConstraints);
  auto run = [&] {
    json::Value input = json::Value::Object();
    input.Set("jwks_url",
              json::Value::String(origin_ + "/principals/" + principal_ + "/ap2-jwks.json"));
    json::Value tokens = json::Value::Array();
    for (const json::Value* m : {&payment, &checkout}) {
      tokens.Append(json::Value::Object()
                        .Set("name", json::Value::String(StringField(*m, "kind")))
                        .Set("token", json::Value::String(StringField(*m, "token"))));
    }
    input.Set("tokens", std::move(tokens));
    return testing::RunInteropScript("ap2_status.mjs", input);
  };
  auto result = [](const json::Value& out, size_t i) -> json::Value {
    const json::Value* rs = out.Find("results");
    return rs != nullptr && rs->is_array() && rs->items().size() > i ? rs->items()[i]
                                                                    : json::Value::Object();
  };
  const std::string uri = origin_ + ListPath(0);

  const json::Value before = run();
  ASSERT_EQ(IntAt(before, {"keys"}), 1) << json::Write(before);
  for (size_t i = 0; i < 2; ++i) {
    const json::Value r = result(before, i);
    SCOPED_TRACE(json::Write(r));
    const json::Value* ok = r.Find("ok");
    EXPECT_TRUE(ok != nullptr && ok->is_bool() && ok->as_bool());
    EXPECT_EQ(StringField(r, "status_uri"), uri);
    EXPECT_EQ(IntAt(r, {"idx"}), static_cast<int64_t>(i));
    EXPECT_EQ(IntAt(r, {"list_status"}), 0);
  }
  EXPECT_EQ(StringField(result(before, 0), "vct"), "mandate.payment.open.1");

  Revoke(StringField(payment, "id"));
  const json::Value after = run();
  {
    const json::Value r = result(after, 0);
    SCOPED_TRACE(json::Write(r));
    const json::Value* ok = r.Find("ok");
    EXPECT_TRUE(ok != nullptr && ok->is_bool() && !ok->as_bool());
    EXPECT_EQ(StringField(r, "error"), "Status is not valid");
    EXPECT_EQ(IntAt(r, {"list_status"}), 1);
  }
  {
    const json::Value r = result(after, 1);
    SCOPED_TRACE(json::Write(r));
    const json::Value* ok = r.Find("ok");
    EXPECT_TRUE(ok != nullptr && ok->is_bool() && ok->as_bool());
    EXPECT_EQ(IntAt(r, {"list_status"}), 0);
  }
}

}  // namespace
}  // namespace mandated
