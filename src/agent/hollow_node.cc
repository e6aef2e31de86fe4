// Hollow nodes, as Kubernetes' kubemark: each registers its Node (fixed
// capacity) and renews its Lease like a real agent, watches only its own
// pods, and reports them Running and Ready with a made-up pod IP from its
// podCIDR, without running anything. Deleting a pod finishes at once.
// Many of them share one process, one client and one pod worker pool, so
// one machine can host hundreds for scheduler and controller scale tests.
#include <arpa/inet.h>
#include <fmt/format.h>

#include <map>

#include "agent/agent_impl.h"
#include "common/log.h"

namespace capstan::agent {
namespace {

class HollowNodes final : public Agent {
 public:
  HollowNodes(const AgentOptions& opts, int count, std::shared_ptr<client::Transport> transport)
      : opts_(opts), count_(count), client_(std::move(transport), "kubelet") {}
  ~HollowNodes() override { stop(); }

  Status init() {
    for (int i = 0; i < count_; ++i) {
      AgentOptions o = opts_;
      o.node_name = count_ == 1 ? opts_.node_name : fmt::format("{}-{}", opts_.node_name, i);
      o.hollow = true;
      recorders_.push_back(std::make_unique<client::EventRecorder>(client_, "kubelet", o.node_name));
      auto node = std::make_unique<NodeReporter>(client_, *recorders_.back(), o, "hollow 1.0", 0);
      auto cidr = node->registerAndWaitForCidr(std::chrono::seconds(60));
      if (!cidr) return cidr.status();
      node->start();
      cidrs_[o.node_name] = *cidr;
      nodes_.push_back(std::move(node));
      auto pods = std::make_unique<client::Informer>(
          client_, client::res::kPods, "", client::ListOptions{.field_selector = "spec.nodeName=" + o.node_name});
      auto enqueue = [this](const ObjectPtr& p) { queue_.add(client::keyOf(*p)); };
      pods->addHandlers({.on_add = enqueue,
                         .on_update = [enqueue](const ObjectPtr&, const ObjectPtr& p) { enqueue(p); },
                         .on_delete = nullptr});
      pods->start();
      pods_.push_back(std::move(pods));
    }
    for (auto& p : pods_)
      if (!p->waitForSync(std::chrono::seconds(60))) return Status(Code::kTimeout, "hollow node caches did not sync");
    for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { worker(); });
    LOG_INFO("hollow nodes started", "count", count_, "first", opts_.node_name);
    return Status::ok();
  }

  void stop() override {
    queue_.shutDown();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    workers_.clear();
    for (auto& p : pods_) p->stop();
    for (auto& n : nodes_) n->stop();
  }

 private:
  void worker() {
    while (auto key = queue_.get()) {
      Status st = sync(*key);
      if (st) queue_.forget(*key);
      else queue_.addRateLimited(*key);
      queue_.done(*key);
    }
  }

  ObjectPtr find(const std::string& key) const {
    for (const auto& p : pods_)
      if (auto pod = p->get(key)) return pod;
    return nullptr;
  }

  // A made-up, unique-per-node pod IP from the node's podCIDR.
  std::string podIp(const std::string& node) {
    std::lock_guard lock(mu_);
    std::string cidr = cidrs_[node];
    in_addr a{};
    ::inet_pton(AF_INET, cidr.substr(0, cidr.find('/')).c_str(), &a);
    uint32_t n = ++next_ip_[node] % 250 + 2;
    a.s_addr = htonl(ntohl(a.s_addr) + n);
    char buf[INET_ADDRSTRLEN];
    return ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  }

  Status sync(const std::string& key) {
    ObjectPtr pod = find(key);
    if (!pod) return Status::ok();
    auto [ns, name] = client::splitKey(key);
    const Json& meta = objectAt(*pod, "metadata");
    if (meta.contains("deletionTimestamp")) {
      Json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0},
                   {"preconditions", {{"uid", meta.value("uid", "")}}}};
      auto r = client_.remove(client::res::kPods, ns, name, opts);
      if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
      return Status::ok();
    }
    const Json& status = objectAt(*pod, "status");
    if (status.value("phase", "") == "Running") return Status::ok();
    std::string node = getString(objectAt(*pod, "spec"), "nodeName");
    std::string now = formatRfc3339(SystemClock::instance().now());
    std::string ip = podIp(node);
    Json containers = Json::array();
    for (const auto& c : arrayAt(objectAt(*pod, "spec"), "containers"))
      containers.push_back({{"name", c.value("name", "")},
                            {"image", c.value("image", "")},
                            {"imageID", ""},
                            {"containerID", "hollow://" + meta.value("uid", "") + "/" + c.value("name", "")},
                            {"ready", true},
                            {"started", true},
                            {"restartCount", 0},
                            {"state", {{"running", {{"startedAt", now}}}}}});
    Json conditions = Json::array();
    for (const char* type : {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"})
      conditions.push_back({{"type", type}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}});
    std::string host_ip = nodes_.front()->nodeIp();  // hollow nodes share the machine's address
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"conditions", conditions},
                    {"hostIP", host_ip},
                    {"hostIPs", Json::array({{{"ip", host_ip}}})},
                    {"podIP", ip},
                    {"podIPs", Json::array({{{"ip", ip}}})},
                    {"startTime", now},
                    {"containerStatuses", containers}}}};
    auto r = client_.patch(client::res::kPods, ns, name, client::PatchType::kMerge, patch, "status");
    if (!r && r.status().code() == Code::kNotFound) return Status::ok();
    return r.status();
  }

  AgentOptions opts_;
  int count_;
  client::Client client_;
  // One per node (source.host); declared first, so they outlive nodes_.
  std::vector<std::unique_ptr<client::EventRecorder>> recorders_;
  std::vector<std::unique_ptr<NodeReporter>> nodes_;
  std::vector<std::unique_ptr<client::Informer>> pods_;
  client::WorkQueue queue_{std::chrono::milliseconds(100), std::chrono::seconds(30)};
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards next_ip_, cidrs_ after init
  std::map<std::string, std::string> cidrs_;
  std::map<std::string, uint32_t> next_ip_;
};

}  // namespace

Result<std::unique_ptr<Agent>> startHollowNodes(const AgentOptions& opts, int count,
                                                std::shared_ptr<client::Transport> transport) {
  if (count < 1) return Status(Code::kInvalid, "--hollow-nodes must be at least 1");
  auto nodes = std::make_unique<HollowNodes>(opts, count, std::move(transport));
  if (auto st = nodes->init(); !st) return st;
  return std::unique_ptr<Agent>(std::move(nodes));
}

}  // namespace capstan::agent
