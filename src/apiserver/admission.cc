#include "apiserver/admission.h"

#include <fmt/format.h>

#include "api/defaults.h"
#include "api/known_fields.h"
#include "api/meta.h"
#include "api/validation.h"
#include "apiserver/responses.h"

namespace capstan::apiserver {
namespace {

// Everything outside metadata and status, for generation tracking.
Json specPart(const Json& obj) {
  Json out = obj;
  out.erase("metadata");
  out.erase("status");
  out.erase("apiVersion");
  out.erase("kind");
  return out;
}

std::string qosClass(const Json& pod) {
  bool any = false, guaranteed = true;
  auto visit = [&](const Json* cs) {
    if (!cs || !cs->is_array()) return;
    for (const auto& c : *cs) {
      const Json* res = find(c, "resources");
      const Json* req = res ? find(*res, "requests") : nullptr;
      const Json* lim = res ? find(*res, "limits") : nullptr;
      if ((req && !req->empty()) || (lim && !lim->empty())) any = true;
      for (const char* r : {"cpu", "memory"}) {
        const Json* l = lim ? find(*lim, r) : nullptr;
        const Json* q = req ? find(*req, r) : nullptr;
        if (!l) guaranteed = false;
        else if (q && *q != *l) guaranteed = false;
      }
    }
  };
  if (const Json* spec = find(pod, "spec")) {
    visit(find(*spec, "containers"));
    visit(find(*spec, "initContainers"));
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

Status checkNamespace(const ServerContext& ctx, const api::ResourceInfo& info, const std::string& ns,
                      const std::string& name) {
  if (!info.namespaced) return Status::ok();
  ObjectPtr n = ctx.cache->get("/registry/core/namespaces/" + ns);
  if (!n) return notFound("namespaces", ns);
  if (n->obj["metadata"].contains("deletionTimestamp")) {
    Status st(Code::kForbidden, fmt::format("{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                                            info.qualifiedResource(), name, ns));
    st.details_name = name;
    st.details_kind = info.resource;
    st.details_group = info.group;
    return st;
  }
  return Status::ok();
}

// Jobs select their own pods by a label holding the job's uid, unless the
// user asks for a manual selector (upstream's job strategy).
void generateJobSelector(Json& job) {
  Json& spec = job["spec"];
  if (!spec.is_object()) return;
  if (spec.contains("manualSelector") && spec["manualSelector"] == true) return;
  const Json& meta = job["metadata"];
  std::string uid = getString(meta, "uid");
  std::string name = getString(meta, "name");
  Json& labels = spec["template"]["metadata"]["labels"];
  if (!labels.is_object()) labels = Json::object();
  labels["batch.kubernetes.io/controller-uid"] = uid;
  labels["batch.kubernetes.io/job-name"] = name;
  labels["controller-uid"] = uid;
  labels["job-name"] = name;
  if (!spec.contains("selector") || spec["selector"].is_null())
    spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
}

Status allocateServiceAddresses(const ServerContext& ctx, Json& svc, Rollbacks* rollbacks) {
  Json& spec = svc["spec"];
  if (!spec.is_object()) return Status::ok();
  std::string type = getString(spec, "type", "ClusterIP");
  if (type == "ExternalName") return Status::ok();
  std::string ip = getString(spec, "clusterIP");
  if (ip != "None") {
    if (ip.empty()) {
      auto a = ctx.services->allocateIp();
      if (!a) return a.status();
      ip = *a;
    } else if (auto st = ctx.services->reserveIp(ip); !st) {
      st.details_kind = "Service";
      st.details_name = api::nameOf(svc);
      Status wrapped(st.code(), fmt::format("Service \"{}\" is invalid: {}", api::nameOf(svc), st.message()));
      wrapped.causes = st.causes;
      wrapped.details_kind = "Service";
      wrapped.details_name = api::nameOf(svc);
      return wrapped;
    }
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = Json::array({ip});
    rollbacks->push_back([s = ctx.services, ip] { s->release(ip); });
  }
  if ((type == "NodePort" || type == "LoadBalancer") && spec.contains("ports") && spec["ports"].is_array()) {
    for (auto& p : spec["ports"]) {
      if (p.contains("nodePort") && p["nodePort"].is_number_integer() && p["nodePort"].get<int>() != 0) {
        int port = p["nodePort"].get<int>();
        if (auto st = ctx.services->reserveNodePort(port); !st) {
          Status wrapped(st.code(), fmt::format("Service \"{}\" is invalid: {}", api::nameOf(svc), st.message()));
          wrapped.causes = st.causes;
          return wrapped;
        }
        rollbacks->push_back([s = ctx.services, port] { s->releasePort(port); });
      } else {
        auto port = ctx.services->allocateNodePort();
        if (!port) return port.status();
        p["nodePort"] = *port;
        rollbacks->push_back([s = ctx.services, port = *port] { s->releasePort(port); });
      }
    }
  }
  return Status::ok();
}

// ObjectMeta's collections are omitempty in Kubernetes' types: an empty map
// or list is never stored or returned.
void dropEmptyMetadata(Json& obj) {
  Json& meta = obj["metadata"];
  for (const char* f : {"labels", "annotations", "finalizers", "ownerReferences", "managedFields"}) {
    auto it = meta.find(f);
    if (it != meta.end() && (it->is_null() || ((it->is_object() || it->is_array()) && it->empty()))) meta.erase(it);
  }
}

}  // namespace

Status checkBodyIdentity(const api::ResourceInfo& info, const RequestInfo& ri, Json& obj, bool require_name_match) {
  if (!obj.is_object()) return badRequest("the body of the request must be a JSON object");
  std::string api_version = getString(obj, "apiVersion");
  std::string kind = getString(obj, "kind");
  if (obj.contains("apiVersion") && !obj["apiVersion"].is_string()) return badRequest("apiVersion must be a string");
  if (obj.contains("kind") && !obj["kind"].is_string()) return badRequest("kind must be a string");
  if (!api_version.empty() && api_version != info.apiVersion())
    return badRequest(fmt::format("the API version in the data ({}) does not match the expected API version ({})",
                                  api_version, info.apiVersion()));
  if (!kind.empty() && kind != info.kind)
    return badRequest(fmt::format("the kind in the data ({}) does not match the expected kind ({})", kind, info.kind));
  obj["apiVersion"] = info.apiVersion();
  obj["kind"] = info.kind;
  if (!obj.contains("metadata") || obj["metadata"].is_null()) obj["metadata"] = Json::object();
  Json& meta = obj["metadata"];
  if (!meta.is_object()) return badRequest("metadata must be an object");
  for (const char* f : {"name", "namespace", "generateName", "resourceVersion", "uid"})
    if (meta.contains(f) && !meta[f].is_string() && !meta[f].is_null())
      return badRequest(fmt::format("metadata.{} must be a string", f));
  if (info.namespaced) {
    std::string ns = getString(meta, "namespace");
    if (ns.empty()) meta["namespace"] = ri.ns;
    else if (ns != ri.ns)
      return badRequest("the namespace of the provided object does not match the namespace sent on the request");
  } else {
    meta.erase("namespace");
  }
  if (require_name_match) {
    std::string name = getString(meta, "name");
    if (name != ri.name)
      return badRequest(fmt::format("the name of the object ({}) does not match the name on the URL ({})", name, ri.name));
  }
  return Status::ok();
}

Status checkFieldValidation(const api::ResourceInfo& info, const Request& req, Json& obj,
                            const std::vector<std::string>& unknown, std::vector<std::string>* warnings,
                            const std::vector<std::string>& duplicates) {
  std::string mode = req.param("fieldValidation");
  if (mode.empty()) mode = "Warn";
  if (mode != "Strict" && mode != "Warn" && mode != "Ignore")
    return badRequest("fieldValidation: Unsupported value: \"" + mode +
                      "\": supported values: \"Ignore\", \"Strict\", \"Warn\"");
  if (unknown.empty() && duplicates.empty()) return Status::ok();
  if (mode == "Warn")
    for (const auto& d : duplicates) warnings->push_back("duplicate field \"" + d + "\"");
  if (mode == "Warn" || mode == "Ignore") {
    // Decoding into Kubernetes' types drops unknown fields; so do we.
    if (mode == "Warn")
      for (const auto& f : unknown) warnings->push_back("unknown field \"" + f + "\"");
    api::dropUnknownFields(info, obj);
    return Status::ok();
  }
  std::string msg = fmt::format("{} in version \"{}\" cannot be handled as a {}: strict decoding error: ", info.kind,
                                info.version, info.kind);
  std::vector<std::string> problems;
  for (const auto& d : duplicates) problems.push_back(fmt::format("duplicate field \"{}\"", d));
  for (const auto& u : unknown) problems.push_back(fmt::format("unknown field \"{}\"", u));
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? ", " : "") + problems[i];
  return badRequest(msg);
}

namespace {

// DefaultTolerationSeconds: a pod that does not say how long it tolerates
// its node turning not-ready or unreachable gets the cluster's default.
void addDefaultTolerations(const ServerContext& ctx, Json& pod) {
  Json& spec = pod["spec"];
  if (!spec.is_object()) return;
  Json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) tolerations = Json::array();
  auto tolerated = [&](const std::string& key) {
    for (const auto& t : tolerations) {
      if (!t.is_object()) continue;
      std::string effect = t.value("effect", ""), op = t.value("operator", "Equal"), k = t.value("key", "");
      if (!effect.empty() && effect != "NoExecute") continue;
      if (k == key || (k.empty() && op == "Exists")) return true;
    }
    return false;
  };
  for (auto [key, seconds] : {std::pair<const char*, int64_t>{"node.kubernetes.io/not-ready", ctx.default_not_ready_toleration_seconds},
                              {"node.kubernetes.io/unreachable", ctx.default_unreachable_toleration_seconds}})
    if (!tolerated(key))
      tolerations.push_back({{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", seconds}});
}

// ServiceAccount admission: a pod that names no service account runs as
// its namespace's "default" account, and the deprecated serviceAccount
// field mirrors the name, as in every pod a real cluster returns. Mirror
// pods are left alone, as upstream does. (Upstream also mounts the
// account's API token as a kube-api-access-* projected volume; capstan
// issues no service account tokens yet, so no volume is added.)
void defaultServiceAccount(Json& pod) {
  Json& spec = pod["spec"];
  if (!spec.is_object()) return;
  const Json& annotations = pod["metadata"].value("annotations", Json::object());
  if (annotations.is_object() && annotations.contains("kubernetes.io/config.mirror")) return;
  if (getString(spec, "serviceAccountName").empty()) spec["serviceAccountName"] = "default";
  spec["serviceAccount"] = spec["serviceAccountName"];
}

// ServiceAccount admission's API access: unless the pod (or else its
// service account) sets automountServiceAccountToken false, every
// container that mounts nothing at /var/run/secrets/kubernetes.io/serviceaccount
// gets a projected volume kube-api-access-XXXXX there, read-only: a token
// bound to the pod, the cluster CA (kube-root-ca.crt) and the namespace.
// This is what in-cluster clients (client-go, the Python client) read.
void mountServiceAccountToken(const ServerContext& ctx, Json& pod) {
  constexpr const char* kMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";
  constexpr const char* kVolumePrefix = "kube-api-access-";
  Json& spec = pod["spec"];
  if (!spec.is_object()) return;
  const Json& annotations = pod["metadata"].value("annotations", Json::object());
  if (annotations.is_object() && annotations.contains("kubernetes.io/config.mirror")) return;
  if (const Json* own = find(spec, "automountServiceAccountToken"); own && own->is_boolean()) {
    if (!own->get<bool>()) return;
  } else if (ctx.cache) {
    std::string key = "/registry/core/serviceaccounts/" + getString(pod["metadata"], "namespace") + "/" +
                      getString(spec, "serviceAccountName");
    if (auto sa = ctx.cache->get(key)) {
      const Json* theirs = find(sa->obj, "automountServiceAccountToken");
      if (theirs && theirs->is_boolean() && !theirs->get<bool>()) return;
    }
  }
  std::string volume_name;
  if (spec.contains("volumes") && spec["volumes"].is_array())
    for (const auto& v : spec["volumes"])
      if (getString(v, "name").rfind(kVolumePrefix, 0) == 0) {
        volume_name = getString(v, "name");
        break;
      }
  bool has_volume = !volume_name.empty();
  if (!has_volume) volume_name = kVolumePrefix + api::randomNameSuffix();
  bool needed = false;
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object()) continue;
      bool mounted = false;
      for (const auto& m : arrayAt(c, "volumeMounts"))
        if (getString(m, "mountPath") == kMountPath) mounted = true;
      if (mounted) continue;
      if (!c.contains("volumeMounts") || !c["volumeMounts"].is_array()) c["volumeMounts"] = Json::array();
      c["volumeMounts"].push_back({{"name", volume_name}, {"readOnly", true}, {"mountPath", kMountPath}});
      needed = true;
    }
  }
  if (has_volume || !needed) return;
  if (!spec.contains("volumes") || !spec["volumes"].is_array()) spec["volumes"] = Json::array();
  spec["volumes"].push_back(
      {{"name", volume_name},
       {"projected",
        {{"defaultMode", 420},
         {"sources",
          Json::array({{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
                       {{"configMap",
                         {{"name", "kube-root-ca.crt"}, {"items", Json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}},
                       {{"downwardAPI",
                         {{"items", Json::array({{{"path", "namespace"},
                                                  {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}})}}}}})}}}});
}

// Priority admission: spec.priority from the pod's PriorityClass (or the
// global default class), as Kubernetes resolves it at creation.
Status resolvePriority(const ServerContext& ctx, Json& pod) {
  Json& spec = pod["spec"];
  if (!spec.is_object()) return Status::ok();
  std::string forbidden = fmt::format("pods \"{}\" is forbidden: ", getString(pod["metadata"], "name"));
  std::string class_name = getString(spec, "priorityClassName");
  const std::string prefix = "/registry/scheduling.k8s.io/priorityclasses/";
  ObjectPtr pc;
  if (!class_name.empty()) {
    pc = ctx.cache->get(prefix + class_name);
    // The two classes every cluster has, even before anyone creates them.
    if (!pc && (class_name == "system-cluster-critical" || class_name == "system-node-critical")) {
      int64_t value = class_name == "system-node-critical" ? 2000001000 : 2000000000;
      if (spec.contains("priority") && spec["priority"] != value)
        return Status(Code::kForbidden, forbidden + "the integer value of priority (" + spec["priority"].dump() +
                                            ") must not be provided in pod spec; priority admission controller computed " +
                                            std::to_string(value) + " from the given PriorityClass name");
      spec["priority"] = value;
      if (!spec.contains("preemptionPolicy")) spec["preemptionPolicy"] = "PreemptLowerPriority";
      return Status::ok();
    }
    if (!pc) return Status(Code::kForbidden, forbidden + fmt::format("no PriorityClass with name {} was found", class_name));
  } else {
    for (const auto& o : ctx.cache->list(prefix, nullptr))
      if (o->obj.value("globalDefault", false)) pc = o;
    if (!pc) {
      if (!spec.contains("priority")) spec["priority"] = 0;
      if (!spec.contains("preemptionPolicy")) spec["preemptionPolicy"] = "PreemptLowerPriority";
      return Status::ok();
    }
    spec["priorityClassName"] = getString(pc->obj["metadata"], "name");
  }
  int64_t value = pc->obj.value("value", int64_t{0});
  if (spec.contains("priority") && spec["priority"] != value)
    return Status(Code::kForbidden, forbidden + fmt::format("the integer value of priority ({}) must not be provided in pod spec; "
                                                "priority admission controller computed {} from the given PriorityClass name",
                                                spec["priority"].dump(), value));
  spec["priority"] = value;
  if (!spec.contains("preemptionPolicy")) spec["preemptionPolicy"] = pc->obj.value("preemptionPolicy", "PreemptLowerPriority");
  return Status::ok();
}

}  // namespace

Status admitCreate(const ServerContext& ctx, const api::ResourceInfo& info, Json& obj, Rollbacks* rollbacks) {
  Json& meta = obj["metadata"];
  std::string name = getString(meta, "name");
  if (name.empty()) {
    std::string gen = getString(meta, "generateName");
    if (gen.empty()) {
      Status st(Code::kInvalid, fmt::format("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", info.kind));
      st.causes.push_back({"FieldValueRequired", "Required value: name or generateName is required", "metadata.name"});
      st.details_kind = info.kind;
      st.details_group = info.group;
      return st;
    }
    meta["name"] = gen + api::randomNameSuffix();
  }
  if (auto st = checkNamespace(ctx, info, getString(meta, "namespace"), getString(meta, "name")); !st) return st;

  // Fields the server owns.
  meta["uid"] = api::newUid();
  meta["creationTimestamp"] = formatRfc3339(ctx.clock->now());
  for (const char* f : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}) meta.erase(f);
  if (info.has_generation) meta["generation"] = 1;
  else meta.erase("generation");
  if (info.has_status && info.kind != "Node") obj.erase("status");

  if (info.kind == "Job" && info.group == "batch") generateJobSelector(obj);
  dropEmptyMetadata(obj);
  api::applyDefaults(info, obj);
  if (info.kind == "Pod") {
    obj["status"] = {{"phase", "Pending"}, {"qosClass", qosClass(obj)}};
    addDefaultTolerations(ctx, obj);
    defaultServiceAccount(obj);
    mountServiceAccountToken(ctx, obj);
    if (auto st = resolvePriority(ctx, obj); !st) return st;
  }
  if (info.kind == "Service" && info.group.empty()) {
    if (auto st = allocateServiceAddresses(ctx, obj, rollbacks); !st) return st;
  }
  return api::validateObject(info, obj, nullptr);
}

Status admitUpdate(const ServerContext& ctx, const api::ResourceInfo& info, const std::string& subresource, Json& obj,
                   const Json& old) {
  const Json& old_meta = old["metadata"];
  Json& meta = obj["metadata"];
  std::string uid = getString(meta, "uid");
  if (!uid.empty() && uid != getString(old_meta, "uid")) {
    return conflict(info.qualifiedResource(), api::nameOf(old),
                    fmt::format("Precondition failed: UID in precondition: {}, UID in object meta: {}", uid,
                                getString(old_meta, "uid")));
  }
  if (info.kind == "Namespace" && info.group.empty()) {
    // spec.finalizers change only through /finalize (the namespace
    // controller's door); a main-resource write keeps them.
    if (subresource == "finalize") {
      Json next = old;
      if (obj.contains("spec") && obj["spec"].contains("finalizers")) next["spec"]["finalizers"] = obj["spec"]["finalizers"];
      else if (next.contains("spec")) next["spec"].erase("finalizers");
      obj = std::move(next);
    } else if (old.contains("spec") && old["spec"].contains("finalizers")) {
      obj["spec"]["finalizers"] = old["spec"]["finalizers"];
    } else if (obj.contains("spec") && obj["spec"].is_object()) {
      obj["spec"].erase("finalizers");
    }
  }
  if (subresource == "status") {
    // A status write changes status only.
    Json next = old;
    if (obj.contains("status")) next["status"] = obj["status"];
    else next.erase("status");
    obj = std::move(next);
  } else if (info.has_status) {
    // A main-resource write leaves status alone.
    if (old.contains("status")) obj["status"] = old["status"];
    else obj.erase("status");
  }
  // Fields the server owns are kept from the stored object.
  Json& m = obj["metadata"];
  for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
    if (old_meta.contains(f)) m[f] = old_meta[f];
    else m.erase(f);
  }
  m.erase("selfLink");
  dropEmptyMetadata(obj);
  if (info.kind == "Service" && old.contains("spec") && obj.contains("spec") && obj["spec"].is_object()) {
    // An update may leave the allocated addresses out; keep them.
    for (const char* f : {"clusterIP", "clusterIPs"})
      if (!obj["spec"].contains(f) && old["spec"].contains(f)) obj["spec"][f] = old["spec"][f];
    // Node ports likewise, by port number.
    if (obj["spec"].contains("ports") && old["spec"].contains("ports"))
      for (auto& p : obj["spec"]["ports"])
        if (!p.contains("nodePort"))
          for (const auto& op : old["spec"]["ports"])
            if (op.value("port", -1) == p.value("port", -2) && op.contains("nodePort")) p["nodePort"] = op["nodePort"];
  }
  api::applyDefaults(info, obj);
  if (info.has_generation && subresource != "status" && specPart(obj) != specPart(old)) {
    m["generation"] = old_meta.value("generation", int64_t{0}) + 1;
  }
  return api::validateObject(info, obj, &old);
}

}  // namespace capstan::apiserver
