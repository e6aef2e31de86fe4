#pragma once
// The DaemonSet controller, as upstream's pkg/controller/daemon: one pod
// per eligible node (nodeSelector, required node affinity, NoSchedule and
// NoExecute taints the pod does not tolerate, with the daemon tolerations
// upstream adds), each pinned to its node by a required node affinity on
// metadata.name that the scheduler honours; rolling updates bounded by
// maxUnavailable (or OnDelete); ControllerRevisions with the
// controller-revision-hash label; status counts as upstream.
//
// Threading: the Controller workers; handlers only enqueue DaemonSet keys.

#include "controllers/controller.h"
#include "controllers/controller_expectations.h"

namespace capstan::controllers {

class DaemonSetController final : public Controller {
 public:
  explicit DaemonSetController(Context& ctx);
  ~DaemonSetController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  void podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted);
  void enqueueAll();
  Status createPod(const Json& ds, const std::string& key, const std::string& node, const std::string& hash);
  Status deletePod(const Json& ds, const std::string& key, const Json& pod);

  ControllerExpectations expectations_;
};

}  // namespace capstan::controllers
