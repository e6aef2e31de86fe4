#include "controllers/garbage_collector.h"

#include <fmt/format.h>

#include "common/log.h"
#include "controllers/object_fields.h"

namespace capstan::controllers {
namespace {

constexpr const char* kOwnerIndex = "owner-uid";
constexpr const char* kUidIndex = "uid";

Json ownerRefs(const Json& obj) {
  const Json& m = metadataOf(obj);
  auto r = m.find("ownerReferences");
  return r != m.end() && r->is_array() ? *r : Json::array();
}

}  // namespace

GarbageCollector::GarbageCollector(Context& ctx, const api::Registry& registry,
                                   std::vector<client::ResourceRef> watched)
    : Controller("garbage-collector", ctx, 2), registry_(registry), watched_(std::move(watched)) {
  for (size_t i = 0; i < watched_.size(); ++i) {
    auto& inf = ctx.informers.get(watched_[i]);
    inf.addIndex(kOwnerIndex, [](const Json& o) {
      std::vector<std::string> uids;
      for (const auto& r : ownerRefs(o))
        if (r.is_object()) uids.push_back(r.value("uid", ""));
      return uids;
    });
    inf.addIndex(kUidIndex, [](const Json& o) { return std::vector<std::string>{client::uidOf(o)}; });
    inf.addHandlers({.on_add = [this, i](const ObjectPtr& o) { enqueueObject(i, *o); },
                     .on_update = [this, i](const ObjectPtr&, const ObjectPtr& o) { enqueueObject(i, *o); },
                     .on_delete =
                         [this](const ObjectPtr& o) {
                           // Its dependents may now be orphans; its owners
                           // may be waiting for it (foreground deletion).
                           enqueueDependents(client::uidOf(*o));
                           for (const auto& r : ownerRefs(*o))
                             if (r.is_object()) {
                               for (size_t j = 0; j < watched_.size(); ++j)
                                 for (const auto& owner :
                                      ctx_.informers.get(watched_[j]).byIndex(kUidIndex, r.value("uid", "")))
                                   enqueueObject(j, *owner);
                             }
                         }});
  }
}

void GarbageCollector::enqueueObject(size_t resource, const Json& obj) {
  bool interesting =
      !ownerRefs(obj).empty() ||
      (isDeleting(obj) && (hasFinalizer(obj, "foregroundDeletion") || hasFinalizer(obj, "orphan")));
  if (interesting) queue().add(fmt::format("{}|{}", resource, client::keyOf(obj)));
}

void GarbageCollector::enqueueDependents(const std::string& owner_uid) {
  for (auto& [idx, dep] : dependentsOf(owner_uid)) queue().add(fmt::format("{}|{}", idx, client::keyOf(*dep)));
}

std::vector<std::pair<size_t, ObjectPtr>> GarbageCollector::dependentsOf(const std::string& owner_uid) {
  std::vector<std::pair<size_t, ObjectPtr>> out;
  if (owner_uid.empty()) return out;
  for (size_t i = 0; i < watched_.size(); ++i)
    for (auto& d : ctx_.informers.get(watched_[i]).byIndex(kOwnerIndex, owner_uid)) out.emplace_back(i, d);
  return out;
}

GarbageCollector::Owner GarbageCollector::lookupOwner(const std::string& ns, const Json& ref) {
  std::string uid = ref.value("uid", "");
  // The caches first.
  for (const auto& r : watched_) {
    auto found = ctx_.informers.get(r).byIndex(kUidIndex, uid);
    if (!found.empty()) {
      const Json& o = *found.front();
      return {true, isDeleting(o) && hasFinalizer(o, "foregroundDeletion")};
    }
  }
  // Then the API: the cache may lag behind a just-created owner.
  std::string api_version = ref.value("apiVersion", "");
  auto slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  const api::ResourceInfo* info = registry_.findKind(group, version, ref.value("kind", ""));
  if (!info) return {true, false};  // an owner kind we cannot check: never delete for it
  client::ResourceRef rr{info->group, info->version, info->resource, info->namespaced};
  auto live = ctx_.client.get(rr, info->namespaced ? ns : "", ref.value("name", ""));
  if (!live) return {live.status().code() != Code::kNotFound, false};
  if (client::uidOf(*live) != uid) return {false, false};
  return {true, isDeleting(*live) && hasFinalizer(*live, "foregroundDeletion")};
}

Status GarbageCollector::removeFinalizer(size_t resource, const Json& obj, const std::string& finalizer) {
  Json fs = Json::array();
  for (const auto& f : metadataOf(obj).value("finalizers", Json::array()))
    if (f != finalizer) fs.push_back(f);
  Json patch = {
      {"metadata", {{"finalizers", fs}, {"resourceVersion", metadataOf(obj).value("resourceVersion", "")}}}};
  auto r = ctx_.client.patch(watched_[resource], client::namespaceOf(obj), client::nameOf(obj),
                             client::PatchType::kMerge, patch);
  if (!r && r.status().code() != Code::kNotFound) return r.status();
  return Status::ok();
}

Status GarbageCollector::processFinalizers(size_t resource, const Json& obj) {
  std::string uid = client::uidOf(obj);
  auto deps = dependentsOf(uid);
  if (hasFinalizer(obj, "orphan")) {
    for (auto& [idx, dep] : deps) {
      Json refs = Json::array();
      for (const auto& r : ownerRefs(*dep))
        if (r.value("uid", "") != uid) refs.push_back(r);
      Json patch = {{"metadata",
                     {{"ownerReferences", refs.empty() ? Json(nullptr) : refs},
                      {"resourceVersion", metadataOf(*dep).value("resourceVersion", "")}}}};
      auto r = ctx_.client.patch(watched_[idx], client::namespaceOf(*dep), client::nameOf(*dep),
                                 client::PatchType::kMerge, patch);
      if (!r && r.status().code() != Code::kNotFound) return r.status();
    }
    return removeFinalizer(resource, obj, "orphan");
  }
  if (hasFinalizer(obj, "foregroundDeletion")) {
    bool blocking = false;
    for (auto& [idx, dep] : deps) {
      for (const auto& r : ownerRefs(*dep))
        if (r.value("uid", "") == uid && r.value("blockOwnerDeletion", false)) blocking = true;
      if (isDeleting(*dep)) continue;
      // Dependents of a foreground deletion are deleted in the foreground too.
      Json opts = {{"kind", "DeleteOptions"},
                   {"apiVersion", "v1"},
                   {"propagationPolicy", "Foreground"},
                   {"preconditions", {{"uid", client::uidOf(*dep)}}}};
      auto r = ctx_.client.remove(watched_[idx], client::namespaceOf(*dep), client::nameOf(*dep), opts);
      if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
    }
    if (blocking) return Status::ok();  // dependents' deletions re-enqueue us
    return removeFinalizer(resource, obj, "foregroundDeletion");
  }
  return Status::ok();
}

Status GarbageCollector::processOwners(size_t resource, const Json& obj) {
  Json refs = ownerRefs(obj);
  if (refs.empty()) return Status::ok();
  std::string ns = client::namespaceOf(obj);
  Json alive = Json::array();
  bool owner_waiting = false;
  for (const auto& r : refs) {
    if (!r.is_object()) continue;
    Owner o = lookupOwner(ns, r);
    if (o.exists && !o.waiting_for_dependents) alive.push_back(r);
    if (o.exists && o.waiting_for_dependents) owner_waiting = true;
  }
  if (!alive.empty()) {
    if (alive.size() == refs.size() || owner_waiting) return Status::ok();
    // Some owners are gone: drop their references, keep the object.
    Json patch = {
        {"metadata",
         {{"ownerReferences", alive}, {"resourceVersion", metadataOf(obj).value("resourceVersion", "")}}}};
    auto r = ctx_.client.patch(watched_[resource], ns, client::nameOf(obj), client::PatchType::kMerge, patch);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    return Status::ok();
  }
  if (isDeleting(obj)) return Status::ok();  // already on its way
  // Every owner is gone (or deleting in the foreground): delete the object.
  Json opts = {{"kind", "DeleteOptions"},
               {"apiVersion", "v1"},
               {"propagationPolicy", owner_waiting ? "Foreground" : "Background"},
               {"preconditions", {{"uid", client::uidOf(obj)}}}};
  auto r = ctx_.client.remove(watched_[resource], ns, client::nameOf(obj), opts);
  if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
  LOG_DEBUG("garbage collected", "resource", watched_[resource].resource, "object", client::keyOf(obj));
  return Status::ok();
}

Status GarbageCollector::sync(const std::string& key) {
  auto bar = key.find('|');
  if (bar == std::string::npos) return Status::ok();
  size_t resource = std::stoul(key.substr(0, bar));
  if (resource >= watched_.size()) return Status::ok();
  auto obj = ctx_.informers.get(watched_[resource]).get(key.substr(bar + 1));
  if (!obj) return Status::ok();
  if (isDeleting(*obj)) {
    Status st = processFinalizers(resource, *obj);
    if (!st) return st;
  }
  return processOwners(resource, *obj);
}

}  // namespace capstan::controllers
