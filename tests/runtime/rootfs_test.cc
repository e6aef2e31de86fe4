// The container rootfs: an overlay of image layers mounted, recognised as
// mounted (isMountPoint asks statx, not /proc/self/mountinfo), unmounted;
// and the shared layer of mount points on top of the image's layers.

#include "agent/runtime/rootfs.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/fixture.h"

namespace capstan::agent::runtime {
namespace {
namespace fs = std::filesystem;

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok());
    dir_ = tmp_.path();
    fs::create_directories(dir_ + "/layer1/etc");
    fs::create_directories(dir_ + "/layer2/etc");
    std::ofstream(dir_ + "/layer1/etc/a") << "one";
    std::ofstream(dir_ + "/layer2/etc/a") << "two";
    std::ofstream(dir_ + "/layer1/etc/b") << "only below";
  }
  agent::testing::TempDir tmp_{"rootfs"};  // with whatever a failed test left mounted
  std::string dir_;
};

TEST_F(RootfsTest, OverlayIsMountedRecognisedAndUnmounted) {
  std::string c = dir_ + "/c";
  EXPECT_FALSE(isMountPoint(dir_));
  EXPECT_FALSE(isMountPoint(dir_ + "/missing"));
  // Layers are given lowest first; the upper one wins.
  auto rootfs = mountRootfs({dir_ + "/layer1", dir_ + "/layer2"}, c, dir_ + "/disk/c");
  ASSERT_TRUE(rootfs.isOk()) << rootfs.status().message();
  EXPECT_EQ(*rootfs, c + "/rootfs");
  EXPECT_TRUE(isMountPoint(*rootfs));
  EXPECT_FALSE(isMountPoint(c));
  EXPECT_FALSE(isMountPoint(*rootfs + "/etc"));
  std::string a, b;
  std::ifstream(*rootfs + "/etc/a") >> a;
  std::getline(std::ifstream(*rootfs + "/etc/b"), b);
  EXPECT_EQ(a, "two");
  EXPECT_EQ(b, "only below");
  // Writes go to the layer dir, not to the bundle.
  std::ofstream(*rootfs + "/etc/new") << "written";
  EXPECT_TRUE(fs::exists(dir_ + "/disk/c/upper/etc/new"));
  EXPECT_FALSE(fs::exists(c + "/upper"));
  // Mounting again is a no-op, not a second overlay on top.
  auto again = mountRootfs({dir_ + "/layer1", dir_ + "/layer2"}, c, dir_ + "/disk/c");
  ASSERT_TRUE(again.isOk());
  ASSERT_TRUE(unmountRootfs(c).isOk());
  EXPECT_FALSE(isMountPoint(c + "/rootfs"));
  EXPECT_FALSE(fs::exists(c + "/rootfs/etc/a"));
  // Unmounting what is not mounted is fine.
  EXPECT_TRUE(unmountRootfs(c).isOk());
}

TEST_F(RootfsTest, RefusesBadLayerLists) {
  EXPECT_EQ(mountRootfs({}, dir_ + "/c", dir_ + "/disk/c").status().code(), Code::kInvalid);
  EXPECT_EQ(mountRootfs({dir_ + "/lay,er"}, dir_ + "/c", dir_ + "/disk/c").status().code(), Code::kInvalid);
  EXPECT_FALSE(isMountPoint(dir_ + "/c/rootfs"));
  EXPECT_EQ(mountRootfs({dir_ + "/layer1"}, dir_ + "/c", dir_ + "/di:sk").status().code(), Code::kInvalid);
}

TEST_F(RootfsTest, MountPointsOfAConfig) {
  std::ofstream(dir_ + "/hosts") << "127.0.0.1 localhost\n";
  Json config = {{"mounts",
                  {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                   {{"destination", "/dev/termination-log"}, {"type", "bind"}, {"source", dir_ + "/hosts"}},
                   {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"}},
                   {{"destination", "/etc/hosts"}, {"type", "bind"}, {"source", dir_ + "/hosts"}},
                   {{"destination", "/data"}, {"type", "bind"}, {"source", dir_ + "/layer1"}},
                   {{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}}}}};
  auto points = mountPointsOf(config);
  std::vector<std::pair<std::string, bool>> got;
  for (const auto& p : points) got.emplace_back(p.path, p.directory);
  std::vector<std::pair<std::string, bool>> want = {
      {"/proc", true}, {"/etc/hosts", false}, {"/data", true}, {"/scratch", true}};
  EXPECT_EQ(got, want);
}

TEST_F(RootfsTest, MountPointsComeFromASharedLayerNotTheWritableOne) {
  // The image: /etc/resolv.conf and /var/run are symlinks, /etc/a a file.
  fs::create_symlink("../run/resolv.conf", dir_ + "/layer1/etc/resolv.conf");
  fs::create_directories(dir_ + "/layer1/var");
  fs::create_symlink("../run", dir_ + "/layer1/var/run");
  std::vector<std::string> image = {dir_ + "/layer1", dir_ + "/layer2"};
  std::vector<MountPoint> points = {{"/etc/hosts", false},
                                    {"/etc/resolv.conf", false},
                                    {"/var/run/secrets/kubernetes.io/serviceaccount", true},
                                    {"/data/cache", true},
                                    {"/etc/a", true}};
  std::string root = dir_ + "/mountpoints";
  auto layer = mountPointLayer(root, image, points);
  ASSERT_TRUE(layer.isOk()) << layer.status().message();
  ASSERT_FALSE(layer->empty());
  EXPECT_TRUE(fs::is_regular_file(*layer + "/etc/hosts"));
  EXPECT_EQ(fs::file_size(*layer + "/etc/hosts"), 0u);
  EXPECT_TRUE(fs::is_directory(*layer + "/data/cache"));
  // What the image has as something else is left to crun: a layer's
  // directory would hide the image's symlink.
  EXPECT_FALSE(fs::exists(fs::symlink_status(*layer + "/etc/resolv.conf")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(*layer + "/var")));
  EXPECT_FALSE(fs::exists(*layer + "/etc/a"));

  // Shared: the same image and points give the same layer; others another.
  auto same = mountPointLayer(root, image, points);
  ASSERT_TRUE(same.isOk());
  EXPECT_EQ(*same, *layer);
  auto other = mountPointLayer(root, image, {{"/etc/hostname", false}});
  ASSERT_TRUE(other.isOk());
  EXPECT_NE(*other, *layer);
  auto none = mountPointLayer(root, image, {{"/etc", true}});  // the image has it
  ASSERT_TRUE(none.isOk());
  EXPECT_TRUE(none->empty());
  for (const auto& e : fs::directory_iterator(root))
    EXPECT_NE(e.path().filename().string().rfind(".tmp", 0), 0u);

  // A bind mount onto the layer's file copies nothing up: the container's
  // writable layer stays empty, and the image's files are still there.
  std::string c = dir_ + "/c";
  std::vector<std::string> layers = image;
  layers.push_back(*layer);
  auto rootfs = mountRootfs(layers, c, dir_ + "/disk/c");
  ASSERT_TRUE(rootfs.isOk()) << rootfs.status().message();
  std::ofstream(dir_ + "/hosts") << "10.42.0.9 web\n";
  ASSERT_EQ(::mount((dir_ + "/hosts").c_str(), (*rootfs + "/etc/hosts").c_str(), nullptr, MS_BIND, nullptr),
            0)
      << std::strerror(errno);
  std::string line;
  std::getline(std::ifstream(*rootfs + "/etc/hosts"), line);
  EXPECT_EQ(line, "10.42.0.9 web");
  std::string a;
  std::ifstream(*rootfs + "/etc/a") >> a;
  EXPECT_EQ(a, "two");
  EXPECT_TRUE(fs::is_empty(dir_ + "/disk/c/upper"));
  ASSERT_EQ(::umount2((*rootfs + "/etc/hosts").c_str(), 0), 0);
  ASSERT_TRUE(unmountRootfs(c).isOk());
}

}  // namespace
}  // namespace capstan::agent::runtime
