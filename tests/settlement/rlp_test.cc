// RLP encoding and strict decoding against published vectors.
//
// Provenance: the expected encodings are those of ethereum/tests `RLPTests/rlptest.json`
// (emptystring, bytestring00/01/7F, shortstring, shortstring2, longstring, zero, smallint*,
// mediumint1-4, emptylist, stringlist, multilist, shortListMax1, longList1, listsoflists,
// listsoflists2, dictTest1) and of the RLP page of the Ethereum wiki / ethereum.org
// ("dog", ["cat","dog"], "", [], 0, 15, 1024, the set-theoretic representation of three, and
// "Lorem ipsum dolor sit amet, consectetur adipisicing elit").
#include "settlement/rlp.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_support.h"

namespace mandated::settlement::rlp {
namespace {

using testing::Hex;

Item S(std::string_view s) { return Item::String(AsBytes(s)); }
Item L(std::vector<Item> items) { return Item::List(std::move(items)); }

std::string Enc(const Item& i) { return HexEncode(Encode(i)); }

// Every vector must also decode back to the same item.
void ExpectRoundTrip(const Item& item, std::string_view hex) {
  EXPECT_EQ(Enc(item), hex);
  Result<Item> back = Decode(Hex(hex));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, item);
}

TEST(RlpTest, WikiExamples) {
  ExpectRoundTrip(S("dog"), "83646f67");
  ExpectRoundTrip(L({S("cat"), S("dog")}), "c88363617483646f67");
  ExpectRoundTrip(S(""), "80");
  ExpectRoundTrip(L({}), "c0");
  EXPECT_EQ(Enc(Item::Uint(0)), "80");
  EXPECT_EQ(Enc(Item::Uint(15)), "0f");
  EXPECT_EQ(Enc(Item::Uint(1024)), "820400");
  // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
  ExpectRoundTrip(L({L({}), L({L({})}), L({L({}), L({L({})})})}), "c7c0c1c0c3c0c1c0");
  // A 56-byte string takes the long form (0xb8, one length byte).
  const std::string lorem56 = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
  ASSERT_EQ(lorem56.size(), 56u);
  ExpectRoundTrip(S(lorem56), "b838" + HexEncode(AsBytes(lorem56)));
}

TEST(RlpTest, EthereumTestsStrings) {
  ExpectRoundTrip(S(std::string(1, '\0')), "00");
  ExpectRoundTrip(S("\x01"), "01");
  ExpectRoundTrip(S("\x7f"), "7f");
  const std::string lorem55 = "Lorem ipsum dolor sit amet, consectetur adipisicing eli";
  ASSERT_EQ(lorem55.size(), 55u);
  ExpectRoundTrip(S(lorem55),
                  "b74c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e73656374657475"
                  "72206164697069736963696e6720656c69");
}

TEST(RlpTest, EthereumTestsIntegers) {
  EXPECT_EQ(Enc(Item::Uint(1)), "01");
  EXPECT_EQ(Enc(Item::Uint(16)), "10");
  EXPECT_EQ(Enc(Item::Uint(79)), "4f");
  EXPECT_EQ(Enc(Item::Uint(127)), "7f");
  EXPECT_EQ(Enc(Item::Uint(128)), "8180");
  EXPECT_EQ(Enc(Item::Uint(1000)), "8203e8");
  EXPECT_EQ(Enc(Item::Uint(100000)), "830186a0");
  // mediumint4: 83729609699884896815286331701780722 = 0x102030405060708090a0b0c0d0e0f2.
  const Uint128 m4 = (static_cast<Uint128>(0x10203040506070ULL) << 64) | 0x8090a0b0c0d0e0f2ULL;
  EXPECT_EQ(Enc(Item::Uint(m4)), "8f102030405060708090a0b0c0d0e0f2");
  Result<Uint128> back = DecodeUint(*Decode(Hex("8f102030405060708090a0b0c0d0e0f2")));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == m4);
  EXPECT_TRUE(*DecodeUint(*Decode(Hex("8203e8"))) == 1000);
  EXPECT_TRUE(*DecodeUint(*Decode(Hex("80"))) == 0);
}

TEST(RlpTest, EthereumTestsLists) {
  ExpectRoundTrip(L({S("dog"), S("god"), S("cat")}), "cc83646f6783676f6483636174");
  ExpectRoundTrip(L({S("zw"), L({Item::Uint(4)}), Item::Uint(1)}), "c6827a77c10401");
  ExpectRoundTrip(L({L({L({}), L({})}), L({})}), "c4c2c0c0c0");
  ExpectRoundTrip(L({L({S("key1"), S("val1")}), L({S("key2"), S("val2")}),
                     L({S("key3"), S("val3")}), L({S("key4"), S("val4")})}),
                  "ecca846b6579318476616c31ca846b6579328476616c32ca846b6579338476616c33ca846b65"
                  "79348476616c34");
  // shortListMax1: 55 bytes of payload, the largest short list.
  std::vector<Item> eleven;
  for (int i = 0; i < 11; ++i) {
    eleven.push_back(S(i % 3 == 0 ? "asdf" : i % 3 == 1 ? "qwer" : "zxcv"));
  }
  ExpectRoundTrip(L(eleven),
                  "f784617364668471776572847a78637684617364668471776572847a78637684617364668471"
                  "776572847a78637684617364668471776572");
  // longList1: 64 bytes of payload, a long list header f840.
  const Item triple = L({S("asdf"), S("qwer"), S("zxcv")});
  std::string body;
  for (int i = 0; i < 4; ++i) {
    body += "cf84617364668471776572847a786376";
  }
  ExpectRoundTrip(L({triple, triple, triple, triple}), "f840" + body);
}

TEST(RlpTest, DecodingRefusesNonCanonicalAndTruncatedInput) {
  for (std::string_view bad : {
           "",          // nothing
           "8100",      // 0x00 as a one-byte string: must be encoded as itself
           "817f",      // same for 0x7f
           "83646f",    // truncated string
           "b80100",    // long form for a length below 56
           "b90038" ,   // length with a leading zero byte
           "c883636174",  // list shorter than its header says
           "83646f6700",  // trailing byte
       }) {
    Result<Item> r = Decode(Hex(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason(), "bad-rlp") << bad;
  }
  // Integers: no leading zero, at most 16 bytes.
  EXPECT_FALSE(DecodeUint(*Decode(Hex("820001"))).ok());
  EXPECT_FALSE(DecodeUint(*Decode(Hex("91" + std::string(34, '1')))).ok());
  EXPECT_FALSE(DecodeUint(*Decode(Hex("c0"))).ok());
}

}  // namespace
}  // namespace mandated::settlement::rlp
