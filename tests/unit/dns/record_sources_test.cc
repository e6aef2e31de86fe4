// The record store fed object by object, and the small parsers around the
// server (socket addresses, resolv.conf).
#include <gtest/gtest.h>

#include "dns/record_store.h"
#include "dns/socket_address.h"

namespace capstan::dns {
namespace {

Json service(const std::string& name, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}}}, {"spec", {{"clusterIP", ip}}}};
}

Json pod(const std::string& name, const std::string& phase, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"namespace", "default"}}},
          {"status", {{"phase", phase}, {"podIP", ip}}}};
}

TEST(RecordStoreTest, PublishesASyncedSnapshotPerRebuild) {
  RecordStore store("Cluster.Local");
  EXPECT_FALSE(store.current()->synced);
  uint64_t gen = store.generation();

  store.apply(RecordStore::Kind::kService, service("web", "10.43.0.20"), false);
  store.apply(RecordStore::Kind::kPod, pod("p", "Running", "10.42.0.9"), false);
  store.rebuild();
  auto first = store.current();
  EXPECT_TRUE(first->synced);
  EXPECT_GT(store.generation(), gen);
  ASSERT_NE(first->find("web.default.svc.cluster.local"), nullptr);
  EXPECT_EQ(first->find("web.default.svc.cluster.local")->a.size(), 1u);
  EXPECT_NE(first->find("10-42-0-9.default.pod.cluster.local"), nullptr);

  // A reader's snapshot never changes under it.
  store.apply(RecordStore::Kind::kService, service("web", "10.43.0.20"), true);
  store.apply(RecordStore::Kind::kPod, pod("p", "Succeeded", "10.42.0.9"), false);
  store.rebuild();
  EXPECT_NE(first->find("web.default.svc.cluster.local"), nullptr);
  EXPECT_EQ(store.current()->find("web.default.svc.cluster.local"), nullptr);
  EXPECT_EQ(store.current()->find("10-42-0-9.default.pod.cluster.local"), nullptr);
  EXPECT_NE(store.current()->find("cluster.local"), nullptr);
}

TEST(SocketAddressTest, ParsesAddressesWithAndWithoutPorts) {
  auto v4 = parseSocketAddress("127.0.0.1:5353", 53);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->toString(), "127.0.0.1:5353");
  auto bare = parseSocketAddress("10.43.0.10", 53);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port(), 53);
  auto v6 = parseSocketAddress("[::1]:5300", 53);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->toString(), "[::1]:5300");
  auto bare6 = parseSocketAddress("fd00::10", 53);
  ASSERT_TRUE(bare6);
  EXPECT_EQ(bare6->toString(), "[fd00::10]:53");
  for (const char* bad : {"", "dns.example:53", "1.2.3.4:99999", "1.2.3.4:", "[::1", "[::1]x"})
    EXPECT_FALSE(parseSocketAddress(bad, 53)) << bad;
}

TEST(SocketAddressTest, ReadsNameserversOfResolvConf) {
  auto ns = resolvConfNameservers(
      "# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver\tfd00::53 # v6\n"
      "nameserver fe80::1%eth0\nnameservers 1.1.1.1\nnameserver bogus\noptions ndots:5\n");
  EXPECT_EQ(ns, (std::vector<std::string>{"10.0.0.2:53", "[fd00::53]:53"}));
}

}  // namespace
}  // namespace capstan::dns
