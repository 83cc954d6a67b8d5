// Runs every Wycheproof case for Ed25519 and ECDSA P-256/SHA-256 (DER, P1363) via signature.h.
#include "signer/signature.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "base/bytes.h"
#include "base/json.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

struct Counts {
  int run = 0;
  int as_expected = 0;
  int acceptable_accepted = 0;
  int acceptable_rejected = 0;
  int bad_key_groups = 0;
};

const json::Value& Member(const json::Value& object, std::string_view key) {
  static const json::Value kNull;
  const json::Value* v = object.Find(key);
  EXPECT_NE(v, nullptr) << "missing member " << key;
  return v != nullptr ? *v : kNull;
}

Bytes HexMember(const json::Value& object, std::string_view key) {
  Result<Bytes> b = HexDecode(Member(object, key).as_string());
  EXPECT_TRUE(b.ok()) << "member " << key << " is not hex";
  return b.ok() ? *b : Bytes();
}

// Runs every case of one file. `key_field` names the member of the group's publicKey object that
// holds the hex key bytes.
Counts RunFile(const std::string& file, KeyType type, std::string_view key_field,
               const VerifyOptions& options) {
  Counts counts;
  const std::string text =
      testing::ReadFileOrDie(testing::SourcePath("tests/vectors/wycheproof/" + file));
  Result<json::Value> doc = json::Parse(text);
  if (!doc.ok()) {
    ADD_FAILURE() << file << ": " << doc.error().ToString();
    return counts;
  }
  const std::optional<int64_t> number_of_tests = Member(*doc, "numberOfTests").as_int64();
  for (const json::Value& group : Member(*doc, "testGroups").items()) {
    const Bytes key_bytes = HexMember(Member(group, "publicKey"), key_field);
    const Result<PublicKey> key = ParsePublicKey(type, key_bytes);
    if (!key.ok()) {
      ++counts.bad_key_groups;
      EXPECT_EQ(key.error().reason(), "bad-key");
    }
    for (const json::Value& test : Member(group, "tests").items()) {
      const int64_t tc_id = Member(test, "tcId").as_int64().value_or(-1);
      SCOPED_TRACE(file + " tcId " + std::to_string(tc_id) + " (" +
                   Member(test, "comment").as_string() + ")");
      const std::string& expected = Member(test, "result").as_string();
      ++counts.run;
      if (!key.ok()) {
        // A key we refuse is only fine if nothing under it was meant to verify.
        EXPECT_EQ(expected, "invalid") << "key refused: " << key.error().ToString();
        if (expected == "invalid") ++counts.as_expected;
        continue;
      }
      const Bytes msg = HexMember(test, "msg");
      const Bytes sig = HexMember(test, "sig");
      const Status status = Verify(*key, msg, sig, options);
      if (expected == "valid") {
        EXPECT_TRUE(status.ok()) << status.ToString();
        if (status.ok()) ++counts.as_expected;
      } else if (expected == "invalid") {
        EXPECT_FALSE(status.ok());
        EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
        EXPECT_EQ(status.reason(), "bad-signature") << status.ToString();
        if (status.code() == StatusCode::kUnauthenticated) ++counts.as_expected;
      } else if (expected == "acceptable") {
        // Either outcome is allowed; a failure must still be a clean bad-signature.
        if (status.ok()) {
          ++counts.acceptable_accepted;
        } else {
          EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
          ++counts.acceptable_rejected;
        }
        ++counts.as_expected;
      } else {
        ADD_FAILURE() << "unknown result \"" << expected << "\"";
      }
    }
  }
  EXPECT_TRUE(number_of_tests.has_value());
  EXPECT_EQ(counts.run, number_of_tests.value_or(-1)) << file;
  std::printf(
      "[ wycheproof ] %s: %d cases, %d as expected (acceptable: %d accepted, %d "
      "rejected; groups with a refused key: %d)\n",
      file.c_str(), counts.run, counts.as_expected, counts.acceptable_accepted,
      counts.acceptable_rejected, counts.bad_key_groups);
  return counts;
}

TEST(WycheproofOpensslTest, Ed25519) {
  const Counts c = RunFile("ed25519_test.json", KeyType::kEd25519, "pk", VerifyOptions{});
  EXPECT_EQ(c.run, 151);
  EXPECT_EQ(c.as_expected, c.run);
}

TEST(WycheproofOpensslTest, EcdsaP256Sha256Der) {
  const Counts c = RunFile("ecdsa_secp256r1_sha256_test.json", KeyType::kP256, "uncompressed",
                           VerifyOptions{SignatureFormat::kDer, /*allow_high_s=*/true});
  EXPECT_EQ(c.run, 484);
  EXPECT_EQ(c.as_expected, c.run);
}

TEST(WycheproofOpensslTest, EcdsaP256Sha256P1363) {
  const Counts c = RunFile("ecdsa_secp256r1_sha256_p1363_test.json", KeyType::kP256, "uncompressed",
                           VerifyOptions{SignatureFormat::kRaw, /*allow_high_s=*/true});
  EXPECT_EQ(c.run, 262);
  EXPECT_EQ(c.as_expected, c.run);
}

}  // namespace
}  // namespace mandated::signer
