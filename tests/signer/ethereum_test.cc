// Tests for signer/ethereum.h: EIP-55 checksums, address parsing, key -> address, EIP-191 hashes.
#include "signer/ethereum.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/json.h"
#include "signer/keccak.h"
#include "signer/recoverable.h"
#include "signer/signature.h"
#include "tests/support/test_support.h"

namespace mandated::signer {
namespace {

const char* const kX402VectorFiles[] = {
    "vector_v1_base_sepolia_usdc_10000.json",
    "vector_v1_base_mainnet_usdc_1234567.json",
    "vector_v2_base_sepolia_usdc_10000.json",
    "vector_v2_base_mainnet_usdc_1.json",
    "vector_v2_avalanche_usdc_250000_longlived.json",
};

json::Value LoadVector(const std::string& name) {
  const std::string text =
      testing::ReadFileOrDie(testing::SourcePath("tests/vectors/x402/" + name));
  Result<json::Value> parsed = json::Parse(text);
  EXPECT_TRUE(parsed.ok()) << name << ": " << parsed.status().ToString();
  return parsed.ok() ? std::move(parsed).value() : json::Value();
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string Upper40(const std::string& address) {
  std::string s = address;
  for (size_t i = 2; i < s.size(); ++i) {
    if (s[i] >= 'a' && s[i] <= 'z') s[i] = static_cast<char>(s[i] - 'a' + 'A');
  }
  return s;
}

Result<std::string> AddressOfSecret(std::string_view secret_hex) {
  MD_ASSIGN_OR_RETURN(Bytes secret, HexDecode(secret_hex, /*allow_0x=*/true));
  MD_ASSIGN_OR_RETURN(PrivateKey key, ImportPrivateKey(KeyType::kSecp256k1, secret));
  MD_ASSIGN_OR_RETURN(PublicKey pub, DerivePublicKey(key));
  return EthereumAddress(pub);
}

// EIP-55's own examples (all caps, all lower, and mixed case).
const char* const kEip55Examples[] = {
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
};

TEST(EthereumTest, Eip55ExamplesRoundTrip) {
  for (const char* example : kEip55Examples) {
    SCOPED_TRACE(example);
    Result<Bytes> bytes = ParseAddress(example, /*require_checksum=*/true);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_EQ(bytes->size(), 20u);
    EXPECT_EQ(ToChecksumAddress(*bytes), example);
    // The lower-case form parses to the same bytes and checksums back to the example.
    Result<Bytes> lower = ParseAddress(Lower(example), /*require_checksum=*/false);
    ASSERT_TRUE(lower.ok());
    EXPECT_EQ(*lower, *bytes);
    EXPECT_EQ(ToChecksumAddress(*lower), example);
  }
}

// Spellings are remembered by address bytes (1024 of them): more distinct addresses than that,
// spelled twice, give the same valid EIP-55 text whether the second spelling is remembered or
// computed again after eviction, and never another address's text.
TEST(EthereumTest, RememberedSpellingsStayExactPastTheMemoBound) {
  constexpr int kAddresses = 3000;
  auto address_of = [](int n) {
    Bytes address(20, 0);
    for (int i = 0; i < 4; ++i) address[16 + i] = static_cast<uint8_t>(n >> (8 * (3 - i)));
    address[0] = 0xab;  // letters in both halves of the text
    return address;
  };
  std::vector<std::string> first;
  for (int n = 0; n < kAddresses; ++n) first.push_back(ToChecksumAddress(address_of(n)));
  for (int n = kAddresses - 1; n >= 0; --n) {
    const Bytes address = address_of(n);
    const std::string again = ToChecksumAddress(address);
    ASSERT_EQ(again, first[n]) << n;
    Result<Bytes> parsed = ParseAddress(again, /*require_checksum=*/true);
    ASSERT_TRUE(parsed.ok()) << again;
    ASSERT_EQ(*parsed, address) << again;
  }
}

TEST(EthereumTest, OneLetterCaseFlipFailsTheChecksum) {
  for (const char* example : kEip55Examples) {
    const std::string original = example;
    int flips = 0;
    for (size_t i = 2; i < original.size(); ++i) {
      char c = original[i];
      if (c >= 'a' && c <= 'f') {
        c = static_cast<char>(c - 'a' + 'A');
      } else if (c >= 'A' && c <= 'F') {
        c = static_cast<char>(c - 'A' + 'a');
      } else {
        continue;
      }
      std::string flipped = original;
      flipped[i] = c;
      Result<Bytes> parsed = ParseAddress(flipped, /*require_checksum=*/false);
      // Flipping one letter of an all-caps/all-lower example makes it mixed case, hence checked.
      ASSERT_FALSE(parsed.ok()) << flipped;
      EXPECT_EQ(parsed.error().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(parsed.error().reason(), "bad-address-checksum") << flipped;
      ++flips;
    }
    EXPECT_GT(flips, 0) << example;
  }
}

TEST(EthereumTest, RememberedChecksumsCoverOnlyTheExactText) {
  // Verified addresses are remembered; a remembered address must not vouch for any other text.
  const std::string good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
  for (int i = 0; i < 3; ++i) {
    Result<Bytes> parsed = ParseAddress(good, /*require_checksum=*/true);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(HexEncode(*parsed), "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
  }
  std::string flipped = good;
  flipped[3] = 'A';  // "0x5A..." instead of "0x5a..."
  for (int i = 0; i < 2; ++i) {
    Result<Bytes> parsed = ParseAddress(flipped, /*require_checksum=*/false);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().reason(), "bad-address-checksum");
  }
  Result<Bytes> lower = ParseAddress(Lower(good), /*require_checksum=*/true);
  ASSERT_FALSE(lower.ok());
  EXPECT_EQ(lower.error().reason(), "bad-address-checksum");
}

TEST(EthereumTest, UniformCaseAcceptedUnlessChecksumRequired) {
  const std::string mixed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
  for (const std::string& text : {Lower(mixed), Upper40(mixed)}) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(ParseAddress(text, /*require_checksum=*/false).ok());
    Result<Bytes> strict = ParseAddress(text, /*require_checksum=*/true);
    ASSERT_FALSE(strict.ok());
    EXPECT_EQ(strict.error().reason(), "bad-address-checksum");
  }
  // An all-lower example whose EIP-55 form is all lower passes even when required.
  EXPECT_TRUE(ParseAddress("0xde709f2102306220921060314715629080e2fb77", true).ok());
}

TEST(EthereumTest, MalformedAddresses) {
  const std::string good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
  const std::vector<std::string> bad = {
      "",
      "0x",
      good.substr(2),                         // no prefix
      "0X" + good.substr(2),                  // upper-case prefix
      good.substr(0, 41),                     // 39 digits
      good + "0",                             // 41 digits
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",  // not hex
      " " + good.substr(1),                   // leading space
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe ",
  };
  for (const std::string& text : bad) {
    Result<Bytes> parsed = ParseAddress(text, false);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().reason(), "bad-address") << text;
  }
}

TEST(EthereumTest, X402VectorKeysDeriveExpectedSigner) {
  for (const char* file : kX402VectorFiles) {
    SCOPED_TRACE(file);
    const json::Value v = LoadVector(file);
    ASSERT_TRUE(v.is_object());
    const std::string& expected = v.Find("expectedSigner")->as_string();
    Result<std::string> address = AddressOfSecret(v.Find("privateKey")->as_string());
    ASSERT_TRUE(address.ok()) << address.status().ToString();
    EXPECT_EQ(*address, expected);
    EXPECT_EQ(*address, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  }
}

TEST(EthereumTest, WellKnownKeys) {
  // Anvil / Hardhat account #0.
  Result<std::string> anvil0 =
      AddressOfSecret("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  ASSERT_TRUE(anvil0.ok()) << anvil0.status().ToString();
  EXPECT_EQ(*anvil0, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  // The EIP-712 example signer: private key keccak256("cow").
  Result<std::string> cow = AddressOfSecret(HexEncode(Keccak256(AsBytes("cow"))));
  ASSERT_TRUE(cow.ok()) << cow.status().ToString();
  EXPECT_EQ(*cow, "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
}

TEST(EthereumTest, AddressNeedsSecp256k1) {
  PublicKey ed;
  ed.type = KeyType::kEd25519;
  ed.bytes = Bytes(32, 0x11);
  Result<std::string> address = EthereumAddress(ed);
  ASSERT_FALSE(address.ok());
  EXPECT_EQ(address.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(address.error().reason(), "bad-key");
}

TEST(EthereumTest, Eip191PersonalMessageHash) {
  // ethers hashMessage("Hello World").
  EXPECT_EQ(HexEncode(Eip191PersonalMessageHash(AsBytes("Hello World"))),
            "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2");
  // The length is decimal and counts bytes: same as hashing the whole preimage.
  const std::string message(1000, 'x');
  EXPECT_EQ(Eip191PersonalMessageHash(AsBytes(message)),
            Keccak256(AsBytes("\x19" "Ethereum Signed Message:\n1000" + message)));
  EXPECT_EQ(Eip191PersonalMessageHash({}),
            Keccak256(AsBytes("\x19" "Ethereum Signed Message:\n0")));
}

TEST(EthereumTest, Eip191SignAndRecoverRoundTrip) {
  Result<Bytes> secret = HexDecode(
      "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
  ASSERT_TRUE(secret.ok());
  Result<PrivateKey> key = ImportPrivateKey(KeyType::kSecp256k1, *secret);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  const Bytes digest = Eip191PersonalMessageHash(AsBytes("mandated says hello"));
  Result<Bytes> sig = SignDigestRecoverable(*key, digest);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  ASSERT_EQ(sig->size(), 65u);
  Result<PublicKey> recovered = RecoverDigest(digest, *sig);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  Result<std::string> address = EthereumAddress(*recovered);
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(*address, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
}

}  // namespace
}  // namespace mandated::signer
