// Control characters as names and usage fields refuse them: C0, DEL and C1 (U+0080-U+009F), and
// nothing else of UTF-8 (specs/access.md, specs/usage.md).
#include "base/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace mandated {
namespace {

TEST(ControlCharacters, C0DelAndC1AreControlsAndNothingElse) {
  for (const std::string& s : {std::string("a\x01"), std::string("\x1f"), std::string("x\x7fy"),
                              std::string("\xc2\x80"), std::string("ab\xc2\x85"),
                              std::string("\xc2\x9f"), std::string(1, '\0')}) {
    EXPECT_TRUE(HasControlCharacter(s)) << s;
  }
  // Printable ASCII, U+00A0 (the first code point past C1), and other scripts are not.
  for (const std::string& s : {std::string("Acme Corp ~"), std::string("\xc2\xa0"),
                              std::string("\xc3\xa9t\xc3\xa9"), std::string("\xe2\x80\xa8"),
                              std::string("\xf0\x9f\x98\x80"), std::string()}) {
    EXPECT_FALSE(HasControlCharacter(s)) << s;
  }
}

}  // namespace
}  // namespace mandated
