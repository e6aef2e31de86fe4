// A container's environment: its own variables, then the service
// variables kubelet adds (serviceEnv).
#include "agent/container_config.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace capstan::agent {
namespace {

Json service(const std::string& ns, const std::string& name, const std::string& ip, Json ports) {
  return {{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", {{"clusterIP", ip}, {"ports", ports}}}};
}

Json pod(const std::string& ns, bool links = true) {
  return {{"metadata", {{"namespace", ns}, {"name", "p"}}}, {"spec", {{"enableServiceLinks", links}}}};
}

ObjectLookup lookupOf(std::vector<Json> services) {
  ObjectLookup l;
  l.config_map = [](const std::string&, const std::string& name) -> Result<std::map<std::string, std::string>> {
    return Status(Code::kNotFound, "configmap \"" + name + "\" not found");
  };
  l.secret = l.config_map;
  l.services = [services](const std::string& ns) -> Result<std::vector<Json>> {
    std::vector<Json> out;
    for (const auto& s : services)
      if (s["metadata"]["namespace"] == ns) out.push_back(s);
    return out;
  };
  return l;
}

std::vector<Json> cluster() {
  return {service("default", "kubernetes", "10.43.0.1",
                  Json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}}})),
          service("shop", "my-web", "10.43.0.7",
                  Json::array({{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}},
                               {{"name", "dns-udp"}, {"port", 53}, {"protocol", "UDP"}}})),
          service("shop", "headless", "None", Json::array({{{"port", 80}, {"protocol", "TCP"}}})),
          service("other", "elsewhere", "10.43.0.9", Json::array({{{"port", 80}, {"protocol", "TCP"}}}))};
}

TEST(ServiceEnvTest, KubeletsVariablesForTheNamespaceAndTheApiServer) {
  auto env = serviceEnv(pod("shop"), lookupOf(cluster()));
  ASSERT_TRUE(env) << env.status().message();
  std::map<std::string, std::string> want = {
      {"KUBERNETES_SERVICE_HOST", "10.43.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"},
      {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
      {"KUBERNETES_PORT", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
      {"KUBERNETES_PORT_443_TCP_PORT", "443"},
      {"KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"},
      {"MY_WEB_SERVICE_HOST", "10.43.0.7"},
      {"MY_WEB_SERVICE_PORT", "80"},
      {"MY_WEB_SERVICE_PORT_HTTP", "80"},
      {"MY_WEB_SERVICE_PORT_DNS_UDP", "53"},
      {"MY_WEB_PORT", "tcp://10.43.0.7:80"},
      {"MY_WEB_PORT_80_TCP", "tcp://10.43.0.7:80"},
      {"MY_WEB_PORT_80_TCP_PROTO", "tcp"},
      {"MY_WEB_PORT_80_TCP_PORT", "80"},
      {"MY_WEB_PORT_80_TCP_ADDR", "10.43.0.7"},
      {"MY_WEB_PORT_53_UDP", "udp://10.43.0.7:53"},
      {"MY_WEB_PORT_53_UDP_PROTO", "udp"},
      {"MY_WEB_PORT_53_UDP_PORT", "53"},
      {"MY_WEB_PORT_53_UDP_ADDR", "10.43.0.7"},
  };
  EXPECT_EQ(*env, want);  // no headless Service, nothing from another namespace
}

TEST(ServiceEnvTest, WithoutServiceLinksOnlyTheApiServer) {
  auto env = serviceEnv(pod("shop", false), lookupOf(cluster()));
  ASSERT_TRUE(env);
  EXPECT_EQ(env->size(), 8u);
  EXPECT_EQ(env->at("KUBERNETES_SERVICE_HOST"), "10.43.0.1");
  EXPECT_FALSE(env->count("MY_WEB_SERVICE_HOST"));
}

TEST(ServiceEnvTest, ContainerVariablesComeFirstWinAndExpandServiceOnes) {
  Json c = {{"name", "c"},
            {"env", Json::array({{{"name", "MY_WEB_SERVICE_PORT"}, {"value", "8080"}},
                                 {{"name", "API"}, {"value", "https://$(KUBERNETES_SERVICE_HOST):443"}}})}};
  auto env = containerEnv(pod("shop"), c, lookupOf(cluster()));
  ASSERT_TRUE(env) << env.status().message();
  ASSERT_GE(env->size(), 3u);
  EXPECT_EQ((*env)[0], "MY_WEB_SERVICE_PORT=8080");
  EXPECT_EQ((*env)[1], "API=https://10.43.0.1:443");
  EXPECT_EQ(std::count(env->begin(), env->end(), "MY_WEB_SERVICE_PORT=80"), 0);
  EXPECT_EQ(std::count(env->begin(), env->end(), "KUBERNETES_SERVICE_PORT=443"), 1);
  EXPECT_EQ(env->size(), 2u + 21u - 1u);
}

TEST(ServiceEnvTest, NotReadYetIsAnError) {
  ObjectLookup l = lookupOf({});
  l.services = [](const std::string&) -> Result<std::vector<Json>> {
    return Status(Code::kUnavailable, "services have not yet been read at least once, cannot construct envvars");
  };
  auto env = containerEnv(pod("shop"), {{"name", "c"}}, l);
  ASSERT_FALSE(env);
  EXPECT_EQ(env.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace capstan::agent
