// Directory serializes state changes per principal, not service-wide: while one principal's
// session opening is held inside its durable write, another principal's agent opens a session
// (agents of different principals never queue behind each other's synced writes).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "identity/directory.h"
#include "store/rocks_store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/gated_store.h"
#include "tests/support/test_support.h"

namespace mandated::identity {
namespace {

// The identity families on a real RocksDB store in `dir`.
std::unique_ptr<store::KvStore> OpenStore(const testing::TempDir& dir) {
  store::RocksStoreOptions o;
  o.path = dir.Sub("db");
  o.column_families = {kTenantsFamily, kIdentityIndexFamily, signer::kKeysFamily, "audit"};
  return std::move(*store::OpenRocksStore(o));
}

// A key store and a directory over `kv`.
struct Identity {
  Identity(store::KvStore& kv, Clock& clock)
      : keys(std::move(*signer::KeyStore::Open(kv, SecretBytes(ByteSpan(Bytes(32, 7))), clock,
                                               SystemRandom::Get()))),
        directory(kv, *keys, clock, SystemRandom::Get(), Options()) {}
  static DirectoryOptions Options() {
    DirectoryOptions opts;
    opts.service_did = "did:web:mandated.test";
    return opts;
  }
  std::unique_ptr<signer::KeyStore> keys;
  Directory directory;
};

TEST(DirectoryStripesTest, OnePrincipalsWriteInFlightDoesNotHoldAnothersSession) {
  const std::string a = "prn_a";
  std::string b;
  for (int i = 0; b.empty(); ++i) {
    const std::string candidate = "prn_b" + std::to_string(i);
    if (Directory::WriteStripes::IndexOf(candidate) != Directory::WriteStripes::IndexOf(a)) {
      b = candidate;
    }
  }
  testing::TempDir dir;
  testing::FakeClock clock;
  std::unique_ptr<store::KvStore> rocks = OpenStore(dir);
  testing::GatedStore kv(*rocks);
  Identity id(kv, clock);
  Directory& directory = id.directory;
  const Tenant ta(kv, a), tb(kv, b);
  auto agent_of = [&](const Tenant& t) {
    CreateAgentRequest req;
    req.name = "buyer";
    req.custodial_key_type = "Ed25519";
    Result<Agent> made = directory.CreateAgent(t, req);
    EXPECT_TRUE(made.ok()) << made.error().ToString();
    return made.ok() ? made->id : std::string();
  };
  const std::string agent_a = agent_of(ta), agent_b = agent_of(tb);
  auto open = [&](const Tenant& t, const std::string& agent) {
    OpenSessionRequest req;
    req.task = "buy a dataset";
    return directory.OpenSessionForAgent(t, agent, req, "operator");
  };

  std::future<void> arrived = kv.Arrived();
  std::promise<Result<WithToken<Session>>> a_done;
  std::thread writer([&] {
    kv.Hold(std::this_thread::get_id());
    a_done.set_value(open(ta, agent_a));
  });
  arrived.wait();  // a's session now sits in its durable write, under a's stripe

  std::future<Result<WithToken<Session>>> opened =
      std::async(std::launch::async, [&] { return open(tb, agent_b); });
  const bool finished = opened.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  kv.Release();
  writer.join();
  ASSERT_TRUE(finished) << "b's session waited for a's write";
  Result<WithToken<Session>> sb = opened.get();
  ASSERT_TRUE(sb.ok()) << sb.error().ToString();
  EXPECT_EQ(sb->record.agent_id, agent_b);
  EXPECT_EQ(sb->record.state, "active");
  Result<WithToken<Session>> sa = a_done.get_future().get();
  ASSERT_TRUE(sa.ok()) << sa.error().ToString();
  EXPECT_EQ(sa->record.principal_id, a);
}

// The one check across principals: an agent DID is registered once, whichever principal asks.
TEST(DirectoryStripesTest, ADidIsRegisteredByOnePrincipalOnly) {
  testing::TempDir dir;
  testing::FakeClock clock;
  std::unique_ptr<store::KvStore> kv = OpenStore(dir);
  Identity id(*kv, clock);
  Directory& directory = id.directory;
  // An Ed25519 did:key (the did:key specification's example).
  const std::string did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
  std::vector<std::future<Result<Agent>>> made;
  for (const char* p : {"prn_a", "prn_b", "prn_c", "prn_d"}) {
    made.push_back(std::async(std::launch::async, [&, p] {
      CreateAgentRequest req;
      req.name = "buyer";
      req.did = did;
      return directory.CreateAgent(Tenant(*kv, p), req);
    }));
  }
  int registered = 0, taken = 0;
  for (auto& f : made) {
    Result<Agent> r = f.get();
    if (r.ok()) {
      ++registered;
    } else if (r.error().reason() == "did-taken") {
      ++taken;
    }
  }
  EXPECT_EQ(registered, 1);
  EXPECT_EQ(taken, 3);
}

}  // namespace
}  // namespace mandated::identity
