// Tests for signer/eip712.h: x402 vectors, domain separators, the EIP-712 spec examples, value
// encodings, mutations and malformed typed data.
#include "signer/eip712.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/json.h"
#include "signer/ethereum.h"
#include "signer/keccak.h"
#include "signer/recoverable.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

using testing::At;
using testing::Hex;

json::Value J(std::string_view text) {
  json::ParseOptions options;
  options.max_depth = 256;
  Result<json::Value> parsed = json::Parse(text, options);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  return parsed.ok() ? std::move(parsed).value() : json::Value();
}

json::Value LoadJson(const std::string& relative) {
  return J(testing::ReadFileOrDie(testing::SourcePath(relative)));
}

std::string Hex0x(const Result<Bytes>& r) {
  if (!r.ok()) {
    return "error: " + r.status().ToString();
  }
  return "0x" + HexEncode(*r);
}

template <typename T>
void ExpectInvalid(const Result<T>& r, std::string_view path_fragment = "") {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << r.error().ToString();
  EXPECT_EQ(r.error().reason(), "eip712-invalid") << r.error().ToString();
  EXPECT_NE(r.error().message().find(path_fragment), std::string::npos)
      << r.error().message() << " does not name " << path_fragment;
}

// "Name(type1 field1,type2 field2)" -> [{"name": "field1", "type": "type1"}, ...]. Test-only
// helper for the vectors, which record their types as encodeType strings.
json::Value FieldsFromTypeString(const std::string& type_string, std::string* name) {
  const size_t open = type_string.find('(');
  *name = type_string.substr(0, open);
  const std::string body = type_string.substr(open + 1, type_string.size() - open - 2);
  json::Value fields = json::Value::Array();
  size_t start = 0;
  while (start < body.size()) {
    size_t comma = body.find(',', start);
    if (comma == std::string::npos) comma = body.size();
    const std::string member = body.substr(start, comma - start);
    const size_t space = member.find(' ');
    json::Value field = json::Value::Object();
    field.Set("name", json::Value::String(member.substr(space + 1)));
    field.Set("type", json::Value::String(member.substr(0, space)));
    fields.Append(std::move(field));
    start = comma + 1;
  }
  return fields;
}

// --- x402 vectors -------------------------------------------------------------------------------

class Eip712X402VectorTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    vector_ = LoadJson(std::string("tests/vectors/x402/") + GetParam());
    ASSERT_TRUE(vector_.is_object());
    const json::Value& eip = At(vector_, {"eip712"});
    std::string domain_name;
    std::string primary_name;
    json::Value domain_fields =
        FieldsFromTypeString(At(eip, {"domainTypeString"}).as_string(), &domain_name);
    json::Value primary_fields =
        FieldsFromTypeString(At(eip, {"typeString"}).as_string(), &primary_name);
    ASSERT_EQ(domain_name, "EIP712Domain");
    ASSERT_EQ(primary_name, "TransferWithAuthorization");
    types_ = json::Value::Object();
    types_.Set("EIP712Domain", std::move(domain_fields));
    types_.Set(primary_name, std::move(primary_fields));
    typed_ = json::Value::Object();
    typed_.Set("types", types_);
    typed_.Set("primaryType", json::Value::String(primary_name));
    typed_.Set("domain", At(eip, {"domain"}));
    typed_.Set("message", At(vector_, {"decodedPaymentPayload", "payload", "authorization"}));
  }

  const json::Value& eip() const { return At(vector_, {"eip712"}); }
  std::string Recorded(std::string_view key) const { return At(eip(), {key}).as_string(); }

  json::Value vector_;
  json::Value types_;
  json::Value typed_;
};

TEST_P(Eip712X402VectorTest, TypeStringsAndHashes) {
  EXPECT_EQ(EncodeType(types_, "EIP712Domain").value_or(""), Recorded("domainTypeString"));
  EXPECT_EQ(Hex0x(TypeHash(types_, "EIP712Domain")), Recorded("domainTypeHash"));
  EXPECT_EQ(EncodeType(types_, "TransferWithAuthorization").value_or(""), Recorded("typeString"));
  EXPECT_EQ(Hex0x(TypeHash(types_, "TransferWithAuthorization")), Recorded("typeHash"));
}

TEST_P(Eip712X402VectorTest, DomainSeparatorStructAndDigestMatchByteForByte) {
  const json::Value& message = At(typed_, {"message"});
  EXPECT_EQ(Hex0x(Eip712DomainSeparator(types_, At(typed_, {"domain"}))),
            Recorded("domainSeparator"));
  Result<Bytes> encoded = EncodeData(types_, "TransferWithAuthorization", message);
  ASSERT_TRUE(encoded.ok()) << encoded.status().ToString();
  EXPECT_EQ(encoded->size(), 224u);
  EXPECT_EQ(Hex0x(encoded), Recorded("structEncoded"));
  EXPECT_EQ(Hex0x(HashStruct(types_, "TransferWithAuthorization", message)),
            Recorded("structHash"));

  Bytes preimage = {0x19, 0x01};
  const Bytes sep = Hex(Recorded("domainSeparator"));
  const Bytes st = Hex(Recorded("structHash"));
  preimage.insert(preimage.end(), sep.begin(), sep.end());
  preimage.insert(preimage.end(), st.begin(), st.end());
  EXPECT_EQ("0x" + HexEncode(preimage), Recorded("digestPreimage"));
  EXPECT_EQ("0x" + HexEncode(Eip712DigestFromHashes(sep, st)), Recorded("digest"));

  Result<Bytes> digest = Eip712Digest(typed_);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(Hex0x(digest), Recorded("digest"));
}

TEST_P(Eip712X402VectorTest, DerivedDomainTypeGivesTheSameDigest) {
  json::Value types = json::Value::Object();
  types.Set("TransferWithAuthorization", *types_.Find("TransferWithAuthorization"));
  json::Value typed = typed_;
  typed.Set("types", types);
  EXPECT_EQ(Hex0x(Eip712Digest(typed)), Recorded("digest"));
  EXPECT_EQ(Hex0x(Eip712DomainSeparator(json::Value::Object(), At(typed_, {"domain"}))),
            Recorded("domainSeparator"));
}

TEST_P(Eip712X402VectorTest, SignatureRecoversExpectedSigner) {
  const Bytes digest = Hex(Recorded("digest"));
  const Bytes signature =
      Hex(At(vector_, {"decodedPaymentPayload", "payload", "signature"}).as_string());
  ASSERT_EQ(signature.size(), 65u);
  // The payload signature is r || s || v as signatureParts records it.
  const json::Value& parts = At(eip(), {"signatureParts"});
  Bytes rsv = Hex(At(parts, {"r"}).as_string());
  const Bytes s = Hex(At(parts, {"s"}).as_string());
  rsv.insert(rsv.end(), s.begin(), s.end());
  rsv.push_back(static_cast<uint8_t>(At(parts, {"v"}).as_int64().value_or(0)));
  EXPECT_EQ(rsv, signature);

  Result<PublicKey> key = RecoverDigest(digest, signature);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Result<std::string> address = EthereumAddress(*key);
  ASSERT_TRUE(address.ok()) << address.status().ToString();
  EXPECT_EQ(*address, At(vector_, {"expectedSigner"}).as_string());
  EXPECT_EQ(*address, Recorded("recoveredSigner"));
  // Straight to the address: the same 20 bytes; a changed digest recovers another signer, a
  // v outside {27, 28} recovers none.
  Result<Bytes> direct = RecoverEthereumAddress(digest, signature);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  EXPECT_EQ(ToChecksumAddress(*direct), *address);
  Bytes other = digest;
  other[0] ^= 1;
  Result<Bytes> wrong = RecoverEthereumAddress(other, signature);
  ASSERT_TRUE(wrong.ok());
  EXPECT_NE(ToChecksumAddress(*wrong), *address);
  Bytes bad_v = signature;
  bad_v[64] = 29;
  EXPECT_EQ(RecoverEthereumAddress(digest, bad_v).status().reason(), "bad-signature");
}

TEST_P(Eip712X402VectorTest, SigningTheDigestReproducesTheSignature) {
  Result<PrivateKey> key =
      ImportPrivateKey(KeyType::kSecp256k1, Hex(At(vector_, {"privateKey"}).as_string()));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Result<Bytes> digest = Eip712Digest(typed_);
  ASSERT_TRUE(digest.ok());
  Result<Bytes> signature = SignDigestRecoverable(*key, *digest);
  ASSERT_TRUE(signature.ok()) << signature.status().ToString();
  EXPECT_EQ(Hex0x(signature), At(vector_, {"decodedPaymentPayload", "payload", "signature"})
                                  .as_string());
}

TEST_P(Eip712X402VectorTest, EveryMessageAndDomainFieldChangesTheDigest) {
  const Result<Bytes> original = Eip712Digest(typed_);
  ASSERT_TRUE(original.ok());
  const json::Value& message = At(typed_, {"message"});
  const json::Value& domain = At(typed_, {"domain"});
  const std::string other_address = "0x000000000000000000000000000000000000dEaD";
  const std::pair<const char*, json::Value> kMessageChanges[] = {
      {"from", json::Value::String(other_address)},
      {"to", json::Value::String(other_address)},
      {"value", json::Value::String("9999999")},
      {"validAfter", json::Value::String("12345")},
      {"validBefore", json::Value::String("12345")},
      {"nonce", json::Value::String("0x" + std::string(64, '0'))},
  };
  ASSERT_EQ(message.size(), std::size(kMessageChanges));
  for (const auto& [field, replacement] : kMessageChanges) {
    ASSERT_NE(*message.Find(field), replacement);
    json::Value typed = typed_;
    typed.Find("message")->Set(field, replacement);
    Result<Bytes> digest = Eip712Digest(typed);
    ASSERT_TRUE(digest.ok()) << field << ": " << digest.status().ToString();
    EXPECT_NE(*digest, *original) << field;
  }
  const std::pair<const char*, json::Value> kDomainChanges[] = {
      {"name", json::Value::String(domain.Find("name")->as_string() == "USDC" ? "USD Coin"
                                                                              : "USDC")},
      {"version", json::Value::String("1")},
      {"chainId", json::Value::Int(1)},
      {"verifyingContract", json::Value::String(other_address)},
  };
  ASSERT_EQ(domain.size(), std::size(kDomainChanges));
  for (const auto& [field, replacement] : kDomainChanges) {
    json::Value typed = typed_;
    typed.Find("domain")->Set(field, replacement);
    Result<Bytes> digest = Eip712Digest(typed);
    ASSERT_TRUE(digest.ok()) << field << ": " << digest.status().ToString();
    EXPECT_NE(*digest, *original) << field;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllVectors, Eip712X402VectorTest,
    ::testing::Values("vector_v1_base_sepolia_usdc_10000.json",
                      "vector_v1_base_mainnet_usdc_1234567.json",
                      "vector_v2_base_sepolia_usdc_10000.json",
                      "vector_v2_base_mainnet_usdc_1.json",
                      "vector_v2_avalanche_usdc_250000_longlived.json"),
    [](const ::testing::TestParamInfo<const char*>& param_info) {
      std::string name = param_info.param;
      name = name.substr(7, name.size() - 7 - 5);  // drop "vector_" and ".json"
      return name;
    });

TEST(Eip712Test, X402DomainSeparatorsFile) {
  const json::Value file = LoadJson("tests/vectors/x402/domain_separators.json");
  std::string name;
  json::Value types = json::Value::Object();
  types.Set("EIP712Domain",
            FieldsFromTypeString(At(file, {"domainTypeString"}).as_string(), &name));
  types.Set("TransferWithAuthorization",
            FieldsFromTypeString(At(file, {"transferWithAuthorizationTypeString"}).as_string(),
                                 &name));
  EXPECT_EQ(EncodeType(types, "EIP712Domain").value_or(""),
            At(file, {"domainTypeString"}).as_string());
  EXPECT_EQ(Hex0x(TypeHash(types, "EIP712Domain")), At(file, {"domainTypeHash"}).as_string());
  EXPECT_EQ(Hex0x(TypeHash(types, "TransferWithAuthorization")),
            At(file, {"transferWithAuthorizationTypeHash"}).as_string());

  const std::vector<json::Value>& entries = At(file, {"entries"}).items();
  ASSERT_EQ(entries.size(), 7u);
  int on_chain_checks = 0;
  for (const json::Value& entry : entries) {
    SCOPED_TRACE(At(entry, {"label"}).as_string());
    const json::Value& domain = At(entry, {"domain"});
    const std::string computed = At(entry, {"computed"}).as_string();
    EXPECT_EQ(Hex0x(Eip712DomainSeparator(types, domain)), computed);
    EXPECT_EQ(Hex0x(Eip712DomainSeparator(json::Value::Object(), domain)), computed);
    if (const json::Value* expected = entry.Find("expected")) {
      EXPECT_EQ(computed, expected->as_string());
      ++on_chain_checks;
    }
  }
  EXPECT_EQ(on_chain_checks, 2);
}

// --- EIP-712 spec examples ----------------------------------------------------------------------

constexpr std::string_view kMailExample = R"({
  "types": {
    "EIP712Domain": [
      {"name": "name", "type": "string"},
      {"name": "version", "type": "string"},
      {"name": "chainId", "type": "uint256"},
      {"name": "verifyingContract", "type": "address"}
    ],
    "Person": [
      {"name": "name", "type": "string"},
      {"name": "wallet", "type": "address"}
    ],
    "Mail": [
      {"name": "from", "type": "Person"},
      {"name": "to", "type": "Person"},
      {"name": "contents", "type": "string"}
    ]
  },
  "primaryType": "Mail",
  "domain": {
    "name": "Ether Mail",
    "version": "1",
    "chainId": 1,
    "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"
  },
  "message": {
    "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
    "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
    "contents": "Hello, Bob!"
  }
})";

PrivateKey CowKey() {
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kSecp256k1, Keccak256(AsBytes("cow")));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : PrivateKey{};
}

TEST(Eip712Test, MailExampleFromTheEip) {
  const json::Value typed = J(kMailExample);
  const json::Value& types = At(typed, {"types"});
  EXPECT_EQ(EncodeType(types, "Mail").value_or(""),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
  EXPECT_EQ(Hex0x(TypeHash(types, "Mail")),
            "0xa0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2");
  EXPECT_EQ(Hex0x(Eip712DomainSeparator(types, At(typed, {"domain"}))),
            "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
  EXPECT_EQ(Hex0x(HashStruct(types, "Person", At(typed, {"message", "from"}))),
            "0xfc71e5fa27ff56c350aa531bc129ebdf613b772b6604664f5d8dbe21b85eb0c8");
  EXPECT_EQ(Hex0x(HashStruct(types, "Mail", At(typed, {"message"}))),
            "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
  Result<Bytes> digest = Eip712Digest(typed);
  EXPECT_EQ(Hex0x(digest), "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
  ASSERT_TRUE(digest.ok());

  // The EIP's signature by keccak256("cow"), reproduced (RFC 6979) and recovered.
  const std::string kSignature =
      "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
      "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c";
  EXPECT_EQ(Hex0x(SignDigestRecoverable(CowKey(), *digest)), kSignature);
  Result<PublicKey> signer = RecoverDigest(*digest, Hex(kSignature));
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  EXPECT_EQ(EthereumAddress(*signer).value_or(""), "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
}

TEST(Eip712Test, MailExampleMutations) {
  const json::Value typed = J(kMailExample);
  const Bytes original = Eip712Digest(typed).value_or(Bytes());
  ASSERT_EQ(original.size(), 32u);
  struct Change {
    std::vector<std::string> path;
    json::Value replacement;
  };
  const std::vector<Change> changes = {
      {{"message", "from", "name"}, json::Value::String("Cow ")},
      {{"message", "from", "wallet"}, json::Value::String("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB")},
      {{"message", "to", "name"}, json::Value::String("bob")},
      {{"message", "to", "wallet"}, json::Value::String("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826")},
      {{"message", "contents"}, json::Value::String("Hello, Bob?")},
      {{"domain", "name"}, json::Value::String("Ether Mail ")},
      {{"domain", "version"}, json::Value::String("2")},
      {{"domain", "chainId"}, json::Value::Int(2)},
      {{"domain", "verifyingContract"},
       json::Value::String("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB")},
  };
  for (const Change& change : changes) {
    json::Value mutated = typed;
    json::Value* target = &mutated;
    for (size_t i = 0; i + 1 < change.path.size(); ++i) {
      target = target->Find(change.path[i]);
      ASSERT_NE(target, nullptr);
    }
    target->Set(change.path.back(), change.replacement);
    Result<Bytes> digest = Eip712Digest(mutated);
    ASSERT_TRUE(digest.ok()) << change.path.back() << ": " << digest.status().ToString();
    EXPECT_NE(*digest, original) << change.path.back();
  }
  // Swapping from and to changes it too (field order is part of the encoding).
  json::Value swapped = typed;
  swapped.Find("message")->Set("from", At(typed, {"message", "to"}));
  swapped.Find("message")->Set("to", At(typed, {"message", "from"}));
  EXPECT_NE(Eip712Digest(swapped).value_or(Bytes()), original);
}

TEST(Eip712Test, ArraysExampleFromEthSigUtilV4) {
  const json::Value typed = J(R"({
    "types": {
      "EIP712Domain": [
        {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
      "Person": [{"name": "name", "type": "string"}, {"name": "wallets", "type": "address[]"}],
      "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person[]"},
               {"name": "contents", "type": "string"}],
      "Group": [{"name": "name", "type": "string"}, {"name": "members", "type": "Person[]"}]
    },
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "primaryType": "Mail",
    "message": {
      "from": {"name": "Cow", "wallets": ["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826",
                                          "0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"]},
      "to": [{"name": "Bob", "wallets": ["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB",
                                         "0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57",
                                         "0xB0B0b0b0b0b0B000000000000000000000000000"]}],
      "contents": "Hello, Bob!"
    }
  })");
  const json::Value& types = At(typed, {"types"});
  EXPECT_EQ(Hex0x(TypeHash(types, "Person")),
            "0xfabfe1ed996349fc6027709802be19d047da1aa5d6894ff5f6486d92db2e6860");
  EXPECT_EQ(Hex0x(HashStruct(types, "Person", At(typed, {"message", "from"}))),
            "0x9b4846dd48b866f0ac54d61b9b21a9e746f921cefa4ee94c4c0a1c49c774f67f");
  EXPECT_EQ(Hex0x(HashStruct(types, "Person", At(typed, {"message", "to"}).items()[0])),
            "0xefa62530c7ae3a290f8a13a5fc20450bdb3a6af19d9d9d2542b5a94e631a9168");
  EXPECT_EQ(Hex0x(TypeHash(types, "Mail")),
            "0x4bd8a9a2b93427bb184aca81e24beb30ffa3c747e2a33d4225ec08bf12e2e753");
  EXPECT_EQ(Hex0x(HashStruct(types, "Mail", At(typed, {"message"}))),
            "0xeb4221181ff3f1a83ea7313993ca9218496e424604ba9492bb4052c03d5c3df8");
  Result<Bytes> digest = Eip712Digest(typed);
  EXPECT_EQ(Hex0x(digest), "0xa85c2e2b118698e88db68a8105b794a8cc7cec074e89ef991cb4f5f533819cc2");
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(Hex0x(SignDigestRecoverable(CowKey(), *digest)),
            "0x65cbd956f2fae28a601bebc9b906cea0191744bd4c4247bcd27cd08f8eb6b71c"
            "78efdf7a31dc9abee78f492292721f362d296cf86b4538e07b51303b67f749061b");
}

TEST(Eip712Test, DynamicBytesExampleFromEthSigUtil) {
  const json::Value typed = J(R"({
    "types": {
      "EIP712Domain": [
        {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
      "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
      "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
               {"name": "contents", "type": "string"}, {"name": "payload", "type": "bytes"}]
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {
      "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
      "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
      "contents": "Hello, Bob!",
      "payload": "0x25192142931f380985072cdd991e37f65cf8253ba7a0e675b54163a1d133b8ca"
    }
  })");
  const json::Value& types = At(typed, {"types"});
  EXPECT_EQ(Hex0x(TypeHash(types, "Mail")),
            "0x43999c52db673245777eb64b0330105de064e52179581a340a9856c32372528e");
  EXPECT_EQ(Hex0x(HashStruct(types, "Mail", At(typed, {"message"}))),
            "0xe004bdc1ca57ba9ad5ea8c81e54dcbdb3bfce2d1d5ad92113f0871fb2a6eb052");
  Result<Bytes> digest = Eip712Digest(typed);
  EXPECT_EQ(Hex0x(digest), "0xb4aaf457227fec401db772ec22d2095d1235ee5d0833f56f59108c9ffc90fb4b");
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(Hex0x(SignDigestRecoverable(CowKey(), *digest)),
            "0xdd17ea877a7da411c85ff94bc54180631d0e86efdcd68876aeb2e051417b68e7"
            "6be6858d67b20baf7be9c6402d49930bfea2535e9ae150e85838ee265094fd081b");
}

TEST(Eip712Test, RecursiveTypeEncodesOnce) {
  const json::Value types = J(R"({"Person": [
      {"name": "name", "type": "string"},
      {"name": "mother", "type": "Person"},
      {"name": "father", "type": "Person"}]})");
  EXPECT_EQ(EncodeType(types, "Person").value_or(""),
            "Person(string name,Person mother,Person father)");
  EXPECT_EQ(Hex0x(TypeHash(types, "Person")),
            "0x7c5c8e90cb92c8da53b893b24962513be98afcf1b57b00327ae4cc14e3a64116");
}

TEST(Eip712Test, EncodeTypeSortsReferencedTypesTransitively) {
  const json::Value types = J(R"({
      "Zeta": [{"name": "b", "type": "Beta[2][]"}, {"name": "a", "type": "Alpha"}],
      "Alpha": [{"name": "x", "type": "uint8"}],
      "Beta": [{"name": "g", "type": "Gamma"}, {"name": "z", "type": "Zeta[]"}],
      "Gamma": [{"name": "s", "type": "string"}],
      "Unused": [{"name": "u", "type": "bool"}]})");
  EXPECT_EQ(EncodeType(types, "Zeta").value_or(""),
            "Zeta(Beta[2][] b,Alpha a)Alpha(uint8 x)Beta(Gamma g,Zeta[] z)Gamma(string s)");
  EXPECT_EQ(EncodeType(types, "Beta").value_or(""),
            "Beta(Gamma g,Zeta[] z)Alpha(uint8 x)Gamma(string s)Zeta(Beta[2][] b,Alpha a)");
  ExpectInvalid(EncodeType(types, "Missing"));
}

// --- Value encodings -----------------------------------------------------------------------------

Bytes Word(std::initializer_list<std::pair<size_t, uint8_t>> bytes, uint8_t fill = 0) {
  Bytes w(32, fill);
  for (auto [index, value] : bytes) w[index] = value;
  return w;
}

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// EncodeData minus the leading type hash.
Bytes Fields(const json::Value& types, std::string_view name, const json::Value& value) {
  Result<Bytes> data = EncodeData(types, name, value);
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (!data.ok() || data->size() < 32) return Bytes();
  EXPECT_EQ(Bytes(data->begin(), data->begin() + 32), TypeHash(types, name).value_or(Bytes()));
  return Bytes(data->begin() + 32, data->end());
}

TEST(Eip712Test, AtomicEncodingsExactBytes) {
  const json::Value types = J(R"({"T": [
      {"name": "u8", "type": "uint8"}, {"name": "i8", "type": "int8"},
      {"name": "i16", "type": "int16"}, {"name": "u256", "type": "uint256"},
      {"name": "i256", "type": "int256"}, {"name": "b", "type": "bool"},
      {"name": "b4", "type": "bytes4"}, {"name": "b32", "type": "bytes32"},
      {"name": "a", "type": "address"}]})");
  const std::string b32 = "0x" + std::string(62, '0') + "0a";
  const json::Value value = J(R"({
      "u8": 255, "i8": -1, "i16": "-32768",
      "u256": "115792089237316195423570985008687907853269984665640564039457584007913129639935",
      "i256": "-57896044618658097711785492504343953926634992332820282019728792003956564819968",
      "b": true, "b4": "0xdeadBEEF", "b32": ")" + b32 + R"(",
      "a": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"})");
  const Bytes expected = Concat({
      Word({{31, 0xff}}),
      Word({}, 0xff),
      Word({{30, 0x80}, {31, 0x00}}, 0xff),
      Word({}, 0xff),
      Word({{0, 0x80}}),
      Word({{31, 0x01}}),
      Word({{0, 0xde}, {1, 0xad}, {2, 0xbe}, {3, 0xef}}),
      Word({{31, 0x0a}}),
      Concat({Bytes(12, 0), Hex("cd2a3d9f938e13cd947ec05abc7fe734df8dd826")}),
  });
  EXPECT_EQ(HexEncode(Fields(types, "T", value)), HexEncode(expected));
}

TEST(Eip712Test, IntegerForms) {
  const json::Value types = J(R"({"T": [{"name": "v", "type": "uint256"},
                                         {"name": "s", "type": "int64"}]})");
  const Bytes kOneTwoThree = Concat({Word({{31, 123}}), Word({{31, 0x85}}, 0xff)});  // 123, -123
  for (const char* json_value : {
           R"({"v": 123, "s": -123})",
           R"({"v": "123", "s": "-123"})",
           R"({"v": "0x7b", "s": "-123"})",
           R"({"v": "0x007B", "s": "-0123"})",
       }) {
    EXPECT_EQ(Fields(types, "T", J(json_value)), kOneTwoThree) << json_value;
  }
  // A JSON number beyond 64 bits keeps its full value.
  EXPECT_EQ(Fields(types, "T", J(R"({"v": 18446744073709551616, "s": 0})")),
            Concat({Word({{23, 1}}), Word({})}));
  // "-0" is zero.
  EXPECT_EQ(Fields(types, "T", J(R"({"v": "0", "s": "-0"})")), Concat({Word({}), Word({})}));
}

TEST(Eip712Test, IntegerRanges) {
  struct Case {
    const char* type;
    const char* value;
    bool ok;
  };
  const Case kCases[] = {
      {"uint8", "255", true},
      {"uint8", "256", false},
      {"uint8", "\"256\"", false},
      {"uint8", "\"0x100\"", false},
      {"uint8", "\"0x0000ff\"", true},
      {"uint8", "-1", false},
      {"uint8", "\"-0\"", true},
      {"int8", "127", true},
      {"int8", "128", false},
      {"int8", "-128", true},
      {"int8", "-129", false},
      {"uint48", "\"0xffffffffffff\"", true},
      {"uint48", "\"0x1000000000000\"", false},
      {"int256", "\"57896044618658097711785492504343953926634992332820282019728792003956564819967\"",
       true},
      {"int256", "\"57896044618658097711785492504343953926634992332820282019728792003956564819968\"",
       false},
      {"int256",
       "\"-57896044618658097711785492504343953926634992332820282019728792003956564819969\"", false},
      {"uint256",
       "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"", false},
      {"uint256",
       "115792089237316195423570985008687907853269984665640564039457584007913129639936", false},
      {"uint256", "1.5", false},
      {"uint256", "1e3", false},
      {"uint256", "\"\"", false},
      {"uint256", "\"0x\"", false},
      {"uint256", "\" 1\"", false},
      {"uint256", "\"+1\"", false},
      {"uint256", "\"-0x1\"", false},
      {"uint256", "\"12a\"", false},
      {"uint256", "true", false},
      {"uint256", "null", false},
  };
  for (const Case& c : kCases) {
    const std::string types_text =
        std::string(R"({"T": [{"name": "v", "type": ")") + c.type + "\"}]}";
    const json::Value types = J(types_text);
    const std::string value_text = std::string(R"({"v": )") + c.value + "}";
    Result<Bytes> r = EncodeData(types, "T", J(value_text));
    SCOPED_TRACE(std::string(c.type) + " " + c.value);
    if (c.ok) {
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    } else {
      ExpectInvalid(r, "/v");
    }
  }
  // 2^256 written in hex (65 hex digits) overflows.
  const json::Value types = J(R"({"T": [{"name": "v", "type": "uint256"}]})");
  json::Value value = json::Value::Object();
  value.Set("v", json::Value::String("0x1" + std::string(64, '0')));
  ExpectInvalid(EncodeData(types, "T", value), "/v");
  value.Set("v", json::Value::String("0x" + std::string(64, 'f')));
  EXPECT_TRUE(EncodeData(types, "T", value).ok());
}

// The big-endian 32-byte encoding of the integer written in `digits` (base 10 or 16), by the
// schoolbook method; empty if it needs more than 256 bits.
Bytes SchoolbookWord(std::string_view digits, int base) {
  Bytes w(32, 0);
  for (char c : digits) {
    int carry = (c >= '0' && c <= '9') ? c - '0' : c - 'a' + 10;
    for (size_t i = 32; i-- > 0;) {
      const int v = w[i] * base + carry;
      w[i] = static_cast<uint8_t>(v & 0xff);
      carry = v >> 8;
    }
    if (carry != 0) return Bytes();
  }
  return w;
}

TEST(Eip712Test, LongIntegersAtEveryLength) {
  // Integers are parsed several digits at a time; check every length against the schoolbook
  // result, up to and past 2^256, in decimal and hex, with and without leading zeros.
  const json::Value types = J(R"({"T": [{"name": "v", "type": "uint256"}]})");
  auto encode = [&](const std::string& text) {
    json::Value value = json::Value::Object();
    value.Set("v", json::Value::String(text));
    return EncodeData(types, "T", value);
  };
  for (int base : {10, 16}) {
    const std::string pattern =
        base == 10 ? "98765432101234567890" : "fedcba98765432100123456789abcdef";
    for (size_t len = 1; len <= 82; ++len) {
      std::string digits;
      while (digits.size() < len) digits += pattern;
      digits.resize(len);
      for (const std::string& padded : {digits, std::string(40, '0') + digits}) {
        const std::string text = (base == 16 ? "0x" : "") + padded;
        SCOPED_TRACE(text);
        const Bytes expected = SchoolbookWord(padded, base);
        Result<Bytes> r = encode(text);
        if (expected.empty()) {
          ExpectInvalid(r, "exceeds 256 bits");
        } else {
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_EQ(Bytes(r->begin() + 32, r->end()), expected);
        }
      }
    }
  }
  // A bad digit after the value already overflowed reports the overflow, as digit by digit would;
  // a bad digit before it reports the digit.
  ExpectInvalid(encode("1" + std::string(80, '0') + "x"), "exceeds 256 bits");
  ExpectInvalid(encode("12x" + std::string(80, '0')), "expected an integer");
}

TEST(Eip712Test, CompiledTypesAreKeptApart) {
  // Types objects are compiled once and cached; typed data that differs in any way must never be
  // served another one's compilation.
  const json::Value mail = J(kMailExample);
  const std::string expected = Hex0x(Eip712Digest(mail));
  json::Value swapped = mail;  // Person's fields in the other order: another type, another digest
  swapped.Find("types")->Set("Person", J(R"([{"name": "wallet", "type": "address"},
                                             {"name": "name", "type": "string"}])"));
  const std::string swapped_digest = Hex0x(Eip712Digest(swapped));
  EXPECT_NE(swapped_digest, expected);
  EXPECT_EQ(EncodeType(*swapped.Find("types"), "Mail").value_or(""),
            "Mail(Person from,Person to,string contents)Person(address wallet,string name)");
  json::Value renamed = mail;  // one type string changed
  renamed.Find("types")->Set("Mail", J(R"([{"name": "from", "type": "Person"},
      {"name": "to", "type": "Person"}, {"name": "contents", "type": "bytes"}])"));
  ExpectInvalid(Eip712Digest(renamed), "/message/contents");
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(Hex0x(Eip712Digest(mail)), expected);
    EXPECT_EQ(Hex0x(Eip712Digest(swapped)), swapped_digest);
  }
  // The same object edited in place between two digests is seen as the new types.
  json::Value edited = mail;
  EXPECT_EQ(Hex0x(Eip712Digest(edited)), expected);
  edited.Find("types")->Set("Person", *swapped.Find("types")->Find("Person"));
  EXPECT_EQ(Hex0x(Eip712Digest(edited)), swapped_digest);

  // The same types with and without a derived EIP712Domain are different compilations: a digest
  // that derives the domain type must not make EncodeType see one.
  json::Value derived = mail;
  json::Value types_without_domain = json::Value::Object();
  for (const char* name : {"Person", "Mail"}) {
    types_without_domain.Set(name, *mail.Find("types")->Find(name));
  }
  derived.Set("types", types_without_domain);
  EXPECT_EQ(Hex0x(Eip712Digest(derived)), expected);
  ExpectInvalid(EncodeType(types_without_domain, "EIP712Domain"), "/types");
  // Derivations from domains holding different members differ too.
  json::Value fewer = derived;
  json::Value domain = *mail.Find("domain");
  json::Value short_domain = json::Value::Object();
  short_domain.Set("name", *domain.Find("name"));
  fewer.Set("domain", short_domain);
  EXPECT_NE(Hex0x(Eip712Digest(fewer)), expected);
  EXPECT_EQ(Hex0x(Eip712Digest(derived)), expected);
}

TEST(Eip712Test, ConcurrentDigestsAgree) {
  const json::Value mail = J(kMailExample);
  std::vector<json::Value> inputs;
  std::vector<std::string> expected;
  for (int i = 0; i < 6; ++i) {
    json::Value t = mail;
    t.Find("message")->Set("contents", json::Value::String("note " + std::to_string(i)));
    if (i % 2 == 1) {  // another types object (Person's fields swapped) and another domain
      t.Find("types")->Set("Person", J(R"([{"name": "wallet", "type": "address"},
                                           {"name": "name", "type": "string"}])"));
      t.Find("domain")->Set("chainId", json::Value::Int(i));
    }
    expected.push_back(Hex0x(Eip712Digest(t)));
    inputs.push_back(std::move(t));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < 50; ++r) {
        const size_t i = static_cast<size_t>(t * 7 + r) % inputs.size();
        if (Hex0x(Eip712Digest(inputs[i])) != expected[i]) {
          ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Eip712Test, ArraysEncodeAsHashOfElementWords) {
  const json::Value types = J(R"({
      "T": [{"name": "fixed", "type": "uint8[2]"}, {"name": "nested", "type": "uint8[2][]"},
            {"name": "empty", "type": "string[]"}, {"name": "people", "type": "P[]"}],
      "P": [{"name": "n", "type": "string"}]})");
  const json::Value value = J(R"({"fixed": [1, 2], "nested": [[1, 2], [3, 4]], "empty": [],
                                  "people": [{"n": "a"}, {"n": "b"}]})");
  const Bytes w1 = Word({{31, 1}});
  const Bytes w2 = Word({{31, 2}});
  const Bytes w3 = Word({{31, 3}});
  const Bytes w4 = Word({{31, 4}});
  const Bytes p_type_hash = Keccak256(AsBytes("P(string n)"));
  const Bytes pa = Keccak256(Concat({p_type_hash, Keccak256(AsBytes("a"))}));
  const Bytes pb = Keccak256(Concat({p_type_hash, Keccak256(AsBytes("b"))}));
  const Bytes expected = Concat({
      Keccak256(Concat({w1, w2})),
      Keccak256(Concat({Keccak256(Concat({w1, w2})), Keccak256(Concat({w3, w4}))})),
      Keccak256({}),
      Keccak256(Concat({pa, pb})),
  });
  EXPECT_EQ(HexEncode(Fields(types, "T", value)), HexEncode(expected));
  EXPECT_EQ(EncodeType(types, "T").value_or(""),
            "T(uint8[2] fixed,uint8[2][] nested,string[] empty,P[] people)P(string n)");

  ExpectInvalid(EncodeData(types, "T", J(R"({"fixed": [1], "nested": [], "empty": [],
                                             "people": []})")),
                "/fixed");
  ExpectInvalid(EncodeData(types, "T", J(R"({"fixed": [1, 2], "nested": [[1, 2, 3]],
                                             "empty": [], "people": []})")),
                "/nested/0");
  ExpectInvalid(EncodeData(types, "T", J(R"({"fixed": [1, 2], "nested": [], "empty": "x",
                                             "people": []})")),
                "/empty");
  ExpectInvalid(EncodeData(types, "T", J(R"({"fixed": [1, 2], "nested": [], "empty": [],
                                             "people": [{"n": "a", "m": 1}]})")),
                "/people/0/m");
}

TEST(Eip712Test, BytesAndStrings) {
  const json::Value types = J(R"({"T": [{"name": "d", "type": "bytes"},
                                         {"name": "s", "type": "string"},
                                         {"name": "f", "type": "bytes1"}]})");
  EXPECT_EQ(Fields(types, "T", J(R"({"d": "0x", "s": "", "f": "0x01"})")),
            Concat({Keccak256({}), Keccak256({}), Word({{0, 1}})}));
  EXPECT_EQ(Fields(types, "T", J(R"({"d": "0x00FF", "s": "h\u00e9", "f": "0xff"})")),
            Concat({Keccak256(Bytes{0x00, 0xff}), Keccak256(AsBytes("h\xc3\xa9")),
                    Word({{0, 0xff}})}));
  ExpectInvalid(EncodeData(types, "T", J(R"({"d": "00", "s": "", "f": "0x01"})")), "/d");
  ExpectInvalid(EncodeData(types, "T", J(R"({"d": "0x0", "s": "", "f": "0x01"})")), "/d");
  ExpectInvalid(EncodeData(types, "T", J(R"({"d": "0x", "s": 1, "f": "0x01"})")), "/s");
  ExpectInvalid(EncodeData(types, "T", J(R"({"d": "0x", "s": "", "f": "0x"})")), "/f");
  ExpectInvalid(EncodeData(types, "T", J(R"({"d": "0x", "s": "", "f": "0x0102"})")), "/f");
}

// --- Malformed typed data -----------------------------------------------------------------------

json::Value MailWith(const std::function<void(json::Value&)>& edit) {
  json::Value typed = J(kMailExample);
  edit(typed);
  return typed;
}

TEST(Eip712Test, MalformedInputsFailWithEip712Invalid) {
  // uint8 value 256.
  const json::Value u8_types = J(R"({"T": [{"name": "v", "type": "uint8"}]})");
  ExpectInvalid(EncodeData(u8_types, "T", J(R"({"v": 256})")), "/v");
  // An address with 19 bytes.
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Find("from")->Set(
                      "wallet", json::Value::String("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD8"));
                })),
                "/message/from/wallet");
  // An address with a wrong EIP-55 checksum, and one that is not a string.
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Find("to")->Set(
                      "wallet", json::Value::String("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbb"));
                })),
                "/message/to/wallet");
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("domain")->Set("verifyingContract", json::Value::Int(5));
                })),
                "/domain/verifyingContract");
  // Unknown type "uint257" (and friends).
  for (const char* bad_type : {"uint257", "uint7", "uint0", "uint08", "uint", "int", "int264",
                               "bytes0", "bytes33", "bytes01", "Address", "string[0]",
                               "string[01]", "string[", "[]", "string[x]", "Persons", "uint256 "}) {
    SCOPED_TRACE(bad_type);
    json::Value types = json::Value::Object();
    types.Set("T", J(std::string(R"([{"name": "v", "type": ")") + bad_type + "\"}]"));
    ExpectInvalid(EncodeType(types, "T"), "/types/T/0/type");
    ExpectInvalid(Eip712Digest(MailWith([&](json::Value& t) {
                    t.Find("types")->Set("Mail", J(std::string(R"([{"name": "v", "type": ")") +
                                                   bad_type + "\"}]"));
                    t.Set("message", J(R"({"v": "1"})"));
                  })),
                  "/types/Mail/0/type");
  }
  // A missing field.
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  json::Value to = json::Value::Object();
                  to.Set("name", json::Value::String("Bob"));
                  t.Find("message")->Set("to", to);
                })),
                "/message/to/wallet");
  // An extra field, in the message, a nested struct, and the domain.
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Set("cc", json::Value::String("Eve"));
                })),
                "/message/cc");
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Find("from")->Set("age", json::Value::Int(3));
                })),
                "/message/from/age");
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("domain")->Set("salt", json::Value::String("0x" + std::string(64, '1')));
                })),
                "/domain/salt");
  // Wrong JSON types.
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Set("contents", json::Value::Int(1));
                })),
                "/message/contents");
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("message")->Set("from", json::Value::String("Cow"));
                })),
                "/message/from");
  ExpectInvalid(Eip712Digest(MailWith([](json::Value& t) {
                  t.Find("domain")->Set("chainId", json::Value::String("one"));
                })),
                "/domain/chainId");
}

TEST(Eip712Test, MalformedTypesAndEnvelope) {
  // Field entries must be exactly {name, type}, names unique identifiers, struct names not atomic.
  for (const char* types_text : {
           R"({"T": [{"name": "v", "type": "uint8", "extra": 1}]})",
           R"({"T": [{"name": "v"}]})",
           R"({"T": [{"name": 1, "type": "uint8"}]})",
           R"({"T": [{"name": "v", "type": "uint8"}, {"name": "v", "type": "bool"}]})",
           R"({"T": [{"name": "a b", "type": "uint8"}]})",
           R"({"T": [{"name": "", "type": "uint8"}]})",
           R"({"T": {"name": "v", "type": "uint8"}})",
           R"({"T": [], "uint256": [{"name": "v", "type": "uint8"}]})",
           R"({"T": [], "bytes7": []})",
           R"({"T": [], "Bad Name": []})",
           R"([])",
       }) {
    SCOPED_TRACE(types_text);
    ExpectInvalid(EncodeType(J(types_text), "T"), "/types");
  }

  const json::Value good = J(kMailExample);
  // Unknown top-level member; missing or wrong primaryType; missing domain or message.
  json::Value t = good;
  t.Set("extra", json::Value::Int(1));
  ExpectInvalid(Eip712Digest(t), "/extra");
  t = good;
  t.Set("primaryType", json::Value::String("Letter"));
  ExpectInvalid(Eip712Digest(t), "/primaryType");
  t = good;
  t.Set("primaryType", json::Value::Int(1));
  ExpectInvalid(Eip712Digest(t), "/primaryType");
  for (const char* member : {"types", "domain", "message", "primaryType"}) {
    json::Value without = json::Value::Object();
    for (size_t i = 0; i < good.size(); ++i) {
      if (good.keys()[i] != member) without.Set(good.keys()[i], good.items()[i]);
    }
    ExpectInvalid(Eip712Digest(without), std::string("/") + member);
  }
  ExpectInvalid(Eip712Digest(J("[]")));
  ExpectInvalid(HashStruct(*good.Find("types"), "Mail", J("[]")));
}

TEST(Eip712Test, NestingDepthIsLimited) {
  const json::Value types = J(R"({"Node": [{"name": "children", "type": "Node[]"}]})");
  auto nested = [](int levels) {
    std::string s = R"({"children":[]})";
    for (int i = 0; i < levels; ++i) s = R"({"children":[)" + s + "]}";
    return J(s);
  };
  EXPECT_TRUE(HashStruct(types, "Node", nested(10)).ok());
  EXPECT_TRUE(HashStruct(types, "Node", nested(15)).ok());
  ExpectInvalid(HashStruct(types, "Node", nested(40)));
  // Too many array dimensions in a type.
  std::string deep_type = "uint8";
  for (int i = 0; i < 40; ++i) deep_type += "[]";
  json::Value deep_types = json::Value::Object();
  deep_types.Set("T", J(R"([{"name": "v", "type": ")" + deep_type + "\"}]"));
  ExpectInvalid(EncodeType(deep_types, "T"), "/types/T/0/type");
}

TEST(Eip712Test, DomainOnlyPrimaryType) {
  json::Value typed = J(kMailExample);
  typed.Set("primaryType", json::Value::String("EIP712Domain"));
  // A real message would look signed but is not part of the digest: refused.
  ExpectInvalid(Eip712Digest(typed), "/message");
  typed.Set("message", json::Value::Object());
  Result<Bytes> digest = Eip712Digest(typed);
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  Bytes preimage = {0x19, 0x01};
  const Bytes sep = Hex("f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
  preimage.insert(preimage.end(), sep.begin(), sep.end());
  EXPECT_EQ(*digest, Keccak256(preimage));
}

TEST(Eip712Test, DerivedDomainUsesCanonicalOrderOfPresentFields) {
  // Members given out of order still hash in name, version, chainId, verifyingContract, salt order.
  const json::Value domain = J(R"({"salt": "0x1111111111111111111111111111111111111111111111111111111111111111",
                                   "chainId": 1, "name": "X"})");
  const json::Value explicit_types = J(R"({"EIP712Domain": [
      {"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"},
      {"name": "salt", "type": "bytes32"}]})");
  Result<Bytes> derived = Eip712DomainSeparator(json::Value::Object(), domain);
  ASSERT_TRUE(derived.ok()) << derived.status().ToString();
  EXPECT_EQ(*derived, Eip712DomainSeparator(explicit_types, domain).value_or(Bytes()));
  const Bytes expected = Keccak256(Concat({
      Keccak256(AsBytes("EIP712Domain(string name,uint256 chainId,bytes32 salt)")),
      Keccak256(AsBytes("X")),
      Word({{31, 1}}),
      Bytes(32, 0x11),
  }));
  EXPECT_EQ(*derived, expected);
  // Dropping a field changes the separator; an empty domain is EIP712Domain().
  EXPECT_NE(Eip712DomainSeparator(json::Value::Object(), J(R"({"chainId": 1, "name": "X"})"))
                .value_or(Bytes()),
            *derived);
  EXPECT_EQ(Eip712DomainSeparator(json::Value::Object(), json::Value::Object()).value_or(Bytes()),
            Keccak256(Keccak256(AsBytes("EIP712Domain()"))));
  ExpectInvalid(Eip712DomainSeparator(json::Value::Object(), J("[]")), "/domain");
}

}  // namespace
}  // namespace mandated::signer
