#include "controllers/clusterrole_aggregation.h"

#include <algorithm>

#include "api/selector.h"

namespace capstan::controllers {

ClusterRoleAggregation::ClusterRoleAggregation(Context& ctx) : Controller("clusterrole-aggregation", ctx, 1) {
  // Any role's change may change what an aggregated role selects: every
  // aggregated role is looked at again (there are few).
  auto all = [this](const ObjectPtr&) {
    for (const auto& r : ctx_.informers.get(client::res::kClusterRoles).list())
      if (r->contains("aggregationRule")) queue().add(client::nameOf(*r));
  };
  ctx.informers.get(client::res::kClusterRoles)
      .addHandlers({.on_add = all, .on_update = [all](const ObjectPtr&, const ObjectPtr& r) { all(r); }, .on_delete = all});
}

Json ClusterRoleAggregation::aggregateRules(const Json& aggregated, const std::vector<Json>& roles) {
  std::vector<api::LabelSelector> selectors;
  for (const auto& s : arrayAt(objectAt(aggregated, "aggregationRule"), "clusterRoleSelectors"))
    if (auto sel = api::LabelSelector::fromJson(s)) selectors.push_back(std::move(*sel));
  std::vector<const Json*> matched;
  std::string self = client::nameOf(aggregated);
  for (const auto& r : roles) {
    if (client::nameOf(r) == self) continue;
    const Json& labels = objectAt(objectAt(r, "metadata"), "labels");
    if (std::any_of(selectors.begin(), selectors.end(), [&](const auto& sel) { return sel.matches(labels); }))
      matched.push_back(&r);
  }
  std::sort(matched.begin(), matched.end(),
            [](const Json* a, const Json* b) { return client::nameOf(*a) < client::nameOf(*b); });
  Json rules = Json::array();
  for (const Json* r : matched)
    for (const auto& rule : arrayAt(*r, "rules"))
      if (std::find(rules.begin(), rules.end(), rule) == rules.end()) rules.push_back(rule);
  return rules;
}

Status ClusterRoleAggregation::sync(const std::string& key) {
  auto& informer = ctx_.informers.get(client::res::kClusterRoles);
  auto role = informer.get(key);
  if (!role || !role->contains("aggregationRule")) return Status::ok();
  std::vector<Json> roles;
  for (const auto& r : informer.list()) roles.push_back(*r);
  Json rules = aggregateRules(*role, roles);
  if (role->value("rules", Json::array()) == rules) return Status::ok();
  Json next = *role;
  next["rules"] = std::move(rules);
  auto r = ctx_.client.update(client::res::kClusterRoles, "", next);
  if (!r && r.status().code() != Code::kNotFound) return r.status();  // a conflict is retried
  return Status::ok();
}

}  // namespace capstan::controllers
