// ensureBridgeNetfilter against the real kernel, in a scratch network
// namespace (net.bridge.* is per namespace), so the machine's own setting
// is never touched.

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/network/network.h"
#include "agent/runtime/process.h"
#include "runtime/fixture.h"

namespace capstan::agent::testing {
namespace {

using network::ensureBridgeNetfilter;

const char* kKnob = "/proc/sys/net/bridge/bridge-nf-call-iptables";

std::string readKnob() {
  std::ifstream in(kKnob);
  std::string v;
  std::getline(in, v);
  return v;
}

TEST(BridgeNetfilterTest, TurnsBridgedTrafficThroughNetfilterOn) {
  if (::access(kKnob, F_OK) != 0) GTEST_SKIP() << "no br_netfilter on this kernel (and so nothing to set)";
  ScratchNetns ns("brnf");
  ASSERT_TRUE(ns.ok());
  // setns() changes only the calling thread: do it on a thread of our own.
  std::string before, after, again;
  Status first = Status::ok(), second = Status::ok();
  bool entered = false;
  std::thread([&] {
    int fd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return;
    ::close(fd);
    entered = true;
    std::ofstream(kKnob) << "0\n";
    before = readKnob();
    first = ensureBridgeNetfilter();
    after = readKnob();
    second = ensureBridgeNetfilter();  // already on: nothing to do, still ok
    again = readKnob();
  }).join();
  ASSERT_TRUE(entered);
  EXPECT_EQ(before, "0");
  EXPECT_TRUE(first) << first.message();
  EXPECT_EQ(after, "1");
  EXPECT_TRUE(second) << second.message();
  EXPECT_EQ(again, "1");
}

TEST(BridgeNetfilterTest, SaysWhatIsMissing) {
  // A /proc/sys without net/bridge stands for a kernel without the module
  // when modprobe cannot help (it loads nothing into this fake tree).
  std::string dir = ::testing::TempDir() + "capstan-brnf-" + std::to_string(getpid());
  Status st = ensureBridgeNetfilter(dir);
  EXPECT_FALSE(st);
  EXPECT_NE(st.message().find("bridge-nf-call-iptables"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace capstan::agent::testing
