// Amount: strict decimal parsing, printing and checked arithmetic at the 128-bit edges.
#include "base/amount.h"

#include <gtest/gtest.h>

namespace mandated {
namespace {

constexpr char kMax[] = "340282366920938463463374607431768211455";  // 2^128 - 1

TEST(Amount, ParsesAndPrintsRoundTrip) {
  // Printing takes 19 digits at a time above 2^64: zeros inside and at the seams of those.
  for (const char* s : {"0", "1", "10000", "18446744073709551615", "18446744073709551616",
                        "10000000000000000000", "100000000000000000000",
                        "10000000000000000000000000000000000000", "99999999999999999999",
                        "100000000000000000000000000000000000001", kMax}) {
    SCOPED_TRACE(s);
    Result<Amount> a = Amount::Parse(s);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->ToString(), s);
  }
}

TEST(Amount, RefusesMalformedText) {
  for (const char* s : {"", "-1", "+1", "1.0", "1e3", " 1", "1 ", "0x10", "01", "00", "１"}) {
    SCOPED_TRACE(s);
    Result<Amount> a = Amount::Parse(s);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().reason(), "bad-amount");
  }
}

TEST(Amount, RefusesValuesAboveTheRange) {
  for (const char* s : {"340282366920938463463374607431768211456",
                        "999999999999999999999999999999999999999",
                        "1000000000000000000000000000000000000000000"}) {
    Result<Amount> a = Amount::Parse(s);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.error().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(a.error().reason(), "amount-out-of-range");
  }
}

TEST(Amount, ArithmeticIsChecked) {
  Amount max = Amount::Max();
  EXPECT_EQ(max.ToString(), kMax);
  EXPECT_EQ(max.Add(Amount::FromUint64(1)).error().reason(), "amount-out-of-range");
  EXPECT_EQ(max.Add(Amount::FromUint64(0))->ToString(), kMax);
  EXPECT_EQ(Amount::FromUint64(5).Sub(Amount::FromUint64(6)).error().reason(),
            "amount-out-of-range");
  EXPECT_EQ(Amount::FromUint64(6).Sub(Amount::FromUint64(6))->ToString(), "0");
  EXPECT_EQ(Amount::Parse("170141183460469231731687303715884105728")->Mul(2).error().reason(),
            "amount-out-of-range");
  EXPECT_EQ(Amount::Parse("170141183460469231731687303715884105727")->Mul(2)->ToString(),
            "340282366920938463463374607431768211454");
  EXPECT_LT(Amount::FromUint64(1), Amount::FromUint64(2));
  EXPECT_GT(max, Amount::Parse("18446744073709551616").value());
}

}  // namespace
}  // namespace mandated
