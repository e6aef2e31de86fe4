#pragma once
// Shared set-up for the runtime tests: a private world per test (temp
// dirs, a unique bridge, subnet, CNI network name and cgroup parent), the
// busybox image built once, and a cleanup that removes everything and
// then checks that nothing is left (mounts, links, cgroups, iptables).

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "agent/network/network.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/runtime.h"

namespace capstan::agent::testing {

// Builds the image into a temp dir once per process; returns its dir with
// layout/, oci.tar and docker.tar.
const std::string& busyboxImageDir();

std::string randomToken(size_t n);

// Polls `done` every 10 ms until it holds or `limit` passed; its last answer.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(10));

// GET http://host:port/path from the host; retries refused connections
// until `timeout_ms` (a server that just started may not listen yet).
std::string httpGet(const std::string& host, int port, const std::string& path, int timeout_ms = 5000);

// A network namespace of the test's own (`ip netns add`), deleted on
// destruction, for tests that need no bridge or runtime.
class ScratchNetns {
 public:
  explicit ScratchNetns(const std::string& purpose);
  ~ScratchNetns();
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// A directory of the test's own under /tmp (mkdtemp), removed with all in
// it on destruction, after whatever a test left mounted below it (deepest
// first) is unmounted.
class TempDir {
 public:
  explicit TempDir(const std::string& purpose);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class RuntimeFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens runtime_ on this test's dirs, dropping the one it had first: as
  // an agent that restarts does.
  void openRuntime();
  // A container spec over the imported busybox image.
  runtime::ContainerSpec containerSpec(const std::string& name, std::vector<std::string> args,
                                       const network::Sandbox* sandbox = nullptr);
  std::string readLog(const std::string& name);

  std::string root_;  // everything of this test lives here
  std::string bridge_, subnet_prefix_, network_name_, cgroup_parent_, pod_uid_;
  std::unique_ptr<runtime::ImageStore> images_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<network::Network> network_;
  runtime::Image image_;

 private:
  std::string iptables_before_;
};

}  // namespace capstan::agent::testing
