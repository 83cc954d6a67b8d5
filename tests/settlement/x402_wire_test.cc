// Tests for settlement/x402_wire.h: the five reference x402 vectors end to end (header decode,
// EIP-712 digest, recovery, verify, byte-exact re-encode), per-field mutations with the
// reference's reason codes (spelled out, and the same mutations put to the reference's own verify
// through tests/interop/reference_verify.mjs), malformed input, networks and JSON number printing.
#include "settlement/x402_wire.h"

#include <gtest/gtest.h>

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

namespace mandated::settlement {
namespace {

using testing::At;
using testing::Hex;

constexpr char kVectorDir[] = "tests/vectors/x402/";
// The public Anvil development key the vectors were signed with (SOURCES.md).
constexpr char kDevKey[] = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
constexpr char kDevAddress[] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
// The reference verify clock of every vector (referenceVerify.clockUnix).
constexpr int64_t kNow = 1750000001;

// The reason codes and messages as the reference emits them, spelled out here and never taken
// from settlement/x402_wire.h, so that a typo in a product constant fails these tests. Sources
// (tests/interop/node_modules, pinned by package-lock.json): @x402/evm 2.27.0
// dist/esm/chunk-VEDHRFNU.mjs `var Err... = "..."` (ExactEvmScheme and ExactEvmSchemeV1);
// x402 1.2.0 `ErrorReasons` (x402/types) for invalid_x402_version, which @x402/core's facilitator
// never answers (it picks the scheme by the payload's own version); FiatToken v2's ECRecover
// revert texts, which reach the reference through its transfer simulation.
// X402Reference.MutationsGetTheSameCodeFromTheReference asks the reference itself.
constexpr std::string_view kRefScheme = "invalid_exact_evm_scheme";
constexpr std::string_view kRefNetworkMismatch = "invalid_exact_evm_network_mismatch";
constexpr std::string_view kRefMissingDomain = "invalid_exact_evm_missing_eip712_domain";
constexpr std::string_view kRefSignature = "invalid_exact_evm_signature";
constexpr std::string_view kRefRecipientMismatch = "invalid_exact_evm_recipient_mismatch";
constexpr std::string_view kRefValidBefore =
    "invalid_exact_evm_payload_authorization_valid_before";
constexpr std::string_view kRefValidAfter = "invalid_exact_evm_payload_authorization_valid_after";
constexpr std::string_view kRefValueMismatchV2 =
    "invalid_exact_evm_payload_authorization_value_mismatch";
constexpr std::string_view kRefValueMismatchV1 = "invalid_exact_evm_authorization_value";
constexpr std::string_view kRefSimulationFailed =
    "invalid_exact_evm_transaction_simulation_failed";
constexpr std::string_view kRefInvalidX402Version = "invalid_x402_version";
constexpr std::string_view kRefHighS = "ECRecover: invalid signature 's' value";
constexpr std::string_view kRefBadV = "ECRecover: invalid signature 'v' value";

json::Value J(std::string_view text) {
  Result<json::Value> parsed = json::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  return parsed.ok() ? std::move(parsed).value() : json::Value();
}

json::Value LoadJson(const std::string& file) {
  return J(testing::ReadFileOrDie(testing::SourcePath(std::string(kVectorDir) + file)));
}

const std::string& Str(const json::Value& v, std::initializer_list<std::string_view> path) {
  return At(v, path).as_string();
}

std::string Hex0x(ByteSpan b) { return "0x" + HexEncode(b); }

Address Addr(std::string_view text) {
  Address a{};
  Status s = signer::ParseAddressInto(text, false, a);
  EXPECT_TRUE(s.ok()) << text;
  return a;
}

// Signs an authorization for `req`'s domain with the development key (r||s||v, v 27/28).
Bytes SignFor(const PaymentRequirements& req, const Authorization3009& a) {
  Result<signer::PrivateKey> key =
      signer::ImportPrivateKey(signer::KeyType::kSecp256k1, Hex(kDevKey));
  EXPECT_TRUE(key.ok());
  if (!key.ok()) {
    return {};
  }
  const auto digest =
      Eip3009Digest(*req.eip712_name, *req.eip712_version, req.chain_id, req.asset, a);
  Result<Bytes> sig = signer::SignDigestRecoverable(*key, digest);
  EXPECT_TRUE(sig.ok());
  return sig.ok() ? *sig : Bytes();
}

// n - s over 32 big-endian bytes (the high-S twin of a low-S signature).
void NegateS(Bytes& sig) {
  static const Bytes kOrder =
      HexDecode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = kOrder[static_cast<size_t>(i)] - sig[32 + static_cast<size_t>(i)] - borrow;
    borrow = d < 0 ? 1 : 0;
    sig[32 + static_cast<size_t>(i)] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
  }
}

const std::vector<std::string>& VectorFiles() {
  static const std::vector<std::string> kFiles = {
      "vector_v1_base_sepolia_usdc_10000.json",
      "vector_v1_base_mainnet_usdc_1234567.json",
      "vector_v2_base_sepolia_usdc_10000.json",
      "vector_v2_base_mainnet_usdc_1.json",
      "vector_v2_avalanche_usdc_250000_longlived.json",
  };
  return kFiles;
}

class X402VectorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    vec_ = LoadJson(GetParam());
    version_ = Str(vec_, {"protocol"}) == "x402 v1" ? kX402V1 : kX402V2;
    Result<json::Value> decoded = DecodeHeaderJson(Str(vec_, {"http", "requestHeaderValue"}));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    Result<PaymentPayload> p = ParsePayload(*decoded);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    payload_ = std::move(p).value();
    Result<PaymentRequirements> r = ParseRequirements(At(vec_, {"paymentRequirements"}), version_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    req_ = std::move(r).value();
    ASSERT_TRUE(Verify(payload_, req_, kNow).is_valid);
  }

  static VerifyResponse Verify(const PaymentPayload& p, const PaymentRequirements& r,
                               int64_t now) {
    return VerifyExactOffline(p, r, now);
  }

  // Asserts an invalid result with exactly `reason` (and `message` when given).
  void ExpectInvalid(const PaymentPayload& p, const PaymentRequirements& r, int64_t now,
                     std::string_view reason, std::string_view message = {}) {
    const VerifyResponse v = Verify(p, r, now);
    EXPECT_FALSE(v.is_valid);
    EXPECT_EQ(v.invalid_reason, reason);
    EXPECT_EQ(v.invalid_message, message);
    EXPECT_EQ(v.payer, AddressText(p.authorization.from));
  }

  std::string_view ValueCode() const {
    return version_ == kX402V1 ? kRefValueMismatchV1 : kRefValueMismatchV2;
  }

  // Both sides moved to another network (payload and requirements agree).
  void MoveNetwork(PaymentPayload& p, PaymentRequirements& r, std::string_view v1_name,
                   std::string_view v2_name) const {
    const std::string net(version_ == kX402V1 ? v1_name : v2_name);
    p.network = net;
    if (p.accepted.has_value()) {
      p.accepted->network = net;
    }
    r.network = net;
    r.chain_id = ChainIdOf(net).value_or(0);
  }

  json::Value vec_;
  int version_ = kX402V2;
  PaymentPayload payload_;
  PaymentRequirements req_;
};

INSTANTIATE_TEST_SUITE_P(Vectors, X402VectorTest, ::testing::ValuesIn(VectorFiles()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param.substr(7);  // drop "vector_"
                           name = name.substr(0, name.size() - 5);   // drop ".json"
                           return name;
                         });

// ---- the vectors in full ----

TEST_P(X402VectorTest, HeaderDecodesToTheReferencePayload) {
  Result<json::Value> decoded = DecodeHeaderJson(Str(vec_, {"http", "requestHeaderValue"}));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, At(vec_, {"decodedPaymentPayload"}));
  EXPECT_EQ(*decoded, At(vec_, {"facilitatorRequests", "POST /verify", "paymentPayload"}));
  EXPECT_EQ(At(vec_, {"paymentRequirements"}),
            At(vec_, {"facilitatorRequests", "POST /verify", "paymentRequirements"}));
  EXPECT_EQ(Str(vec_, {"http", "requestHeaderName"}),
            version_ == kX402V1 ? "X-PAYMENT" : "PAYMENT-SIGNATURE");
}

TEST_P(X402VectorTest, ParsedFieldsMatchTheVector) {
  const json::Value& auth = At(vec_, {"decodedPaymentPayload", "payload", "authorization"});
  EXPECT_EQ(payload_.version, version_);
  EXPECT_EQ(payload_.scheme, "exact");
  EXPECT_EQ(payload_.network, Str(vec_, {"paymentRequirements", "network"}));
  EXPECT_EQ(AddressText(payload_.authorization.from), Str(vec_, {"expectedSigner"}));
  EXPECT_EQ(AddressText(payload_.authorization.to), Str(auth, {"to"}));
  EXPECT_EQ(payload_.authorization.value.ToString(), Str(auth, {"value"}));
  EXPECT_EQ(Amount::FromRaw(payload_.authorization.valid_after).ToString(),
            Str(auth, {"validAfter"}));
  EXPECT_EQ(Amount::FromRaw(payload_.authorization.valid_before).ToString(),
            Str(auth, {"validBefore"}));
  EXPECT_EQ(NonceText(payload_.authorization.nonce), Str(auth, {"nonce"}));
  EXPECT_EQ(Hex0x(payload_.signature),
            Str(vec_, {"decodedPaymentPayload", "payload", "signature"}));
  EXPECT_EQ(payload_.accepted.has_value(), version_ == kX402V2);

  const json::Value& domain = At(vec_, {"eip712", "domain"});
  EXPECT_EQ(req_.version, version_);
  EXPECT_EQ(req_.chain_id, At(domain, {"chainId"}).as_uint64().value_or(0));
  EXPECT_EQ(req_.eip712_name, Str(domain, {"name"}));
  EXPECT_EQ(req_.eip712_version, Str(domain, {"version"}));
  EXPECT_EQ(AddressText(req_.asset), Str(domain, {"verifyingContract"}));
  const std::string_view amount_key = version_ == kX402V1 ? "maxAmountRequired" : "amount";
  EXPECT_EQ(req_.amount.ToString(), Str(vec_, {"paymentRequirements", amount_key}));
  EXPECT_EQ(req_.max_timeout_seconds,
            At(vec_, {"paymentRequirements", "maxTimeoutSeconds"}).as_int64().value_or(0));
  EXPECT_EQ(req_.raw, At(vec_, {"paymentRequirements"}));
  if (version_ == kX402V1) {
    EXPECT_EQ(req_.resource, Str(vec_, {"paymentRequirements", "resource"}));
    EXPECT_EQ(req_.mime_type, "application/json");
  } else {
    EXPECT_EQ(payload_.accepted->raw, At(vec_, {"paymentRequirements"}));
    EXPECT_EQ(payload_.resource, At(vec_, {"decodedPaymentPayload", "resource"}));
    EXPECT_TRUE(payload_.extensions.is_null());
  }
}

TEST_P(X402VectorTest, Eip712BreakdownMatches) {
  const json::Value& e = At(vec_, {"eip712"});
  const auto ds = Eip3009DomainSeparator(*req_.eip712_name, *req_.eip712_version, req_.chain_id,
                                         req_.asset);
  EXPECT_EQ(Hex0x(ds), Str(e, {"domainSeparator"}));
  EXPECT_EQ(Hex0x(EncodeTransferWithAuthorization(payload_.authorization)),
            Str(e, {"structEncoded"}));
  const auto sh = TransferWithAuthorizationHash(payload_.authorization);
  EXPECT_EQ(Hex0x(sh), Str(e, {"structHash"}));
  EXPECT_EQ("0x1901" + HexEncode(ds) + HexEncode(sh), Str(e, {"digestPreimage"}));
  const auto digest = Eip3009Digest(*req_.eip712_name, *req_.eip712_version, req_.chain_id,
                                    req_.asset, payload_.authorization);
  EXPECT_EQ(Hex0x(digest), Str(e, {"digest"}));
  EXPECT_EQ(Hex0x(ByteSpan(payload_.signature).first(32)), Str(e, {"signatureParts", "r"}));
  EXPECT_EQ(Hex0x(ByteSpan(payload_.signature).subspan(32, 32)),
            Str(e, {"signatureParts", "s"}));
  EXPECT_EQ(payload_.signature[64], At(e, {"signatureParts", "v"}).as_int64().value_or(0));

  Result<signer::PublicKey> key = signer::RecoverDigest(digest, payload_.signature);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  Result<std::string> who = signer::EthereumAddress(*key);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(*who, Str(e, {"recoveredSigner"}));
  EXPECT_EQ(*who, kDevAddress);
  // Our signer (RFC 6979, low S) reproduces viem's signature byte for byte.
  EXPECT_EQ(SignFor(req_, payload_.authorization), payload_.signature);
}

TEST_P(X402VectorTest, VerifiesAsTheReferenceDid) {
  const json::Value& ref = At(vec_, {"referenceVerify"});
  ASSERT_EQ(At(ref, {"clockUnix"}).as_int64().value_or(0), kNow);
  const VerifyResponse v = VerifyExactOffline(payload_, req_, kNow);
  EXPECT_TRUE(v.is_valid);
  EXPECT_EQ(v.invalid_reason, "");
  EXPECT_EQ(v.payer, kDevAddress);
  // The /verify answer is the reference's JSON.
  const json::Value& expected = version_ == kX402V1 ? At(ref, {"x402_evm_ExactEvmSchemeV1"})
                                                    : At(ref, {"x402_evm_ExactEvmScheme"});
  EXPECT_EQ(VerifyResponseToJson(v), expected);
  if (version_ == kX402V1) {
    EXPECT_EQ(VerifyResponseToJson(v), At(ref, {"legacy_x402_1_2_0"}));
  }
  if (const json::Value* real = vec_.Find("referenceVerifyRealClock"); real != nullptr) {
    const int64_t clock = At(*real, {"clockUnix"}).as_int64().value_or(0);
    EXPECT_TRUE(At(*real, {"result", "isValid"}).as_bool());
    EXPECT_TRUE(VerifyExactOffline(payload_, req_, clock).is_valid);
  }
}

TEST_P(X402VectorTest, VerifyWindowEdges) {
  const json::Value& w = At(vec_, {"verifyWindow"});
  const int64_t earliest = At(w, {"earliestUnix"}).as_int64().value_or(-1);
  const int64_t latest_excl = At(w, {"latestUnixExclusive"}).as_int64().value_or(-1);
  EXPECT_TRUE(VerifyExactOffline(payload_, req_, earliest).is_valid);
  // The reference rule validBefore >= now + 6 still holds at the file's "latestUnixExclusive"
  // (validBefore - 6); the first refused second is one later.
  EXPECT_EQ(latest_excl, static_cast<int64_t>(payload_.authorization.valid_before) - 6);
  EXPECT_TRUE(VerifyExactOffline(payload_, req_, latest_excl).is_valid);
  ExpectInvalid(payload_, req_, latest_excl + 1, kRefValidBefore);
  ExpectInvalid(payload_, req_, earliest - 1, kRefValidAfter);
}

TEST_P(X402VectorTest, ReencodesTheReferenceHeaderByteForByte) {
  const json::Value j = PayloadToJson(payload_);
  EXPECT_EQ(j, At(vec_, {"decodedPaymentPayload"}));
  EXPECT_EQ(EncodeHeaderJson(j), Str(vec_, {"http", "requestHeaderValue"}));
  // A payload assembled from fields (no raw echo) encodes the same.
  PaymentPayload fresh;
  fresh.version = payload_.version;
  fresh.scheme = payload_.scheme;
  fresh.network = payload_.network;
  fresh.authorization = payload_.authorization;
  fresh.signature = payload_.signature;
  fresh.resource = payload_.resource;
  if (version_ == kX402V2) {
    PaymentRequirements accepted = req_;
    accepted.raw = json::Value::Object();
    fresh.accepted = accepted;
  }
  EXPECT_EQ(EncodeHeaderJson(PayloadToJson(fresh)), Str(vec_, {"http", "requestHeaderValue"}));
}

TEST_P(X402VectorTest, PaymentRequiredRoundTrips) {
  if (version_ == kX402V1) {
    const json::Value& accepts = At(vec_, {"http", "status402Body", "accepts"});
    ASSERT_EQ(accepts.items().size(), 1u);
    EXPECT_EQ(accepts.items()[0], At(vec_, {"paymentRequirements"}));
    EXPECT_EQ(RequirementsToJson(req_), At(vec_, {"paymentRequirements"}));
    return;
  }
  const std::string& header = Str(vec_, {"http", "status402Headers", "PAYMENT-REQUIRED"});
  Result<json::Value> decoded = DecodeHeaderJson(header);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, At(vec_, {"http", "decodedPaymentRequired"}));
  EXPECT_EQ(EncodeHeaderJson(*decoded), header);
  const json::Value& accepts = At(*decoded, {"accepts"});
  ASSERT_EQ(accepts.items().size(), 1u);
  Result<PaymentRequirements> r = ParseRequirements(accepts.items()[0], kX402V2, "/accepts/0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->raw, At(vec_, {"paymentRequirements"}));
  EXPECT_EQ(RequirementsToJson(*r), At(vec_, {"paymentRequirements"}));
}

// ---- mutations, each with the reference's code ----

TEST_P(X402VectorTest, RequiredAmountPlusOne) {
  PaymentRequirements r = req_;
  r.amount = r.amount.Add(Amount::FromUint64(1)).value();
  ExpectInvalid(payload_, r, kNow, ValueCode());
}

TEST_P(X402VectorTest, RequiredAmountMinusOne) {
  PaymentRequirements r = req_;
  r.amount = r.amount.Sub(Amount::FromUint64(1)).value();
  ExpectInvalid(payload_, r, kNow, ValueCode());
}

TEST_P(X402VectorTest, PayeeDiffers) {
  PaymentRequirements r = req_;
  r.pay_to[19] ^= 0x01;
  ExpectInvalid(payload_, r, kNow, kRefRecipientMismatch);
}

TEST_P(X402VectorTest, RequirementsOnAnotherNetwork) {
  PaymentRequirements r = req_;
  r.network = version_ == kX402V1 ? "polygon" : "eip155:137";
  r.chain_id = 137;
  ExpectInvalid(payload_, r, kNow, kRefNetworkMismatch);
}

TEST_P(X402VectorTest, PayloadAndRequirementsOnAnotherChain) {
  PaymentPayload p = payload_;
  PaymentRequirements r = req_;
  MoveNetwork(p, r, "polygon", "eip155:137");  // signed for another chain id
  ExpectInvalid(p, r, kNow, kRefSignature);
}

TEST_P(X402VectorTest, UnknownNetwork) {
  PaymentPayload p = payload_;
  PaymentRequirements r = req_;
  MoveNetwork(p, r, "solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
  ExpectInvalid(p, r, kNow, kRefNetworkMismatch);
  // v1 spelled as CAIP-2 is unknown to the v1 verifier, and v2 needs CAIP-2.
  MoveNetwork(p, r, "eip155:84532", "base-sepolia");
  ExpectInvalid(p, r, kNow, kRefNetworkMismatch);
}

TEST_P(X402VectorTest, TokenAddressDiffers) {
  PaymentRequirements r = req_;
  r.asset[0] ^= 0x80;
  ExpectInvalid(payload_, r, kNow, kRefSignature);
}

TEST_P(X402VectorTest, DomainNameDiffers) {
  PaymentRequirements r = req_;
  r.eip712_name = *r.eip712_name == "USDC" ? "USD Coin" : "USDC";
  ExpectInvalid(payload_, r, kNow, kRefSignature);
  r = req_;
  r.eip712_version = "1";
  ExpectInvalid(payload_, r, kNow, kRefSignature);
}

TEST_P(X402VectorTest, DomainMissing) {
  PaymentRequirements r = req_;
  r.eip712_name.reset();
  ExpectInvalid(payload_, r, kNow, kRefMissingDomain);
  r = req_;
  r.eip712_version = "";
  ExpectInvalid(payload_, r, kNow, kRefMissingDomain);
}

TEST_P(X402VectorTest, ValidAfterInTheFuture) {
  PaymentPayload p = payload_;
  p.authorization.valid_after = kNow + 100;
  p.signature = SignFor(req_, p.authorization);
  ExpectInvalid(p, req_, kNow, kRefValidAfter);
  p.authorization.valid_after = kNow;  // validAfter <= now passes (the chain wants <)
  p.signature = SignFor(req_, p.authorization);
  EXPECT_TRUE(VerifyExactOffline(p, req_, kNow).is_valid);
}

TEST_P(X402VectorTest, ValidBeforeTooSoon) {
  const auto before = static_cast<int64_t>(payload_.authorization.valid_before);
  ExpectInvalid(payload_, req_, before - 5, kRefValidBefore);
  EXPECT_TRUE(VerifyExactOffline(payload_, req_, before - 6).is_valid);
}

TEST_P(X402VectorTest, SignedFieldsTampered) {
  PaymentPayload p = payload_;
  p.authorization.value = p.authorization.value.Add(Amount::FromUint64(1)).value();
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  p.authorization.nonce[31] ^= 0x01;
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  p.authorization.valid_after += 1;
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  p.authorization.valid_before += 1;
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  p.authorization.from[0] ^= 0x01;
  ExpectInvalid(p, req_, kNow, kRefSignature);  // payer is the claimed from
  p = payload_;
  p.authorization.to[0] ^= 0x01;
  PaymentRequirements r = req_;
  r.pay_to = p.authorization.to;  // the recipient matches but was not signed
  ExpectInvalid(p, r, kNow, kRefSignature);
}

TEST_P(X402VectorTest, SignatureByteFlipped) {
  for (size_t i : {size_t{0}, size_t{17}, size_t{31}, size_t{32}, size_t{50}, size_t{63}}) {
    SCOPED_TRACE(i);
    PaymentPayload p = payload_;
    p.signature[i] ^= 0x01;
    ExpectInvalid(p, req_, kNow, kRefSignature);
  }
  PaymentPayload p = payload_;
  p.signature[64] = p.signature[64] == 27 ? 28 : 27;  // the other parity: another key
  ExpectInvalid(p, req_, kNow, kRefSignature);
}

TEST_P(X402VectorTest, HighSTwinFailsWhereTheChainWould) {
  PaymentPayload p = payload_;
  NegateS(p.signature);
  p.signature[64] = p.signature[64] == 27 ? 28 : 27;
  // It recovers the same payer (viem accepts it off chain); FiatToken's ECRecover refuses it.
  signer::RecoverOptions tolerant;
  tolerant.allow_high_s = true;
  const auto digest = Eip3009Digest(*req_.eip712_name, *req_.eip712_version, req_.chain_id,
                                    req_.asset, p.authorization);
  Result<signer::PublicKey> key = signer::RecoverDigest(digest, p.signature, tolerant);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(signer::EthereumAddress(*key).value_or(""), kDevAddress);
  ExpectInvalid(p, req_, kNow, kRefSimulationFailed, kRefHighS);
  // The simulation step comes last, as in the reference: an earlier failure wins.
  PaymentRequirements r = req_;
  r.pay_to[0] ^= 0x01;
  ExpectInvalid(p, r, kNow, kRefRecipientMismatch);
  ExpectInvalid(p, req_, static_cast<int64_t>(p.authorization.valid_before), kRefValidBefore);
}

TEST_P(X402VectorTest, RawRecoveryIdV) {
  // v - 27 (0 or 1) recovers the same payer; FiatToken's ECRecover refuses the form.
  PaymentPayload p = payload_;
  p.signature[64] = static_cast<uint8_t>(p.signature[64] - 27);
  ExpectInvalid(p, req_, kNow, kRefSimulationFailed, kRefBadV);
  // High S and raw v together: FiatToken checks S first.
  NegateS(p.signature);
  p.signature[64] ^= 0x01;
  ExpectInvalid(p, req_, kNow, kRefSimulationFailed, kRefHighS);
  // The wrong raw parity recovers another key.
  p = payload_;
  p.signature[64] = payload_.signature[64] == 27 ? 1 : 0;
  ExpectInvalid(p, req_, kNow, kRefSignature);
}

TEST_P(X402VectorTest, VOutsideKnownForms) {
  for (uint8_t v : {uint8_t{2}, uint8_t{26}, uint8_t{29}, uint8_t{35}, uint8_t{255}}) {
    SCOPED_TRACE(static_cast<int>(v));
    PaymentPayload p = payload_;
    p.signature[64] = v;
    ExpectInvalid(p, req_, kNow, kRefSignature);
  }
}

TEST_P(X402VectorTest, SignatureLengthNot65) {
  PaymentPayload p = payload_;
  p.signature.pop_back();
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  p.signature.push_back(0);
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p.signature.assign(32, 0x11);
  ExpectInvalid(p, req_, kNow, kRefSignature);
}

TEST_P(X402VectorTest, ZeroAndOverflowingRS) {
  PaymentPayload p = payload_;
  std::fill(p.signature.begin(), p.signature.begin() + 32, 0);
  ExpectInvalid(p, req_, kNow, kRefSignature);
  p = payload_;
  std::fill(p.signature.begin() + 32, p.signature.begin() + 64, 0xff);  // s >= n
  ExpectInvalid(p, req_, kNow, kRefSignature);
}

TEST_P(X402VectorTest, SchemeNotExact) {
  PaymentRequirements r = req_;
  r.scheme = "upto";
  ExpectInvalid(payload_, r, kNow, kRefScheme);
  PaymentPayload p = payload_;
  p.scheme = "upto";
  ExpectInvalid(p, req_, kNow, kRefScheme);
}

TEST_P(X402VectorTest, CheckOrderFollowsTheReference) {
  // scheme before domain before network before signature.
  PaymentPayload p = payload_;
  PaymentRequirements r = req_;
  r.scheme = "upto";
  r.eip712_name.reset();
  r.network = "eip155:1";
  ExpectInvalid(p, r, kNow, kRefScheme);
  r.scheme = "exact";
  // v1 resolves the payload's network before the domain check; v2 checks the domain first.
  p.network = "nowhere";
  ExpectInvalid(p, r, kNow,
                version_ == kX402V1 ? kRefNetworkMismatch : kRefMissingDomain);
  p = payload_;
  ExpectInvalid(p, r, kNow, kRefMissingDomain);
  r.eip712_name = req_.eip712_name;
  p.signature[5] ^= 0x40;
  ExpectInvalid(p, r, kNow, kRefNetworkMismatch);
  r.network = req_.network;
  r.pay_to[3] ^= 0x01;
  ExpectInvalid(p, r, kNow, kRefSignature);
  p = payload_;
  r.amount = Amount::FromUint64(0);
  ExpectInvalid(p, r, kNow, kRefRecipientMismatch);
  r.pay_to = req_.pay_to;
  ExpectInvalid(p, r, static_cast<int64_t>(p.authorization.valid_before), kRefValidBefore);
  ExpectInvalid(p, r, kNow, ValueCode());
}

TEST_P(X402VectorTest, VersionMismatch) {
  PaymentRequirements r = req_;
  r.version = version_ == kX402V1 ? kX402V2 : kX402V1;
  ExpectInvalid(payload_, r, kNow, kRefInvalidX402Version);
}

TEST_P(X402VectorTest, ReEncodedHeaderParsesBack) {
  Result<json::Value> again = DecodeHeaderJson(EncodeHeaderJson(PayloadToJson(payload_)));
  ASSERT_TRUE(again.ok());
  Result<PaymentPayload> p = ParsePayload(*again);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(VerifyExactOffline(*p, req_, kNow).is_valid);
}

// ---- the same mutations through the reference verify ----

// What the reference does with a case.
enum class RefAnswer {
  kSame,      // answers ours: the same validity, code and message
  kDiffers,   // answers `ref_code` and `ref_message` (each such case says why)
  kThrows,    // its facilitator throws instead of answering (a difference specs/x402.md documents)
  kNoDecode,  // its v1 header decoder (x402@1.2.0's schema) refuses the header before any verify
};

// One mutated payment, sent as a header and requirements JSON to both verifiers. Ours must answer
// `code` (and `message`; an empty code: valid); the reference (@x402/core's facilitator with
// @x402/evm's exact scheme, run by tests/interop/reference_verify.mjs at the same clock, on a
// stand-in chain that simulates the transfer as FiatToken does) as `answer` says.
struct RefCase {
  std::string name;
  std::string header;
  json::Value requirements;
  int64_t now = kNow;
  std::string_view code;
  std::string_view message;
  RefAnswer answer = RefAnswer::kSame;
  std::string_view ref_code;  // with kDiffers
  std::string_view ref_message;
};

// The wire form of a payload whose fields a test changed: v2's `accepted` is rebuilt from the
// fields (not echoed raw), with the payload's scheme and network.
std::string HeaderOf(const PaymentPayload& p) {
  PaymentPayload wire = p;
  if (wire.accepted.has_value()) {
    wire.accepted->scheme = wire.scheme;
    wire.accepted->network = wire.network;
    wire.accepted->raw = json::Value::Object();
  }
  return EncodeHeaderJson(PayloadToJson(wire));
}

// The mutations of the tests above (and their combinations that pin the check order) on one
// vector, each with the reference's code for the vector's version.
std::vector<RefCase> ReferenceCases(const std::string& file) {
  const json::Value vec = LoadJson(file);
  const bool v1 = Str(vec, {"protocol"}) == "x402 v1";
  const int version = v1 ? kX402V1 : kX402V2;
  Result<json::Value> decoded = DecodeHeaderJson(Str(vec, {"http", "requestHeaderValue"}));
  EXPECT_TRUE(decoded.ok()) << file;
  if (!decoded.ok()) {
    return {};
  }
  Result<PaymentPayload> parsed = ParsePayload(*decoded);
  Result<PaymentRequirements> parsed_req =
      ParseRequirements(At(vec, {"paymentRequirements"}), version);
  EXPECT_TRUE(parsed.ok() && parsed_req.ok()) << file;
  if (!parsed.ok() || !parsed_req.ok()) {
    return {};
  }
  const PaymentPayload p0 = *parsed;
  const PaymentRequirements r0 = *parsed_req;
  const std::string_view value_code = v1 ? kRefValueMismatchV1 : kRefValueMismatchV2;
  const std::string stem = file.substr(7, file.size() - 12);  // drop "vector_" and ".json"
  std::vector<RefCase> out;
  auto add = [&](const std::string& name, const PaymentPayload& p, const PaymentRequirements& r,
                 std::string_view code, int64_t now = kNow, std::string_view message = {}) {
    RefCase c;
    c.name = stem + ": " + name;
    c.header = HeaderOf(p);
    c.requirements = RequirementsToJson(r);
    c.now = now;
    c.code = code;
    c.message = message;
    out.push_back(std::move(c));
  };
  // Both sides moved to another network (payload and requirements agree).
  auto move_network = [&](PaymentPayload& p, PaymentRequirements& r, const std::string& v1_name,
                          const std::string& v2_name) {
    p.network = r.network = v1 ? v1_name : v2_name;
    r.chain_id = ChainIdOf(r.network).value_or(0);
  };
  auto resign = [](PaymentPayload& p, const PaymentRequirements& r) {
    p.signature = SignFor(r, p.authorization);
  };
  // v1: ExactEvmSchemeV1's diagnosis of a failed simulation carries no invalidMessage (v2's
  // carries the revert text); ours sends FiatToken's text in both versions.
  auto v1_without_message = [&] {
    if (v1) {
      out.back().answer = RefAnswer::kDiffers;
      out.back().ref_code = out.back().code;
      out.back().ref_message = "";
    }
  };
  // v1: x402's header decoder takes only the scheme "exact" and its own network names.
  auto v1_schema_refuses = [&] {
    if (v1) out.back().answer = RefAnswer::kNoDecode;
  };
  const int64_t before = static_cast<int64_t>(p0.authorization.valid_before);

  add("as signed", p0, r0, "");
  {
    PaymentRequirements r = r0;
    r.amount = r.amount.Add(Amount::FromUint64(1)).value();
    add("required amount + 1", p0, r, value_code);
    r = r0;
    r.amount = r.amount.Sub(Amount::FromUint64(1)).value();
    add("required amount - 1", p0, r, value_code);
  }
  {
    PaymentRequirements r = r0;
    r.pay_to[19] ^= 0x01;
    add("payee differs", p0, r, kRefRecipientMismatch);
  }
  {
    PaymentRequirements r = r0;
    r.network = v1 ? "polygon" : "eip155:137";
    r.chain_id = 137;
    add("requirements on another network", p0, r, kRefNetworkMismatch);
  }
  {
    PaymentPayload p = p0;
    PaymentRequirements r = r0;
    move_network(p, r, "polygon", "eip155:137");
    add("payload and requirements on another chain", p, r, kRefSignature);
    move_network(p, r, "solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
    add("unknown network", p, r, kRefNetworkMismatch);
    // §4.3: the reference throws building a v2 domain for a network that is not eip155:<id>.
    out.back().answer = v1 ? RefAnswer::kSame : RefAnswer::kThrows;
    move_network(p, r, "eip155:84532", "base-sepolia");
    add("network spelled as the other version's", p, r, kRefNetworkMismatch);
    out.back().answer = RefAnswer::kThrows;
    v1_schema_refuses();
  }
  {
    PaymentRequirements r = r0;
    r.asset[0] ^= 0x80;
    add("token address differs", p0, r, kRefSignature);
    r = r0;
    r.eip712_name = *r.eip712_name == "USDC" ? "USD Coin" : "USDC";
    add("domain name differs", p0, r, kRefSignature);
    r = r0;
    r.eip712_version = "1";
    add("domain version differs", p0, r, kRefSignature);
    r = r0;
    r.eip712_name.reset();
    add("domain name missing", p0, r, kRefMissingDomain);
    r = r0;
    r.eip712_version = "";
    add("domain version empty", p0, r, kRefMissingDomain);
  }
  {
    PaymentPayload p = p0;
    p.authorization.valid_after = kNow + 100;
    resign(p, r0);
    add("validAfter in the future", p, r0, kRefValidAfter);
    p.authorization.valid_after = kNow;
    resign(p, r0);
    add("validAfter now", p, r0, "");
    // Ours follows the reference's off-chain rule (validAfter <= now); its simulation then meets
    // FiatToken's strict now > validAfter and refuses (specs/x402.md §4.3).
    out.back().answer = RefAnswer::kDiffers;
    out.back().ref_code = kRefSimulationFailed;
    out.back().ref_message = v1 ? "" : "FiatTokenV2: authorization is not yet valid";
    add("validBefore 5 s away", p0, r0, kRefValidBefore, before - 5);
    add("validBefore 6 s away", p0, r0, "", before - 6);
  }
  {
    PaymentPayload p = p0;
    p.authorization.value = p.authorization.value.Add(Amount::FromUint64(1)).value();
    add("signed value changed", p, r0, kRefSignature);
    p = p0;
    p.authorization.nonce[31] ^= 0x01;
    add("signed nonce changed", p, r0, kRefSignature);
    p = p0;
    p.authorization.valid_after += 1;
    add("signed validAfter changed", p, r0, kRefSignature);
    p = p0;
    p.authorization.valid_before += 1;
    add("signed validBefore changed", p, r0, kRefSignature);
    p = p0;
    p.authorization.from[0] ^= 0x01;
    add("claimed payer changed", p, r0, kRefSignature);
    p = p0;
    p.authorization.to[0] ^= 0x01;
    PaymentRequirements r = r0;
    r.pay_to = p.authorization.to;
    add("unsigned recipient", p, r, kRefSignature);
  }
  for (size_t i : {size_t{0}, size_t{17}, size_t{31}, size_t{32}, size_t{50}, size_t{63}}) {
    PaymentPayload p = p0;
    p.signature[i] ^= 0x01;
    add("signature byte " + std::to_string(i) + " flipped", p, r0, kRefSignature);
  }
  {
    PaymentPayload p = p0;
    p.signature[64] = p.signature[64] == 27 ? 28 : 27;
    add("other parity", p, r0, kRefSignature);
    p = p0;
    NegateS(p.signature);
    p.signature[64] = p.signature[64] == 27 ? 28 : 27;
    add("high-S twin", p, r0, kRefSimulationFailed, kNow, kRefHighS);
    v1_without_message();
    PaymentRequirements r = r0;
    r.pay_to[0] ^= 0x01;
    add("high-S twin to another payee", p, r, kRefRecipientMismatch);
    add("high-S twin expired", p, r0, kRefValidBefore, before);
    p = p0;
    p.signature[64] = static_cast<uint8_t>(p.signature[64] - 27);
    add("raw recovery id", p, r0, kRefSimulationFailed, kNow, kRefBadV);
    v1_without_message();
    NegateS(p.signature);
    p.signature[64] ^= 0x01;
    add("raw recovery id and high S", p, r0, kRefSimulationFailed, kNow, kRefHighS);
    v1_without_message();
    p = p0;
    p.signature[64] = p0.signature[64] == 27 ? 1 : 0;
    add("wrong raw parity", p, r0, kRefSignature);
  }
  for (uint8_t v : {uint8_t{2}, uint8_t{26}, uint8_t{29}, uint8_t{35}, uint8_t{255}}) {
    PaymentPayload p = p0;
    p.signature[64] = v;
    add("v " + std::to_string(v), p, r0, kRefSignature);
  }
  {
    PaymentPayload p = p0;
    p.signature.pop_back();
    add("64-byte signature", p, r0, kRefSignature);
    p = p0;
    p.signature.push_back(0);
    add("66-byte signature", p, r0, kRefSignature);
    p.signature.assign(32, 0x11);
    add("32-byte signature", p, r0, kRefSignature);
    p = p0;
    std::fill(p.signature.begin(), p.signature.begin() + 32, 0);
    add("r zero", p, r0, kRefSignature);
    p = p0;
    std::fill(p.signature.begin() + 32, p.signature.begin() + 64, 0xff);
    add("s >= n", p, r0, kRefSignature);
  }
  {
    PaymentPayload p = p0;
    p.scheme = "upto";
    add("payload scheme not exact", p, r0, kRefScheme);
    v1_schema_refuses();
    PaymentRequirements r = r0;
    r.scheme = "upto";
    add("requirements scheme not exact", p0, r, kRefScheme);
    // §5.2: the reference's facilitator finds no scheme for the requirements and throws.
    out.back().answer = RefAnswer::kThrows;
  }
  {
    // The check order: scheme, (v1: the payload's network), domain, network, signature,
    // recipient, validBefore, value.
    PaymentPayload p = p0;
    PaymentRequirements r = r0;
    p.scheme = "upto";
    r.eip712_name.reset();
    r.network = "eip155:1";
    add("order: scheme first", p, r, kRefScheme);
    v1_schema_refuses();
    p.scheme = "exact";
    p.network = "nowhere";
    add("order: v1 resolves the payload's network before the domain", p, r,
        v1 ? kRefNetworkMismatch : kRefMissingDomain);
    v1_schema_refuses();
    p = p0;
    add("order: domain before network", p, r, kRefMissingDomain);
    r.eip712_name = r0.eip712_name;
    p.signature[5] ^= 0x40;
    add("order: network before signature", p, r, kRefNetworkMismatch);
    r.network = r0.network;
    r.chain_id = r0.chain_id;
    r.pay_to[3] ^= 0x01;
    add("order: signature before recipient", p, r, kRefSignature);
    p = p0;
    r.amount = Amount::FromUint64(0);
    add("order: recipient before value", p, r, kRefRecipientMismatch);
    r.pay_to = r0.pay_to;
    add("order: validBefore before value", p, r, kRefValidBefore, before);
    add("order: value last", p, r, value_code);
  }
  return out;
}

TEST(X402Reference, MutationsGetTheSameCodeFromTheReference) {
  std::vector<RefCase> cases;
  for (const std::string& file : VectorFiles()) {
    std::vector<RefCase> more = ReferenceCases(file);
    cases.insert(cases.end(), more.begin(), more.end());
  }
  ASSERT_GT(cases.size(), 5u * 50);
  json::Value input = json::Value::Array();
  std::vector<std::string> payers;  // ours
  for (const RefCase& c : cases) {
    // Ours, on exactly what the reference gets.
    SCOPED_TRACE(c.name);
    Result<json::Value> payload_json = DecodeHeaderJson(c.header);
    ASSERT_TRUE(payload_json.ok());
    Result<PaymentPayload> p = ParsePayload(*payload_json);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    Result<PaymentRequirements> r = ParseRequirements(c.requirements, p->version);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const VerifyResponse ours = VerifyExactOffline(*p, *r, c.now);
    EXPECT_EQ(ours.is_valid, c.code.empty());
    EXPECT_EQ(ours.invalid_reason, c.code);
    EXPECT_EQ(ours.invalid_message, c.message);
    payers.push_back(ours.payer);

    json::Value one = json::Value::Object();
    one.Set("name", json::Value::String(c.name));
    one.Set("header", json::Value::String(c.header));
    one.Set("requirements", c.requirements);
    one.Set("now", json::Value::Int(c.now));
    input.Append(std::move(one));
  }
  const json::Value results = testing::RunInteropScript("reference_verify.mjs", input);
  ASSERT_EQ(results.items().size(), cases.size()) << json::Write(results);
  for (size_t i = 0; i < cases.size(); ++i) {
    const RefCase& c = cases[i];
    const json::Value& got = results.items()[i];
    SCOPED_TRACE(c.name + "\nreference: " + json::Write(got));
    ASSERT_EQ(testing::StringField(got, "name"), c.name);
    if (c.answer == RefAnswer::kNoDecode) {
      EXPECT_FALSE(At(got, {"decoded"}).as_bool());
      continue;
    }
    if (!At(got, {"decoded"}).as_bool()) {
      ADD_FAILURE() << "the reference did not decode the header";
      continue;
    }
    const json::Value& ref = At(got, {"x402_evm"});
    if (c.answer == RefAnswer::kThrows) {
      EXPECT_NE(testing::StringField(ref, "error"), "");
      continue;
    }
    const bool same = c.answer == RefAnswer::kSame;
    const std::string_view code = same ? c.code : c.ref_code;
    EXPECT_EQ(testing::StringField(ref, "error"), "");
    EXPECT_EQ(At(ref, {"isValid"}).as_bool(), code.empty());
    EXPECT_EQ(testing::StringField(ref, "invalidReason"), code);
    EXPECT_EQ(testing::StringField(ref, "invalidMessage"), same ? c.message : c.ref_message);
    EXPECT_EQ(testing::StringField(ref, "payer"), payers[i]);
  }
}

// ---- domain separators, type hashes, settle responses ----

TEST(X402Domain, SeparatorsMatchTheFileAndOnChainValues) {
  const json::Value f = LoadJson("domain_separators.json");
  EXPECT_EQ(Hex0x(signer::Keccak256(AsBytes(Str(f, {"domainTypeString"})))),
            Str(f, {"domainTypeHash"}));
  const std::string& twa_hash = Str(f, {"transferWithAuthorizationTypeHash"});
  EXPECT_EQ(Hex0x(signer::Keccak256(AsBytes(Str(f, {"transferWithAuthorizationTypeString"})))),
            twa_hash);
  EXPECT_EQ(Hex0x(ByteSpan(EncodeTransferWithAuthorization({})).first(32)), twa_hash);
  const json::Value& entries = At(f, {"entries"});
  ASSERT_EQ(entries.items().size(), 7u);
  int on_chain = 0;
  for (const json::Value& e : entries.items()) {
    SCOPED_TRACE(Str(e, {"label"}));
    const json::Value& d = At(e, {"domain"});
    const auto ds = Eip3009DomainSeparator(Str(d, {"name"}), Str(d, {"version"}),
                                           At(d, {"chainId"}).as_uint64().value_or(0),
                                           Addr(Str(d, {"verifyingContract"})));
    EXPECT_EQ(Hex0x(ds), Str(e, {"computed"}));
    if (e.Find("expected") != nullptr) {
      EXPECT_EQ(Hex0x(ds), Str(e, {"expected"}));
      ++on_chain;
    }
  }
  EXPECT_EQ(on_chain, 2);
}

TEST(X402Domain, CacheIsConsistentUnderConcurrencyAndEviction) {
  // More domains than the cache holds, from several threads; every answer must be right.
  constexpr int kDomains = 600;
  std::vector<std::array<uint8_t, 32>> expected;
  Address asset = Addr("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
  for (int i = 0; i < kDomains; ++i) {
    expected.push_back(Eip3009DomainSeparator("Token" + std::to_string(i), "2", 84532, asset));
  }
  // A name that would collide with another (name, version) split if keys were concatenated.
  EXPECT_NE(Eip3009DomainSeparator("ab", "c", 1, asset),
            Eip3009DomainSeparator("a", "bc", 1, asset));
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kDomains; ++i) {
          const int k = (i * 7 + t * 13 + round) % kDomains;
          if (Eip3009DomainSeparator("Token" + std::to_string(k), "2", 84532, asset) !=
              expected[static_cast<size_t>(k)]) {
            ++bad[static_cast<size_t>(t)];
          }
        }
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

TEST(X402Responses, SettleResponsesMatchTheReference) {
  const json::Value f = LoadJson("facilitator_api_examples.json");
  SettleResponse ok;
  ok.success = true;
  ok.transaction = "0x3342333d3a093544fa02cf3ecccf6ba76ab6698dcb29ff88adb52f037b1c56ce";
  ok.network = "eip155:84532";
  ok.payer = kDevAddress;
  EXPECT_EQ(json::Write(SettleResponseToJson(ok)),
            json::Write(At(f, {"POST /settle v2 -> SettleResponse"})));
  EXPECT_EQ(EncodeHeaderJson(SettleResponseToJson(ok)),
            Str(f, {"PAYMENT-RESPONSE header value for the v2 settle"}));
  SettleResponse replay;
  replay.success = false;
  replay.error_reason = "invalid_exact_evm_nonce_already_used";
  replay.error_message = "FiatTokenV2: authorization is used or canceled";
  replay.network = "eip155:84532";
  replay.payer = kDevAddress;
  EXPECT_EQ(json::Write(SettleResponseToJson(replay)),
            json::Write(At(f, {"POST /settle v2 replayed (same payload) -> SettleResponse"})));
  // x402@1.2.0's own settle() for a v1 payment: the same members, the v1 network name.
  SettleResponse v1;
  v1.success = true;
  v1.transaction = "0xa214bfbbac77cd8eaa7645d6a206ca16328d116a943903023b0d3f8bbf771d6f";
  v1.network = "base-sepolia";
  v1.payer = kDevAddress;
  EXPECT_EQ(json::Write(SettleResponseToJson(v1)),
            json::Write(At(f, {"POST /settle v1 legacy x402@1.2.0 settle() -> SettleResponse"})));
  // Every answer of the file is compared above or in tests/api/x402_test.cc (GET /supported).
  EXPECT_EQ(f.keys(), (std::vector<std::string>{
                         "note", "GET /supported (x402Facilitator.getSupported())",
                         "POST /settle v2 -> SettleResponse",
                         "POST /settle v2 replayed (same payload) -> SettleResponse",
                         "POST /settle v1 legacy x402@1.2.0 settle() -> SettleResponse",
                         "PAYMENT-RESPONSE header value for the v2 settle", "mockCalls"}));
}

TEST(X402Responses, VerifyResponseMembers) {
  VerifyResponse bad;
  bad.invalid_reason = std::string(kRefSimulationFailed);
  bad.invalid_message = std::string(kRefHighS);
  bad.payer = kDevAddress;
  EXPECT_EQ(json::Write(VerifyResponseToJson(bad)),
            "{\"isValid\":false,\"invalidReason\":\"invalid_exact_evm_transaction_simulation_"
            "failed\",\"invalidMessage\":\"ECRecover: invalid signature 's' value\",\"payer\":\"" +
                std::string(kDevAddress) + "\"}");
  EXPECT_EQ(json::Write(VerifyResponseToJson(VerifyResponse{})), "{\"isValid\":false}");
}

// ---- networks ----

TEST(X402Networks, V1NamesAndCaip2) {
  const std::pair<const char*, uint64_t> kV1[] = {
      {"base-sepolia", 84532}, {"base", 8453},        {"avalanche-fuji", 43113},
      {"avalanche", 43114},    {"polygon", 137},      {"polygon-amoy", 80002},
      {"iotex", 4689},         {"sei", 1329},         {"sei-testnet", 1328},
      {"peaq", 3338},          {"story", 1514},       {"educhain", 41923},
      {"abstract", 2741},      {"abstract-testnet", 11124},
      {"skale-base-sepolia", 324705682},
      {"ethereum", 1},         {"sepolia", 11155111}, {"megaeth", 4326},
      {"monad", 143},          {"stable", 988},       {"stable-testnet", 2201},
      {"celo", 42220},         {"flare", 14},
  };
  for (const auto& [name, id] : kV1) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ChainIdOf(name), id);
    EXPECT_EQ(V1ChainIdOf(name), id);
    EXPECT_EQ(Caip2ChainIdOf(name), std::nullopt);
    EXPECT_EQ(V1NetworkName(id), name);
    EXPECT_EQ(ChainIdOf(Caip2Network(id)), id);
  }
  EXPECT_EQ(V1NetworkName(999999), "");
  EXPECT_EQ(Caip2Network(84532), "eip155:84532");
  EXPECT_EQ(ChainIdOf("eip155:84532"), 84532u);
  EXPECT_EQ(ChainIdOf("eip155:0084532"), 84532u);  // Number("0084532"), as the reference
  EXPECT_EQ(ChainIdOf("eip155:9007199254740991"), 9007199254740991u);
  EXPECT_EQ(V1ChainIdOf("eip155:8453"), std::nullopt);
  for (const char* bad : {"eip155:", "eip155:0", "eip155:-1", "eip155:1a", "eip155: 1",
                          "eip155:9007199254740992", "eip155:99999999999999999999", "EIP155:1",
                          "solana", "solana-devnet", "Base", "", "eip155:1.0"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ChainIdOf(bad), std::nullopt);
  }
}

// ---- malformed input ----

const std::string& V2PayloadText() {
  static const std::string kText = json::Write(
      At(LoadJson("vector_v2_base_sepolia_usdc_10000.json"), {"decodedPaymentPayload"}));
  return kText;
}

const std::string& V1PayloadText() {
  static const std::string kText = json::Write(
      At(LoadJson("vector_v1_base_sepolia_usdc_10000.json"), {"decodedPaymentPayload"}));
  return kText;
}

void Replace(std::string& s, std::string_view from, std::string_view to) {
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
}

// Parses `text` as a payload and returns the error reason ("" if it parsed).
std::string PayloadReason(const std::string& text) {
  Result<PaymentPayload> p = ParsePayload(J(text));
  return p.ok() ? "" : p.error().reason();
}

TEST(X402Malformed, HeaderBase64) {
  for (const char* bad : {"", "not base64!", "eyJ4Ijox fQ==", "eyJ4IjoxfQ===", "e=30",
                          "eyJ4IjoxfQ=", "e", "eyJ4Ijox\nfQ==", "eyJ4IjoxfQ-_", "=="}) {
    SCOPED_TRACE(bad);
    Result<json::Value> r = DecodeHeaderJson(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason(), "invalid_payload");
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  }
  // Valid base64 of something that is not (strict) JSON.
  for (std::string_view text : {"not json", "{\"a\":1,\"a\":2}", "{\"a\":1} x"}) {
    Result<json::Value> r = DecodeHeaderJson(Base64Encode(AsBytes(text)));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().reason(), "invalid_payload");
  }
  // Missing padding is accepted, as atob accepts it.
  Result<json::Value> unpadded = DecodeHeaderJson("eyJ4IjoxfQ");
  ASSERT_TRUE(unpadded.ok());
  EXPECT_EQ(json::Write(*unpadded), "{\"x\":1}");
  EXPECT_EQ(EncodeHeaderJson(*unpadded), "eyJ4IjoxfQ==");
}

TEST(X402Malformed, PayloadVersion) {
  std::string t = V2PayloadText();
  EXPECT_EQ(PayloadReason(t), "");
  for (std::string_view v : {"3", "0", "\"2\"", "2.5", "-1", "null"}) {
    SCOPED_TRACE(v);
    std::string m = t;
    Replace(m, "\"x402Version\":2", "\"x402Version\":" + std::string(v));
    EXPECT_EQ(PayloadReason(m), "invalid_x402_version");
  }
  std::string m = t;
  Replace(m, "\"x402Version\":2,", "");
  EXPECT_EQ(PayloadReason(m), "invalid_x402_version");
  EXPECT_EQ(PayloadReason("[]"), "invalid_payload");
  EXPECT_EQ(PayloadReason("\"x\""), "invalid_payload");
}

TEST(X402Malformed, PayloadFields) {
  struct Case {
    const char* from;
    const char* to;
  };
  const std::string v2 = V2PayloadText();
  const Case kV2[] = {
      {"\"nonce\":\"0x161c", "\"nonce\":\"0x61c"},                 // 63 digits
      {"\"nonce\":\"0x161c", "\"nonce\":\"0xg61c"},                // not hex
      {"\"nonce\":\"0x161c", "\"nonce\":\"161c16"},                // no 0x
      {"\"nonce\":\"0x", "\"nonce\":\"0x00"},                      // 66 digits
      {"\"signature\":\"0x", "\"signature\":\"0"},                 // no 0x
      {"\"signature\":\"0x", "\"signature\":\"0x0"},               // odd length
      {"\"value\":\"10000\"", "\"value\":\"1.5\""},
      {"\"value\":\"10000\"", "\"value\":\"-1\""},
      {"\"value\":\"10000\"", "\"value\":\"010000\""},
      {"\"value\":\"10000\"", "\"value\":10000"},
      {"\"value\":\"10000\"", "\"value\":\"340282366920938463463374607431768211456\""},
      {"\"validBefore\":\"1750000060\"", "\"validBefore\":\"\""},
      {"\"validAfter\":\"0\",", ""},
      {"\"from\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"",
       "\"from\":\"0x70997970c51812dc3A010C7d01b50e0d17dc79C8\""},  // bad checksum
      {"\"from\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"",
       "\"from\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79\""},
      {"\"payload\":{\"authorization\":", "\"payload\":{\"auth\":"},
      {"\"accepted\":", "\"acceptedX\":"},
      {"\"accepted\":{\"scheme\":\"exact\",", "\"accepted\":{"},
      {"\"resource\":{", "\"resource\":[{"},  // completed below
  };
  for (const Case& c : kV2) {
    SCOPED_TRACE(std::string(c.from) + " -> " + c.to);
    std::string m = v2;
    Replace(m, c.from, c.to);
    if (std::string_view(c.to) == "\"resource\":[{") {
      Replace(m, "\"mimeType\":\"application/json\"}", "\"mimeType\":\"application/json\"}]");
    }
    EXPECT_EQ(PayloadReason(m), "invalid_payload");
  }
  // Lower-case and upper-case addresses are fine.
  std::string lower = v2;
  Replace(lower, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
          "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  EXPECT_EQ(PayloadReason(lower), "");

  const std::string v1 = V1PayloadText();
  EXPECT_EQ(PayloadReason(v1), "");
  for (const Case& c : std::initializer_list<Case>{
           {"\"network\":\"base-sepolia\",", ""},
           {"\"scheme\":\"exact\",", "\"scheme\":7,"},
           {"\"payload\":{", "\"payloadX\":{"},
       }) {
    SCOPED_TRACE(c.from);
    std::string m = v1;
    Replace(m, c.from, c.to);
    EXPECT_EQ(PayloadReason(m), "invalid_payload");
  }
  // An unknown v1 network parses (verification reports it).
  std::string m = v1;
  Replace(m, "\"network\":\"base-sepolia\"", "\"network\":\"nowhere\"");
  EXPECT_EQ(PayloadReason(m), "");
}

TEST(X402Malformed, Requirements) {
  const json::Value vec = LoadJson("vector_v1_base_sepolia_usdc_10000.json");
  const std::string v1 = json::Write(At(vec, {"paymentRequirements"}));
  const std::string v2 = json::Write(
      At(LoadJson("vector_v2_base_sepolia_usdc_10000.json"), {"paymentRequirements"}));
  struct Case {
    const std::string* base;
    int version;
    const char* from;
    const char* to;
    const char* pointer;
  };
  const Case kCases[] = {
      {&v2, 2, "\"amount\":\"10000\",", "", "/amount"},
      {&v2, 2, "\"amount\":\"10000\"", "\"amount\":10000", "/amount"},
      {&v2, 2, "\"amount\":\"10000\"", "\"amount\":\"1e4\"", "/amount"},
      {&v2, 2, "\"asset\":\"0x036C", "\"asset\":\"0xZ36C", "/asset"},
      {&v2, 2, "\"payTo\":\"0x2096", "\"payTo\":\"2096", "/payTo"},
      {&v2, 2, "\"maxTimeoutSeconds\":60", "\"maxTimeoutSeconds\":0", "/maxTimeoutSeconds"},
      {&v2, 2, "\"maxTimeoutSeconds\":60", "\"maxTimeoutSeconds\":\"60\"", "/maxTimeoutSeconds"},
      {&v2, 2, "\"maxTimeoutSeconds\":60", "\"maxTimeoutSeconds\":6.5", "/maxTimeoutSeconds"},
      {&v2, 2, "\"extra\":{\"name\":\"USDC\",\"version\":\"2\"}", "\"extra\":\"USDC\"", "/extra"},
      {&v2, 2, "\"scheme\":\"exact\",", "", "/scheme"},
      {&v2, 2, "\"network\":\"eip155:84532\"", "\"network\":84532", "/network"},
      {&v1, 1, "\"maxAmountRequired\"", "\"amount\"", "/maxAmountRequired"},
      {&v1, 1, "\"description\":\"Access to premium market data\"", "\"description\":1",
       "/description"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.from) + " -> " + c.to);
    std::string m = *c.base;
    Replace(m, c.from, c.to);
    Result<PaymentRequirements> r = ParseRequirements(J(m), c.version, "/accepts/0");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason(), "invalid_payment_requirements");
    EXPECT_EQ(r.error().message().rfind(std::string("/accepts/0") + c.pointer + ":", 0), 0u)
        << r.error().message();
  }
  // v2 requirements read as v1 lack maxAmountRequired; other versions are refused.
  EXPECT_FALSE(ParseRequirements(J(v2), kX402V1).ok());
  EXPECT_FALSE(ParseRequirements(J(v2), 3).ok());
  EXPECT_FALSE(ParseRequirements(J("[]"), kX402V2).ok());
  // Kept raw in settlement records and audit events, a few levels deeper than here: nesting
  // past 32 levels is refused (the audit verifier parses at most 64).
  auto nested = [&](int levels) {
    std::string m = v2;
    Replace(m, "\"version\":\"2\"}",
            "\"version\":\"2\",\"deep\":" + std::string(levels, '[') + std::string(levels, ']') + "}");
    return ParseRequirements(J(m), kX402V2, "/accepts/0");
  };
  EXPECT_TRUE(nested(30).ok());  // 30 arrays + extra + the requirements object: 32 levels
  Result<PaymentRequirements> deep = nested(31);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().reason(), "invalid_payment_requirements");
  EXPECT_EQ(deep.error().message(), "/accepts/0: nests more than 32 levels");
  // Lenient where the reference is: no extra, non-string name, unknown network, extra members.
  std::string m = v2;
  Replace(m, ",\"extra\":{\"name\":\"USDC\",\"version\":\"2\"}", "");
  Result<PaymentRequirements> no_extra = ParseRequirements(J(m), kX402V2);
  ASSERT_TRUE(no_extra.ok());
  EXPECT_FALSE(no_extra->eip712_name.has_value());
  m = v2;
  Replace(m, "\"name\":\"USDC\"", "\"name\":5,\"assetTransferMethod\":\"eip3009\"");
  Replace(m, "\"network\":\"eip155:84532\"", "\"network\":\"solana:devnet\",\"x\":[1]");
  Result<PaymentRequirements> odd = ParseRequirements(J(m), kX402V2);
  ASSERT_TRUE(odd.ok());
  EXPECT_FALSE(odd->eip712_name.has_value());
  EXPECT_EQ(odd->eip712_version, "2");
  EXPECT_EQ(odd->chain_id, 0u);
}

// ---- JSON numbers as JavaScript prints them (for echoed requirements) ----

TEST(X402JsNumbers, AsJsonStringifyPrintsThem) {
  const std::pair<const char*, const char*> kCases[] = {
      {"60", "60"},
      {"60.0", "60"},
      {"6e1", "60"},
      {"1E2", "100"},
      {"-0", "0"},
      {"0.0", "0"},
      {"1.50", "1.5"},
      {"0.1", "0.1"},
      {"123456789012345678901234", "1.2345678901234569e+23"},
      {"9007199254740993", "9007199254740992"},
      {"100000000000000000000", "100000000000000000000"},
      {"1e21", "1e+21"},
      {"0.000001", "0.000001"},
      {"1e-7", "1e-7"},
      {"-2.5e-8", "-2.5e-8"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"1e400", "null"},
      {"-1e400", "null"},
      {"1e-400", "0"},
      {"2352444800", "2352444800"},
  };
  for (const auto& [in, out] : kCases) {
    SCOPED_TRACE(in);
    // Built directly: the strict parser itself refuses numbers beyond double range.
    json::Value arr = json::Value::Array();
    arr.Append(json::Value::NumberText(in));
    EXPECT_EQ(json::Write(WithJsNumbers(arr)), std::string("[") + out + "]");
  }
  EXPECT_EQ(json::Write(WithJsNumbers(J("{\"b\":{\"c\":[1.0,\"1.0\",true,null]},\"a\":2.0}"))),
            "{\"b\":{\"c\":[1,\"1.0\",true,null]},\"a\":2}");
}

TEST(X402JsNumbers, EchoedAcceptedUsesThem) {
  const json::Value vec = LoadJson("vector_v2_base_sepolia_usdc_10000.json");
  std::string text = json::Write(At(vec, {"decodedPaymentPayload"}));
  Replace(text, "\"maxTimeoutSeconds\":60", "\"maxTimeoutSeconds\":60.0");
  Result<PaymentPayload> p = ParsePayload(J(text));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(EncodeHeaderJson(PayloadToJson(*p)), Str(vec, {"http", "requestHeaderValue"}));
}

TEST(X402Encode, V2ExtensionsSitBetweenPayloadAndResource) {
  const json::Value vec = LoadJson("vector_v2_base_sepolia_usdc_10000.json");
  Result<PaymentPayload> p = ParsePayload(At(vec, {"decodedPaymentPayload"}));
  ASSERT_TRUE(p.ok());
  p->extensions = J("{\"bazaar\":{\"info\":{},\"schema\":{}}}");
  const json::Value j = PayloadToJson(*p);
  ASSERT_EQ(j.keys().size(), 5u);
  EXPECT_EQ(j.keys()[0], "x402Version");
  EXPECT_EQ(j.keys()[1], "payload");
  EXPECT_EQ(j.keys()[2], "extensions");
  EXPECT_EQ(j.keys()[3], "resource");
  EXPECT_EQ(j.keys()[4], "accepted");
  Result<PaymentPayload> back = ParsePayload(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->extensions, p->extensions);
}

TEST(X402Verify, ReasonConstantsAreTheReferences) {
  // The product's constants, each against the reference's spelling.
  EXPECT_EQ(kReasonInvalidScheme, kRefScheme);
  EXPECT_EQ(kReasonNetworkMismatch, kRefNetworkMismatch);
  EXPECT_EQ(kReasonMissingEip712Domain, kRefMissingDomain);
  EXPECT_EQ(kReasonInvalidSignature, kRefSignature);
  EXPECT_EQ(kReasonRecipientMismatch, kRefRecipientMismatch);
  EXPECT_EQ(kReasonValidBefore, kRefValidBefore);
  EXPECT_EQ(kReasonValidAfter, kRefValidAfter);
  EXPECT_EQ(kReasonValueMismatchV2, kRefValueMismatchV2);
  EXPECT_EQ(kReasonValueMismatchV1, kRefValueMismatchV1);
  EXPECT_EQ(kReasonSimulationFailed, kRefSimulationFailed);
  EXPECT_EQ(kReasonInvalidX402Version, kRefInvalidX402Version);
  EXPECT_EQ(kMessageHighS, kRefHighS);
  EXPECT_EQ(kMessageBadV, kRefBadV);
}

TEST(X402Verify, NegativeAndHugeClocks) {
  const json::Value vec = LoadJson("vector_v2_avalanche_usdc_250000_longlived.json");
  Result<PaymentPayload> p = ParsePayload(At(vec, {"decodedPaymentPayload"}));
  Result<PaymentRequirements> r = ParseRequirements(At(vec, {"paymentRequirements"}), kX402V2);
  ASSERT_TRUE(p.ok() && r.ok());
  EXPECT_EQ(VerifyExactOffline(*p, *r, -1).invalid_reason, kRefValidAfter);
  EXPECT_EQ(VerifyExactOffline(*p, *r, INT64_MIN).invalid_reason, kRefValidAfter);
  EXPECT_EQ(VerifyExactOffline(*p, *r, INT64_MAX).invalid_reason, kRefValidBefore);
  EXPECT_TRUE(VerifyExactOffline(*p, *r, 0).is_valid);
}

}  // namespace
}  // namespace mandated::settlement
