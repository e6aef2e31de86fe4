// Image import of every archive kind the busybox builder writes.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/runtime/image_store.h"
#include "runtime/fixture.h"

namespace capstan::agent::testing {
namespace {
namespace fs = std::filesystem;

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = "/tmp/capstan-rt-img-" + randomToken(6);
    auto s = runtime::ImageStore::open(root_);
    ASSERT_TRUE(s) << s.status().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
  std::unique_ptr<runtime::ImageStore> store_;
};

TEST_F(ImageStoreTest, ImportsLayoutArchiveAndDockerSave) {
  const auto& dir = busyboxImageDir();
  auto a = store_->importArchive(dir + "/layout", "busybox:1");
  ASSERT_TRUE(a) << a.status().message();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].names, std::vector<std::string>{"docker.io/library/busybox:1"});
  EXPECT_EQ((*a)[0].config.cmd, std::vector<std::string>{"/bin/sh"});
  ASSERT_EQ((*a)[0].rootfs.layer_dirs.size(), 1u);
  EXPECT_TRUE(fs::exists((*a)[0].rootfs.layer_dirs[0] + "/bin/busybox"));
  EXPECT_TRUE(fs::is_symlink((*a)[0].rootfs.layer_dirs[0] + "/bin/sh"));

  auto b = store_->importArchive(dir + "/oci.tar", "localhost/bb:oci");
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ((*b)[0].manifest_digest, (*a)[0].manifest_digest);  // same content, one image, two names

  auto c = store_->importArchive(dir + "/docker.tar");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ((*c)[0].names, std::vector<std::string>{"docker.io/library/busybox:docker"});
  EXPECT_EQ((*c)[0].id, (*a)[0].id);  // same config
  // The same layer is unpacked once.
  EXPECT_EQ((*c)[0].rootfs.layer_dirs, (*a)[0].rootfs.layer_dirs);

  EXPECT_TRUE(store_->resolve("busybox:1"));
  EXPECT_TRUE(store_->resolve("docker.io/library/busybox:1"));
  EXPECT_TRUE(store_->resolve((*a)[0].id));
  EXPECT_EQ(store_->list().size(), 2u);

  // Reopen: the index survives.
  store_.reset();
  auto again = runtime::ImageStore::open(root_);
  ASSERT_TRUE(again);
  store_ = std::move(*again);
  EXPECT_EQ(store_->list().size(), 2u);

  ASSERT_TRUE(store_->remove("busybox:docker"));
  EXPECT_FALSE(store_->resolve("busybox:docker"));
  EXPECT_TRUE(fs::exists((*a)[0].rootfs.layer_dirs[0]));  // still used by busybox:1
  ASSERT_TRUE(store_->remove("busybox:1"));
  ASSERT_TRUE(store_->remove("localhost/bb:oci"));
  EXPECT_TRUE(store_->list().empty());
  EXPECT_FALSE(fs::exists((*a)[0].rootfs.layer_dirs[0]));
  EXPECT_TRUE(fs::is_empty(root_ + "/blobs/sha256"));
  EXPECT_EQ(store_->remove("busybox:1").code(), Code::kNotFound);
}

TEST_F(ImageStoreTest, RejectsGarbage) {
  std::string junk = root_ + "/junk.tar";
  fs::create_directories(root_);
  { std::ofstream(junk) << "not a tar"; }
  EXPECT_FALSE(store_->importArchive(junk));
  EXPECT_FALSE(store_->importArchive(root_ + "/missing.tar"));
  EXPECT_FALSE(store_->importArchive(busyboxImageDir() + "/layout", "UPPER/case"));
}

}  // namespace
}  // namespace capstan::agent::testing
