// A pod's volumes on the node: secret and projected volumes (the
// service-account token among them) on a tmpfs of their own, as kubelet
// keeps them, never on the node's disk; ConfigMap volumes on the disk; all
// of it gone, mounts included, after removePodFiles.

#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "agent/pod_volumes.h"
#include "runtime/fixture.h"

namespace capstan::agent {
namespace {
namespace fs = std::filesystem;

constexpr long kTmpfsMagic = 0x01021994;

bool onTmpfs(const fs::path& p) {
  struct statfs st {};
  return ::statfs(p.c_str(), &st) == 0 && st.f_type == kTmpfsMagic;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool mountedUnder(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(" " + dir) != std::string::npos) return true;
  return false;
}

class PodVolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok());
    dir_ = tmp_.path();
  }
  agent::testing::TempDir tmp_{"podvol"};  // with whatever a failed test left mounted
  std::string dir_;
};

TEST_F(PodVolumesTest, SecretsAndTokensLiveOnTmpfsAndGoWithThePod) {
  Json pod = Json::parse(R"({
    "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
    "spec": {"volumes": [
      {"name": "creds", "secret": {"secretName": "s"}},
      {"name": "settings", "configMap": {"name": "c"}},
      {"name": "kube-api-access", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "c", "items": [{"key": "k", "path": "ca.crt"}]}}]}}]}})");
  ObjectLookup lookup;
  lookup.secret = [](const std::string&, const std::string& name) -> Result<std::map<std::string, std::string>> {
    if (name != "s") return Status(Code::kNotFound, "no secret " + name);
    return std::map<std::string, std::string>{{"password", "hunter2"}};
  };
  lookup.config_map = [](const std::string&, const std::string&) -> Result<std::map<std::string, std::string>> {
    return std::map<std::string, std::string>{{"k", "v"}};
  };
  lookup.service_account_token = [](const Json&, const std::string&, int64_t) -> Result<std::string> {
    return std::string("a.b.c");
  };
  std::string pod_dir = dir_ + "/pod";
  auto vols = prepareVolumes(pod, pod_dir, lookup);
  ASSERT_TRUE(vols.isOk()) << vols.status().message();
  const auto& creds = vols->at("creds");
  const auto& token = vols->at("kube-api-access");
  const auto& settings = vols->at("settings");
  EXPECT_TRUE(onTmpfs(creds.host_path));
  EXPECT_TRUE(onTmpfs(token.host_path));
  EXPECT_FALSE(onTmpfs(settings.host_path)) << "ConfigMaps stay on the disk, as kubelet's";
  EXPECT_TRUE(creds.tmpfs && token.tmpfs && !settings.tmpfs);
  EXPECT_EQ(read(fs::path(creds.host_path) / "password"), "hunter2");
  EXPECT_EQ(read(fs::path(token.host_path) / "token"), "a.b.c");
  EXPECT_EQ(read(fs::path(token.host_path) / "ca.crt"), "v");
  EXPECT_EQ(read(fs::path(settings.host_path) / "k"), "v");

  // A later sync of the pod mounts nothing more.
  auto again = prepareVolumes(pod, pod_dir, lookup);
  ASSERT_TRUE(again.isOk()) << again.status().message();
  ASSERT_EQ(::umount2(token.host_path.c_str(), 0), 0);
  EXPECT_FALSE(onTmpfs(token.host_path)) << "a second tmpfs was stacked on the first";
  again = prepareVolumes(pod, pod_dir, lookup);  // and mounts it again when it is gone
  ASSERT_TRUE(again.isOk());
  EXPECT_TRUE(onTmpfs(token.host_path));

  ASSERT_TRUE(removePodFiles(pod_dir).isOk());
  EXPECT_FALSE(fs::exists(pod_dir));
  EXPECT_FALSE(mountedUnder(pod_dir));
}

}  // namespace
}  // namespace capstan::agent
