#pragma once
// Node lifecycle: a node whose Lease (kube-node-lease) has not been renewed
// for the grace period is marked Ready=Unknown and tainted
// node.kubernetes.io/unreachable (NoSchedule and NoExecute); a node whose
// agent reports Ready=False is tainted not-ready. Pods on a NoExecute
// tainted node are evicted (deleted) once they do not tolerate the taint
// or their tolerationSeconds ran out, so their controllers replace them
// elsewhere. Taints go again when the node is back.
//
// Time: lease renewals are judged by when this controller saw them change
// (its own clock), as upstream does, so clock skew between machines does
// not matter. Each node re-checks itself after the time left (addAfter).
//
// Events, as upstream's node controller (source "node-controller"):
// RegisteredNode the first time this controller sees a node, RemovingNode
// when it is gone ("Node <name> event: Registered Node <name> in
// Controller").

#include <map>
#include <mutex>

#include "controllers/controller.h"

namespace capstan::controllers {

class NodeLifecycleController final : public Controller {
 public:
  explicit NodeLifecycleController(Context& ctx);
  ~NodeLifecycleController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  Status setTaints(const Json& node, bool unreachable, bool not_ready);
  Status markUnknown(const Json& node);
  Status evictPods(const std::string& node_name, const Json& taints);

  struct Observed {
    std::string renew_time;
    std::chrono::steady_clock::time_point seen;
    std::string uid;  // for RemovingNode, once the Node is gone
  };
  std::mutex mu_;  // guards observed_
  std::map<std::string, Observed> observed_;
  client::EventRecorder events_;  // source "node-controller", as upstream
};

}  // namespace capstan::controllers
