#pragma once
// Private to the API server: the generic REST handlers for every kind in
// the registry (get, list, watch, create, update, patch, delete,
// deletecollection, and the status and scale subresources).

#include <functional>
#include <memory>
#include <optional>

#include "api/registry.h"
#include "api/table.h"
#include "apiserver/http.h"
#include "apiserver/metrics.h"
#include "apiserver/object_cache.h"
#include "apiserver/request_info.h"
#include "apiserver/service_ips.h"
#include "common/clock.h"
#include "store/store.h"

namespace capstan::apiserver {

class KubeletClient;
class RbacAuthorizer;

struct ServerContext {
  const api::Registry* registry = nullptr;
  store::Store* store = nullptr;
  ObjectCache* cache = nullptr;
  Metrics* metrics = nullptr;
  const Clock* clock = nullptr;
  ServiceAllocator* services = nullptr;
  KubeletClient* kubelet = nullptr;  // null: the streaming subresources answer 503
  // Roles and bindings written by users outside system:masters are checked
  // against what the writer holds (null: no check).
  const RbacAuthorizer* rbac = nullptr;
  // DefaultTolerationSeconds admission: how long pods stay bound to a node
  // that turned not-ready or unreachable (Kubernetes: 300 s each).
  int64_t default_not_ready_toleration_seconds = 30;
  int64_t default_unreachable_toleration_seconds = 30;
};

// What a write does, decided from the current object (null if absent).
struct WriteDecision {
  enum class Op { kPut, kDelete, kNone };
  Op op = Op::kPut;
  Json obj;  // the object to store (kPut) or to return (kDelete/kNone)
  // The client named a resourceVersion: a lost race is a 409, not a retry.
  bool client_precondition = false;
  // dryRun=All: everything but the write; the would-be object is returned.
  bool dry_run = false;
};

struct WriteOutcome {
  // As stored, with resourceVersion, and its text: after a write, the watch
  // cache's own object, so an answer need not serialise it again.
  ObjectPtr obj;
  bool created = false;
  bool deleted = false;
};

using Mutator = std::function<Result<WriteDecision>(const ObjectPtr& current)>;
using WriteDone = std::function<void(Result<WriteOutcome>)>;

class Resources {
 public:
  explicit Resources(ServerContext ctx) : ctx_(ctx) {}
  void serve(const RequestInfo& ri, const api::ResourceInfo& info, Request req, Responder done);

  // Reads the current object, applies `mutate`, and writes the result with
  // compare-and-swap, retrying on a lost race unless the client gave a
  // precondition. Runs `done` on the store's thread.
  void guaranteedUpdate(const api::ResourceInfo& info, std::string key, Mutator mutate, WriteDone done,
                        int attempt = 0);

 private:
  void get(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void list(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void watch(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void create(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void update(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void patch(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void remove(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void removeCollection(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void scale(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  // pods/binding and pods/eviction (pod_subresources.cc).
  void bind(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  void evict(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  // pods/log, pods/exec, pods/attach, pods/portforward (pod_streaming.cc).
  void podStream(const RequestInfo& ri, const api::ResourceInfo& info, const Request& req, Responder done);
  // The decision that creates `obj` where nothing is stored (create on
  // update for the kinds that allow it; server-side apply).
  Result<WriteDecision> createDecision(const api::ResourceInfo& info, Json obj,
                                       const std::shared_ptr<std::vector<std::function<void()>>>& rollbacks,
                                       bool dry_run, const std::optional<UserInfo>& user);
  // A create reached through update or apply needs the create verb too.
  Status authorizeCreate(const std::optional<UserInfo>& user, const api::ResourceInfo& info, const std::string& ns,
                         const std::string& name) const;
  // RBAC's escalation check of a role or binding about to be stored by `user`.
  Status checkPolicyWrite(const std::optional<UserInfo>& user, const api::ResourceInfo& info, const Json& obj) const;

  ServerContext ctx_;
};

// Shared pieces of the handlers (resource_common.cc).
bool wantsTable(const Request& req);
api::IncludeObject includeObjectParam(const Request& req);
// Parses a request body as JSON or YAML per its Content-Type; duplicate
// keys of a JSON body are reported in `duplicates`. An in-process client's
// object (Request::body_object) is taken as it is, by the first call.
Result<Json> decodeBody(const Request& req, std::vector<std::string>* duplicates = nullptr);
// The object as the client should see it: stored JSON with resourceVersion.
Json withResourceVersion(Json obj, int64_t revision);
bool isDryRun(const Request& req);
// Whether the Accept header allows a JSON answer.
bool acceptable(const Request& req);

}  // namespace capstan::apiserver
