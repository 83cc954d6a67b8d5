// EIP-1559 transactions signed through the key store, byte-identical to viem's
// (tests/interop/evm_tx_vector.mjs), plus a fixed vector.
#include "settlement/evm_tx.h"

#include <gtest/gtest.h>

#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "settlement/rlp.h"
#include "signer/ethereum.h"
#include "store/rocks_store.h"
#include "tests/support/test_support.h"

namespace mandated::settlement {
namespace {

using testing::Hex;

// Anvil's first well-known development account (public test key, funded on every anvil).
constexpr char kDevKey[] = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

Address Addr(std::string_view hex) {
  Address a{};
  const Bytes b = Hex(hex);
  std::copy_n(b.begin(), std::min<size_t>(20, b.size()), a.begin());
  return a;
}

class EvmTxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::RocksStoreOptions o;
    o.path = dir_.Sub("db");
    o.column_families = {signer::kKeysFamily};
    kv_ = std::move(*store::OpenRocksStore(o));
    keys_ = std::move(*signer::KeyStore::Open(*kv_, SecretBytes(ByteSpan(Bytes(32, 3))),
                                              SystemClock::Get(), SystemRandom::Get()));
    Bytes secret = Hex(kDevKey);
    Result<signer::KeyInfo> k =
        keys_->Import(signer::KeyType::kSecp256k1, secret, "facilitator", "service");
    ASSERT_TRUE(k.ok()) << k.error().ToString();
    key_id_ = k->id;
    EXPECT_EQ(*signer::EthereumAddress(k->public_key),
              "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  }

  testing::TempDir dir_;
  std::unique_ptr<store::KvStore> kv_;
  std::unique_ptr<signer::KeyStore> keys_;
  std::string key_id_;
};

// The fixed vector: a 1 ETH transfer on chain 31337, nonce 0, 1 gwei tip, 2 gwei cap, 21000 gas,
// as viem 2.57.20 signs it with the key above (recorded from evm_tx_vector.mjs).
TEST_F(EvmTxTest, FixedVector) {
  Eip1559Tx tx;
  tx.chain_id = 31337;
  tx.nonce = 0;
  tx.max_priority_fee_per_gas = 1000000000;
  tx.max_fee_per_gas = 2000000000;
  tx.gas_limit = 21000;
  tx.to = Addr("70997970c51812dc3a010c7d01b50e0d17dc79c8");
  tx.value = 1000000000000000000ULL;
  EXPECT_EQ(HexEncode(Eip1559SigningHash(tx)),
            "b74b50b3bba4accb52a758871e49bc78918a27c080727efb8b3c8306e46a3edd");
  Result<SignedTx> s = SignEip1559(tx, *keys_, key_id_);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(HexEncode(s->raw),
            "02f874827a6980843b9aca0084773594008252089470997970c51812dc3a010c7d01b50e0d17dc79c888"
            "0de0b6b3a764000080c080a074128fd7d42631897474d93692787a2e56b813754468caaca4993c641c98"
            "6a37a06d5a3b027177cc2841199b70400fece0a29ac5eabee2fa9cbf9b6aa213716c48");
  EXPECT_EQ(s->HashText(), "0x7d4c13ed95c0cee830d7457ec5a5976db1fc301cfa7a23fef0039a7ccf6aea87");
  // The signed body decodes as the twelve fields of a type-2 transaction.
  Result<rlp::Item> body = rlp::Decode(ByteSpan(s->raw).subspan(1));
  ASSERT_TRUE(body.ok());
  ASSERT_EQ(body->items.size(), 12u);
  EXPECT_TRUE(*rlp::DecodeUint(body->items[0]) == 31337);
}

TEST_F(EvmTxTest, MatchesViemForVariedFields) {
  std::vector<Eip1559Tx> txs;
  for (uint64_t i = 0; i < 6; ++i) {
    Eip1559Tx tx;
    tx.chain_id = i % 2 == 0 ? 31337 : 84532;
    tx.nonce = i * 1000 + i;
    tx.max_priority_fee_per_gas = i;  // 0 is the empty string
    tx.max_fee_per_gas = (static_cast<Uint128>(1) << (40 + 10 * i)) + i;
    tx.gas_limit = 21000 + 100000 * i;
    tx.to = Addr("5fbdb2315678afecb367f032d93f642f64180aa3");
    tx.to[19] = static_cast<uint8_t>(i);
    tx.value = i == 3 ? 0 : i * 12345;
    tx.data = Bytes(i * 37, static_cast<uint8_t>(0x11 * i));  // up to 185 bytes: long forms
    txs.push_back(tx);
  }
  json::Value arr = json::Value::Array();
  for (const Eip1559Tx& tx : txs) {
    json::Value t = json::Value::Object();
    t.Set("privateKey", json::Value::String(std::string("0x") + kDevKey));
    t.Set("chainId", json::Value::String(std::to_string(tx.chain_id)));
    t.Set("nonce", json::Value::String(std::to_string(tx.nonce)));
    t.Set("maxPriorityFeePerGas",
          json::Value::String(Amount::FromRaw(tx.max_priority_fee_per_gas).ToString()));
    t.Set("maxFeePerGas", json::Value::String(Amount::FromRaw(tx.max_fee_per_gas).ToString()));
    t.Set("gas", json::Value::String(std::to_string(tx.gas_limit)));
    t.Set("to", json::Value::String(AddressLower(tx.to)));
    t.Set("value", json::Value::String(Amount::FromRaw(tx.value).ToString()));
    t.Set("data", json::Value::String("0x" + HexEncode(tx.data)));
    arr.Append(std::move(t));
  }
  json::Value input = json::Value::Object();
  input.Set("txs", std::move(arr));
  const json::Value out = testing::RunInteropScript("evm_tx_vector.mjs", input);
  const json::Value* got = out.Find("txs");
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->items().size(), txs.size());
  for (size_t i = 0; i < txs.size(); ++i) {
    SCOPED_TRACE(i);
    const json::Value& g = got->items()[i];
    EXPECT_EQ("0x" + HexEncode(Eip1559SigningHash(txs[i])), testing::StringField(g, "signingHash"));
    Result<SignedTx> s = SignEip1559(txs[i], *keys_, key_id_);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    EXPECT_EQ("0x" + HexEncode(s->raw), testing::StringField(g, "serialized"));
    EXPECT_EQ(s->HashText(), testing::StringField(g, "hash"));
  }
}

}  // namespace
}  // namespace mandated::settlement
