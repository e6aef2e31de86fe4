// resource.Quantity parsing against upstream's MilliValue() and Value().
#include "api/quantity.h"

#include <gtest/gtest.h>

#include <limits>

namespace capstan::api {
namespace {

struct Case {
  const char* text;
  int64_t milli;
  int64_t value;
};

const Case kGood[] = {
    {"0", 0, 0},
    {"1", 1000, 1},
    {"100m", 100, 1},
    {"1500m", 1500, 2},
    {"0.5", 500, 1},
    {".5", 500, 1},
    {"5.", 5000, 5},
    {"+2", 2000, 2},
    {"1Ki", 1024000, 1024},
    {"1Gi", 1073741824000, 1073741824},
    {"123Mi", 128974848000, 128974848},
    {"128974848", 128974848000, 128974848},
    {"129e6", 129000000000, 129000000},
    {"129E6", 129000000000, 129000000},
    {"1e-3", 1, 1},
    {"1k", 1000000, 1000},
    {"1M", 1000000000, 1000000},
    {"1G", 1000000000000, 1000000000},
    {"0.1Gi", 107374182400, 107374183},
    {"1n", 1, 1},
    {"1u", 1, 1},
    {"2500u", 3, 1},
    {"1.5Ki", 1536000, 1536},
    {"-1", -1000, -1},
    {"-100m", -100, -1},
    {"9Ei", std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()},
    {"0.000000001", 1, 1},
};

TEST(Quantity, ParsesAsUpstream) {
  for (const Case& c : kGood) {
    Result<Quantity> q = parseQuantity(c.text);
    ASSERT_TRUE(q.isOk()) << c.text << ": " << q.status().message();
    EXPECT_EQ(q->milli, c.milli) << c.text;
    EXPECT_EQ(q->value, c.value) << c.text;
  }
}

TEST(Quantity, RejectsMalformed) {
  for (const char* bad :
       {"", " ", "1 Gi", "1KiB", "Gi", ".", "1.2.3", "1ki", "e3", "1e", "1e+", "abc", "1Mi ", "--1", "1m1"}) {
    Result<Quantity> q = parseQuantity(bad);
    EXPECT_FALSE(q.isOk()) << "'" << bad << "'";
    if (!q.isOk()) {
      EXPECT_EQ(q.status().code(), Code::kBadRequest);
    }
  }
}

TEST(Quantity, FromJsonNumbersAndStrings) {
  EXPECT_EQ(parseQuantityValue(Json(2))->milli, 2000);
  EXPECT_EQ(parseQuantityValue(Json(0.25))->milli, 250);
  EXPECT_EQ(parseQuantityValue(Json("250m"))->milli, 250);
  EXPECT_FALSE(parseQuantityValue(Json::array()).isOk());
  EXPECT_FALSE(parseQuantityValue(Json(nullptr)).isOk());
}

}  // namespace
}  // namespace capstan::api
