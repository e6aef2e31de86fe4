// A pod's files on the node: secret and projected volumes (the
// service-account token among them) on a tmpfs of their own, as kubelet
// keeps them, never on the node's disk; ConfigMap volumes in the pod's
// state dir (the node's run tmpfs, in an agent); disk-backed emptyDirs in
// its data dir; the files containers may write on a bounded tmpfs; all of
// it gone, mounts included, after removePodFiles.

#include "agent/pod_volumes.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

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
  PodDirs dirs{dir_ + "/run/pod", dir_ + "/data/pod"};
  auto vols = prepareVolumes(pod, dirs, lookup);
  ASSERT_TRUE(vols.isOk()) << vols.status().message();
  const auto& creds = vols->at("creds");
  const auto& token = vols->at("kube-api-access");
  const auto& settings = vols->at("settings");
  EXPECT_TRUE(onTmpfs(creds.host_path));
  EXPECT_TRUE(onTmpfs(token.host_path));
  EXPECT_EQ(settings.host_path.rfind(dirs.state + "/", 0), 0u) << settings.host_path;
  EXPECT_TRUE(creds.tmpfs && token.tmpfs && !settings.tmpfs);
  EXPECT_EQ(read(fs::path(creds.host_path) / "password"), "hunter2");
  EXPECT_EQ(read(fs::path(token.host_path) / "token"), "a.b.c");
  EXPECT_EQ(read(fs::path(token.host_path) / "ca.crt"), "v");
  EXPECT_EQ(read(fs::path(settings.host_path) / "k"), "v");

  // A later sync of the pod mounts nothing more.
  auto again = prepareVolumes(pod, dirs, lookup);
  ASSERT_TRUE(again.isOk()) << again.status().message();
  ASSERT_EQ(::umount2(token.host_path.c_str(), 0), 0);
  EXPECT_FALSE(onTmpfs(token.host_path)) << "a second tmpfs was stacked on the first";
  again = prepareVolumes(pod, dirs, lookup);  // and mounts it again when it is gone
  ASSERT_TRUE(again.isOk());
  EXPECT_TRUE(onTmpfs(token.host_path));

  ASSERT_TRUE(removePodFiles(dirs).isOk());
  EXPECT_FALSE(fs::exists(dirs.state));
  EXPECT_FALSE(fs::exists(dirs.data));
  EXPECT_FALSE(mountedUnder(dirs.state));
}

TEST_F(PodVolumesTest, EmptyDirsOnDiskGoToTheDataDirMemoryOnesToTmpfs) {
  Json pod = Json::parse(R"({
    "metadata": {"name": "p", "namespace": "default", "uid": "u2"},
    "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "fast", "emptyDir": {"medium": "Memory"}}]}})");
  PodDirs dirs{dir_ + "/run/pod", dir_ + "/data/pod"};
  auto vols = prepareVolumes(pod, dirs, ObjectLookup{});
  ASSERT_TRUE(vols.isOk()) << vols.status().message();
  const auto& scratch = vols->at("scratch");
  const auto& fast = vols->at("fast");
  EXPECT_EQ(scratch.host_path.rfind(dirs.data + "/", 0), 0u) << scratch.host_path;
  EXPECT_FALSE(onTmpfs(scratch.host_path));
  EXPECT_EQ(fast.host_path.rfind(dirs.state + "/", 0), 0u) << fast.host_path;
  EXPECT_TRUE(onTmpfs(fast.host_path));
  ASSERT_TRUE(removePodFiles(dirs).isOk());
  EXPECT_FALSE(fs::exists(dirs.state));
  EXPECT_FALSE(fs::exists(dirs.data));
  EXPECT_FALSE(mountedUnder(dir_));
}

TEST_F(PodVolumesTest, WritableFilesAreOnABoundedTmpfsOfThePod) {
  Json pod = Json::parse(R"({
    "metadata": {"name": "web", "namespace": "default", "uid": "u3"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]}})");
  PodDirs dirs{dir_ + "/run/pod", dir_ + "/data/pod"};
  DnsConfig dns;
  dns.cluster_dns = "10.43.0.10";
  ASSERT_TRUE(writePodEtcFiles(pod, dirs, "10.42.0.7", dns).isOk());
  ASSERT_TRUE(writePodEtcFiles(pod, dirs, "10.42.0.7", dns).isOk()) << "a later sync";
  std::string log = terminationLogPath(dirs, "c", 3);
  auto mounts = containerMounts(pod, objectAt(pod, "spec")["containers"][0], {}, dirs, log);
  ASSERT_TRUE(mounts.isOk()) << mounts.status().message();
  std::map<std::string, std::string> sources;
  for (const auto& m : *mounts) sources[m.destination] = m.source;
  ASSERT_EQ(sources.count("/etc/hosts"), 1u);
  EXPECT_EQ(sources["/dev/termination-log"], log);
  EXPECT_NE(read(sources["/etc/hosts"]).find("10.42.0.7\tweb"), std::string::npos);
  EXPECT_NE(read(sources["/etc/resolv.conf"]).find("nameserver 10.43.0.10"), std::string::npos);
  for (const auto& path :
       {sources["/etc/hosts"], sources["/etc/hostname"], sources["/etc/resolv.conf"], log}) {
    EXPECT_TRUE(onTmpfs(path)) << path;
    EXPECT_FALSE(fs::path(path).string().rfind(dirs.data, 0) == 0) << path;
  }
  // One tmpfs, mounted once, with a size bound: a container that writes
  // without end fills its own pod's tmpfs, not the node's memory.
  int mounts_of_pod = 0;
  std::ifstream mi("/proc/self/mountinfo");
  for (std::string line; std::getline(mi, line);)
    if (line.find(" " + dirs.state + "/writable ") != std::string::npos) ++mounts_of_pod;
  EXPECT_EQ(mounts_of_pod, 1);
  {
    std::ofstream out(log, std::ios::binary);
    std::string mib(1 << 20, 'x');
    for (int i = 0; i < 8 && out; ++i) out.write(mib.data(), static_cast<std::streamsize>(mib.size()));
    out.flush();
    EXPECT_FALSE(out.good()) << "8 MiB fitted in the writable files' tmpfs";
  }
  EXPECT_LE(fs::file_size(log), 4u << 20);
  ASSERT_TRUE(removePodFiles(dirs).isOk());
  EXPECT_FALSE(fs::exists(dirs.state));
  EXPECT_FALSE(mountedUnder(dir_));
}

}  // namespace
}  // namespace capstan::agent
