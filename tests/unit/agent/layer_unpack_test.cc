#include "agent/runtime/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <random>

namespace capstan::agent::runtime {
namespace {
namespace fs = std::filesystem;

struct Member {
  std::string name;
  std::string data;
  bool dir = false;
  std::string symlink;
};

std::string makeTar(const std::vector<Member>& members) {
  std::string out(1 << 20, '\0');
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    if (m.dir) {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
    } else if (!m.symlink.empty()) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, m.symlink.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    }
    archive_write_header(a, e);
    if (!m.data.empty()) archive_write_data(a, m.data.data(), m.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

class LayerUnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("capstan-unpack-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(LayerUnpackTest, FilesLinksAndWhiteouts) {
  if (geteuid() != 0) GTEST_SKIP() << "whiteouts need CAP_MKNOD";
  std::string tar = makeTar({{"etc/", "", true},
                             {"etc/passwd", "root:x:0:0::/:/bin/sh\n"},
                             {"bin/sh", "", false, "busybox"},
                             {"etc/.wh.shadow", ""},
                             {"var/cache/.wh..wh..opq", ""},
                             {"../escape", "nope"},
                             {"./ok", "yes"}});
  ASSERT_TRUE(unpackLayerFromMemory(tar, dir_.string()));
  EXPECT_TRUE(fs::exists(dir_ / "etc/passwd"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "bin/sh"));
  EXPECT_TRUE(fs::exists(dir_ / "ok"));
  EXPECT_FALSE(fs::exists(dir_.parent_path() / "escape"));
  struct stat st;
  ASSERT_EQ(lstat((dir_ / "etc/shadow").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(dir_ / "etc/.wh.shadow"));
  char v[4] = {};
  ASSERT_EQ(getxattr((dir_ / "var/cache").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
}

TEST_F(LayerUnpackTest, GarbageIsAnError) { EXPECT_FALSE(unpackLayerFromMemory("definitely not a tar", dir_.string())); }

TEST(Sha256Test, KnownValue) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace capstan::agent::runtime
