#include "agent/balanced_network.h"

#include "common/log.h"

namespace capstan::agent {
namespace {

class BalancedNetwork final : public network::Network {
 public:
  BalancedNetwork(std::unique_ptr<network::Network> inner, proxy::SocketLoadBalancer& lb)
      : inner_(std::move(inner)), lb_(lb) {
    add("node", "");  // the node's own namespace: host processes and hostNetwork pods
    for (const auto& sb : inner_->list()) add(sb.id, sb.net_ns);
  }

  Result<network::Sandbox> createSandbox(const std::string& id, const std::string& hostname,
                                         const std::vector<network::PortMapping>& ports) override {
    auto sb = inner_->createSandbox(id, hostname, ports);
    if (sb) add(id, sb->net_ns);
    return sb;
  }

  Status removeSandbox(const std::string& id) override {
    (void)lb_.removeNetns(id);
    return inner_->removeSandbox(id);
  }

  std::vector<network::Sandbox> list() const override { return inner_->list(); }
  Status close(bool delete_bridge) override { return inner_->close(delete_bridge); }

 private:
  void add(const std::string& id, const std::string& path) {
    if (Status st = lb_.addNetns(id, path); !st)
      LOG_WARN("socket load balancing: namespace not registered; its ClusterIP traffic goes through the rules",
               "sandbox", id, "error", st.message());
  }

  std::unique_ptr<network::Network> inner_;
  proxy::SocketLoadBalancer& lb_;
};

}  // namespace

std::unique_ptr<network::Network> balanceSandboxes(std::unique_ptr<network::Network> inner,
                                                   proxy::SocketLoadBalancer& lb) {
  return std::make_unique<BalancedNetwork>(std::move(inner), lb);
}

}  // namespace capstan::agent
