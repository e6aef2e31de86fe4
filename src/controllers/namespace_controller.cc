// Namespace controller: a namespace being deleted (Terminating) has
// everything in it deleted, then its `kubernetes` finalizer removed, which
// lets the API server delete it.
#include "controllers/namespace_controller.h"

#include "common/log.h"

namespace capstan::controllers {

NamespaceController::NamespaceController(Context& ctx, std::vector<client::ResourceRef> namespaced)
    : Controller("namespace", ctx, 2), namespaced_(std::move(namespaced)) {
  ctx.informers.get(client::res::kNamespaces).addHandlers(enqueueHandlers());
}

Status NamespaceController::sync(const std::string& key) {
  auto ns = ctx_.informers.get(client::res::kNamespaces).get(key);
  if (!ns) return Status::ok();
  const Json& meta = (*ns)["metadata"];
  if (!meta.contains("deletionTimestamp")) return Status::ok();

  // Delete the content of every namespaced resource, then check it is gone
  // (pods on nodes go gracefully, objects with finalizers wait for them).
  bool remaining = false;
  for (const auto& r : namespaced_) {
    client::HttpCall del{.method = "DELETE", .path = r.path(key)};
    auto d = ctx_.client.call(del);
    if (!d && d.status().code() != Code::kNotFound && d.status().code() != Code::kMethodNotAllowed)
      return d.status();
    auto left = ctx_.client.list(r, key, {.limit = 1});
    if (!left) continue;
    if (!(*left)["items"].empty()) remaining = true;
  }
  if (remaining) {
    // Content is still terminating: look again shortly (the objects' own
    // deletions also arrive as namespace-independent events, so a short
    // delay is a safety net, not the mechanism).
    queue().addAfter(key, std::chrono::milliseconds(500));
    return Status::ok();
  }

  Json updated = *ns;
  Json finalizers = Json::array();
  for (const auto& f : arrayAt(objectAt(updated, "spec"), "finalizers"))
    if (f != "kubernetes") finalizers.push_back(f);
  if (finalizers.size() == arrayAt(objectAt(updated, "spec"), "finalizers").size()) return Status::ok();
  updated["spec"]["finalizers"] = finalizers;
  auto r = ctx_.client.update(client::res::kNamespaces, "", updated, "finalize");
  if (!r) return r.status();
  LOG_INFO("namespace content deleted", "namespace", key);
  return Status::ok();
}

}  // namespace capstan::controllers
