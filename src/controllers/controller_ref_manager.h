#pragma once
// Adoption and release of dependents by a controller, as upstream's
// ControllerRefManager (pkg/controller/controller_ref_manager.go): an
// owner claims the objects its selector matches. An orphan that matches is
// adopted (an ownerReference with controller: true is patched in, after a
// live GET confirms the owner still exists and is not being deleted); an
// object it controls that no longer matches is released (its reference
// patched out); objects controlled by someone else are left alone.

#include <vector>

#include "api/selector.h"
#include "client/client.h"
#include "client/informer.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {

struct ClaimRequest {
  const client::Client& client;
  const client::ResourceRef& owner_resource;
  const Json& owner;
  const OwnerKind& owner_kind;
  const client::ResourceRef& dependent_resource;
  const api::LabelSelector& selector;
};

// The candidates `req.owner` controls after adopting and releasing. An
// adoption or release that fails (other than NotFound) is reported after
// the rest were processed; the objects claimed so far are still returned.
std::pair<std::vector<client::ObjectPtr>, Status> claimObjects(
    const ClaimRequest& req, const std::vector<client::ObjectPtr>& candidates);

}  // namespace capstan::controllers
