#include "common/json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace capstan {
namespace {

TEST(ParseJsonTest, ParsesADocument) {
  std::vector<std::string> duplicates;
  auto j = parseJson(R"({"kind":"Pod","spec":{"containers":[{"name":"a"}],"n":1.5},"ok":true,"none":null})",
                     &duplicates);
  ASSERT_TRUE(j) << j.status().message();
  EXPECT_EQ((*j)["kind"], "Pod");
  EXPECT_EQ((*j)["spec"]["containers"][0]["name"], "a");
  EXPECT_EQ((*j)["spec"]["n"], 1.5);
  EXPECT_EQ((*j)["ok"], true);
  EXPECT_TRUE((*j)["none"].is_null());
  EXPECT_TRUE(duplicates.empty());
}

TEST(ParseJsonTest, NamesDuplicateKeysByTheirPathAndKeepsTheLastValue) {
  std::vector<std::string> duplicates;
  auto j = parseJson(R"({"a":1,"spec":{"x":null,"x":2,"list":[{"k":1,"k":3}]},"a":4})", &duplicates);
  ASSERT_TRUE(j) << j.status().message();
  EXPECT_EQ((*j)["a"], 4);
  EXPECT_EQ((*j)["spec"]["x"], 2);
  EXPECT_EQ((*j)["spec"]["list"][0]["k"], 3);
  EXPECT_EQ(duplicates, (std::vector<std::string>{"spec.x", "spec.list.k", "a"}));
}

TEST(ParseJsonTest, DuplicatesAreOnlyLookedForWhenAsked) {
  auto j = parseJson(R"({"a":1,"a":2})");
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["a"], 2);
}

TEST(ParseJsonTest, RejectsInvalidDocuments) {
  for (const char* text : {"", "{", R"({"a":1} trailing)", R"({"a":})", "[1,]", "nul"}) {
    std::vector<std::string> duplicates;
    auto j = parseJson(text, &duplicates);
    ASSERT_FALSE(j) << text;
    EXPECT_EQ(j.status().code(), Code::kBadRequest);
    EXPECT_EQ(j.status().message(), "invalid JSON in request body");
  }
}

TEST(ParseJsonTest, StopsAtTheDepthLimit) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  ASSERT_TRUE(parseJson(nested(kMaxJsonDepth)));
  auto deep = parseJson(nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.status().message(), "document nested too deeply");
  // Far deeper than any stack allows, and unterminated: still a clear error.
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  auto far = parseJson(objects);
  ASSERT_FALSE(far);
  EXPECT_EQ(far.status().message(), "document nested too deeply");
}

}  // namespace
}  // namespace capstan
