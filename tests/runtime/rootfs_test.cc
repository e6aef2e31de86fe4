// The container rootfs: an overlay of image layers mounted, recognised as
// mounted (isMountPoint asks statx, not /proc/self/mountinfo), unmounted.

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "agent/runtime/rootfs.h"
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

}  // namespace
}  // namespace capstan::agent::runtime
