#pragma once
// Private to the API server: admission of writes. Mutating steps (object
// metadata as the server owns it, Kubernetes' defaults, Service IP and
// NodePort allocation) then validating steps (namespace lifecycle, the kind's
// validation). Later policies (RBAC-aware, quota, ...) plug in here.

#include <functional>
#include <string>
#include <vector>

#include "apiserver/resources.h"

namespace capstan::apiserver {

// Undo actions for allocations made during admission, run when the write
// is abandoned; cleared by the caller once the write is durable.
using Rollbacks = std::vector<std::function<void()>>;

// Admits a new object. `obj` is modified in place.
Status admitCreate(const ServerContext& ctx, const api::ResourceInfo& info, Json& obj, Rollbacks* rollbacks);

// Admits an update of `old` to `obj` through the main resource or a
// subresource ("status", "scale"). `obj` is modified in place.
Status admitUpdate(const ServerContext& ctx, const api::ResourceInfo& info, const std::string& subresource, Json& obj,
                   const Json& old);

// Checks apiVersion/kind of a body against the endpoint (filling them in
// when absent), and namespace/name against the URL.
Status checkBodyIdentity(const api::ResourceInfo& info, const RequestInfo& ri, Json& obj, bool require_name_match);

// Unknown fields (`unknown`: api::unknownFields of obj, or checkFields')
// and duplicate ones under fieldValidation: Strict gives an error; Warn (the
// default) and Ignore drop them, Warn with a warning each.
Status checkFieldValidation(const api::ResourceInfo& info, const Request& req, Json& obj,
                            const std::vector<std::string>& unknown, std::vector<std::string>* warnings,
                            const std::vector<std::string>& duplicates = {});

}  // namespace capstan::apiserver
