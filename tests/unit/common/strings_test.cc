#include "common/strings.h"

#include <gtest/gtest.h>

namespace capstan {
namespace {

TEST(StringsTest, AsciiLowerLowersOnlyAsciiLetters) {
  EXPECT_EQ(asciiLower("Www.Example.COM"), "www.example.com");
  EXPECT_EQ(asciiLower("Content-Type: A1_Z"), "content-type: a1_z");
  EXPECT_EQ(asciiLower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // UTF-8 bytes kept
  EXPECT_EQ(asciiLower(""), "");
}

TEST(StringsTest, TrimSpaceDropsAsciiWhitespaceAtBothEnds) {
  EXPECT_EQ(trimSpace("  bearer realm=x \r\n"), "bearer realm=x");
  EXPECT_EQ(trimSpace("\t a b \t"), "a b");
  EXPECT_EQ(trimSpace("plain"), "plain");
  EXPECT_EQ(trimSpace(" \t\r\n\v\f"), "");
  EXPECT_EQ(trimSpace(""), "");
}

}  // namespace
}  // namespace capstan
