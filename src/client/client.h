#pragma once
// A Kubernetes API client over JSON objects, used by every in-tree
// component (controllers, scheduler, agent). It speaks the REST API through
// a Transport, so in-process and remote components share one code path.
//
// Threading: the synchronous calls block the calling thread; never call
// them from a Transport callback (e.g. a watch handler) — hand the work to
// a queue instead. The object is thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "client/transport.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::client {

struct ResourceRef {
  std::string group;  // "" for core
  std::string version;
  std::string resource;  // plural
  bool namespaced = true;

  // "/api/v1/namespaces/NS/pods/NAME/SUB"; empty ns lists across namespaces.
  std::string path(std::string_view ns = "", std::string_view name = "", std::string_view subresource = "") const;
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// The resources in-tree components use.
namespace res {
extern const ResourceRef kPods, kNodes, kNamespaces, kServices, kEndpoints, kEvents, kConfigMaps, kSecrets,
    kServiceAccounts, kReplicaSets, kDeployments, kDaemonSets, kStatefulSets, kControllerRevisions, kJobs, kCronJobs,
    kLeases, kEndpointSlices, kPriorityClasses, kPodDisruptionBudgets, kPersistentVolumeClaims, kClusterRoles;
}

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  int64_t limit = 0;
  std::string continue_token;
  int timeout_seconds = 0;  // watch only
  bool allow_bookmarks = true;  // watch only
};

enum class PatchType { kJson, kMerge, kStrategic, kApply };

// An object as watches and informers hand it over: shared and never
// changed, so that one decoded object can serve every holder.
using ObjectPtr = std::shared_ptr<const Json>;

// Maps an HTTP answer to a Status (the Kubernetes Status body's message and
// reason when there is one).
Status statusFromReply(const HttpReply& reply);

class Client {
 public:
  explicit Client(std::shared_ptr<Transport> transport, std::string field_manager = "capstan");

  Result<Json> get(const ResourceRef& r, std::string_view ns, std::string_view name) const;
  Result<Json> list(const ResourceRef& r, std::string_view ns, const ListOptions& opts = {}) const;
  Result<Json> create(const ResourceRef& r, std::string_view ns, const Json& obj) const;
  // PUT of the whole object (name from obj.metadata.name); 409 on a stale resourceVersion.
  Result<Json> update(const ResourceRef& r, std::string_view ns, const Json& obj, std::string_view subresource = "") const;
  Result<Json> patch(const ResourceRef& r, std::string_view ns, std::string_view name, PatchType type,
                     const Json& patch, std::string_view subresource = "") const;
  // DELETE with optional DeleteOptions (propagationPolicy, preconditions, gracePeriodSeconds).
  Result<Json> remove(const ResourceRef& r, std::string_view ns, std::string_view name,
                      const Json& delete_options = nullptr) const;
  // POST to a subresource (binding, eviction).
  Result<Json> post(const ResourceRef& r, std::string_view ns, std::string_view name, std::string_view subresource,
                    const Json& body) const;

  // The raw call, synchronous and asynchronous (the callback must not block).
  Result<Json> call(HttpCall call) const;
  void callAsync(HttpCall call, std::function<void(Result<Json>)> done) const;
  // When only the outcome matters: a success's body is not parsed.
  void sendAsync(HttpCall call, std::function<void(Status)> done = nullptr) const;

  // A watch; on_event gets (type, object) for ADDED/MODIFIED/DELETED/
  // BOOKMARK/ERROR in order, on_end once when it ends. The object never
  // has metadata.managedFields, and in process it may be shared with other
  // watchers. Callbacks come from the transport's threads and must not block.
  std::unique_ptr<StreamHandle> watch(const ResourceRef& r, std::string_view ns, const ListOptions& opts,
                                      std::function<void(std::string_view type, ObjectPtr object)> on_event,
                                      std::function<void(Status)> on_end) const;

  Transport& transport() const { return *transport_; }

 private:
  std::shared_ptr<Transport> transport_;
  std::string field_manager_;
};

// Small readers for object metadata, tolerant of missing fields.
std::string nameOf(const Json& obj);
std::string namespaceOf(const Json& obj);
std::string uidOf(const Json& obj);
// "ns/name", or "name" for cluster-scoped objects: the work-queue key.
std::string keyOf(const Json& obj);
std::pair<std::string, std::string> splitKey(std::string_view key);

}  // namespace capstan::client
