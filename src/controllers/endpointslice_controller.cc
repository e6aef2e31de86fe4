#include "controllers/endpointslice_controller.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kControllerName[] = "endpointslice-controller.k8s.io";
constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";
constexpr char kSlicesByService[] = "service";
constexpr int64_t kDeleted = -1;
const OwnerKind kServiceKind{"v1", "Service"};

// "ns/service" for slices this controller manages, else "".
std::string serviceKeyOf(const Json& slice) {
  const Json& labels = labelsOf(slice);
  std::string service = getString(labels, kServiceNameLabel);
  if (service.empty() || getString(labels, kManagedByLabel) != kControllerName) return "";
  return client::namespaceOf(slice) + "/" + service;
}

int64_t resourceVersionOf(const Json& obj) {
  std::string rv = getString(metadataOf(obj), "resourceVersion");
  int64_t v = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), v);
  return v;
}

bool ownedBy(const Json& slice, const Json& service) {
  for (const auto& ref : arrayAt(metadataOf(slice), "ownerReferences"))
    if (getString(ref, "uid") == client::uidOf(service) && getString(ref, "kind") == "Service" &&
        getString(ref, "apiVersion") == "v1")
      return true;
  return false;
}

// The address types the Service's endpoints are published in.
std::vector<std::string> addressTypes(const Json& service) {
  std::vector<std::string> out;
  for (const auto& f : arrayAt(specOf(service), "ipFamilies"))
    if (f == "IPv4" || f == "IPv6") out.push_back(f.get<std::string>());
  if (!out.empty()) return out;
  if (!isHeadless(service)) return {ipFamilyOf(getString(specOf(service), "clusterIP"))};
  return {"IPv4"};
}

// A slice's labels: the Service's (but the two reserved ones), the
// headless label as the Service is, the service name and manager.
Json sliceLabels(const Json& service) {
  Json labels = labelsForEndpoints(service);
  labels[kServiceNameLabel] = client::nameOf(service);
  labels[kManagedByLabel] = kControllerName;
  return labels;
}

// The port set one pod serves: each Service port whose targetPort the pod
// resolves, in the Service's order. Names are always present ("" when
// unnamed), as upstream writes them.
Json endpointPorts(const Json& service, const Json& pod) {
  Json out = Json::array();
  for (const auto& sp : arrayAt(specOf(service), "ports")) {
    auto number = findPort(pod, sp);
    if (!number) continue;
    Json port = {
        {"name", getString(sp, "name")}, {"port", *number}, {"protocol", getString(sp, "protocol", "TCP")}};
    if (std::string ap = getString(sp, "appProtocol"); !ap.empty()) port["appProtocol"] = ap;
    out.push_back(std::move(port));
  }
  return out;
}

// Port sets compare regardless of order.
std::string portSetKey(const Json& ports) {
  std::vector<std::string> parts;
  for (const auto& p : ports) parts.push_back(p.dump());
  std::sort(parts.begin(), parts.end());
  std::string key;
  for (const auto& p : parts) key += p + '\n';
  return key;
}

// Upstream's endpoint hash: what identifies an endpoint across syncs (its
// addresses, hostname and target); everything else is compared.
std::string endpointKey(const Json& endpoint) {
  std::vector<std::string> addresses;
  for (const auto& a : arrayAt(endpoint, "addresses"))
    if (a.is_string()) addresses.push_back(a.get<std::string>());
  std::sort(addresses.begin(), addresses.end());
  std::string key;
  for (const auto& a : addresses) key += a + ',';
  const Json& ref = objectAt(endpoint, "targetRef");
  return key + '|' + getString(endpoint, "hostname") + '|' + getString(ref, "namespace") + '/' +
         getString(ref, "name");
}

Json podToEndpoint(const Json& pod, const ObjectPtr& node, const Json& service,
                   const std::string& address_type) {
  const bool serving = isPodReady(pod);
  const bool terminating = isDeleting(pod);
  // Never ready while terminating, unless the Service publishes not-ready
  // addresses.
  const bool ready = boolField(specOf(service), "publishNotReadyAddresses") || (serving && !terminating);
  Json endpoint = {{"addresses", podIpsOfFamily(pod, address_type)},
                   {"conditions", {{"ready", ready}, {"serving", serving}, {"terminating", terminating}}},
                   {"targetRef",
                    {{"kind", "Pod"},
                     {"namespace", client::namespaceOf(pod)},
                     {"name", client::nameOf(pod)},
                     {"uid", client::uidOf(pod)}}}};
  if (std::string n = getString(specOf(pod), "nodeName"); !n.empty()) endpoint["nodeName"] = n;
  if (node)
    if (std::string zone = getString(labelsOf(*node), kZoneLabel); !zone.empty()) endpoint["zone"] = zone;
  if (shouldSetHostname(pod, service)) endpoint["hostname"] = getString(specOf(pod), "hostname");
  return endpoint;
}

Json newSlice(const Json& service, Json ports, const std::string& address_type) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"generateName", client::nameOf(service) + "-"},
            {"namespace", client::namespaceOf(service)},
            {"labels", sliceLabels(service)},
            {"ownerReferences", Json::array({controllerRef(service, kServiceKind)})}}},
          {"addressType", address_type},
          {"endpoints", Json::array()},
          {"ports", std::move(ports)}};
}

// An existing slice that is already the placeholder a Service selecting
// nothing keeps (upstream compares namespace, labels and content).
bool isPlaceholder(const Json& slice, const Json& service, const std::string& address_type) {
  return ownedBy(slice, service) && getString(slice, "addressType") == address_type &&
         arrayAt(slice, "endpoints").empty() && arrayAt(slice, "ports").empty() &&
         labelsOf(slice) == sliceLabels(service);
}

void setTriggerTime(Json& slice, const std::optional<WallTime>& trigger) {
  Json& meta = slice["metadata"];
  Json annotations = objectAt(meta, "annotations");
  if (trigger)
    annotations[kLastChangeTriggerTime] = formatRfc3339(*trigger);
  else
    annotations.erase(kLastChangeTriggerTime);
  meta["annotations"] = std::move(annotations);
}

}  // namespace

EndpointSliceController::EndpointSliceController(Context& ctx, int workers, size_t max_endpoints_per_slice)
    : ServicePodsController("endpointslice", ctx, workers),
      slices_(ctx.informers.get(client::res::kEndpointSlices)),
      nodes_(ctx.informers.get(client::res::kNodes)),
      events_(ctx.client, "endpoint-slice-controller", "", ctx.clock),
      max_endpoints_per_slice_(std::max<size_t>(max_endpoints_per_slice, 1)) {
  slices_.addIndex(kSlicesByService, [](const Json& slice) {
    std::string key = serviceKeyOf(slice);
    return key.empty() ? std::vector<std::string>{} : std::vector<std::string>{key};
  });
  slices_.addHandlers({.on_add = [this](const ObjectPtr& s) { onSliceEvent(s, false); },
                       .on_update = [this](const ObjectPtr&, const ObjectPtr& s) { onSliceEvent(s, false); },
                       .on_delete = [this](const ObjectPtr& s) { onSliceEvent(s, true); }});
}

void EndpointSliceController::onSliceEvent(const ObjectPtr& slice, bool was_deleted) {
  std::string key = serviceKeyOf(*slice);
  if (key.empty()) return;
  // The echo of this controller's own write needs no sync; anything else
  // (someone else's change, a deletion) does.
  bool echo = false;
  {
    std::lock_guard lock(written_mu_);
    if (auto it = written_.find(key); it != written_.end()) {
      if (auto w = it->second.find(client::nameOf(*slice)); w != it->second.end()) {
        int64_t rv = resourceVersionOf(*slice);
        if (was_deleted) {
          echo = w->second == kDeleted;
          it->second.erase(w);
        } else if (w->second != kDeleted && rv >= w->second) {
          echo = rv == w->second;
          it->second.erase(w);
        }
      }
      if (it->second.empty()) written_.erase(it);
    }
  }
  if (!echo) queue().add(key);
}

bool EndpointSliceController::cacheIsStale(const std::string& key) const {
  const std::string ns = client::splitKey(key).first;
  std::lock_guard lock(written_mu_);
  auto it = written_.find(key);
  if (it == written_.end()) return false;
  for (const auto& [name, rv] : it->second) {
    auto cached = slices_.get(ns + "/" + name);
    if (rv == kDeleted ? cached != nullptr : !cached || resourceVersionOf(*cached) < rv) return true;
  }
  return false;
}

void EndpointSliceController::wrote(const std::string& key, const Json& slice) {
  std::lock_guard lock(written_mu_);
  written_[key][client::nameOf(slice)] = resourceVersionOf(slice);
}

void EndpointSliceController::deleted(const std::string& key, const std::string& slice_name) {
  std::lock_guard lock(written_mu_);
  written_[key][slice_name] = kDeleted;
}

Status EndpointSliceController::deleteSlicesOf(const std::string& key) {
  Status first_error;
  for (const auto& slice : slices_.byIndex(kSlicesByService, key)) {
    if (isDeleting(*slice)) continue;
    auto r =
        ctx_.client.remove(client::res::kEndpointSlices, client::namespaceOf(*slice), client::nameOf(*slice));
    if (!r && r.status().code() != Code::kNotFound && first_error) first_error = r.status();
  }
  return first_error;
}

Status EndpointSliceController::sync(const std::string& key) {
  auto service = services_.get(key);
  if (!service) {
    trigger_times_.forget(key);
    {
      std::lock_guard lock(written_mu_);
      written_.erase(key);
    }
    return deleteSlicesOf(key);
  }
  if (!podSelectorOf(*service)) return Status::ok();
  if (cacheIsStale(key))
    return Status(Code::kConflict, "EndpointSlice cache does not show this controller's writes yet");

  auto pods = selectedPods(pods_, *service);
  auto trigger = trigger_times_.compute(key, *service, pods);
  const std::vector<std::string> types = addressTypes(*service);
  std::map<std::string, std::vector<ObjectPtr>> by_type;
  Plan plan;
  for (auto& slice : slices_.byIndex(kSlicesByService, key)) {
    if (isDeleting(*slice)) continue;  // on its way out
    std::string type = getString(*slice, "addressType");
    if (std::find(types.begin(), types.end(), type) == types.end())
      plan.remove.push_back(std::move(slice));  // a family the Service no longer has
    else
      by_type[type].push_back(std::move(slice));
  }
  Status skipped;
  for (const auto& type : types) reconcileAddressType(*service, pods, by_type[type], type, plan, skipped);
  Status st = finalize(*service, std::move(plan), trigger);
  if (!st) {
    trigger_times_.forget(key);  // the retry reports this sync's changes again
    if (st.code() != Code::kConflict)
      events_.record(*service, "Warning", "FailedToUpdateEndpointSlices",
                     "Error updating Endpoint Slices for Service " + key + ": " + st.message());
    return st;
  }
  return skipped;
}

void EndpointSliceController::reconcileAddressType(const Json& service, const std::vector<ObjectPtr>& pods,
                                                   const std::vector<ObjectPtr>& existing,
                                                   const std::string& address_type, Plan& plan,
                                                   Status& skipped) const {
  Plan local;
  std::map<std::string, std::vector<ObjectPtr>> existing_by_ports;
  for (const auto& slice : existing) {
    if (ownedBy(*slice, service))
      existing_by_ports[portSetKey(arrayAt(*slice, "ports"))].push_back(slice);
    else
      local.remove.push_back(slice);  // e.g. left by an earlier Service of that name
  }

  const bool publish_not_ready = boolField(specOf(service), "publishNotReadyAddresses");
  std::map<std::string, PortSet> desired;
  for (const auto& pod : pods) {
    if (!shouldPodBeInEndpoints(*pod, true)) continue;
    Json ports = endpointPorts(service, *pod);
    PortSet& set = desired[portSetKey(ports)];
    set.ports = std::move(ports);
    std::string node_name = getString(specOf(*pod), "nodeName");
    ObjectPtr node = node_name.empty() ? nullptr : nodes_.get(node_name);
    if (!node && !publish_not_ready) {
      skipped = Status(Code::kNotFound, "skipping Pod " + client::nameOf(*pod) + " for Service " +
                                            client::keyOf(service) + ": Node " + node_name + " Not Found");
      continue;
    }
    Json endpoint = podToEndpoint(*pod, node, service, address_type);
    if (arrayAt(endpoint, "addresses").empty()) continue;
    std::string endpoint_key = endpointKey(endpoint);  // before the move below
    set.endpoints[endpoint_key] = std::move(endpoint);
  }

  for (auto& [ports_key, set] : desired)
    reconcilePortSet(service, existing_by_ports[ports_key], set, address_type, local);
  for (auto& [ports_key, slices] : existing_by_ports)
    if (!desired.count(ports_key)) local.remove.insert(local.remove.end(), slices.begin(), slices.end());

  // A Service selecting nothing still has one (empty) slice.
  if (local.remove.size() == existing.size() && local.create.empty()) {
    if (local.remove.size() == 1 && isPlaceholder(*local.remove.front(), service, address_type))
      local.remove.clear();
    else
      local.create.push_back(newSlice(service, Json::array(), address_type));
  }
  for (auto& s : local.create) plan.create.push_back(std::move(s));
  for (auto& s : local.update) plan.update.push_back(std::move(s));
  for (auto& s : local.remove) plan.remove.push_back(std::move(s));
}

void EndpointSliceController::reconcilePortSet(const Json& service, const std::vector<ObjectPtr>& existing,
                                               PortSet& desired, const std::string& address_type,
                                               Plan& plan) const {
  const Json labels = sliceLabels(service);
  const size_t max = max_endpoints_per_slice_;
  std::vector<Json> to_update;
  std::vector<ObjectPtr> unchanged;
  auto take = [&desired](Json& slice) {
    auto first = desired.endpoints.begin();
    slice["endpoints"].push_back(std::move(first->second));
    desired.endpoints.erase(first);
  };

  // 1. Keep the desired endpoints where they are, updated; drop the rest.
  for (const auto& slice : existing) {
    const Json& current = arrayAt(*slice, "endpoints");
    Json kept = Json::array();
    bool endpoint_changed = false;
    for (const auto& endpoint : current) {
      auto it = desired.endpoints.find(endpointKey(endpoint));
      if (it == desired.endpoints.end()) continue;
      if (it->second != endpoint) endpoint_changed = true;
      kept.push_back(std::move(it->second));
      desired.endpoints.erase(it);
    }
    const bool labels_changed = labelsOf(*slice) != labels;
    if (endpoint_changed || kept.size() != current.size()) {
      if (kept.empty()) {
        plan.remove.push_back(slice);
        continue;
      }
      Json copy = *slice;
      copy["endpoints"] = std::move(kept);
      copy["metadata"]["labels"] = labels;
      to_update.push_back(std::move(copy));
    } else if (labels_changed) {
      Json copy = *slice;
      copy["metadata"]["labels"] = labels;
      to_update.push_back(std::move(copy));
    } else {
      unchanged.push_back(slice);
    }
  }

  // 2. New endpoints go first into the slices written anyway, fullest first.
  if (!desired.endpoints.empty() && !to_update.empty()) {
    std::stable_sort(to_update.begin(), to_update.end(), [](const Json& a, const Json& b) {
      return arrayAt(a, "endpoints").size() > arrayAt(b, "endpoints").size();
    });
    for (auto& slice : to_update)
      while (!desired.endpoints.empty() && slice["endpoints"].size() < max) take(slice);
  }

  // 3. Then into the unchanged slice they fit best, then into new slices.
  while (!desired.endpoints.empty()) {
    std::optional<Json> fill;
    if (desired.endpoints.size() < max && !unchanged.empty()) {
      size_t best = unchanged.size(), best_room = max;
      for (size_t i = 0; i < unchanged.size(); ++i) {
        size_t used = desired.endpoints.size() + arrayAt(*unchanged[i], "endpoints").size();
        if (used <= max && max - used < best_room) {
          best = i;
          best_room = max - used;
        }
      }
      if (best < unchanged.size()) {
        fill = *unchanged[best];
        unchanged.erase(unchanged.begin() + static_cast<std::ptrdiff_t>(best));
        if (!(*fill)["endpoints"].is_array()) (*fill)["endpoints"] = Json::array();
      }
    }
    if (!fill) fill = newSlice(service, desired.ports, address_type);
    while (!desired.endpoints.empty() && (*fill)["endpoints"].size() < max) take(*fill);
    if (client::nameOf(*fill).empty())
      plan.create.push_back(std::move(*fill));
    else
      to_update.push_back(std::move(*fill));
  }
  for (auto& s : to_update) plan.update.push_back(std::move(s));
}

Status EndpointSliceController::finalize(const Json& service, Plan plan,
                                         const std::optional<WallTime>& trigger) {
  const std::string key = client::keyOf(service);
  const std::string ns = client::namespaceOf(service);
  // A slice about to be deleted while another is created is rewritten
  // instead (same address type, same owner).
  for (size_t i = 0; i < plan.remove.size() && !plan.create.empty();) {
    const Json& victim = *plan.remove[i];
    Json& slice = plan.create.back();
    if (getString(victim, "addressType") != getString(slice, "addressType") || !ownedBy(victim, service)) {
      ++i;
      continue;
    }
    slice["metadata"]["name"] = client::nameOf(victim);
    slice["metadata"]["resourceVersion"] = getString(metadataOf(victim), "resourceVersion");
    plan.update.push_back(std::move(slice));
    plan.create.pop_back();
    plan.remove.erase(plan.remove.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // No new slices for a Service being deleted: the garbage collector would
  // race them.
  if (!isDeleting(service)) {
    for (auto& slice : plan.create) {
      setTriggerTime(slice, trigger);
      auto r = ctx_.client.create(client::res::kEndpointSlices, ns, slice);
      if (!r) {
        // Creates keep failing in a terminating namespace: drop the key.
        if (r.status().code() == Code::kForbidden) return Status::ok();
        return r.status();
      }
      wrote(key, *r);
    }
  }
  for (auto& slice : plan.update) {
    setTriggerTime(slice, trigger);
    auto r = ctx_.client.update(client::res::kEndpointSlices, ns, slice);
    if (!r) return r.status();
    wrote(key, *r);
  }
  for (const auto& slice : plan.remove) {
    const std::string name = client::nameOf(*slice);
    auto r = ctx_.client.remove(client::res::kEndpointSlices, ns, name);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    deleted(key, name);
  }
  return Status::ok();
}

}  // namespace capstan::controllers
