// The resolver over a zone built from hand-written cluster objects: each
// case is a question and the answer CoreDNS's kubernetes plugin would give.
#include "dns/resolver.h"

#include <gtest/gtest.h>

#include <random>

#include "dns/message_writer.h"
#include "dns/zone_snapshot.h"
#include "dns_test_helpers.h"

namespace capstan::dns {
namespace {

using testing::makeQuery;
using testing::parseReply;
using testing::QueryOptions;
using testing::Reply;

// The cluster every case runs against.
constexpr const char* kCluster = R"(
services:
- metadata: {name: web, namespace: default}
  spec:
    clusterIP: 10.43.0.20
    clusterIPs: [10.43.0.20]
    ports:
    - {name: http, port: 80, protocol: TCP}
    - {name: dns, port: 53, protocol: UDP}
    - {port: 8080, protocol: TCP}
- metadata: {name: dual, namespace: default}
  spec: {clusterIP: 10.43.0.30, clusterIPs: [10.43.0.30, "fd00::30"]}
- metadata: {name: db, namespace: data}
  spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
- metadata: {name: ext, namespace: default}
  spec: {type: ExternalName, externalName: example.com.}
slices:
- metadata: {name: db-abc, namespace: data, labels: {kubernetes.io/service-name: db}}
  addressType: IPv4
  ports: [{name: pg, port: 5432, protocol: TCP}]
  endpoints:
  - {addresses: [10.42.0.5], hostname: db-0, conditions: {ready: true}}
  - {addresses: [10.42.0.6]}
  - {addresses: [10.42.0.7], conditions: {ready: false}}
pods:
- metadata: {name: p1, namespace: default}
  status: {phase: Running, podIP: 10.42.0.9, podIPs: [{ip: 10.42.0.9}]}
- metadata: {name: done, namespace: default}
  status: {phase: Succeeded, podIP: 10.42.0.10}
)";

ClusterSources sourcesFrom(const std::string& yaml) {
  auto doc = parseYaml(yaml);
  EXPECT_TRUE(doc) << doc.status().message();
  ClusterSources s;
  auto key = [](const auto& info) { return info.ns + "/" + info.name; };
  for (const auto& o : arrayAt(*doc, "services")) {
    auto info = serviceInfoOf(o);
    s.services[key(info)] = std::make_shared<const ServiceInfo>(info);
  }
  for (const auto& o : arrayAt(*doc, "slices")) {
    auto info = sliceInfoOf(o);
    s.slices[key(info)] = std::make_shared<const SliceInfo>(info);
  }
  for (const auto& o : arrayAt(*doc, "pods")) {
    auto info = podInfoOf(o);
    s.pods[key(info)] = std::make_shared<const PodInfo>(info);
  }
  return s;
}

class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest() : zone_(buildZoneSnapshot(sourcesFrom(kCluster), "cluster.local", 7)) {}

  Reply ask(std::string_view name, ldns_rr_type type, const QueryOptions& o = {},
            Transport via = Transport::kUdp) {
    auto q = makeQuery(name, type, o);
    EXPECT_EQ(answer(q, *zone_, via, response_), Disposition::kAnswer) << name;
    return parseReply(response_);
  }

  std::shared_ptr<const ZoneSnapshot> zone_;
  std::vector<uint8_t> response_;
};

constexpr const char* kSoa =
    "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 5";

struct Case {
  const char* name;
  ldns_rr_type type;
  int rcode;
  std::vector<std::string> answer;
  std::vector<std::string> additional = {};
};

const Case kCases[] = {
    {"web.default.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
    // The question's case comes back as asked (0x20 randomisation).
    {"WEB.Default.svc.Cluster.Local.",
     LDNS_RR_TYPE_A,
     0,
     {"WEB.Default.svc.Cluster.Local. 5 IN A 10.43.0.20"}},
    {"web.default.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 0, {}},  // NODATA
    {"web.default.svc.cluster.local.", LDNS_RR_TYPE_MX, 0, {}},
    {"dual.default.svc.cluster.local.",
     LDNS_RR_TYPE_AAAA,
     0,
     {"dual.default.svc.cluster.local. 5 IN AAAA fd00::30"}},
    {"dual.default.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"dual.default.svc.cluster.local. 5 IN A 10.43.0.30"}},
    {"_http._tcp.web.default.svc.cluster.local.",
     LDNS_RR_TYPE_SRV,
     0,
     {"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
     {"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
    {"_dns._udp.web.default.svc.cluster.local.",
     LDNS_RR_TYPE_SRV,
     0,
     {"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."},
     {"web.default.svc.cluster.local. 5 IN A 10.43.0.20"}},
    {"_http._udp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NXDOMAIN, {}},
    {"_tcp.web.default.svc.cluster.local.", LDNS_RR_TYPE_SRV, 0, {}},  // an empty non-terminal
    // Headless: the ready endpoints, each also under its own name.
    {"db.data.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"db.data.svc.cluster.local. 5 IN A 10.42.0.5", "db.data.svc.cluster.local. 5 IN A 10.42.0.6"}},
    {"db-0.db.data.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"db-0.db.data.svc.cluster.local. 5 IN A 10.42.0.5"}},
    {"10-42-0-6.db.data.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"10-42-0-6.db.data.svc.cluster.local. 5 IN A 10.42.0.6"}},
    {"10-42-0-7.db.data.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"_pg._tcp.db.data.svc.cluster.local.",
     LDNS_RR_TYPE_SRV,
     0,
     {"_pg._tcp.db.data.svc.cluster.local. 5 IN SRV 0 50 5432 10-42-0-6.db.data.svc.cluster.local.",
      "_pg._tcp.db.data.svc.cluster.local. 5 IN SRV 0 50 5432 db-0.db.data.svc.cluster.local."},
     {"10-42-0-6.db.data.svc.cluster.local. 5 IN A 10.42.0.6",
      "db-0.db.data.svc.cluster.local. 5 IN A 10.42.0.5"}},
    // ExternalName: a CNAME whatever the type.
    {"ext.default.svc.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
    {"ext.default.svc.cluster.local.",
     LDNS_RR_TYPE_AAAA,
     0,
     {"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
    // Pods: running ones in their own namespace only.
    {"10-42-0-9.default.pod.cluster.local.",
     LDNS_RR_TYPE_A,
     0,
     {"10-42-0-9.default.pod.cluster.local. 5 IN A 10.42.0.9"}},
    {"10-42-0-9.other.pod.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"10-42-0-10.default.pod.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    // The rest of the zone.
    {"missing.default.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"web.other.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"x.web.default.svc.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"web.default.cluster.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, {}},
    {"default.svc.cluster.local.", LDNS_RR_TYPE_A, 0, {}},
    {"svc.cluster.local.", LDNS_RR_TYPE_A, 0, {}},
    {"cluster.local.", LDNS_RR_TYPE_A, 0, {}},
    {"cluster.local.", LDNS_RR_TYPE_SOA, 0, {kSoa}},
    // PTR for service and endpoint IPs.
    {"20.0.43.10.in-addr.arpa.",
     LDNS_RR_TYPE_PTR,
     0,
     {"20.0.43.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."}},
    {"5.0.42.10.in-addr.arpa.",
     LDNS_RR_TYPE_PTR,
     0,
     {"5.0.42.10.in-addr.arpa. 5 IN PTR db-0.db.data.svc.cluster.local."}},
};

TEST_F(ResolverTest, AnswersAsTheDnsSpecification) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(std::string(c.name) + " type " + std::to_string(c.type));
    Reply r = ask(c.name, c.type);
    ASSERT_TRUE(r.parsed);
    EXPECT_EQ(r.id, 0x1234);
    EXPECT_TRUE(r.qr);
    EXPECT_TRUE(r.aa);
    EXPECT_FALSE(r.tc);
    EXPECT_EQ(r.rcode, c.rcode);
    auto expected = c.answer;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(r.answer, expected);
    auto additional = c.additional;
    std::sort(additional.begin(), additional.end());
    EXPECT_EQ(r.additional, additional);
    bool in_zone = std::string_view(c.name).ends_with("cluster.local.");
    // Negative answers in the zone carry the SOA (its minimum is the negative TTL).
    if (r.answer.empty() && in_zone) {
      EXPECT_EQ(r.authority, std::vector<std::string>{kSoa});
    } else {
      EXPECT_TRUE(r.authority.empty());
    }
  }
}

// A pod's resolver tries its search path (ndots:5) in order; the first
// candidate that exists is the one the short name means.
TEST_F(ResolverTest, ShortNamesThroughTheSearchPath) {
  const std::vector<std::string> search = {"default.svc.cluster.local", "svc.cluster.local", "cluster.local"};
  const std::pair<std::string, std::string> short_forms[] = {
      {"web", "web.default.svc.cluster.local."},
      {"web.default", "web.default.svc.cluster.local."},
      {"web.default.svc", "web.default.svc.cluster.local."},
      {"db.data", "db.data.svc.cluster.local."},
  };
  for (const auto& [name, expected] : short_forms) {
    SCOPED_TRACE(name);
    std::string resolved;
    for (const auto& suffix : search) {
      std::string candidate = name + "." + suffix + ".";
      Reply r = ask(candidate, LDNS_RR_TYPE_A);
      if (r.rcode == LDNS_RCODE_NOERROR && !r.answer.empty()) {
        resolved = candidate;
        break;
      }
      EXPECT_EQ(r.rcode, LDNS_RCODE_NXDOMAIN) << candidate;
    }
    EXPECT_EQ(resolved, expected);
  }
  // The FQDN itself under the search path does not exist.
  EXPECT_EQ(ask("web.default.svc.cluster.local.default.svc.cluster.local.", LDNS_RR_TYPE_A).rcode,
            LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResolverTest, NamesOutsideTheZoneAreForwarded) {
  for (const char* name :
       {"example.org.", "cluster.local.example.org.", "local.", "1.1.168.192.in-addr.arpa."}) {
    auto q = makeQuery(name, LDNS_RR_TYPE_A);
    EXPECT_EQ(answer(q, *zone_, Transport::kUdp, response_), Disposition::kForward) << name;
  }
}

TEST_F(ResolverTest, EdnsIsEchoedAndBadVersionsRefused) {
  Reply r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.edns_size = 4096});
  EXPECT_TRUE(r.edns);
  EXPECT_EQ(r.edns_size, kAdvertisedUdpSize);
  EXPECT_EQ(r.answer.size(), 1u);
  r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.edns_size = 4096, .edns_version = 1});
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.ext_rcode, 1);  // BADVERS
  EXPECT_TRUE(r.answer.empty());
  r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  EXPECT_FALSE(r.edns);
  r = ask("web.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.cls = LDNS_RR_CLASS_CH});
  EXPECT_EQ(r.rcode, LDNS_RCODE_REFUSED);
}

TEST_F(ResolverTest, LargeAnswersAreTruncatedOverUdpOnly) {
  std::string yaml =
      "services:\n- metadata: {name: big, namespace: default}\n  spec: {clusterIP: None}\n"
      "slices:\n- metadata: {name: big-1, namespace: default, labels: {kubernetes.io/service-name: big}}\n"
      "  addressType: IPv4\n  endpoints:\n";
  for (int i = 1; i <= 60; ++i) yaml += "  - {addresses: [10.42.1." + std::to_string(i) + "]}\n";
  auto zone = buildZoneSnapshot(sourcesFrom(yaml), "cluster.local", 1);
  auto q = makeQuery("big.default.svc.cluster.local.", LDNS_RR_TYPE_A);

  ASSERT_EQ(answer(q, *zone, Transport::kUdp, response_), Disposition::kAnswer);
  Reply udp = parseReply(response_);
  EXPECT_TRUE(udp.tc);
  EXPECT_TRUE(udp.answer.empty());
  EXPECT_LE(udp.size, 512u);

  auto q_edns = makeQuery("big.default.svc.cluster.local.", LDNS_RR_TYPE_A, {.edns_size = 4096});
  ASSERT_EQ(answer(q_edns, *zone, Transport::kUdp, response_), Disposition::kAnswer);
  Reply edns = parseReply(response_);
  EXPECT_FALSE(edns.tc);
  EXPECT_EQ(edns.answer.size(), 60u);
  EXPECT_TRUE(edns.edns);

  ASSERT_EQ(answer(q, *zone, Transport::kTcp, response_), Disposition::kAnswer);
  Reply tcp = parseReply(response_);
  EXPECT_FALSE(tcp.tc);
  EXPECT_EQ(tcp.answer.size(), 60u);
  // Compression keeps 60 A records of one name within 1232 bytes.
  EXPECT_LT(tcp.size, 1232u);
}

TEST_F(ResolverTest, UnsyncedZoneAnswersServfail) {
  auto unsynced = std::make_shared<ZoneSnapshot>(*zone_);
  unsynced->synced = false;
  auto q = makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  ASSERT_EQ(answer(q, *unsynced, Transport::kUdp, response_), Disposition::kAnswer);
  EXPECT_EQ(parseReply(response_).rcode, LDNS_RCODE_SERVFAIL);
}

TEST_F(ResolverTest, MalformedQueriesGetFormerrOrAreDropped) {
  auto good = makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A);
  auto formerr = [&](std::vector<uint8_t> q, const char* what) {
    SCOPED_TRACE(what);
    ASSERT_EQ(answer(q, *zone_, Transport::kUdp, response_), Disposition::kAnswer);
    Reply r = parseReply(response_);
    ASSERT_TRUE(r.parsed);
    EXPECT_EQ(r.rcode, LDNS_RCODE_FORMERR);
    EXPECT_EQ(r.id, 0x1234);
    EXPECT_TRUE(r.answer.empty());
  };
  formerr(std::vector<uint8_t>(good.begin(), good.end() - 3), "question cut short");
  auto two = good;
  two[5] = 2;  // QDCOUNT 2 with one question
  formerr(two, "count beyond the data");
  auto loop = good;
  loop.resize(12);
  loop.insert(loop.end(), {0xC0, 0x0C, 0, 1, 0, 1});  // a name pointing at itself
  formerr(loop, "compression loop");
  auto none = good;
  none.resize(12);
  none[5] = 0;
  formerr(none, "no question");

  auto status = good;
  status[2] = static_cast<uint8_t>((status[2] & 0x87) | (2 << 3));  // opcode STATUS
  ASSERT_EQ(answer(status, *zone_, Transport::kUdp, response_), Disposition::kAnswer);
  EXPECT_EQ(parseReply(response_).rcode, LDNS_RCODE_NOTIMPL);

  std::vector<uint8_t> tiny = {0x12, 0x34, 0x01};
  EXPECT_EQ(answer(tiny, *zone_, Transport::kUdp, response_), Disposition::kDrop);
  auto response = good;
  response[2] |= 0x80;  // QR: a response, never answered (no reflection loops)
  EXPECT_EQ(answer(response, *zone_, Transport::kUdp, response_), Disposition::kDrop);
}

// Random corruptions of valid queries: never a crash, and every reply is a
// well-formed DNS message with the query's id.
TEST_F(ResolverTest, FuzzedQueriesAreAnsweredSafely) {
  std::mt19937 rng(42);
  const std::vector<std::vector<uint8_t>> seeds = {
      makeQuery("web.default.svc.cluster.local.", LDNS_RR_TYPE_A),
      makeQuery("_pg._tcp.db.data.svc.cluster.local.", LDNS_RR_TYPE_SRV, {.edns_size = 1232}),
      makeQuery("example.org.", LDNS_RR_TYPE_AAAA)};
  int answered = 0, formerrs = 0;
  for (int i = 0; i < 20000; ++i) {
    auto q = seeds[i % seeds.size()];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) q[rng() % q.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) q.resize(rng() % (q.size() + 1));
    if (answer(q, *zone_, i % 2 ? Transport::kUdp : Transport::kTcp, response_) != Disposition::kAnswer)
      continue;
    ++answered;
    Reply r = parseReply(response_);
    ASSERT_TRUE(r.parsed) << "reply " << i << " is not a DNS message";
    ASSERT_EQ(r.id, static_cast<uint16_t>(q[0] << 8 | q[1]));
    if (r.rcode == LDNS_RCODE_FORMERR) ++formerrs;
  }
  EXPECT_GT(answered, 1000);
  EXPECT_GT(formerrs, 100);
}

TEST_F(ResolverTest, FailureReplyEchoesTheQuestion) {
  auto q = makeQuery("example.org.", LDNS_RR_TYPE_A, {.id = 77});
  failureReply(q, kRcodeServFail, response_);
  Reply r = parseReply(response_);
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.id, 77);
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);
  // The question section is intact: the reply is as long as the query.
  EXPECT_EQ(response_.size(), q.size());
  EXPECT_EQ(std::vector<uint8_t>(response_.begin() + 12, response_.end()),
            std::vector<uint8_t>(q.begin() + 12, q.end()));
}

}  // namespace
}  // namespace capstan::dns
