#include "controllers/service_account_controller.h"

namespace capstan::controllers {

ServiceAccountController::ServiceAccountController(Context& ctx) : Controller("serviceaccount", ctx, 1) {
  ctx.informers.get(client::res::kNamespaces).addHandlers(enqueueHandlers());
  // A deleted default ServiceAccount is recreated.
  ctx.informers.get(client::res::kServiceAccounts)
      .addHandlers({.on_delete = [this](const ObjectPtr& sa) {
        if (client::nameOf(*sa) == "default") queue().add(client::namespaceOf(*sa));
      }});
}

Status ServiceAccountController::sync(const std::string& key) {
  auto ns = ctx_.informers.get(client::res::kNamespaces).get(key);
  if (!ns || (*ns)["metadata"].contains("deletionTimestamp")) return Status::ok();
  if (ctx_.informers.get(client::res::kServiceAccounts).get(key + "/default")) return Status::ok();
  Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "default"}, {"namespace", key}}}};
  auto r = ctx_.client.create(client::res::kServiceAccounts, key, sa);
  if (!r && r.status().code() != Code::kAlreadyExists) return r.status();
  return Status::ok();
}

}  // namespace capstan::controllers
