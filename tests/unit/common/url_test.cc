#include "common/url.h"

#include <gtest/gtest.h>

namespace capstan {
namespace {

TEST(PercentEncodeTest, KeepsUnreservedAndWhatIsAskedFor) {
  EXPECT_EQ(percentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(percentEncode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
  EXPECT_EQ(percentEncode("spec.nodeName=n1"), "spec.nodeName%3Dn1");
  EXPECT_EQ(percentEncode("/api/v1/namespaces/a b", "/"), "/api/v1/namespaces/a%20b");
  EXPECT_EQ(percentEncode("\xff\x01"), "%FF%01");
}

}  // namespace
}  // namespace capstan
