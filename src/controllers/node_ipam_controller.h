#pragma once
#include <set>

#include "controllers/controller.h"

namespace capstan::controllers {

// Gives every node a slice of the cluster CIDR (spec.podCIDR, a /24 by
// default), as kube-controller-manager's node IPAM does; agents set up
// their pod network on it.
class NodeIpamController final : public Controller {
 public:
  explicit NodeIpamController(Context& ctx);
  ~NodeIpamController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  std::mutex mu_;  // guards assigned_ (one worker, but handlers read it)
  std::set<uint32_t> assigned_;  // network addresses of assigned slices
};

}  // namespace capstan::controllers
