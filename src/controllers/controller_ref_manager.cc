#include "controllers/controller_ref_manager.h"

#include <optional>

#include "controllers/object_fields.h"

namespace capstan::controllers {
namespace {

// Upstream's RecheckDeletionTimestamp: adopt only for a live owner with
// the same uid that is not being deleted.
bool ownerCanAdopt(const ClaimRequest& req) {
  auto live = req.client.get(req.owner_resource, client::namespaceOf(req.owner), client::nameOf(req.owner));
  return live && client::uidOf(*live) == client::uidOf(req.owner) && !isDeleting(*live);
}

}  // namespace

std::pair<std::vector<client::ObjectPtr>, Status> claimObjects(
    const ClaimRequest& req, const std::vector<client::ObjectPtr>& candidates) {
  std::vector<client::ObjectPtr> claimed;
  Status first_error;
  std::optional<bool> can_adopt;  // looked up once, on the first adoption
  const std::string owner_uid = client::uidOf(req.owner);
  const bool owner_deleting = isDeleting(req.owner);
  auto note = [&](const Status& st) {
    if (!st && st.code() != Code::kNotFound && first_error) first_error = st;
  };
  for (const auto& obj : candidates) {
    const bool matches = req.selector.matches(labelsOf(*obj));
    const std::string ns = client::namespaceOf(*obj);
    if (const Json* ref = controllerRefOf(*obj)) {
      if (stringField(*ref, "uid") != owner_uid) continue;  // someone else's
      if (matches || owner_deleting) {
        claimed.push_back(obj);
        continue;
      }
      Json patch = {{"metadata",
                     {{"ownerReferences", Json::array({{{"$patch", "delete"}, {"uid", owner_uid}}})},
                      {"uid", client::uidOf(*obj)}}}};
      auto r = req.client.patch(req.dependent_resource, ns, client::nameOf(*obj),
                                client::PatchType::kStrategic, patch);
      note(r.status());
      continue;
    }
    if (!matches || owner_deleting || isDeleting(*obj)) continue;
    if (!can_adopt) can_adopt = ownerCanAdopt(req);
    if (!*can_adopt) continue;
    Json patch = {{"metadata",
                   {{"ownerReferences", Json::array({controllerRef(req.owner, req.owner_kind)})},
                    {"uid", client::uidOf(*obj)}}}};
    auto r = req.client.patch(req.dependent_resource, ns, client::nameOf(*obj), client::PatchType::kStrategic,
                              patch);
    if (r)
      claimed.push_back(std::make_shared<const Json>(std::move(*r)));
    else
      note(r.status());
  }
  return {std::move(claimed), first_error};
}

}  // namespace capstan::controllers
