#pragma once
// The StatefulSet controller, as upstream's pkg/controller/statefulset:
// pods named <set>-<ordinal> with stable hostnames (hostname = pod name,
// subdomain = spec.serviceName); OrderedReady creates ordinals in order,
// each waiting for its predecessor to be Running and Ready, and removes
// them highest first; Parallel does both at once; RollingUpdate replaces
// pods from the highest ordinal down to spec.updateStrategy.rollingUpdate.partition,
// one at a time; OnDelete replaces only pods the user deletes.
// ControllerRevisions hold the template; pods carry controller-revision-hash
// (the revision's name), statefulset.kubernetes.io/pod-name and
// apps.kubernetes.io/pod-index.
//
// volumeClaimTemplates are not acted on: no PersistentVolumeClaims are
// created (capstan serves no volume provisioning yet).
//
// Threading: the Controller workers; handlers only enqueue StatefulSet keys.

#include "controllers/controller.h"
#include "controllers/controller_expectations.h"

namespace capstan::controllers {

class StatefulSetController final : public Controller {
 public:
  explicit StatefulSetController(Context& ctx);
  ~StatefulSetController() override { stop(); }

 protected:
  Status sync(const std::string& key) override;

 private:
  void podChanged(const ObjectPtr& old_pod, const ObjectPtr& pod, bool deleted);
  Status createPod(const Json& set, const std::string& key, int64_t ordinal, const Json& revision);
  Status deletePod(const Json& set, const std::string& key, const Json& pod);

  ControllerExpectations expectations_;
};

}  // namespace capstan::controllers
