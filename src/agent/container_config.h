#pragma once
// From a pod's container (Kubernetes JSON) to the runtime's ContainerSpec:
// argv over the image's entrypoint, environment (values, valueFrom,
// envFrom, $(VAR) expansion), resources to cgroup settings, and the
// securityContext. Pure functions; lookups of ConfigMaps and Secrets are
// injected so tests need no server.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/runtime/image_store.h"
#include "agent/runtime/runtime.h"
#include "common/json.h"
#include "common/status.h"

namespace capstan::agent {

// Reads a ConfigMap's or Secret's data (Secrets decoded from base64);
// NotFound when the object or key is missing.
// `services` lists a namespace's Services; Unavailable until the cache has
// been read once (kubelet refuses to start containers before then, since
// their service variables would be missing).
struct ObjectLookup {
  std::function<Result<std::map<std::string, std::string>>(const std::string& ns, const std::string& name)> config_map;
  std::function<Result<std::map<std::string, std::string>>(const std::string& ns, const std::string& name)> secret;
  std::function<Result<std::vector<Json>>(const std::string& ns)> services;
  // A token of the pod's service account bound to the pod, for `audience`
  // ("" for the API server's), valid for about `expiration_seconds`.
  std::function<Result<std::string>(const Json& pod, const std::string& audience, int64_t expiration_seconds)>
      service_account_token;
};

// The environment of a container, in order, after valueFrom and $(VAR)
// expansion, then the service variables the container does not set itself
// (serviceEnv). A missing non-optional reference is an error whose message
// is what kubelet reports (CreateContainerConfigError).
Result<std::vector<std::string>> containerEnv(const Json& pod, const Json& container, const ObjectLookup& lookup);

// The Docker-link-style variables kubelet gives every container, sorted by
// name: for the API server's Service (default/kubernetes) always, and for
// each Service of the pod's namespace when spec.enableServiceLinks is not
// false; only Services with a ClusterIP. For a Service "my-web" on
// 10.43.0.7 with port 80/TCP named "http": MY_WEB_SERVICE_HOST=10.43.0.7,
// MY_WEB_SERVICE_PORT=80, MY_WEB_SERVICE_PORT_HTTP=80,
// MY_WEB_PORT=tcp://10.43.0.7:80, MY_WEB_PORT_80_TCP=tcp://10.43.0.7:80,
// MY_WEB_PORT_80_TCP_PROTO=tcp, MY_WEB_PORT_80_TCP_PORT=80,
// MY_WEB_PORT_80_TCP_ADDR=10.43.0.7.
Result<std::map<std::string, std::string>> serviceEnv(const Json& pod, const ObjectLookup& lookup);

// Kubernetes' $(VAR) expansion: $(NAME) from env, $$ escapes, unknown
// references stay as they are.
std::string expandVars(const std::string& in, const std::map<std::string, std::string>& env);

// requests.cpu -> shares, limits.cpu -> quota, limits.memory -> bytes.
runtime::Resources containerResources(const Json& container);

// Pod and container securityContext merged (container wins), with the
// image's user as the default uid/gid. runAsNonRoot with uid 0 is an error.
Result<runtime::SecurityOptions> containerSecurity(const Json& pod, const Json& container,
                                                   const runtime::ImageConfig& image);

}  // namespace capstan::agent
