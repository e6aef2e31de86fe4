// runtime_tests: needs root and the real crun / CNI plugins / iptables.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/fixture.h"

namespace {

constexpr const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

// Removes the built image and puts back net.ipv4.ip_forward, which the
// CNI bridge plugin turns on.
class HostRestore : public ::testing::Environment {
 public:
  void SetUp() override { std::ifstream(kIpForward) >> ip_forward_; }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(capstan::agent::testing::busyboxImageDir(), ec);
    if (!ip_forward_.empty()) std::ofstream(kIpForward) << ip_forward_;
  }

 private:
  std::string ip_forward_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "runtime_tests needs root (crun, CNI, mounts); skipping\n");
    return 0;
  }
  ::testing::AddGlobalTestEnvironment(new HostRestore);  // gtest owns it
  return RUN_ALL_TESTS();
}
