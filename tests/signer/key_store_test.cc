// KeyStore on a real RocksDB: sealed at rest, wrong KEK refused, rotation keeps old signatures
// verifiable, retired and disabled keys stop signing; KEK files are checked.
#include "signer/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "signer/jws.h"
#include "signer/kek.h"
#include "signer/openssl_ec.h"
#include "signer/signature.h"
#include "store/rocks_store.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

SecretBytes Kek(uint8_t fill) { return SecretBytes(ByteSpan(Bytes(32, fill))); }

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }
  void OpenStore() {
    keys_.reset();
    kv_.reset();
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {kKeysFamily};
    kv_ = std::move(*store::OpenRocksStore(o));
  }
  Result<std::unique_ptr<KeyStore>> OpenKeys(uint8_t kek_fill) {
    return KeyStore::Open(*kv_, Kek(kek_fill), SystemClock::Get(), SystemRandom::Get());
  }
  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<KeyStore> keys_;
};

TEST_F(KeyStoreTest, GeneratedKeysSignForEveryType) {
  auto ks = std::move(*OpenKeys(7));
  for (KeyType t : {KeyType::kEd25519, KeyType::kP256, KeyType::kSecp256k1}) {
    SCOPED_TRACE(std::string(KeyTypeName(t)));
    Result<KeyInfo> k = ks->Generate(t, "issuer", "prn_a");
    ASSERT_TRUE(k.ok()) << k.error().ToString();
    EXPECT_EQ(k->id.substr(0, 4), "key_");
    EXPECT_EQ(k->state, KeyState::kActive);
    Result<Bytes> sig = ks->Sign(k->id, AsBytes("hello"));
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(Verify(k->public_key, AsBytes("hello"), *sig).ok());
    json::Value h = json::Value::Object();
    Result<std::string> jws = ks->SignJws(k->id, h, "{\"a\":1}");
    ASSERT_TRUE(jws.ok());
    EXPECT_TRUE(VerifyJws(*ParseJws(*jws), k->public_key).ok());
    json::Value pub = KeyInfoToJson(*k);
    EXPECT_EQ(pub.Find("sealed_private_key"), nullptr);
    EXPECT_EQ(pub.Find("public_jwk")->Find("d"), nullptr);
  }
  EXPECT_EQ(ks->List("prn_a")->size(), 3u);
  EXPECT_EQ(ks->List("prn_b")->size(), 0u);
}

// List(owner) reads the owner's keys from an index made at Open and kept as keys are made:
// after a reopen, rotations and other owners' keys, each owner sees its own keys (in id order)
// and ActiveKey the newest active one.
TEST_F(KeyStoreTest, EachOwnerListsItsOwnKeysAlsoAfterAReopen) {
  std::vector<std::string> a_ids, b_ids;
  {
    auto ks = std::move(*OpenKeys(3));
    for (const char* purpose : {"issuer", "audit", "service"}) {
      a_ids.push_back(ks->Generate(KeyType::kEd25519, purpose, "prn_a")->id);
      b_ids.push_back(ks->Generate(KeyType::kP256, "ap2-issuer", "prn_b")->id);
    }
  }
  OpenStore();
  auto ks = std::move(*OpenKeys(3));
  Result<KeyInfo> next = ks->Rotate(a_ids[0]);  // the issuer key
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  a_ids.push_back(next->id);
  b_ids.push_back(ks->Generate(KeyType::kP256, "ap2-issuer", "prn_b")->id);
  std::sort(a_ids.begin(), a_ids.end());
  std::sort(b_ids.begin(), b_ids.end());
  auto ids_of = [&](const std::string& owner) {
    std::vector<std::string> ids;
    Result<std::vector<KeyInfo>> listed = ks->List(owner);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    if (!listed.ok()) return ids;
    for (const KeyInfo& k : *listed) {
      EXPECT_EQ(k.owner, owner);
      ids.push_back(k.id);
    }
    return ids;
  };
  EXPECT_EQ(ids_of("prn_a"), a_ids);
  EXPECT_EQ(ids_of("prn_b"), b_ids);
  EXPECT_TRUE(ids_of("prn_c").empty());
  EXPECT_EQ(ks->List("").value_or(std::vector<KeyInfo>()).size(), a_ids.size() + b_ids.size());
  Result<KeyInfo> active = ks->ActiveKey("prn_a", "issuer");
  ASSERT_TRUE(active.ok()) << active.status().ToString();
  EXPECT_EQ(active->id, next->id);
}

// An owner's keys are read as one: a reader looking up the active key while it is rotated again
// and again always finds exactly one active key of the purpose, never none (a rotation seen
// half, its predecessor retired and its successor not yet listed) and never a retired one. With
// many keys of the owner, as a principal with many custodial agents has.
TEST_F(KeyStoreTest, TheActiveKeyIsAlwaysFoundWhileItIsRotated) {
  auto ks = std::move(*OpenKeys(5));
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(ks->Generate(KeyType::kEd25519, "agent", "prn_a").ok());
  std::string current = ks->Generate(KeyType::kEd25519, "issuer", "prn_a")->id;
  std::atomic<bool> done{false};
  std::atomic<int> lookups{0}, bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      Result<std::vector<KeyInfo>> keys = ks->List("prn_a");
      int active = 0;
      for (const KeyInfo& k : keys.ok() ? *keys : std::vector<KeyInfo>()) {
        active += k.purpose == "issuer" && k.state == KeyState::kActive;
      }
      if (!keys.ok() || active != 1) bad.fetch_add(1);
      lookups.fetch_add(1);
    }
  });
  for (int i = 0; i < 40; ++i) {
    Result<KeyInfo> next = ks->Rotate(current);
    ASSERT_TRUE(next.ok()) << next.error().ToString();
    current = next->id;
  }
  done.store(true);
  reader.join();
  EXPECT_GT(lookups.load(), 0);
  EXPECT_EQ(bad.load(), 0) << "of " << lookups.load() << " lookups";
}

// A signature with "the active key" whose key is retired between the lookup and the signature
// is made with the successor, looked up again (SignWithActiveKey).
TEST_F(KeyStoreTest, ASignatureRacingARotationUsesTheSuccessor) {
  auto ks = std::move(*OpenKeys(4));
  const KeyInfo first = *ks->Generate(KeyType::kEd25519, "issuer", "prn_a");
  std::vector<int> attempts;
  Result<std::string> jws = SignWithActiveKey(
      [&](int attempt) -> Result<KeyInfo> {
        attempts.push_back(attempt);
        if (attempt == 1) {
          Result<KeyInfo> stale = ks->Get(first.id);
          EXPECT_TRUE(ks->Rotate(first.id).ok());  // retired right after it was picked
          return stale;
        }
        return ks->ActiveKey("prn_a", "issuer");
      },
      [&](const KeyInfo& k) {
        return ks->SignJws(k.id, json::Value::Object().Set("kid", json::Value::String(k.id)),
                           "{}");
      });
  ASSERT_TRUE(jws.ok()) << jws.error().ToString();
  EXPECT_EQ(attempts, (std::vector<int>{1, 2}));
  const KeyInfo successor = *ks->ActiveKey("prn_a", "issuer");
  EXPECT_NE(successor.id, first.id);
  EXPECT_EQ(ParseJws(*jws)->kid, successor.id);
  EXPECT_TRUE(VerifyJws(*ParseJws(*jws), successor.public_key).ok());
  // Any other refusal is answered at once, not retried.
  attempts.clear();
  Result<std::string> refused = SignWithActiveKey(
      [&](int attempt) -> Result<KeyInfo> {
        attempts.push_back(attempt);
        return ks->Get("key_missing");
      },
      [&](const KeyInfo& k) { return ks->SignJws(k.id, json::Value::Object(), "{}"); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason(), "key-not-found");
  EXPECT_EQ(attempts, std::vector<int>{1});
}

TEST_F(KeyStoreTest, WrongKekIsRefusedAndRightKekReopens) {
  std::string id;
  {
    auto ks = std::move(*OpenKeys(1));
    id = ks->Generate(KeyType::kSecp256k1, "custody", "prn_a")->id;
  }
  Result<std::unique_ptr<KeyStore>> wrong = OpenKeys(2);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().reason(), "wrong-kek");
  auto ks = std::move(*OpenKeys(1));
  EXPECT_TRUE(ks->Sign(id, AsBytes("x")).ok());
  ks.reset();

  // A copy without its check record: the keys already sealed decide, and a wrong KEK is not
  // locked in as the new check's.
  store::WriteBatch drop;
  drop.Delete(kKeysFamily, "kek_check");
  ASSERT_TRUE(kv_->Write(drop).ok());
  Result<std::unique_ptr<KeyStore>> wrong_again = OpenKeys(2);
  ASSERT_FALSE(wrong_again.ok());
  EXPECT_EQ(wrong_again.error().reason(), "wrong-kek");
  EXPECT_FALSE(kv_->Get(kKeysFamily, "kek_check")->has_value());
  ks = std::move(*OpenKeys(1));
  EXPECT_TRUE(ks->Sign(id, AsBytes("x")).ok());
  EXPECT_TRUE(kv_->Get(kKeysFamily, "kek_check")->has_value());
}

TEST_F(KeyStoreTest, RotationRetiresTheOldKeyWhichStillVerifies) {
  auto ks = std::move(*OpenKeys(3));
  KeyInfo old = *ks->Generate(KeyType::kEd25519, "service", "service");
  Bytes old_sig = *ks->Sign(old.id, AsBytes("before"));
  Result<KeyInfo> next = ks->Rotate(old.id);
  ASSERT_TRUE(next.ok());
  KeyInfo retired = *ks->Get(old.id);
  EXPECT_EQ(retired.state, KeyState::kRetired);
  EXPECT_EQ(retired.replaced_by, next->id);
  EXPECT_TRUE(Verify(retired.public_key, AsBytes("before"), old_sig).ok());
  EXPECT_EQ(ks->Sign(old.id, AsBytes("after")).error().reason(), "key-not-active");
  EXPECT_EQ(ks->Rotate(old.id).error().reason(), "key-not-active");
  EXPECT_EQ(ks->ActiveKey("service", "service")->id, next->id);
  EXPECT_EQ(ks->Disable(next->id)->state, KeyState::kDisabled);
  EXPECT_EQ(ks->Sign(next->id, AsBytes("x")).error().reason(), "key-not-active");
  EXPECT_EQ(ks->ActiveKey("service", "service").error().reason(), "key-not-found");
  EXPECT_EQ(ks->Get("key_missing").error().reason(), "key-not-found");
}

// A custodial agent's record names its key, so the key is never rotated (the agent would keep
// naming the retired key); disabling it stays allowed.
TEST_F(KeyStoreTest, AgentKeysAreNotRotatedButCanBeDisabled) {
  auto ks = std::move(*OpenKeys(4));
  KeyInfo agent_key = *ks->Generate(KeyType::kSecp256k1, kAgentKeyPurpose, "prn_a");
  const uint64_t generation = ks->generation();
  Result<KeyInfo> rotated = ks->Rotate(agent_key.id);
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(rotated.error().reason(), "agent-key-not-rotatable");
  EXPECT_EQ(ks->generation(), generation);
  EXPECT_EQ(ks->Get(agent_key.id)->state, KeyState::kActive);
  EXPECT_EQ(ks->List("prn_a")->size(), 1u);  // no successor was stored
  EXPECT_TRUE(ks->Sign(agent_key.id, AsBytes("still signs")).ok());
  EXPECT_EQ(ks->Disable(agent_key.id)->state, KeyState::kDisabled);
  EXPECT_EQ(ks->Rotate(agent_key.id).error().reason(), "agent-key-not-rotatable");
}

// The x402 gas account's key is not rotated either: the settlement backend holds its id and its
// account holds the gas; disabling stays possible.
TEST_F(KeyStoreTest, FacilitatorKeyIsNotRotated) {
  auto ks = std::move(*OpenKeys(6));
  KeyInfo gas = *ks->Generate(KeyType::kSecp256k1, kFacilitatorKeyPurpose, "service");
  Result<KeyInfo> rotated = ks->Rotate(gas.id);
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(rotated.error().reason(), "facilitator-key-not-rotatable");
  EXPECT_EQ(ks->Get(gas.id)->state, KeyState::kActive);
  EXPECT_EQ(ks->List("service")->size(), 1u);
  EXPECT_EQ(ks->Disable(gas.id)->state, KeyState::kDisabled);
}

TEST_F(KeyStoreTest, RotationAndDisablingDropPreparedSigningKeys) {
  // Signing keeps a prepared OpenSSL object per key; a key that stops signing must not stay
  // prepared, so rotation and disabling empty the caches and the next signature prepares again.
  auto ks = std::move(*OpenKeys(5));
  KeyInfo k = *ks->Generate(KeyType::kP256, "service", "service");
  ASSERT_TRUE(ks->Sign(k.id, AsBytes("a")).ok());
  const uint64_t prepared = internal::OpensslKeyPreparationsForTest();
  ASSERT_TRUE(ks->Sign(k.id, AsBytes("b")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared);  // kept between signatures
  KeyInfo other = *ks->Generate(KeyType::kEd25519, "issuer", "service");
  ASSERT_TRUE(ks->Sign(other.id, AsBytes("c")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared + 1);
  KeyInfo next = *ks->Rotate(k.id);  // drops `other`'s prepared object too
  ASSERT_TRUE(ks->Sign(other.id, AsBytes("d")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared + 2);
  ASSERT_TRUE(ks->Sign(next.id, AsBytes("e")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared + 3);
  ASSERT_TRUE(ks->Disable(next.id).ok());
  ASSERT_TRUE(ks->Sign(other.id, AsBytes("f")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared + 4);
  ASSERT_TRUE(ks->Disable(next.id).ok());  // already disabled: a no-op, nothing dropped
  ASSERT_TRUE(ks->Sign(other.id, AsBytes("g")).ok());
  EXPECT_EQ(internal::OpensslKeyPreparationsForTest(), prepared + 4);
}

TEST_F(KeyStoreTest, ImportedPrivateKeyNeverReachesDiskInClear) {
  const Bytes secret = *HexDecode("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
  {
    auto ks = std::move(*OpenKeys(9));
    ASSERT_TRUE(ks->Import(KeyType::kSecp256k1, secret, "custody", "prn_a").ok());
    ASSERT_TRUE(kv_->Flush().ok());
  }
  kv_.reset();  // closes RocksDB: memtables are flushed to table files too
  const std::string forms[] = {std::string(AsChars(secret)), HexEncode(secret),
                               Base64UrlEncode(secret)};
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!e.is_regular_file()) continue;
    const std::string data = testing::ReadFileOrDie(e.path().string());
    for (const std::string& f : forms) {
      EXPECT_EQ(data.find(f), std::string::npos) << "private key bytes in " << e.path();
    }
    ++files;
  }
  EXPECT_GT(files, 3);
}

TEST(Kek, DevelopmentKeyIsCreatedBesideTheDataDirWithMode0600) {
  testing::TempDir dir;
  Result<LoadedKek> k = LoadKek({"", dir.Sub("data/")});
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  EXPECT_TRUE(k->created_for_development);
  EXPECT_EQ(k->path, dir.Sub("data.kek"));
  struct stat st {};
  ASSERT_EQ(stat(k->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<LoadedKek> again = LoadKek({"", dir.Sub("data")});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created_for_development);
  EXPECT_TRUE(again->key.Equals(k->key.span()));
}

// A data directory named with a trailing "." or ".." still gets its KEK beside it, never
// inside it (a copy of the data must not take the KEK along).
TEST(Kek, DevelopmentKeyIsBesideTheDataDirectoryHoweverItIsSpelled) {
  testing::TempDir dir;
  const std::string data = dir.Sub("data");
  std::filesystem::create_directories(data + "/sub");
  for (const std::string& spelling : {data + "/.", data + "/./", data + "/sub/..", data + "//"}) {
    SCOPED_TRACE(spelling);
    Result<LoadedKek> k = LoadKek({"", spelling});
    ASSERT_TRUE(k.ok()) << k.error().ToString();
    EXPECT_EQ(k->path, data + ".kek");
  }
  EXPECT_FALSE(std::filesystem::exists(data + "/..kek"));
  EXPECT_FALSE(std::filesystem::exists(data + "/sub/...kek"));
  EXPECT_EQ(LoadKek({"", "/"}).error().reason(), "bad-kek");
}

// The development KEK is created (with the directories it needs), made durable with its
// directory entries, and the next start loads the same key from it instead of making another.
TEST(Kek, DevelopmentKeyInNewDirectoriesIsCreatedOnceAndLoadsAgain) {
  testing::TempDir dir;
  const std::string data_dir = dir.Sub("nested/deeper/data");
  Result<LoadedKek> k = LoadKek({"", data_dir});
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  EXPECT_TRUE(k->created_for_development);
  EXPECT_EQ(k->path, data_dir + ".kek");
  EXPECT_EQ(k->key.size(), 32u);
  ASSERT_TRUE(std::filesystem::is_regular_file(k->path));
  const std::string text = testing::ReadFileOrDie(k->path);
  ASSERT_EQ(text.size(), 65u);  // 64 hex characters and a newline
  EXPECT_TRUE(k->key.Equals(*HexDecode(text.substr(0, 64))));
  struct stat st {};
  ASSERT_EQ(stat(k->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Result<LoadedKek> again = LoadKek({"", data_dir});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_FALSE(again->created_for_development);
  EXPECT_TRUE(again->key.Equals(k->key.span()));
  // And it seals: a key store opened under it reopens under the loaded copy.
  store::RocksStoreOptions o;
  o.path = dir.Sub("db");
  o.column_families = {kKeysFamily};
  std::unique_ptr<store::KvStore> kv = std::move(*store::OpenRocksStore(o));
  std::string id;
  {
    auto ks = KeyStore::Open(*kv, k->key.Clone(), SystemClock::Get(), SystemRandom::Get());
    ASSERT_TRUE(ks.ok()) << ks.error().ToString();
    id = (*ks)->Generate(KeyType::kEd25519, "service", "service")->id;
  }
  auto reopened = KeyStore::Open(*kv, again->key.Clone(), SystemClock::Get(), SystemRandom::Get());
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  EXPECT_TRUE((*reopened)->Sign(id, AsBytes("x")).ok());
}

TEST(Kek, ConfiguredFileMustExistBePrivateAndHold32HexBytes) {
  testing::TempDir dir;
  EXPECT_EQ(LoadKek({dir.Sub("missing"), ""}).error().reason(), "bad-kek");
  const std::string good = dir.Sub("good");
  std::ofstream(good) << std::string(64, 'a') << "\n";
  chmod(good.c_str(), 0600);
  EXPECT_TRUE(LoadKek({good, ""}).ok());
  chmod(good.c_str(), 0640);
  EXPECT_EQ(LoadKek({good, ""}).error().reason(), "bad-kek");
  const std::string short_file = dir.Sub("short");
  std::ofstream(short_file) << std::string(62, 'a');
  chmod(short_file.c_str(), 0600);
  EXPECT_EQ(LoadKek({short_file, ""}).error().reason(), "bad-kek");
  const std::string not_hex = dir.Sub("nothex");
  std::ofstream(not_hex) << std::string(64, 'g');
  chmod(not_hex.c_str(), 0600);
  EXPECT_EQ(LoadKek({not_hex, ""}).error().reason(), "bad-kek");
}

}  // namespace
}  // namespace mandated::signer
