// The Node object of this machine: registration with real capacity and
// nodeInfo, conditions from real readings, and the Lease in
// kube-node-lease that tells the control plane the agent is alive.
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "agent/agent_impl.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net_address.h"

namespace capstan::agent {
namespace {

std::string readFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

int64_t meminfo(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string k;
  int64_t v = 0;
  std::string unit;
  while (f >> k >> v >> unit)
    if (k == key + ":") return v * 1024;
  return 0;
}

std::string osImage() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  return "Linux";
}

}  // namespace

NodeReporter::NodeReporter(const client::Client& client, client::EventRecorder& events,
                           const AgentOptions& opts, std::string runtime_version, int kubelet_port)
    : client_(client),
      events_(events),
      opts_(opts),
      runtime_version_(std::move(runtime_version)),
      kubelet_port_(kubelet_port),
      node_ip_(opts.node_ip.empty() ? firstHostIpv4() : opts.node_ip) {
  if (node_ip_.empty()) node_ip_ = "127.0.0.1";
}

NodeReporter::~NodeReporter() { stop(); }

Json NodeReporter::nodeRef() const {
  return {{"kind", "Node"}, {"metadata", {{"name", opts_.node_name}, {"uid", opts_.node_name}}}};
}

Json NodeReporter::nodeStatus() {
  std::string now = formatRfc3339(SystemClock::instance().now());
  int64_t mem_total = meminfo("MemTotal");
  int64_t mem_available = meminfo("MemAvailable");
  struct statvfs vfs {};
  statvfs(opts_.data_dir.c_str(), &vfs);
  int64_t disk_total = static_cast<int64_t>(vfs.f_blocks) * vfs.f_frsize;
  int64_t disk_free = static_cast<int64_t>(vfs.f_bavail) * vfs.f_frsize;
  int64_t pid_max = std::atoll(readFirstLine("/proc/sys/kernel/pid_max").c_str());
  int64_t threads = 0;
  {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c, running;
    f >> a >> b >> c >> running;
    auto slash = running.find('/');
    if (slash != std::string::npos) threads = std::atoll(running.c_str() + slash + 1);
  }
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  Json capacity = {{"cpu", std::to_string(cpus)},
                   {"memory", fmt::format("{}Ki", mem_total / 1024)},
                   {"pods", "110"},
                   {"ephemeral-storage", fmt::format("{}Ki", disk_total / 1024)},
                   {"hugepages-2Mi", "0"}};
  struct utsname uts {};
  uname(&uts);
  // Eviction thresholds as kubelet's defaults: memory.available<100Mi,
  // nodefs.available<10%.
  bool memory_pressure = mem_available > 0 && mem_available < 100 * 1024 * 1024;
  bool disk_pressure = disk_total > 0 && disk_free * 10 < disk_total;
  bool pid_pressure = pid_max > 0 && threads * 10 > pid_max * 9;
  if (opts_.hollow) {
    // The same fixed size and health whatever the machine, as kubemark's.
    capacity = {{"cpu", "4"}, {"memory", "16Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}, {"hugepages-2Mi", "0"}};
    memory_pressure = disk_pressure = pid_pressure = false;
  }
  std::vector<std::string> changed;
  Json conditions = conditions_.report(
      {
          {"MemoryPressure", memory_pressure,
           memory_pressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
           memory_pressure ? "kubelet has insufficient memory available"
                           : "kubelet has sufficient memory available"},
          {"DiskPressure", disk_pressure,
           disk_pressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
           disk_pressure ? "kubelet has disk pressure" : "kubelet has no disk pressure"},
          {"PIDPressure", pid_pressure,
           pid_pressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
           pid_pressure ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available"},
          {"Ready", true, "KubeletReady", "kubelet is posting ready status"},
      },
      now, &changed);
  for (const auto& reason : changed)
    events_.record(nodeRef(), "Normal", reason,
                   fmt::format("Node {} status is now: {}", opts_.node_name, reason));
  std::string runtime = runtime_version_;
  // "crun version 1.8.1" -> "crun://1.8.1"
  if (auto sp = runtime.rfind(' '); sp != std::string::npos) runtime = "crun://" + runtime.substr(sp + 1);
  return {{"capacity", capacity},
          {"allocatable", capacity},
          {"conditions", conditions},
          {"addresses", Json::array({{{"type", "InternalIP"}, {"address", node_ip_}},
                                     {{"type", "Hostname"}, {"address", opts_.node_name}}})},
          {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet_port_}}}}},
          {"nodeInfo",
           {{"machineID", readFirstLine("/etc/machine-id")},
            {"systemUUID", readFirstLine("/sys/class/dmi/id/product_uuid")},
            {"bootID", readFirstLine("/proc/sys/kernel/random/boot_id")},
            {"kernelVersion", uts.release},
            {"osImage", osImage()},
            {"containerRuntimeVersion", runtime},
            {"kubeletVersion", "v1.31.0+capstan"},
            {"kubeProxyVersion", "v1.31.0+capstan"},
            {"operatingSystem", "linux"},
            {"architecture", "amd64"}}}};
}

Result<std::string> NodeReporter::registerAndWaitForCidr(std::chrono::milliseconds timeout) {
  Json labels = {{"kubernetes.io/hostname", opts_.node_name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", "amd64"}};
  if (opts_.control_plane) labels["node-role.kubernetes.io/control-plane"] = "true";
  // After a restart the stored conditions still hold: only changes are news.
  if (auto existing = client_.get(client::res::kNodes, "", opts_.node_name))
    conditions_.seed(objectAt(*existing, "status").value("conditions", Json::array()));
  events_.record(nodeRef(), "Normal", "Starting", "Starting kubelet.");
  Json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", opts_.node_name}, {"labels", labels}}},
               {"status", nodeStatus()}};
  auto created = client_.create(client::res::kNodes, "", node);
  if (!created && created.status().code() != Code::kAlreadyExists) return created.status();
  if (!created) {
    // Re-registration after a restart: refresh labels and status.
    auto r = client_.patch(client::res::kNodes, "", opts_.node_name, client::PatchType::kMerge,
                           {{"metadata", {{"labels", labels}}}});
    if (!r) return r.status();
  }
  if (auto st = updateStatus(); !st) return st;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto n = client_.get(client::res::kNodes, "", opts_.node_name);
    if (n) {
      std::string cidr = getString(objectAt(*n, "spec"), "podCIDR");
      if (!cidr.empty()) return cidr;
    }
    if (std::chrono::steady_clock::now() > deadline)
      return Status(Code::kTimeout, "no podCIDR assigned to node " + opts_.node_name + " (is the controller manager running?)");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status NodeReporter::updateStatus() {
  Json patch = {{"status", nodeStatus()}};
  auto r = client_.patch(client::res::kNodes, "", opts_.node_name, client::PatchType::kStrategic, patch, "status");
  return r.status();
}

Status NodeReporter::renewLease() {
  std::string now = formatRfc3339Micro(SystemClock::instance().now());
  int duration = std::max<int>(1, std::chrono::duration_cast<std::chrono::seconds>(opts_.lease_duration).count());
  Json spec = {{"holderIdentity", opts_.node_name}, {"leaseDurationSeconds", duration}, {"renewTime", now}};
  auto r = client_.patch(client::res::kLeases, "kube-node-lease", opts_.node_name, client::PatchType::kMerge,
                         {{"spec", spec}});
  if (r || r.status().code() != Code::kNotFound) return r.status();
  auto node = client_.get(client::res::kNodes, "", opts_.node_name);
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", opts_.node_name}, {"namespace", "kube-node-lease"}}},
                {"spec", spec}};
  if (node)
    lease["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", "v1"},
                                                        {"kind", "Node"},
                                                        {"name", opts_.node_name},
                                                        {"uid", client::uidOf(*node)}}});
  return client_.create(client::res::kLeases, "kube-node-lease", lease).status();
}

void NodeReporter::start() { thread_ = std::thread([this] { run(); }); }

void NodeReporter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NodeReporter::run() {
  auto next_status = std::chrono::steady_clock::now() + opts_.node_status_interval;
  for (;;) {
    if (auto st = renewLease(); !st) LOG_WARN("node lease renewal failed", "node", opts_.node_name, "error", st.message());
    if (std::chrono::steady_clock::now() >= next_status) {
      if (auto st = updateStatus(); !st) LOG_WARN("node status update failed", "error", st.message());
      next_status = std::chrono::steady_clock::now() + opts_.node_status_interval;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, opts_.lease_renew_interval, [this] { return stopping_; })) return;
  }
}

}  // namespace capstan::agent
