#include "runtime/fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "agent/runtime/cgroups.h"
#include "agent/runtime/process.h"

namespace capstan::agent::testing {
namespace fs = std::filesystem;
using runtime::runProcess;

std::string randomToken(size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* k = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += k[rng() % 36];
  return s;
}

const std::string& busyboxImageDir() {
  static std::string dir = [] {
    std::string d = "/tmp/capstan-rt-image-" + randomToken(8);
    fs::create_directories(d);
    const char* src = getenv("CAPSTAN_SOURCE_DIR");
    std::string script = std::string(src ? src : ".") + "/tests/images/build_busybox_image.py";
    auto r = runProcess({"/usr/bin/python3", script, "--layout", d + "/layout", "--archive", d + "/oci.tar",
                         "--docker-archive", d + "/docker.tar", "--name", "busybox:docker"});
    if (!r || r->exit_code != 0) ADD_FAILURE() << "image build failed: " << (r ? r->err : r.status().message());
    return d;
  }();
  return dir;
}

std::string httpGet(const std::string& host, int port, const std::string& path, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the server is still starting
      continue;
    }
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    if (write(fd, req.data(), req.size()) < 0) {
    }
    std::string resp;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(r));
    close(fd);
    return resp;
  }
  return "";
}

namespace {

// iptables rules that mention this test's objects.
std::string ourIptables(const std::string& bridge, const std::string& net_name, const std::string& subnet) {
  auto r = runProcess({"/usr/sbin/iptables-save"});
  if (!r) return "";
  std::istringstream in(r->out);
  std::string line, out;
  while (std::getline(in, line))
    if (line.find(bridge) != std::string::npos || line.find(net_name) != std::string::npos ||
        line.find(subnet) != std::string::npos)
      out += line + "\n";
  return out;
}

std::vector<std::string> mountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string a, b, c, d, mp;
    ss >> a >> b >> c >> d >> mp;
    if (mp.rfind(prefix, 0) == 0) out.push_back(mp);
  }
  return out;
}

}  // namespace

void RuntimeFixture::SetUp() {
  std::string token = randomToken(6);
  root_ = "/tmp/capstan-rt-" + token;
  bridge_ = "cpt" + token;
  network_name_ = "cpt-net-" + token;
  cgroup_parent_ = "/capstan-test-" + token;
  pod_uid_ = "pod-" + token;
  static std::mt19937 rng{std::random_device{}()};
  subnet_prefix_ = "10.88." + std::to_string(1 + rng() % 250) + ".";
  fs::create_directories(root_);
  iptables_before_ = ourIptables(bridge_, network_name_, subnet_prefix_);

  auto images = runtime::ImageStore::open(root_ + "/images");
  ASSERT_TRUE(images) << images.status().message();
  images_ = std::move(*images);
  auto imported = images_->importArchive(busyboxImageDir() + "/layout", "busybox:1");
  ASSERT_TRUE(imported) << imported.status().message();
  image_ = (*imported)[0];

  openRuntime();
  if (!runtime_) return;

  network::NetworkConfig nc;
  nc.network_name = network_name_;
  nc.bridge = bridge_;
  nc.subnet = subnet_prefix_ + "0/24";
  nc.ipam_data_dir = root_ + "/ipam";
  nc.run_dir = root_ + "/sandboxes";
  nc.isolate = true;  // pods in tests never reach past this machine
  auto net = network::Network::open(nc);
  ASSERT_TRUE(net) << net.status().message();
  network_ = std::move(*net);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(std::chrono::milliseconds(10)))
    if (done()) return true;
  return done();
}

ScratchNetns::ScratchNetns(const std::string& purpose)
    : name_("capstan-rt-" + purpose + "-" + std::to_string(getpid())) {
  auto r = runtime::runProcess({"/usr/sbin/ip", "netns", "add", name_});
  ok_ = r && r->exit_code == 0;
}

TempDir::TempDir(const std::string& purpose) {
  std::string tmpl = "/tmp/capstan-" + purpose + "-XXXXXX";
  if (::mkdtemp(tmpl.data())) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::vector<std::string> mounted;  // mount points below path_ (mountinfo's fifth field)
  std::ifstream info("/proc/self/mountinfo");
  for (std::string line; std::getline(info, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point.rfind(path_ + "/", 0) == 0) mounted.push_back(point);
  }
  std::sort(mounted.begin(), mounted.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& point : mounted) ::umount2(point.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ScratchNetns::~ScratchNetns() { (void)runtime::runProcess({"/usr/sbin/ip", "netns", "del", name_}); }

void RuntimeFixture::openRuntime() {
  runtime_.reset();
  runtime::RuntimeConfig rc;
  rc.state_dir = root_ + "/state";
  rc.layers_dir = root_ + "/layers";  // apart from the bundles, as the agent has them
  rc.crun_root = root_ + "/crun";
  rc.cgroup_parent = cgroup_parent_;
  auto rt = runtime::Runtime::open(rc);
  ASSERT_TRUE(rt) << rt.status().message();
  runtime_ = std::move(*rt);
}

void RuntimeFixture::TearDown() {
  // Remove everything, whatever state the test left it in.
  if (runtime_) {
    for (const auto& c : runtime_->list()) EXPECT_TRUE(runtime_->remove(c.id)) << c.id;
    runtime_.reset();
  }
  if (network_) {
    for (const auto& s : network_->list()) EXPECT_TRUE(network_->removeSandbox(s.id)) << s.id;
    EXPECT_TRUE(network_->close(/*delete_bridge=*/true));
    network_.reset();
  }
  images_.reset();
  runtime::removeCgroup(cgroup_parent_).ignore();
  // Then check that nothing is left.
  auto mounts = mountsUnder(root_);
  EXPECT_TRUE(mounts.empty()) << "leftover mount " << mounts.front();
  for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
  auto links = runProcess({"/usr/sbin/ip", "-o", "link", "show"});
  ASSERT_TRUE(links);
  EXPECT_EQ(links->out.find(bridge_), std::string::npos) << links->out;
  for (const auto& dir : runtime::cgroupMounts())
    EXPECT_FALSE(fs::exists(dir + cgroup_parent_)) << "leftover cgroup " << dir + cgroup_parent_;
  EXPECT_EQ(ourIptables(bridge_, network_name_, subnet_prefix_), iptables_before_);
  std::error_code ec;
  if (mountsUnder(root_).empty()) fs::remove_all(root_, ec);
}

runtime::ContainerSpec RuntimeFixture::containerSpec(const std::string& name, std::vector<std::string> args,
                                                     const network::Sandbox* sandbox) {
  runtime::ContainerSpec spec;
  spec.id = pod_uid_ + "_" + name;
  spec.pod_uid = pod_uid_;
  spec.rootfs = image_.rootfs;
  spec.args = std::move(args);
  spec.env = image_.config.env;
  spec.log_path = root_ + "/logs/" + name + ".log";
  spec.labels = {{"name", name}};
  if (sandbox) {
    spec.namespaces = {sandbox->net_ns, sandbox->ipc_ns, sandbox->uts_ns};
    std::string hosts = root_ + "/hosts";
    std::ofstream(hosts) << "127.0.0.1 localhost\n" << sandbox->ip << " " << sandbox->id << "\n";
    spec.mounts.push_back({hosts, "/etc/hosts", "bind", true, {}});
  }
  return spec;
}

std::string RuntimeFixture::readLog(const std::string& name) {
  std::ifstream in(root_ + "/logs/" + name + ".log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace capstan::agent::testing
