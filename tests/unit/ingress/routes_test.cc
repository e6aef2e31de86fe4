#include "ingress/routes.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace capstan::ingress {
namespace {

using ObjectPtr = std::shared_ptr<const Json>;

ObjectPtr obj(const char* yaml) { return std::make_shared<const Json>(*parseYaml(yaml)); }

ObjectPtr ourClass(bool is_default) {
  Json c = *parseYaml("metadata: {name: capstan}\nspec: {controller: capstan.io/ingress}\n");
  if (is_default) c["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] = "true";
  return std::make_shared<const Json>(c);
}

// A Service "name" with ports http (80) and admin (81), and one slice with
// the given ready endpoints on target ports 8080/8081.
void addService(Inputs& in, const std::string& name, std::vector<std::string> ready,
                std::vector<std::string> not_ready = {}) {
  in.services.push_back(std::make_shared<const Json>(
      Json{{"metadata", {{"namespace", "default"}, {"name", name}}},
           {"spec",
            {{"clusterIP", "10.43.0.5"},
             {"ports", Json::array({{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}},
                                    {{"name", "admin"}, {"port", 81}, {"protocol", "TCP"}}})}}}}));
  Json eps = Json::array();
  for (const auto& ip : ready) eps.push_back({{"addresses", {ip}}, {"conditions", {{"ready", true}}}});
  for (const auto& ip : not_ready)
    eps.push_back({{"addresses", {ip}}, {"conditions", {{"ready", false}, {"serving", false}}}});
  in.slices.push_back(std::make_shared<const Json>(Json{
      {"metadata",
       {{"namespace", "default"}, {"name", name + "-x"}, {"labels", {{"kubernetes.io/service-name", name}}}}},
      {"addressType", "IPv4"},
      {"endpoints", eps},
      {"ports", Json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}},
                             {{"name", "admin"}, {"port", 8081}, {"protocol", "TCP"}}})}}));
}

Json backend(const std::string& svc, const Json& port = {{"number", 80}}) {
  return {{"service", {{"name", svc}, {"port", port}}}};
}

ObjectPtr ingress(const std::string& name, const std::string& created, Json rules,
                  Json extra = Json::object()) {
  Json i = {{"metadata", {{"namespace", "default"}, {"name", name}, {"creationTimestamp", created}}},
            {"spec", {{"ingressClassName", "capstan"}, {"rules", rules}}}};
  i["spec"].update(extra);
  return std::make_shared<const Json>(i);
}

Json rule(const std::string& host, const std::string& path, const std::string& type, const std::string& svc) {
  Json r = {
      {"http", {{"paths", Json::array({{{"path", path}, {"pathType", type}, {"backend", backend(svc)}}})}}}};
  if (!host.empty()) r["host"] = host;
  return r;
}

std::string routedTo(const RouteTable& t, std::string_view host, std::string_view target) {
  const Backend* b = t.match(host, target);
  return b ? b->service : "-";
}

TEST(IngressClassTest, WhichIngressesAreOurs) {
  std::vector<ObjectPtr> classes = {
      ourClass(false), obj("metadata: {name: nginx}\nspec: {controller: k8s.io/ingress-nginx}\n")};
  EXPECT_TRUE(isOurs(*obj("spec: {ingressClassName: capstan}"), classes));
  EXPECT_FALSE(isOurs(*obj("spec: {ingressClassName: nginx}"), classes));
  EXPECT_FALSE(isOurs(*obj("spec: {ingressClassName: missing}"), classes));
  EXPECT_TRUE(
      isOurs(*obj("metadata: {annotations: {kubernetes.io/ingress.class: capstan}}\nspec: {}"), classes));
  EXPECT_FALSE(
      isOurs(*obj("metadata: {annotations: {kubernetes.io/ingress.class: nginx}}\nspec: {}"), classes));
  // No class at all: ours only when our class is the default.
  EXPECT_FALSE(isOurs(*obj("spec: {}"), classes));
  EXPECT_TRUE(isOurs(*obj("spec: {}"), {ourClass(true)}));
}

TEST(RouteTableTest, HostAndPathMatching) {
  Inputs in;
  in.classes = {ourClass(true)};
  for (auto s : {"exact", "prefix", "root", "wild", "nohost", "api", "apiv2", "other"})
    addService(in, s, {"10.42.0.9"});
  in.ingresses = {
      ingress("a", "2026-01-01T00:00:00Z",
              Json::array({rule("foo.example.com", "/exact", "Exact", "exact"),
                           rule("foo.example.com", "/prefix/", "Prefix", "prefix"),
                           rule("foo.example.com", "/", "Prefix", "root"),
                           rule("*.example.com", "/", "Prefix", "wild"), rule("", "/api", "Prefix", "api"),
                           rule("", "/api/v2", "ImplementationSpecific", "apiv2")})),
      // Younger: loses the conflicting foo.example.com "/" to "a".
      ingress("b", "2026-01-02T00:00:00Z", Json::array({rule("foo.example.com", "/", "Prefix", "other")})),
  };
  auto t = RouteTable::build(in);
  struct Case {
    const char *host, *target, *want;
  } cases[] = {
      {"foo.example.com", "/exact", "exact"},
      {"foo.example.com", "/exact/", "root"},  // Exact does not match a trailing slash
      {"FOO.example.com:8080", "/exact?x=1", "exact"},
      {"foo.example.com", "/prefix", "prefix"},
      {"foo.example.com", "/prefix/a/b", "prefix"},
      {"foo.example.com", "/prefixed", "root"},  // element-wise prefix
      {"foo.example.com", "/", "root"},
      {"bar.example.com", "/anything", "wild"},
      {"a.bar.example.com", "/api", "api"},  // the wildcard covers one label only: falls to host-less rules
      {"example.com", "/api/v2/x", "apiv2"},
      {"example.com", "/api/v3", "api"},
      {"example.com", "/other", "-"},
  };
  for (const auto& c : cases) EXPECT_EQ(routedTo(*t, c.host, c.target), c.want) << c.host << c.target;
  EXPECT_EQ(t->servedIngresses(), (std::vector<std::string>{"default/a", "default/b"}));
}

TEST(RouteTableTest, BackendsResolveToReadyEndpointsByPortNumberOrName) {
  Inputs in;
  in.classes = {ourClass(false)};
  addService(in, "web", {"10.42.0.2", "10.42.0.1"}, {"10.42.0.3"});
  addService(in, "down", {}, {"10.42.0.4"});
  in.ingresses = {ingress(
      "i", "2026-01-01T00:00:00Z",
      Json::array(
          {{{"host", "num"},
            {"http",
             {{"paths",
               Json::array({{{"path", "/"}, {"pathType", "Prefix"}, {"backend", backend("web")}}})}}}},
           {{"host", "name"},
            {"http",
             {{"paths", Json::array({{{"path", "/"},
                                      {"pathType", "Prefix"},
                                      {"backend", backend("web", {{"name", "admin"}})}}})}}}},
           {{"host", "down"},
            {"http",
             {{"paths",
               Json::array({{{"path", "/"}, {"pathType", "Prefix"}, {"backend", backend("down")}}})}}}},
           {{"host", "gone"},
            {"http",
             {{"paths",
               Json::array({{{"path", "/"}, {"pathType", "Prefix"}, {"backend", backend("nosuch")}}})}}}},
           {{"host", "badport"},
            {"http",
             {{"paths", Json::array({{{"path", "/"},
                                      {"pathType", "Prefix"},
                                      {"backend", backend("web", {{"number", 9}})}}})}}}}}),
      {{"defaultBackend", backend("web", {{"name", "admin"}})}})};
  auto t = RouteTable::build(in);
  auto eps = [&](const char* host) { return t->match(host, "/")->endpoints; };
  EXPECT_EQ(eps("num"), (std::vector<Endpoint>{{"10.42.0.1", 8080}, {"10.42.0.2", 8080}}));
  EXPECT_EQ(eps("name"), (std::vector<Endpoint>{{"10.42.0.1", 8081}, {"10.42.0.2", 8081}}));
  EXPECT_TRUE(eps("down").empty());
  EXPECT_TRUE(eps("gone").empty());
  EXPECT_TRUE(eps("badport").empty());
  // Anything else: the default backend.
  EXPECT_EQ(eps("elsewhere"), (std::vector<Endpoint>{{"10.42.0.1", 8081}, {"10.42.0.2", 8081}}));
}

TEST(RouteTableTest, CertificatesBySni) {
  Inputs in;
  in.classes = {ourClass(false)};
  auto secret = [](const std::string& name, const std::string& crt) {
    return std::make_shared<const Json>(
        Json{{"metadata", {{"namespace", "default"}, {"name", name}}},
             {"type", "kubernetes.io/tls"},
             {"data", {{"tls.crt", base64Encode(crt)}, {"tls.key", base64Encode("KEY")}}}});
  };
  in.secrets = {secret("one", "CERT-ONE"), secret("wild", "CERT-WILD")};
  in.ingresses = {
      ingress("i", "2026-01-01T00:00:00Z", Json::array(),
              {{"tls", Json::array({{{"hosts", {"one.example.com"}}, {"secretName", "one"}},
                                    {{"hosts", {"*.example.com"}}, {"secretName", "wild"}},
                                    {{"hosts", {"missing.example.com"}}, {"secretName", "absent"}}})}})};
  auto t = RouteTable::build(in);
  ASSERT_TRUE(t->certificateFor("one.example.com"));
  EXPECT_EQ(t->certificateFor("one.example.com")->cert_pem, "CERT-ONE");
  EXPECT_EQ(t->certificateFor("two.example.com")->cert_pem, "CERT-WILD");
  EXPECT_EQ(t->certificateFor("missing.other.com"), nullptr);
  EXPECT_EQ(t->certificates().size(), 2u);
}

TEST(RouteTableTest, NormaliseHost) {
  EXPECT_EQ(normaliseHost("Foo.Example.com:443"), "foo.example.com");
  EXPECT_EQ(normaliseHost("foo.example.com."), "foo.example.com");
  EXPECT_EQ(normaliseHost("[::1]:80"), "[::1]");
  EXPECT_EQ(normaliseHost(""), "");
}

}  // namespace
}  // namespace capstan::ingress
