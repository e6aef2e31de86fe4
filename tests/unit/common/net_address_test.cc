#include "common/net_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace capstan {
namespace {

TEST(NetAddressTest, FirstHostIpv4IsANonLoopbackIpv4AddressOfThisMachine) {
  auto all = hostAddresses();
  ASSERT_TRUE(all) << all.status().message();
  for (const auto& a : *all) EXPECT_NE(a.ip, "127.0.0.1") << a.interface;
  std::string ip = firstHostIpv4();
  if (ip.empty()) GTEST_SKIP() << "this machine has no IPv4 address but loopback";
  in_addr parsed{};
  ASSERT_EQ(::inet_pton(AF_INET, ip.c_str(), &parsed), 1) << ip;
  EXPECT_TRUE(std::any_of(all->begin(), all->end(), [&ip](const HostAddress& a) { return a.ip == ip; }));
}

}  // namespace
}  // namespace capstan
