#include "controllers/service_pods.h"

#include <algorithm>

#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

// What an endpoint is made of, beyond membership (labels). Name, uid,
// hostname and subdomain are immutable.
bool endpointChanged(const Json& old_pod, const Json& pod) {
  const Json& old_status = statusOf(old_pod);
  const Json& status = statusOf(pod);
  return isDeleting(old_pod) != isDeleting(pod) || isPodReady(old_pod) != isPodReady(pod) ||
         isPodTerminal(old_pod) != isPodTerminal(pod) ||
         getString(old_status, "podIP") != getString(status, "podIP") ||
         arrayAt(old_status, "podIPs") != arrayAt(status, "podIPs") ||
         getString(specOf(old_pod), "nodeName") != getString(specOf(pod), "nodeName");
}

std::optional<int64_t> namedPort(const Json& containers, const std::string& name, const std::string& protocol,
                                 bool restartable_only) {
  for (const auto& c : containers) {
    if (restartable_only && getString(c, "restartPolicy") != "Always") continue;
    for (const auto& p : arrayAt(c, "ports"))
      if (getString(p, "name") == name && getString(p, "protocol", "TCP") == protocol &&
          hasInt(p, "containerPort"))
        return intField(p, "containerPort");
  }
  return std::nullopt;
}

}  // namespace

void addNamespaceIndex(client::Informer& informer) {
  informer.addIndex(kNamespaceIndex,
                    [](const Json& o) { return std::vector<std::string>{client::namespaceOf(o)}; });
}

const Json* podSelectorOf(const Json& service) {
  const Json& spec = specOf(service);
  if (getString(spec, "type") == "ExternalName") return nullptr;
  const Json& selector = objectAt(spec, "selector");
  return selector.empty() ? nullptr : &selector;
}

bool selectorMatches(const Json& selector, const Json& labels) {
  for (const auto& [k, v] : selector.items()) {
    auto it = labels.find(k);
    if (it == labels.end() || *it != v) return false;
  }
  return true;
}

std::vector<client::ObjectPtr> selectedPods(const client::Informer& pods, const Json& service) {
  std::vector<client::ObjectPtr> out;
  const Json* selector = podSelectorOf(service);
  if (!selector) return out;
  for (auto& p : pods.byIndex(kNamespaceIndex, client::namespaceOf(service)))
    if (selectorMatches(*selector, labelsOf(*p))) out.push_back(std::move(p));
  return out;
}

bool shouldPodBeInEndpoints(const Json& pod, bool include_terminating) {
  if (isPodTerminal(pod)) return false;
  const Json& status = statusOf(pod);
  if (getString(status, "podIP").empty() && arrayAt(status, "podIPs").empty()) return false;
  return include_terminating || !isDeleting(pod);
}

std::optional<int64_t> findPort(const Json& pod, const Json& service_port) {
  const Json* target = find(service_port, "targetPort");
  if (!target || target->is_null()) return std::nullopt;
  if (target->is_number_integer()) return target->get<int64_t>();
  if (!target->is_string()) return std::nullopt;
  const std::string& name = target->get_ref<const std::string&>();
  const std::string protocol = getString(service_port, "protocol", "TCP");
  const Json& spec = specOf(pod);
  if (auto p = namedPort(arrayAt(spec, "containers"), name, protocol, false)) return p;
  // Sidecars (restartable init containers) serve too.
  return namedPort(arrayAt(spec, "initContainers"), name, protocol, true);
}

bool shouldSetHostname(const Json& pod, const Json& service) {
  const Json& spec = specOf(pod);
  return !getString(spec, "hostname").empty() && getString(spec, "subdomain") == client::nameOf(service) &&
         client::namespaceOf(pod) == client::namespaceOf(service);
}

std::string ipFamilyOf(std::string_view ip) {
  return ip.find(':') == std::string_view::npos ? "IPv4" : "IPv6";
}

std::vector<std::string> podIpsOfFamily(const Json& pod, std::string_view family) {
  std::vector<std::string> out;
  const Json& status = statusOf(pod);
  for (const auto& entry : arrayAt(status, "podIPs")) {
    std::string ip = getString(entry, "ip");
    if (!ip.empty() && ipFamilyOf(ip) == family) out.push_back(std::move(ip));
  }
  if (arrayAt(status, "podIPs").empty()) {
    std::string ip = getString(status, "podIP");
    if (!ip.empty() && ipFamilyOf(ip) == family) out.push_back(std::move(ip));
  }
  return out;
}

bool isHeadless(const Json& service) {
  std::string ip = getString(specOf(service), "clusterIP");
  return ip.empty() || ip == "None";
}

Json labelsForEndpoints(const Json& service) {
  Json labels = labelsOf(service);
  if (isHeadless(service))
    labels[kHeadlessLabel] = "";
  else
    labels.erase(kHeadlessLabel);
  return labels;
}

std::optional<WallTime> TriggerTimeTracker::compute(const std::string& key, const Json& service,
                                                    const std::vector<client::ObjectPtr>& pods) {
  State previous;
  {
    std::lock_guard lock(mu_);
    if (auto it = states_.find(key); it != states_.end()) previous = it->second;
  }
  std::optional<WallTime> earliest;
  auto consider = [&](WallTime t) {
    if (!earliest || t < *earliest) earliest = t;
  };
  State next;
  for (const auto& pod : pods) {
    const Json* ready = findCondition(*pod, "Ready");
    auto t = ready ? timeField(*ready, "lastTransitionTime") : std::nullopt;
    if (!t) continue;
    const std::string name = client::nameOf(*pod);
    next.pods[name] = *t;
    auto seen = previous.pods.find(name);
    if (seen == previous.pods.end() || *t > seen->second) consider(*t);
  }
  next.service = timeField(metadataOf(service), "creationTimestamp");
  if (next.service && (!previous.service || *next.service > *previous.service)) consider(*next.service);
  std::lock_guard lock(mu_);
  states_[key] = std::move(next);
  return earliest;
}

void TriggerTimeTracker::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  states_.erase(key);
}

ServicePodsController::ServicePodsController(std::string name, Context& ctx, int workers)
    : Controller(std::move(name), ctx, workers),
      pods_(ctx.informers.get(client::res::kPods)),
      services_(ctx.informers.get(client::res::kServices)) {
  addNamespaceIndex(pods_);
  addNamespaceIndex(services_);
  services_.addHandlers(enqueueHandlers());
  pods_.addHandlers({.on_add = [this](const ObjectPtr& p) { onPodAdd(p); },
                     .on_update = [this](const ObjectPtr& o, const ObjectPtr& p) { onPodUpdate(o, p); },
                     .on_delete = [this](const ObjectPtr& p) { onPodAdd(p); }});
}

std::set<std::string> ServicePodsController::servicesSelecting(const std::string& ns,
                                                               const Json& labels) const {
  std::set<std::string> keys;
  for (const auto& svc : services_.byIndex(kNamespaceIndex, ns))
    if (const Json* selector = podSelectorOf(*svc); selector && selectorMatches(*selector, labels))
      keys.insert(client::keyOf(*svc));
  return keys;
}

void ServicePodsController::onPodAdd(const ObjectPtr& pod) {
  for (const auto& key : servicesSelecting(client::namespaceOf(*pod), labelsOf(*pod))) queue().add(key);
}

void ServicePodsController::onPodUpdate(const ObjectPtr& old_pod, const ObjectPtr& pod) {
  if (getString(metadataOf(*old_pod), "resourceVersion") == getString(metadataOf(*pod), "resourceVersion"))
    return;  // a resync
  const bool changed = endpointChanged(*old_pod, *pod);
  const bool membership = labelsOf(*old_pod) != labelsOf(*pod);
  if (!changed && !membership) return;
  const std::string ns = client::namespaceOf(*pod);
  std::set<std::string> keys = servicesSelecting(ns, labelsOf(*pod));
  if (membership) {
    // A pod that only moved between Services concerns the ones it left or
    // joined; one that also changed concerns all of them.
    std::set<std::string> old_keys = servicesSelecting(ns, labelsOf(*old_pod));
    std::set<std::string> affected;
    if (changed)
      std::set_union(keys.begin(), keys.end(), old_keys.begin(), old_keys.end(),
                     std::inserter(affected, affected.end()));
    else
      std::set_symmetric_difference(keys.begin(), keys.end(), old_keys.begin(), old_keys.end(),
                                    std::inserter(affected, affected.end()));
    keys = std::move(affected);
  }
  for (const auto& key : keys) queue().add(key);
}

}  // namespace capstan::controllers
