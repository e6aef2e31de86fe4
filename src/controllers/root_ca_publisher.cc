#include "controllers/root_ca_publisher.h"

namespace capstan::controllers {

RootCaPublisher::RootCaPublisher(Context& ctx) : Controller("root-ca-cert-publisher", ctx, 1) {
  ctx.informers.get(client::res::kNamespaces).addHandlers(enqueueHandlers());
  auto requeue = [this](const ObjectPtr& cm) {
    if (client::nameOf(*cm) == kConfigMapName) queue().add(client::namespaceOf(*cm));
  };
  ctx.informers.get(client::res::kConfigMaps)
      .addHandlers({.on_update = [requeue](const ObjectPtr&, const ObjectPtr& cm) { requeue(cm); },
                    .on_delete = requeue});
}

Status RootCaPublisher::sync(const std::string& key) {
  const std::string& ca = ctx_.options.root_ca_pem;
  if (ca.empty()) return Status::ok();
  auto ns = ctx_.informers.get(client::res::kNamespaces).get(key);
  if (!ns || (*ns)["metadata"].contains("deletionTimestamp")) return Status::ok();
  auto cm = ctx_.informers.get(client::res::kConfigMaps).get(key + "/" + kConfigMapName);
  if (!cm) {
    Json obj = {{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", kConfigMapName}, {"namespace", key}}},
                {"data", {{"ca.crt", ca}}}};
    auto r = ctx_.client.create(client::res::kConfigMaps, key, obj);
    if (!r && r.status().code() != Code::kAlreadyExists) return r.status();
    return Status::ok();
  }
  const Json& data = objectAt(*cm, "data");
  if (data.is_object() && data.size() == 1 && data.value("ca.crt", "") == ca) return Status::ok();
  Json next = *cm;
  next["data"] = {{"ca.crt", ca}};
  next.erase("binaryData");
  auto r = ctx_.client.update(client::res::kConfigMaps, key, next);
  if (!r && r.status().code() != Code::kNotFound) return r.status();  // a delete event requeues it
  return Status::ok();
}

}  // namespace capstan::controllers
