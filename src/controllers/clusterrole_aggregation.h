#pragma once
#include <vector>

#include "controllers/controller.h"

namespace capstan::controllers {

// ClusterRoles with an aggregationRule hold the rules of every other
// ClusterRole whose labels one of its clusterRoleSelectors matches, as
// kube-controller-manager's clusterrole-aggregation controller keeps them:
// the union in the order of the matched roles' names, without repeats. So
// a label such as rbac.authorization.k8s.io/aggregate-to-view: "true" on a
// new ClusterRole extends view at once.
class ClusterRoleAggregation final : public Controller {
 public:
  explicit ClusterRoleAggregation(Context& ctx);
  ~ClusterRoleAggregation() override { stop(); }

  // The rules `aggregated` should hold, given every ClusterRole.
  static Json aggregateRules(const Json& aggregated, const std::vector<Json>& roles);

 protected:
  Status sync(const std::string& key) override;
};

}  // namespace capstan::controllers
