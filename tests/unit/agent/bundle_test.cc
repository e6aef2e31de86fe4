#include "agent/runtime/bundle.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace capstan::agent::runtime {
namespace {

ContainerSpec baseSpec() {
  ContainerSpec s;
  s.id = "pod1_web_0";
  s.pod_uid = "pod1";
  s.args = {"/bin/httpd", "-f"};
  s.env = {"PATH=/bin"};
  s.hostname = "web";
  s.log_path = "/var/log/x.log";
  s.namespaces = {"/run/p/net", "/run/p/ipc", "/run/p/uts"};
  s.labels = {{"container", "web"}};
  return s;
}

bool hasString(const Json& arr, const std::string& v) {
  return std::find(arr.begin(), arr.end(), v) != arr.end();
}

TEST(BundleTest, DefaultConfig) {
  auto c = buildOciConfig(baseSpec(), "/b/rootfs", "/capstan/pod1/pod1_web_0");
  ASSERT_TRUE(c) << c.status().message();
  const Json& j = *c;
  EXPECT_EQ(j["process"]["terminal"], false);
  EXPECT_EQ(j["process"]["args"], Json::array({"/bin/httpd", "-f"}));
  EXPECT_EQ(j["process"]["cwd"], "/");
  EXPECT_EQ(j["process"]["noNewPrivileges"], false);
  EXPECT_EQ(j["root"]["path"], "/b/rootfs");
  EXPECT_EQ(j["root"]["readonly"], false);
  EXPECT_EQ(j["hostname"], "web");
  EXPECT_EQ(j["linux"]["cgroupsPath"], "/capstan/pod1/pod1_web_0");
  const Json& caps = j["process"]["capabilities"]["bounding"];
  EXPECT_EQ(caps.size(), defaultCapabilities().size());
  EXPECT_TRUE(hasString(caps, "CAP_NET_BIND_SERVICE"));
  EXPECT_FALSE(hasString(caps, "CAP_SYS_ADMIN"));
  // pid+mount new, the pod's net/ipc/uts joined by path.
  const Json& ns = j["linux"]["namespaces"];
  ASSERT_EQ(ns.size(), 5u);
  EXPECT_EQ(ns[0], Json({{"type", "pid"}}));
  EXPECT_EQ(ns[2], Json({{"type", "network"}, {"path", "/run/p/net"}}));
  EXPECT_EQ(ns[4], Json({{"type", "uts"}, {"path", "/run/p/uts"}}));
  EXPECT_EQ(j["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_TRUE(hasString(j["linux"]["seccomp"]["syscalls"][0]["names"], "mount"));
  EXPECT_TRUE(hasString(j["linux"]["maskedPaths"], "/proc/kcore"));
  EXPECT_EQ(j["annotations"]["io.capstan.label/container"], "web");
  EXPECT_FALSE(j["linux"]["resources"].contains("memory"));
}

TEST(BundleTest, ResourcesSecurityAndMounts) {
  auto s = baseSpec();
  s.resources = {64 << 20, 512, 50000, 100000, 100};
  s.security.uid = 1000;
  s.security.gid = 2000;
  s.security.readonly_rootfs = true;
  s.security.no_new_privileges = true;
  s.security.cap_drop = {"ALL"};
  s.security.cap_add = {"net_admin", "SYS_ADMIN"};
  s.mounts = {{"/host/hosts", "/etc/hosts", "bind", true, {}}, {"", "/scratch", "tmpfs", false, {"size=1m"}}};
  auto c = buildOciConfig(s, "/r", "/c");
  ASSERT_TRUE(c) << c.status().message();
  const Json& j = *c;
  EXPECT_EQ(j["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(j["linux"]["resources"]["memory"]["swap"], 64 << 20);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["shares"], 512);
  EXPECT_EQ(j["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(j["linux"]["resources"]["pids"]["limit"], 100);
  EXPECT_EQ(j["process"]["user"]["uid"], 1000);
  EXPECT_EQ(j["root"]["readonly"], true);
  EXPECT_EQ(j["process"]["noNewPrivileges"], true);
  EXPECT_EQ(j["process"]["capabilities"]["bounding"], Json::array({"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}));
  // SYS_ADMIN lifts the mount family from the seccomp deny-list.
  EXPECT_FALSE(hasString(j["linux"]["seccomp"]["syscalls"][0]["names"], "mount"));
  EXPECT_TRUE(hasString(j["linux"]["seccomp"]["syscalls"][0]["names"], "kexec_load"));
  const Json& mounts = j["mounts"];
  const Json& hosts = mounts[mounts.size() - 2];
  EXPECT_EQ(hosts["destination"], "/etc/hosts");
  EXPECT_TRUE(hasString(hosts["options"], "ro"));
  EXPECT_TRUE(hasString(mounts.back()["options"], "size=1m"));
}

TEST(BundleTest, Privileged) {
  auto s = baseSpec();
  s.security.privileged = true;
  auto c = buildOciConfig(s, "/r", "/c");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)["process"]["capabilities"]["bounding"].size(), allCapabilities().size());
  EXPECT_FALSE((*c)["linux"].contains("seccomp"));
  EXPECT_FALSE((*c)["linux"].contains("maskedPaths"));
  EXPECT_EQ((*c)["linux"]["resources"]["devices"][0]["allow"], true);
}

TEST(BundleTest, Invalid) {
  auto s = baseSpec();
  s.id = "bad/id";
  EXPECT_EQ(buildOciConfig(s, "/r", "/c").status().code(), Code::kInvalid);
  s = baseSpec();
  s.args.clear();
  EXPECT_FALSE(buildOciConfig(s, "/r", "/c"));
  s = baseSpec();
  s.cwd = "relative";
  EXPECT_FALSE(buildOciConfig(s, "/r", "/c"));
  s = baseSpec();
  s.mounts = {{"/a", "relative", "bind", false, {}}};
  EXPECT_FALSE(buildOciConfig(s, "/r", "/c"));
  EXPECT_EQ(cgroupPathOf("/capstan/", "p", "c"), "/capstan/p/c");
  EXPECT_EQ(cgroupPathOf("capstan", "", "c"), "/capstan/c");
}

}  // namespace
}  // namespace capstan::agent::runtime
