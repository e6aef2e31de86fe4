// The element encoder of the nfnetlink path: the bytes the kernel stores
// for each kind of element the rule generator writes, as `nft
// --debug=netlink` shows them for the same text (fields padded to 4 bytes;
// numgen keys in host order, everything else in network order). The
// kernel round trip is tests/runtime/service_proxy_test.cc.

#include "proxy/nft_elements.h"

#include <gtest/gtest.h>
#include <linux/netfilter/nf_tables.h>

#include <cstring>

namespace capstan::proxy {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes hostU32(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

TEST(NftElementsTest, ServiceIpKeyAndVerdict) {
  auto e = encodeElement("service-ips", "10.96.0.1 . tcp . 80", "goto svc-a/b/tcp/80");
  ASSERT_TRUE(e) << e.status().message();
  EXPECT_EQ(e->key, (Bytes{10, 96, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0}));
  EXPECT_EQ(e->verdict, NFT_GOTO);
  EXPECT_EQ(e->chain, "svc-a/b/tcp/80");
  EXPECT_TRUE(e->data.empty());

  auto r = encodeElement("no-endpoint-services", "10.96.0.2 . udp . 53", "goto reject-chain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->key, (Bytes{10, 96, 0, 2, 17, 0, 0, 0, 0, 53, 0, 0}));
  EXPECT_EQ(r->chain, "reject-chain");
}

TEST(NftElementsTest, NodePortBackendAndHairpin) {
  auto np = encodeElement("service-nodeports", "tcp . 30080", "goto svc-a/b/tcp/80");
  ASSERT_TRUE(np);
  EXPECT_EQ(np->key, (Bytes{6, 0, 0, 0, 0x75, 0x80, 0, 0}));

  auto be = encodeElement("backends-tcp-1", "4096", "10.1.2.3 . 8080");
  ASSERT_TRUE(be);
  EXPECT_EQ(be->key, hostU32(4096));
  EXPECT_EQ(be->data, (Bytes{10, 1, 2, 3, 0x1f, 0x90, 0, 0}));
  EXPECT_EQ(be->verdict, 0);
  // A deletion names the key alone.
  auto del = encodeElement("backends-tcp-1", "4096", "");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->key, hostU32(4096));
  EXPECT_TRUE(del->data.empty());

  auto hp = encodeElement("hairpin", "10.0.0.1 . 10.0.0.1", "");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->key, (Bytes{10, 0, 0, 1, 10, 0, 0, 1}));
  EXPECT_TRUE(hp->data.empty());

  // The masquerade sets: keys only, as their maps' keys.
  auto mnp = encodeElement("masquerade-nodeports", "udp . 30053", "");
  ASSERT_TRUE(mnp);
  EXPECT_EQ(mnp->key, (Bytes{17, 0, 0, 0, 0x75, 0x65, 0, 0}));
  EXPECT_EQ(mnp->verdict, 0);
  auto mip = encodeElement("masquerade-ips", "192.168.7.5 . tcp . 80", "");
  ASSERT_TRUE(mip);
  EXPECT_EQ(mip->key, (Bytes{192, 168, 7, 5, 6, 0, 0, 0, 0, 80, 0, 0}));
  EXPECT_FALSE(encodeElement("masquerade-ips", "192.168.7.5 . tcp . 80", "goto x"));
}

TEST(NftElementsTest, UnknownOrMalformedIsInvalid) {
  for (auto [map, key, value] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"other-map", "1", ""},
           {"service-ips", "10.96.0.1 . tcp", "goto x"},
           {"service-ips", "10.96.0.1 . tcp . 80 . 1", "goto x"},
           {"service-ips", "10.96.0.300 . tcp . 80", "goto x"},
           {"service-ips", "10.96.0.1 . icmp . 80", "goto x"},
           {"service-ips", "10.96.0.1 . tcp . 70000", "goto x"},
           {"service-ips", "10.96.0.1 . tcp . 80", "accept"},
           {"service-ips", "10.96.0.1 . tcp . 80", "goto "},
           {"backends-tcp-3", "-1", "10.1.2.3 . 80"},
           {"backends-tcp-3", "1", "10.1.2.3"},
           {"hairpin", "10.0.0.1 . 10.0.0.1", "goto x"},
       }) {
    auto e = encodeElement(map, key, value);
    EXPECT_FALSE(e) << map << " " << key << " : " << value;
    if (!e) {
      EXPECT_EQ(e.status().code(), Code::kInvalid);
    }
  }
}

}  // namespace
}  // namespace capstan::proxy
