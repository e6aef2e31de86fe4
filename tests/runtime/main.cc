// runtime_tests: needs root and the real crun / CNI plugins / iptables.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/fixture.h"

namespace {

class ImageDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    if (built_) std::filesystem::remove_all(capstan::agent::testing::busyboxImageDir(), ec);
  }
  bool built_ = true;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "runtime_tests needs root (crun, CNI, mounts); skipping\n");
    return 0;
  }
  ::testing::AddGlobalTestEnvironment(new ImageDirCleanup);  // gtest owns it
  return RUN_ALL_TESTS();
}
