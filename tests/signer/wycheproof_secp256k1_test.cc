// Runs every case of the Wycheproof ECDSA secp256k1/SHA-256 files (DER, P1363, bitcoin low-S).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "base/bytes.h"
#include "base/json.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

struct WycheproofFile {
  const char* name;  // test name suffix
  const char* path;
  SignatureFormat format;
  bool allow_high_s;
};

struct Tally {
  int run = 0;
  int valid = 0;
  int invalid = 0;
  int acceptable = 0;
  int acceptable_passed = 0;  // acceptable cases our verifier accepted
  int matched = 0;            // valid accepted + invalid rejected
};

class WycheproofSecp256k1Test : public ::testing::TestWithParam<WycheproofFile> {};

const json::Value& Member(const json::Value& object, std::string_view key) {
  static const json::Value kNull;
  const json::Value* v = object.Find(key);
  EXPECT_NE(v, nullptr) << "missing member " << key;
  return v != nullptr ? *v : kNull;
}

Bytes Hex(const json::Value& v) {
  Result<Bytes> bytes = HexDecode(v.as_string());
  EXPECT_TRUE(bytes.ok()) << v.as_string();
  return bytes.ok() ? *bytes : Bytes{};
}

TEST_P(WycheproofSecp256k1Test, RunsEveryCase) {
  const WycheproofFile& file = GetParam();
  std::string text = testing::ReadFileOrDie(testing::SourcePath(file.path));
  Result<json::Value> doc = json::Parse(text);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();

  const json::Value& number_of_tests = Member(*doc, "numberOfTests");
  ASSERT_TRUE(number_of_tests.as_int64().has_value());
  const VerifyOptions options{file.format, file.allow_high_s};

  Tally tally;
  for (const json::Value& group : Member(*doc, "testGroups").items()) {
    ASSERT_EQ(Member(group, "sha").as_string(), "SHA-256");
    const json::Value& jwk = Member(group, "publicKey");
    ASSERT_EQ(Member(jwk, "curve").as_string(), "secp256k1");
    const std::string& key_hex = Member(jwk, "uncompressed").as_string();
    Result<Bytes> key_bytes = HexDecode(key_hex);
    Result<PublicKey> key = key_bytes.ok() ? ParsePublicKey(KeyType::kSecp256k1, *key_bytes)
                                           : Result<PublicKey>(key_bytes.error());

    for (const json::Value& test : Member(group, "tests").items()) {
      const int64_t tc_id = Member(test, "tcId").as_int64().value_or(-1);
      SCOPED_TRACE("tcId " + std::to_string(tc_id) + ": " + Member(test, "comment").as_string());
      const std::string& expected = Member(test, "result").as_string();
      ++tally.run;

      Status status = key.ok() ? Verify(*key, Hex(Member(test, "msg")), Hex(Member(test, "sig")),
                                        options)
                               : key.status();
      if (expected == "valid") {
        ++tally.valid;
        EXPECT_TRUE(status.ok()) << status.ToString();
        tally.matched += status.ok() ? 1 : 0;
      } else if (expected == "invalid") {
        ++tally.invalid;
        EXPECT_FALSE(status.ok());
        if (key.ok()) {
          EXPECT_EQ(status.code(), StatusCode::kUnauthenticated) << status.ToString();
          EXPECT_EQ(status.reason(), "bad-signature");
        }
        tally.matched += status.ok() ? 0 : 1;
      } else if (expected == "acceptable") {
        ++tally.acceptable;  // either outcome is allowed; only counted
        tally.acceptable_passed += status.ok() ? 1 : 0;
      } else {
        ADD_FAILURE() << "unknown result \"" << expected << "\"";
      }
    }
  }

  EXPECT_EQ(tally.run, *number_of_tests.as_int64());
  EXPECT_EQ(tally.matched, tally.valid + tally.invalid);
  std::printf("[ wycheproof ] %s: run %d = valid %d + invalid %d + acceptable %d "
              "(acceptable passed %d); matched %d/%d\n",
              file.path, tally.run, tally.valid, tally.invalid, tally.acceptable,
              tally.acceptable_passed, tally.matched, tally.valid + tally.invalid);
  RecordProperty("cases_run", tally.run);
  RecordProperty("cases_matched", tally.matched);
}

INSTANTIATE_TEST_SUITE_P(
    Files, WycheproofSecp256k1Test,
    ::testing::Values(
        WycheproofFile{"Der", "tests/vectors/wycheproof/ecdsa_secp256k1_sha256_test.json",
                       SignatureFormat::kDer, /*allow_high_s=*/true},
        WycheproofFile{"P1363", "tests/vectors/wycheproof/ecdsa_secp256k1_sha256_p1363_test.json",
                       SignatureFormat::kRaw, /*allow_high_s=*/true},
        WycheproofFile{"BitcoinLowS",
                       "tests/vectors/wycheproof/ecdsa_secp256k1_sha256_bitcoin_test.json",
                       SignatureFormat::kDer, /*allow_high_s=*/false}),
    [](const ::testing::TestParamInfo<WycheproofFile>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace mandated::signer
