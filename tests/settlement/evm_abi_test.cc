// ABI encodings of the evm backend's calls and log, checked against viem's encodeFunctionData
// (tests/interop/evm_tx_vector.mjs) and pinned selectors.
#include "settlement/evm_abi.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_support.h"

namespace mandated::settlement::abi {
namespace {

using testing::Hex;

template <size_t N>
std::array<uint8_t, N> Arr(std::string_view hex) {
  std::array<uint8_t, N> out{};
  const Bytes b = Hex(hex);
  EXPECT_EQ(b.size(), N) << hex;
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}

SignedTransfer Transfer(uint8_t seed, Uint128 value) {
  SignedTransfer t;
  t.token = Arr<20>("5fbdb2315678afecb367f032d93f642f64180aa3");
  t.authorization.from = Arr<20>("70997970c51812dc3a010c7d01b50e0d17dc79c8");
  t.authorization.to = Arr<20>("3c44cdddb6a900fa2b585dd299e03d12fa4293bc");
  t.authorization.value = Amount::FromRaw(value);
  t.authorization.valid_after = 0;
  t.authorization.valid_before = 1900000000;
  t.authorization.nonce.fill(seed);
  t.signature = Bytes(65, static_cast<uint8_t>(seed + 1));
  t.signature[0] = 0x00;   // r with a leading zero byte stays 32 bytes in the ABI
  t.signature[64] = static_cast<uint8_t>(27 + (seed & 1));
  return t;
}

json::Value ItemJson(const SignedTransfer& t) {
  const Vrs vrs = *SplitSignature(t.signature);
  json::Value a = json::Value::Object();
  a.Set("from", json::Value::String(AddressLower(t.authorization.from)));
  a.Set("to", json::Value::String(AddressLower(t.authorization.to)));
  a.Set("value", json::Value::String("n:" + t.authorization.value.ToString()));
  a.Set("validAfter",
        json::Value::String("n:" + Amount::FromRaw(t.authorization.valid_after).ToString()));
  a.Set("validBefore",
        json::Value::String("n:" + Amount::FromRaw(t.authorization.valid_before).ToString()));
  a.Set("nonce", json::Value::String(NonceText(t.authorization.nonce)));
  a.Set("v", json::Value::Uint(vrs.v));
  a.Set("r", json::Value::String("0x" + HexEncode(vrs.r)));
  a.Set("s", json::Value::String("0x" + HexEncode(vrs.s)));
  return a;
}

constexpr char kAbi[] = R"([
 {"type":"function","name":"transferWithAuthorization","stateMutability":"nonpayable","outputs":[],
  "inputs":[{"name":"from","type":"address"},{"name":"to","type":"address"},
   {"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},
   {"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"},
   {"name":"v","type":"uint8"},{"name":"r","type":"bytes32"},{"name":"s","type":"bytes32"}]},
 {"type":"function","name":"balanceOf","stateMutability":"view",
  "inputs":[{"name":"account","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
 {"type":"function","name":"authorizationState","stateMutability":"view",
  "inputs":[{"name":"authorizer","type":"address"},{"name":"nonce","type":"bytes32"}],
  "outputs":[{"name":"","type":"bool"}]},
 {"type":"function","name":"settleBatch","stateMutability":"nonpayable","outputs":[],
  "inputs":[{"name":"token","type":"address"},{"name":"items","type":"tuple[]","components":[
   {"name":"from","type":"address"},{"name":"to","type":"address"},
   {"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},
   {"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"},
   {"name":"v","type":"uint8"},{"name":"r","type":"bytes32"},{"name":"s","type":"bytes32"}]}]}
])";

TEST(EvmAbiTest, SelectorsAndTopicArePinned) {
  // transferWithAuthorization, balanceOf and authorizationState are FiatToken's (USDC) selectors.
  EXPECT_EQ(HexEncode(Selector(kTransferWithAuthorizationSig)), "e3ee160e");
  EXPECT_EQ(HexEncode(Selector(kBalanceOfSig)), "70a08231");
  EXPECT_EQ(HexEncode(Selector(kAuthorizationStateSig)), "e94a0102");
  EXPECT_EQ(HexEncode(Selector(kSettleBatchSig)), "0cd54cda");
  EXPECT_EQ(HexEncode(EventTopic(kTransferSettledSig)),
            "ba4cfd05d9b30a75fa38d7f115becc141aa00ec2f8595e7d494f7870df17ea61");
}

TEST(EvmAbiTest, CallsMatchViemByteForByte) {
  const SignedTransfer t0 = Transfer(7, 1234567);
  const SignedTransfer t1 = Transfer(8, (static_cast<Uint128>(1) << 100) + 5);
  const SignedTransfer t2 = Transfer(9, 1);
  const json::Value abi = *json::Parse(kAbi);

  json::Value calls = json::Value::Array();
  auto add = [&](const char* fn, json::Value args) {
    json::Value c = json::Value::Object();
    c.Set("abi", abi);
    c.Set("functionName", json::Value::String(fn));
    c.Set("args", std::move(args));
    calls.Append(std::move(c));
  };
  {
    const json::Value item = ItemJson(t0);
    json::Value args = json::Value::Array();
    for (const char* k : {"from", "to", "value", "validAfter", "validBefore", "nonce", "v", "r",
                          "s"}) {
      args.Append(*item.Find(k));
    }
    add("transferWithAuthorization", std::move(args));
  }
  {
    json::Value args = json::Value::Array();
    args.Append(json::Value::String(AddressLower(t0.authorization.from)));
    add("balanceOf", std::move(args));
  }
  {
    json::Value args = json::Value::Array();
    args.Append(json::Value::String(AddressLower(t0.authorization.from)));
    args.Append(json::Value::String(NonceText(t0.authorization.nonce)));
    add("authorizationState", std::move(args));
  }
  {
    json::Value items = json::Value::Array();
    for (const SignedTransfer* t : {&t0, &t1, &t2}) {
      items.Append(ItemJson(*t));
    }
    json::Value args = json::Value::Array();
    args.Append(json::Value::String(AddressLower(t0.token)));
    args.Append(std::move(items));
    add("settleBatch", std::move(args));
  }
  json::Value input = json::Value::Object();
  input.Set("calls", std::move(calls));
  const json::Value out = testing::RunInteropScript("evm_tx_vector.mjs", input);
  const json::Value* got = out.Find("calls");
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->items().size(), 4u);

  EXPECT_EQ("0x" + HexEncode(*TransferWithAuthorizationCall(t0)), got->items()[0].as_string());
  EXPECT_EQ("0x" + HexEncode(BalanceOfCall(t0.authorization.from)), got->items()[1].as_string());
  EXPECT_EQ("0x" + HexEncode(AuthorizationStateCall(t0.authorization.from,
                                                    t0.authorization.nonce)),
            got->items()[2].as_string());
  const Bytes batch = *SettleBatchCall(t0.token, {t0, t1, t2});
  EXPECT_EQ(batch.size(), 4u + 32u * (3u + 9u * 3u));
  EXPECT_EQ("0x" + HexEncode(batch), got->items()[3].as_string());
}

TEST(EvmAbiTest, RefusesBadSignaturesAndMixedTokens) {
  SignedTransfer t = Transfer(1, 10);
  t.signature.resize(64);
  EXPECT_EQ(TransferWithAuthorizationCall(t).error().reason(), "bad-signature");
  t = Transfer(1, 10);
  t.signature[64] = 29;
  EXPECT_EQ(TransferWithAuthorizationCall(t).error().reason(), "bad-signature");
  // v of 0/1 is read as 27/28.
  t.signature[64] = 1;
  EXPECT_EQ(SplitSignature(t.signature)->v, 28);
  SignedTransfer other = Transfer(2, 10);
  other.token[0] ^= 1;
  EXPECT_EQ(SettleBatchCall(t.token, {Transfer(1, 10), other}).error().reason(), "mixed-tokens");
}

// name() and version() answers as solc encodes a returned string: offset 32, length, padded
// bytes (here "USD Coin", 8 bytes, and "2"; the selectors are the well-known 0x06fdde03 and
// 0x54fd4d50).
TEST(EvmAbiTest, DecodesReturnedStringsStrictly) {
  EXPECT_EQ(HexEncode(NoArgumentCall(kNameSig)), "06fdde03");
  EXPECT_EQ(HexEncode(NoArgumentCall(kVersionSig)), "54fd4d50");
  const std::string offset = std::string(62, '0') + "20";
  const std::string usd = offset + std::string(62, '0') + "08" + "55534420436f696e" +
                          std::string(48, '0');
  Result<std::string> name = DecodeString(Hex(usd));
  ASSERT_TRUE(name.ok()) << name.error().ToString();
  EXPECT_EQ(*name, "USD Coin");
  EXPECT_EQ(*DecodeString(Hex(offset + std::string(62, '0') + "01" + "32" + std::string(62, '0'))),
            "2");
  EXPECT_EQ(*DecodeString(Hex(offset + std::string(64, '0'))), "");
  // A bytes32 answer (old tokens), another offset, a length past the data, dirty padding, a
  // trailing word, a huge length: all bad-abi.
  EXPECT_EQ(DecodeString(Hex("55534420436f696e" + std::string(48, '0'))).error().reason(), "bad-abi");
  EXPECT_EQ(DecodeString(Hex(std::string(62, '0') + "40" + std::string(62, '0') + "01" +
                             std::string(64, '0')))
                .error().reason(),
            "bad-abi");
  EXPECT_EQ(DecodeString(Hex(offset + std::string(62, '0') + "21" + std::string(64, '0')))
                .error().reason(),
            "bad-abi");
  EXPECT_EQ(DecodeString(Hex(offset + std::string(62, '0') + "01" + "32" + std::string(60, '0') +
                             "01"))
                .error().reason(),
            "bad-abi");
  EXPECT_EQ(DecodeString(Hex(usd + std::string(64, '0'))).error().reason(), "bad-abi");
  EXPECT_EQ(DecodeString(Hex(offset + std::string(56, '0') + "ffffffff")).error().reason(),
            "bad-abi");
}

TEST(EvmAbiTest, DecodesReturnDataAndLogs) {
  EXPECT_EQ(*DecodeUint256(Hex(std::string(56, '0') + "0012d687")), Amount::FromUint64(1234567));
  EXPECT_EQ(DecodeUint256(Hex("01" + std::string(62, '0'))).error().code(),
            StatusCode::kOutOfRange);
  EXPECT_EQ(DecodeUint256(Hex("00")).error().reason(), "bad-abi");
  EXPECT_TRUE(*DecodeBool(Hex(std::string(62, '0') + "01")));
  EXPECT_FALSE(*DecodeBool(Hex(std::string(64, '0'))));
  EXPECT_EQ(DecodeBool(Hex(std::string(62, '0') + "02")).error().reason(), "bad-abi");

  Log log;
  log.topics.push_back(EventTopic(kTransferSettledSig));
  log.topics.push_back(AddressWord(Arr<20>("5fbdb2315678afecb367f032d93f642f64180aa3")));
  Word nonce{};
  nonce.fill(0xab);
  log.topics.push_back(nonce);
  log.data = Hex(std::string(62, '0') + "01");
  Result<TransferSettled> ev = DecodeTransferSettled(log);
  ASSERT_TRUE(ev.ok()) << ev.error().ToString();
  EXPECT_EQ(AddressLower(ev->token), "0x5fbdb2315678afecb367f032d93f642f64180aa3");
  EXPECT_EQ(ev->nonce[31], 0xab);
  EXPECT_TRUE(ev->ok);
  log.topics[0][0] ^= 1;
  EXPECT_EQ(DecodeTransferSettled(log).error().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mandated::settlement::abi
