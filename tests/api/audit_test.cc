// The audit trail over the real server and its RocksDB data (specs/audit.md): checkpoints and
// proofs that verify, auditor-only access walled off per principal and, for a limited
// credential, per agent and mandate; tampering with stored events (a changed byte, a deleted
// event, two swapped, a truncated log) detected offline against an earlier checkpoint, and a
// tree cut back under its newest checkpoint refused at start (issue: audit trail, must-show 2).
#include <gtest/gtest.h>
#include <httplib.h>

#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "audit/bundle.h"
#include "audit/checkpoint.h"
#include "audit/event.h"
#include "audit/merkle.h"
#include "base/bytes.h"
#include "base/json.h"
#include "base/random.h"
#include "mandates/credential.h"
#include "signer/did.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/http_json.h"
#include "tests/support/server_process.h"
#include "tests/support/test_support.h"

namespace mandated {
namespace {

using testing::ResponseJson;
using testing::ServerProcess;
using testing::TempDir;

std::string Hex16(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::vector<std::string> Codes(const audit::BundleReport& r) {
  std::vector<std::string> out;
  for (const audit::BundleFinding& f : r.findings) out.push_back(f.code + " " + f.detail);
  return out;
}

bool Has(const audit::BundleReport& r, const std::string& code_and_detail) {
  for (const std::string& c : Codes(r)) {
    if (c.rfind(code_and_detail, 0) == 0) return true;
  }
  return false;
}

class AuditTest : public ::testing::Test {
 protected:
  void StartServer() {
    server_ = std::make_unique<ServerProcess>(
        dir_.Sub("data"), std::map<std::string, std::string>{},
        std::vector<std::string>{"--rate-limits", "operator=100000/100000,auditor=100000/100000"});
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_read_timeout(30, 0);
    op_ = {{"Authorization", "Bearer " + server_->bootstrap_token()}};
  }

  std::string CreatePrincipal(const std::string& name) {
    auto r = client_->Post("/v1/principals", op_, R"({"name":")" + name + R"("})",
                           "application/json");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r ? ResponseJson(r).Find("id")->as_string() : "";
  }

  std::string Credential(const std::string& principal, const std::string& role) {
    auto r = client_->Post("/v1/principals/" + principal + "/credentials", op_,
                           R"({"role":")" + role + R"("})", "application/json");
    EXPECT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    return r ? ResponseJson(r).Find("token")->as_string() : "";
  }

  json::Value Get(const std::string& path, const httplib::Headers& h, int status = 200) {
    auto r = client_->Get(path, h);
    EXPECT_TRUE(r) << path;
    if (!r) return json::Value();
    EXPECT_EQ(r->status, status) << path << " " << r->body;
    return ResponseJson(r);
  }

  std::string Export(const std::string& query = "") {
    auto r = client_->Get("/v1/audit/export" + query, op_);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    if (r) {
      EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
    }
    return r ? r->body : "";
  }

  // A log with `n` principal.created events and two checkpoints: after n/2 and after n.
  void BuildLog(int n) {
    StartServer();
    for (int i = 0; i < n / 2; ++i) CreatePrincipal("Early " + std::to_string(i));
    early_ = Get("/v1/audit/checkpoint", op_);
    for (int i = n / 2; i < n; ++i) CreatePrincipal("Late " + std::to_string(i));
    late_ = Get("/v1/audit/checkpoint", op_);
    vkey_ = Get("/v1/audit/key", op_).Find("verifier_key")->as_string();
  }

  // Stops the server, lets `change` edit the audit family directly, and starts it again.
  void TamperWhileStopped(const std::function<void(store::KvStore&)>& change) {
    TamperOnly(change);
    ASSERT_TRUE(server_->Start()) << server_->Stderr();
    client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
    client_->set_read_timeout(30, 0);
  }
  // Stops the server and lets `change` edit the audit family directly.
  void TamperOnly(const std::function<void(store::KvStore&)>& change) {
    ASSERT_EQ(server_->Stop(), 0);
    store::RocksStoreOptions o;
    o.path = dir_.Sub("data") + "/db";
    Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
    ASSERT_TRUE(kv.ok()) << kv.error().ToString();
    change(**kv);
  }

  audit::BundleReport VerifyAgainstEarlier(const std::string& bundle) {
    audit::BundleVerifyOptions o;
    o.verifier_key = vkey_;
    o.earlier_checkpoints = {early_.Find("note")->as_string(), late_.Find("note")->as_string()};
    return audit::VerifyBundle(bundle, o);
  }

  static std::string Read(store::KvStore& kv, const std::string& key) {
    Result<std::optional<std::string>> v = kv.Get(audit::kAuditFamily, key);
    EXPECT_TRUE(v.ok() && v->has_value()) << key;
    return v.ok() && v->has_value() ? **v : "";
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers op_;
  json::Value early_, late_;
  std::string vkey_;
};

TEST_F(AuditTest, CheckpointsAreSignedNotesAndProofsVerifyAgainstThem) {
  BuildLog(10);
  const uint64_t n1 = early_.Find("size")->as_uint64().value_or(0);
  const uint64_t n2 = late_.Find("size")->as_uint64().value_or(0);
  ASSERT_GE(n1, 5u);
  ASSERT_EQ(n2, n1 + 5);  // five more principal.created events, nothing else

  // The note opens with the published verifier key and carries size and root.
  Result<audit::NoteVerifier> verifier = audit::ParseVerifierKey(vkey_);
  ASSERT_TRUE(verifier.ok()) << vkey_;
  Result<std::string> body = audit::OpenNote(late_.Find("note")->as_string(), *verifier);
  ASSERT_TRUE(body.ok()) << body.error().ToString();
  Result<audit::Checkpoint> cp = audit::ParseCheckpointBody(*body);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->size, n2);
  EXPECT_EQ(audit::HashHex(cp->root), late_.Find("root")->as_string());
  EXPECT_EQ(cp->origin, "127.0.0.1:" + std::to_string(server_->port()) + "/audit");

  // Every event's inclusion proof verifies against the later checkpoint's root.
  for (uint64_t seq = 0; seq < n2; ++seq) {
    json::Value p = Get("/v1/audit/proofs/inclusion?seq=" + std::to_string(seq) + "&size=" +
                            std::to_string(n2),
                        op_);
    json::Value e = Get("/v1/audit/events/" + std::to_string(seq), op_);
    const std::string leaf = e.Find("event")->as_string();
    EXPECT_EQ(p.Find("leaf_hash")->as_string(), audit::HashHex(audit::LeafHash(AsBytes(leaf))));
    std::vector<audit::Hash> proof;
    for (const json::Value& h : p.Find("proof")->items()) {
      proof.push_back(*audit::HashFromBytes(*HexDecode(h.as_string())));
    }
    EXPECT_TRUE(audit::VerifyInclusion(audit::LeafHash(AsBytes(leaf)), seq, n2, proof, cp->root).ok())
        << seq;
    Result<json::Value> ev = json::Parse(leaf);
    ASSERT_TRUE(ev.ok());
    EXPECT_EQ(ev->Find("seq")->as_uint64(), seq);
  }
  // The consistency proof between the two checkpoints verifies; a wrong root does not.
  json::Value c = Get("/v1/audit/proofs/consistency?from=" + std::to_string(n1) + "&to=" +
                          std::to_string(n2),
                      op_);
  std::vector<audit::Hash> proof;
  for (const json::Value& h : c.Find("proof")->items()) {
    proof.push_back(*audit::HashFromBytes(*HexDecode(h.as_string())));
  }
  const audit::Hash r1 = *audit::HashFromBytes(*HexDecode(early_.Find("root")->as_string()));
  EXPECT_TRUE(audit::VerifyConsistency(n1, n2, r1, cp->root, proof).ok());
  EXPECT_FALSE(audit::VerifyConsistency(n1, n2, cp->root, cp->root, proof).ok());

  // Out-of-range proofs are precise 400s; a stored checkpoint reads back by size.
  Get("/v1/audit/proofs/inclusion?seq=" + std::to_string(n2) + "&size=" + std::to_string(n2), op_,
      400);
  Get("/v1/audit/proofs/consistency?from=0&to=3", op_, 400);
  Get("/v1/audit/proofs/inclusion?seq=x", op_, 400);
  EXPECT_EQ(Get("/v1/audit/checkpoints/" + std::to_string(n1), op_).Find("note")->as_string(),
            early_.Find("note")->as_string());
  Get("/v1/audit/checkpoints/999999", op_, 404);

  // The whole log exports as a complete prefix that verifies offline against both checkpoints.
  audit::BundleReport report = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(report.ok()) << ::testing::PrintToString(Codes(report));
  EXPECT_TRUE(report.complete_prefix);
  EXPECT_FALSE(report.key_from_bundle);
  EXPECT_GE(report.events, n2);
}

TEST_F(AuditTest, OnlyAuditorsReadAndOnlyTheirPrincipalsEvents) {
  StartServer();
  const std::string a = CreatePrincipal("Tenant A");
  const std::string b = CreatePrincipal("Tenant B");
  const httplib::Headers auditor_a = {{"Authorization", "Bearer " + Credential(a, "auditor")}};
  const httplib::Headers admin_a = {{"Authorization", "Bearer " + Credential(a, "admin")}};
  Credential(b, "admin");

  json::Value mine = Get("/v1/audit/trail?principal=" + a, auditor_a);
  ASSERT_FALSE(mine.Find("items")->items().empty());
  uint64_t last = 0;
  bool first = true;
  for (const json::Value& item : mine.Find("items")->items()) {
    Result<json::Value> e = json::Parse(item.Find("event")->as_string());
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->Find("principal")->as_string(), a);
    const uint64_t seq = item.Find("seq")->as_uint64().value_or(0);
    EXPECT_TRUE(first || seq > last);
    first = false;
    last = seq;
  }
  // Another principal's trail does not exist for this auditor; admins have no audit access.
  Get("/v1/audit/trail?principal=" + b, auditor_a, 404);
  Get("/v1/audit/trail?principal=" + a, admin_a, 403);
  Get("/v1/audit/checkpoint", admin_a, 403);
  // Queries name exactly one selector; the whole-log export is the operator's.
  Get("/v1/audit/trail", auditor_a, 400);
  Get("/v1/audit/trail?principal=" + a + "&agent=agt_x", auditor_a, 400);
  Get("/v1/audit/trail?principal=" + a + "&limit=0", auditor_a, 400);
  Get("/v1/audit/export", auditor_a, 400);
  // Paging: one at a time returns the same events.
  std::vector<uint64_t> paged;
  std::string after;
  for (int i = 0; i < 100; ++i) {
    json::Value page = Get("/v1/audit/trail?principal=" + a + "&limit=1" + after, auditor_a);
    for (const json::Value& item : page.Find("items")->items()) {
      paged.push_back(item.Find("seq")->as_uint64().value_or(0));
    }
    const json::Value* next = page.Find("next_after");
    if (next == nullptr) break;
    after = "&after=" + next->number_text();
  }
  EXPECT_EQ(paged.size(), mine.Find("items")->items().size());
}

// Must-show 2: each kind of tampering with the stored events is found offline.
TEST_F(AuditTest, ChangedByteInAStoredEventIsDetected) {
  BuildLog(10);
  TamperWhileStopped([](store::KvStore& kv) {
    // The first principal's event (the log opens with the service's own key events).
    uint64_t seq = 0;
    std::string v;
    for (; seq < 100; ++seq) {
      v = Read(kv, "e/" + Hex16(seq));
      if (v.find("Early 0") != std::string::npos) break;
    }
    const size_t at = v.find("Early 0");
    ASSERT_NE(at, std::string::npos) << v;
    v[at] = 'F';  // "Farly": one byte
    store::WriteBatch b;
    b.Put(audit::kAuditFamily, "e/" + Hex16(seq), v);
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(Has(r, "root-mismatch")) << ::testing::PrintToString(Codes(r));
  EXPECT_TRUE(Has(r, "earlier-checkpoint-mismatch size=" + early_.Find("size")->number_text()))
      << ::testing::PrintToString(Codes(r));
}

TEST_F(AuditTest, DeletedEventIsDetected) {
  BuildLog(10);
  TamperWhileStopped([](store::KvStore& kv) {
    store::WriteBatch b;
    b.Delete(audit::kAuditFamily, "e/" + Hex16(3));
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(Has(r, "event-missing seq=3")) << ::testing::PrintToString(Codes(r));
  EXPECT_FALSE(r.ok());
}

TEST_F(AuditTest, TwoReorderedEventsAreDetected) {
  BuildLog(10);
  TamperWhileStopped([](store::KvStore& kv) {
    const std::string four = Read(kv, "e/" + Hex16(4));
    const std::string five = Read(kv, "e/" + Hex16(5));
    store::WriteBatch b;
    b.Put(audit::kAuditFamily, "e/" + Hex16(4), five);
    b.Put(audit::kAuditFamily, "e/" + Hex16(5), four);
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(Has(r, "event-out-of-order seq=4 follows seq=5")) << ::testing::PrintToString(Codes(r));
  EXPECT_TRUE(Has(r, "root-mismatch")) << ::testing::PrintToString(Codes(r));
}

TEST_F(AuditTest, EventsRewrittenWithTheirSeqsSwappedStillFailTheEarlierCheckpoint) {
  // A careful forger swaps two events and their seq fields so the order looks right: the
  // recomputed roots no longer match what was signed before.
  BuildLog(10);
  TamperWhileStopped([](store::KvStore& kv) {
    std::string four = Read(kv, "e/" + Hex16(4));
    std::string five = Read(kv, "e/" + Hex16(5));
    four.replace(0, 8, "{\"seq\":5");
    five.replace(0, 8, "{\"seq\":4");
    store::WriteBatch b;
    b.Put(audit::kAuditFamily, "e/" + Hex16(4), five);
    b.Put(audit::kAuditFamily, "e/" + Hex16(5), four);
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(Has(r, "earlier-checkpoint-mismatch")) << ::testing::PrintToString(Codes(r));
}

// specs/audit.md §3.1: the service never signs a tree that does not extend its newest signed
// checkpoint. A tail cut and the size rewritten to match, as a forger hiding the last events
// (and appending over their numbers) would: the service refuses to start, and writes nothing.
TEST_F(AuditTest, TruncatedLogUnderItsNewestCheckpointRefusesToStart) {
  BuildLog(10);
  const uint64_t n = late_.Find("size")->as_uint64().value_or(0);
  TamperOnly([n](store::KvStore& kv) {
    store::WriteBatch b;
    for (uint64_t s = n - 3; s < n; ++s) b.Delete(audit::kAuditFamily, "e/" + Hex16(s));
    b.Put(audit::kAuditFamily, "meta/size", std::to_string(n - 3));
    ASSERT_TRUE(kv.Write(b).ok());
  });
  EXPECT_FALSE(server_->Start());
  const std::string err = server_->Stderr();
  EXPECT_NE(err.find("mandated: cannot start: DATA_LOSS [storage-corruption]: the audit tree "
                     "does not extend its newest signed checkpoint (size " +
                     std::to_string(n) + "): the tree holds only " + std::to_string(n - 3) +
                     " events"),
            std::string::npos)
      << err;
  // Nothing was signed over the cut tree, nor appended at its old numbers.
  store::RocksStoreOptions o;
  o.path = dir_.Sub("data") + "/db";
  Result<std::unique_ptr<store::KvStore>> kv = store::OpenRocksStore(o);
  ASSERT_TRUE(kv.ok()) << kv.error().ToString();
  EXPECT_EQ(Read(**kv, "meta/size"), std::to_string(n - 3));
  EXPECT_EQ(Read(**kv, "meta/checkpoint"), std::to_string(n));
  Result<std::optional<std::string>> cut = (*kv)->Get(audit::kAuditFamily, "e/" + Hex16(n - 3));
  ASSERT_TRUE(cut.ok());
  EXPECT_FALSE(cut->has_value());
}

// A forger who also deletes every checkpoint signed after the cut leaves the service nothing to
// compare with: it signs the shorter tree, and an auditor's earlier checkpoint shows it offline.
TEST_F(AuditTest, TruncatedLogWithItsLaterCheckpointsDeletedIsDetectedOffline) {
  BuildLog(10);
  const uint64_t n = late_.Find("size")->as_uint64().value_or(0);
  const uint64_t early = early_.Find("size")->as_uint64().value_or(0);
  ASSERT_LT(early, n - 3);
  TamperWhileStopped([n, early](store::KvStore& kv) {
    store::WriteBatch b;
    for (uint64_t s = n - 3; s < n; ++s) b.Delete(audit::kAuditFamily, "e/" + Hex16(s));
    b.Put(audit::kAuditFamily, "meta/size", std::to_string(n - 3));
    ASSERT_TRUE(kv.ScanPrefix(audit::kAuditFamily, "c/",
                              [&](std::string_view k, std::string_view) {
                                if (std::string(k) > "c/" + Hex16(early)) {
                                  b.Delete(audit::kAuditFamily, k);
                                }
                                return true;
                              })
                    .ok());
    b.Put(audit::kAuditFamily, "meta/checkpoint", std::to_string(early));
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  EXPECT_TRUE(Has(r, "log-truncated")) << ::testing::PrintToString(Codes(r));
  EXPECT_EQ(r.size, n - 3) << ::testing::PrintToString(Codes(r));
}

TEST_F(AuditTest, TruncatedEventsWithoutTheSizeAreMissing) {
  BuildLog(10);
  const uint64_t n = late_.Find("size")->as_uint64().value_or(0);
  TamperWhileStopped([n](store::KvStore& kv) {
    store::WriteBatch b;
    for (uint64_t s = n - 2; s < n; ++s) b.Delete(audit::kAuditFamily, "e/" + Hex16(s));
    ASSERT_TRUE(kv.Write(b).ok());
  });
  audit::BundleReport r = VerifyAgainstEarlier(Export());
  // One finding for the missing range.
  EXPECT_TRUE(Has(r, "event-missing seq=" + std::to_string(n - 2) + ".." + std::to_string(n - 1)))
      << ::testing::PrintToString(Codes(r));
}

TEST_F(AuditTest, ForgedCheckpointAndUntrustedKeyAreReported) {
  BuildLog(4);
  const std::string bundle = Export();
  // A bundle checked with its own key says so.
  audit::BundleReport self = audit::VerifyBundle(bundle, {});
  EXPECT_TRUE(self.ok()) << ::testing::PrintToString(Codes(self));
  EXPECT_TRUE(self.key_from_bundle);
  // Another key than the trusted one: the checkpoint does not open.
  audit::BundleVerifyOptions o;
  o.verifier_key = "someone+00000000+AQ" + std::string(43, 'A');
  audit::BundleReport other = audit::VerifyBundle(bundle, o);
  EXPECT_FALSE(other.ok());
  // An earlier note with one signature byte changed is refused.
  std::string forged = early_.Find("note")->as_string();
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  o.verifier_key = vkey_;
  o.earlier_checkpoints = {forged};
  audit::BundleReport r = audit::VerifyBundle(bundle, o);
  EXPECT_TRUE(Has(r, "earlier-checkpoint-invalid")) << ::testing::PrintToString(Codes(r));
}

// specs/access.md: a credential limited to mandate M (or to agent A and mandate M) reads M's
// events only: not those of M's delegation M' to agent B, nor B's purchase under M', though the
// whole principal's auditor sees them in the same trail.
TEST_F(AuditTest, ALimitedCredentialReadsOnlyTheMandatesAndAgentsOfItsLists) {
  StartServer();
  const std::string op = server_->bootstrap_token();
  const std::string p = CreatePrincipal("Scoped Corp");
  const std::string base = "/v1/principals/" + p;
  auto call = [this](const std::string& method, const std::string& path, const std::string& token,
                     const std::string& body, int want, const std::string& key = "") {
    return testing::Call(*client_, method, path, token, body, want, key);
  };
  auto agent = [&](const std::string& name) {
    signer::PrivateKey k = *signer::GenerateKey(signer::KeyType::kEd25519, SystemRandom::Get());
    const std::string did = signer::DidKeyFromPublicKey(*signer::DerivePublicKey(k));
    return testing::StringField(call("POST", base + "/agents", op,
                                     R"({"name":")" + name + R"(","did":")" + did + R"("})", 201),
                                "id");
  };
  auto session = [&](const std::string& a) {
    return testing::StringField(
        call("POST", base + "/agents/" + a + "/sessions", op, R"({"task":"shop"})", 201),
        "token");
  };
  const int64_t now = static_cast<int64_t>(time(nullptr));
  auto issue = [&](const std::string& a, const std::string& parent, const std::string& token) {
    return testing::StringField(
        call("POST", base + "/mandates", token,
             R"({"agent":")" + a + "\"" + (parent.empty() ? "" : R"(,"parent":")" + parent + "\"") +
                 R"(,"valid_from":")" + mandates::FormatRfc3339Utc(now - 60) +
                 R"(","valid_until":")" + mandates::FormatRfc3339Utc(now + 86400) +
                 R"(","terms":{"scope":{"payees":{"allow":[)"
                 R"({"type":"domain","value":"*.shop.example"}]}},)"
                 R"("limits":{"per_transaction":[{"asset":"USD","max":"100000"}]}}})",
             201),
        "id");
  };
  const std::string a = agent("planner");
  const std::string b = agent("buyer");
  const std::string m = issue(a, "", op);
  const std::string child = issue(b, m, session(a));  // a delegation, by M's holder
  const std::string atz = testing::StringField(
      call("POST", "/v1/authorizations", session(b),
           R"({"mandate":")" + child +
               R"(","payee":{"type":"domain","value":"api.shop.example"},)"
               R"("amount":"100","asset":"USD"})",
           201, "scoped-purchase-1"),
      "id");
  ASSERT_EQ(atz.rfind("atz_", 0), 0u) << atz;
  auto credential = [&](const std::string& body) {
    return httplib::Headers{
        {"Authorization",
         "Bearer " + testing::StringField(call("POST", base + "/credentials", op, body, 201),
                                          "token")}};
  };
  const httplib::Headers whole = credential(R"({"role":"auditor"})");
  const httplib::Headers by_mandate =
      credential(R"({"role":"auditor","mandates":[")" + m + R"("]})");
  const httplib::Headers by_both =
      credential(R"({"role":"auditor","agents":[")" + a + R"("],"mandates":[")" + m + R"("]})");

  // (seq, type, subjects.mandate, subjects.agent) of each item of a trail.
  struct Item {
    uint64_t seq;
    std::string type, mandate, agent;
  };
  auto items = [](const json::Value& page) {
    std::vector<Item> out;
    for (const json::Value& item : page.Find("items")->items()) {
      Result<json::Value> e = json::Parse(item.Find("event")->as_string());
      EXPECT_TRUE(e.ok());
      const json::Value* subjects = e->Find("subjects");
      auto subject = [subjects](const char* kind) {
        const json::Value* v = subjects ? subjects->Find(kind) : nullptr;
        return v != nullptr && v->is_string() ? v->as_string() : std::string();
      };
      out.push_back({item.Find("seq")->as_uint64().value_or(0),
                     e->Find("type")->as_string(), subject("mandate"), subject("agent")});
    }
    return out;
  };
  const std::string path = "/v1/audit/trail?mandate=" + m;
  // The principal's auditor: M, its delegation and the purchase under it.
  std::vector<uint64_t> own;  // the events about M itself
  std::set<std::string> seen_types;
  bool saw_child = false;
  for (const Item& i : items(Get(path, whole))) {
    if (i.mandate == m) own.push_back(i.seq);
    if (i.mandate == child) saw_child = true;
    seen_types.insert(i.type);
  }
  EXPECT_TRUE(saw_child);
  EXPECT_EQ(seen_types.count("authorization.decided"), 1u);
  ASSERT_FALSE(own.empty());

  // The limited ones: exactly M's own events, none of B's or of M'.
  for (const auto& [limited, refusal] : {std::pair{&by_mandate, "mandate-out-of-scope"},
                                         std::pair{&by_both, "agent-out-of-scope"}}) {
    std::vector<uint64_t> got;
    for (const Item& i : items(Get(path, *limited))) {
      EXPECT_EQ(i.mandate, m) << i.type << " #" << i.seq;
      EXPECT_TRUE(i.agent.empty() || i.agent == a) << i.type << " #" << i.seq;
      EXPECT_NE(i.type.rfind("authorization.", 0), 0u) << i.type << " #" << i.seq;
      got.push_back(i.seq);
    }
    EXPECT_EQ(got, own);
    // The export holds the same events, and verifies.
    auto r = client_->Get("/v1/audit/export?mandate=" + m, *limited);
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    audit::BundleVerifyOptions o;
    o.verifier_key = Get("/v1/audit/key", op_).Find("verifier_key")->as_string();
    audit::BundleReport report = audit::VerifyBundle(r->body, o);
    EXPECT_TRUE(report.ok()) << ::testing::PrintToString(Codes(report));
    EXPECT_EQ(report.events, own.size());
    // The delegation itself is out of their lists.
    json::Value refused = Get("/v1/audit/trail?mandate=" + child, *limited, 403);
    EXPECT_EQ(refused.Find("type")->as_string(), std::string("urn:mandated:problem:") + refusal);
  }
}

// specs/audit.md §4: `from` and `to` are RFC 3339 date-times with a fraction (to the
// microsecond) and an offset, or unix seconds; anything else is a precise 400.
TEST_F(AuditTest, BoundsTakeFractionsAndOffsets) {
  StartServer();
  const std::string p = CreatePrincipal("Bounds Corp");
  const httplib::Headers auditor = {{"Authorization", "Bearer " + Credential(p, "auditor")}};
  const std::string path = "/v1/audit/trail?principal=" + p;
  const std::vector<json::Value> all = Get(path, auditor).Find("items")->items();
  ASSERT_EQ(all.size(), 2u);  // principal.created, credential.created
  auto at_of = [](const json::Value& item) {
    return json::Parse(item.Find("event")->as_string())->Find("at")->as_string();
  };
  const std::string at = at_of(all[1]);  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  ASSERT_EQ(at.size(), 27u) << at;
  ASSERT_LT(at_of(all[0]), at);  // distinct instants
  const int64_t secs = *mandates::ParseRfc3339Utc(at.substr(0, 19) + "Z");
  const std::string fraction = at.substr(19, 7);  // ".ffffff"
  // The same instant at another offset.
  auto at_offset = [&](int64_t offset_secs, const std::string& offset) {
    const std::string local = mandates::FormatRfc3339Utc(secs + offset_secs);
    return local.substr(0, 19) + fraction + offset;
  };
  auto seqs = [&](const std::string& query) {
    std::vector<uint64_t> out;
    const json::Value page = Get(path + query, auditor);
    for (const json::Value& item : page.Find("items")->items()) {
      out.push_back(item.Find("seq")->as_uint64().value_or(0));
    }
    return out;
  };
  const uint64_t first = all[0].Find("seq")->as_uint64().value_or(0);
  const uint64_t second = all[1].Find("seq")->as_uint64().value_or(0);
  // `from` is inclusive, `to` exclusive, to the microsecond, whatever the offset.
  EXPECT_EQ(seqs("&from=" + at_offset(3600, "%2B01:00")), std::vector<uint64_t>{second});
  EXPECT_EQ(seqs("&to=" + at_offset(-19800, "-05:30")), std::vector<uint64_t>{first});
  EXPECT_EQ(seqs("&from=" + at), std::vector<uint64_t>{second});
  // Digits past the microsecond are dropped; "t" and "z" may be lower case.
  std::string lower = at.substr(0, 26) + "999z";
  lower[10] = 't';
  EXPECT_EQ(seqs("&from=" + lower), std::vector<uint64_t>{second});
  // Unix seconds still work.
  EXPECT_EQ(seqs("&to=" + std::to_string(secs - 3600)), std::vector<uint64_t>{});
  for (const char* bad : {"2026-02-30T00:00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00",
                          "2026-01-01T00:00:00%2B24:00", "2026-01-01 00:00:00Z",
                          "2026-01-01T00:00:00Zjunk", "1969-12-31T23:59:59Z"}) {
    json::Value problem = Get(path + "&from=" + bad, auditor, 400);
    EXPECT_EQ(problem.Find("type")->as_string(), "urn:mandated:problem:audit-query-invalid")
        << bad;
  }
}

// POST /v1/audit/checkpoints signs a new checkpoint only when the tree grew: otherwise 200 with
// the newest one.
TEST_F(AuditTest, ACheckpointIsPublishedOnlyWhenTheTreeGrew) {
  StartServer();
  CreatePrincipal("Checkpoint Corp");
  auto post = [this](int want) {
    auto r = client_->Post("/v1/audit/checkpoints", op_, "", "application/json");
    EXPECT_TRUE(r && r->status == want) << (r ? r->body : "no response");
    return r ? ResponseJson(r) : json::Value();
  };
  const json::Value first = post(201);
  const json::Value again = post(200);
  EXPECT_EQ(again.Find("size")->as_uint64(), first.Find("size")->as_uint64());
  EXPECT_EQ(again.Find("note")->as_string(), first.Find("note")->as_string());
  CreatePrincipal("Checkpoint Corp 2");
  const json::Value grown = post(201);
  EXPECT_EQ(grown.Find("size")->as_uint64().value_or(0),
            first.Find("size")->as_uint64().value_or(0) + 1);
}

TEST_F(AuditTest, StagedEventsSurviveACrashAndAreSequencedAtTheNextStart) {
  StartServer();
  CreatePrincipal("Before crash");
  const uint64_t before = Get("/v1/audit/checkpoint", op_).Find("size")->as_uint64().value_or(0);
  CreatePrincipal("Staged only");
  server_->Kill();  // the sequencer may not have run: the event is staged, not lost
  ASSERT_TRUE(server_->Start()) << server_->Stderr();
  client_ = std::make_unique<httplib::Client>(server_->host(), server_->port());
  json::Value cp = Get("/v1/audit/checkpoint", op_);
  EXPECT_EQ(cp.Find("size")->as_uint64().value_or(0), before + 1);
  json::Value e = Get("/v1/audit/events/" + std::to_string(before), op_);
  EXPECT_NE(e.Find("event")->as_string().find("Staged only"), std::string::npos);
}

}  // namespace
}  // namespace mandated
