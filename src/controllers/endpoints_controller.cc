#include "controllers/endpoints_controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "common/log.h"
#include "controllers/object_fields.h"
#include "controllers/pod_template.h"

namespace capstan::controllers {
namespace {

constexpr size_t kMaxCapacity = 1000;
constexpr char kOverCapacity[] = "endpoints.kubernetes.io/over-capacity";
// Endpoints used as leader-election locks by old components: never ours.
constexpr char kLeaderAnnotation[] = "control-plane.alpha.kubernetes.io/leader";

// One pod address serving one port (or no port: headless Services without
// ports), before repacking.
struct AddressPort {
  Json address;
  bool ready = false;
  Json port;  // null: no port
};

// Upstream's addressKey: the IP, then the target's uid. The separator
// sorts below every IP character, so keys order as (IP, uid) do.
std::string addressKey(const Json& address) {
  return getString(address, "ip") + '\x1f' + getString(objectAt(address, "targetRef"), "uid");
}

// RepackSubsets: map each port to the addresses offering it (an address
// not ready for a port in one entry is not ready for it at all), group
// the ports by identical address sets, and emit one subset per group.
// Addresses sort by IP then uid; ports and subsets sort by their JSON text
// (upstream sorts them by a hash: any fixed order will do, it just must
// not change between syncs).
Json repackSubsets(const std::vector<AddressPort>& entries) {
  std::map<std::string, Json> addresses;
  std::map<std::string, std::map<std::string, bool>> ready_by_port;  // port text ("" for none)
  std::map<std::string, Json> ports;
  for (const auto& e : entries) {
    std::string akey = addressKey(e.address);
    addresses.emplace(akey, e.address);
    std::string pkey = e.port.is_null() ? "" : e.port.dump();
    if (!e.port.is_null()) ports.emplace(pkey, e.port);
    auto [it, inserted] = ready_by_port[pkey].emplace(akey, e.ready);
    if (!inserted && it->second) it->second = e.ready;
  }
  // Address set (as text) → its ready map and the ports it serves.
  std::map<std::string, std::pair<const std::map<std::string, bool>*, std::vector<std::string>>> groups;
  for (const auto& [pkey, set] : ready_by_port) {
    std::string skey;
    for (const auto& [akey, ready] : set)
      skey += akey +
              (ready ? "\x1e"
                       "1"
                     : "\x1e"
                       "0") +
              '\x1d';
    auto& g = groups[skey];
    g.first = &set;
    if (!pkey.empty()) g.second.push_back(pkey);
  }
  std::vector<Json> subsets;
  for (const auto& [skey, group] : groups) {
    Json ready = Json::array(), not_ready = Json::array(), subset_ports = Json::array();
    for (const auto& [akey, is_ready] : *group.first)
      (is_ready ? ready : not_ready).push_back(addresses[akey]);
    for (const auto& pkey : group.second) subset_ports.push_back(ports[pkey]);  // sorted: map order
    Json subset = Json::object();
    if (!ready.empty()) subset["addresses"] = std::move(ready);
    if (!not_ready.empty()) subset["notReadyAddresses"] = std::move(not_ready);
    if (!subset_ports.empty()) subset["ports"] = std::move(subset_ports);
    subsets.push_back(std::move(subset));
  }
  std::sort(subsets.begin(), subsets.end(), [](const Json& a, const Json& b) { return a.dump() < b.dump(); });
  return Json(std::move(subsets));
}

size_t countOf(const Json& subset, const char* field) { return arrayAt(subset, field).size(); }

// Upstream's truncateEndpoints: past kMaxCapacity addresses, keep each
// subset's share (rounded up) of the not-ready addresses, or, when the
// ready ones alone are too many, of the ready ones and no not-ready ones.
// True when something was cut.
bool truncateSubsets(Json& subsets) {
  size_t ready = 0, not_ready = 0;
  for (const auto& s : subsets) {
    ready += countOf(s, "addresses");
    not_ready += countOf(s, "notReadyAddresses");
  }
  if (ready + not_ready <= kMaxCapacity) return false;
  const bool cut_ready = ready > kMaxCapacity;
  const size_t budget = cut_ready ? kMaxCapacity : kMaxCapacity - ready;
  const size_t total = cut_ready ? ready : not_ready;
  size_t left = budget;
  auto keep = [](Json& subset, const char* field, size_t n) {
    if (!subset.contains(field)) return;
    Json& list = subset[field];
    if (list.size() > n) list.erase(list.begin() + static_cast<std::ptrdiff_t>(n), list.end());
    if (list.empty()) subset.erase(field);
  };
  for (auto& s : subsets) {
    const char* field = cut_ready ? "addresses" : "notReadyAddresses";
    auto share = static_cast<size_t>(std::ceil(static_cast<double>(countOf(s, field)) /
                                               static_cast<double>(total) * static_cast<double>(budget)));
    keep(s, field, std::min(share, left));
    if (cut_ready) keep(s, "notReadyAddresses", 0);
    left -= countOf(s, field);
  }
  return true;
}

// The family whose pod IPs are published: the Service's first IP family,
// else its cluster IP's; "" (each pod's primary IP) for a legacy headless
// Service with neither.
std::string serviceFamily(const Json& service) {
  const Json& spec = specOf(service);
  const Json& families = arrayAt(spec, "ipFamilies");
  if (!families.empty() && families[0].is_string()) return families[0].get<std::string>();
  if (!isHeadless(service)) return ipFamilyOf(getString(spec, "clusterIP"));
  return "";
}

}  // namespace

EndpointsController::EndpointsController(Context& ctx, int workers)
    : ServicePodsController("endpoint", ctx, workers),
      endpoints_(ctx.informers.get(client::res::kEndpoints)),
      events_(ctx.client, "endpoint-controller", "", ctx.clock) {
  // Changes to Endpoints of a live Service are undone; Endpoints seen in the
  // first list are all checked once, so those of Services deleted while no
  // controller ran go too.
  auto enqueue_if_service = [this](const ObjectPtr& ep) {
    if (services_.get(client::keyOf(*ep))) enqueue(ep);
  };
  endpoints_.addHandlers(
      {.on_add =
           [this](const ObjectPtr& ep) {
             if (!endpoints_.hasSynced() &&
                 !objectAt(metadataOf(*ep), "annotations").contains(kLeaderAnnotation))
               enqueue(ep);
           },
       .on_update = [enqueue_if_service](const ObjectPtr&, const ObjectPtr& ep) { enqueue_if_service(ep); },
       .on_delete = enqueue_if_service});
}

Json EndpointsController::desiredSubsets(const Json& service, const std::vector<ObjectPtr>& pods) const {
  const Json& spec = specOf(service);
  const bool publish_not_ready = boolField(spec, "publishNotReadyAddresses");
  const std::string family = serviceFamily(service);
  const Json& service_ports = arrayAt(spec, "ports");
  std::vector<AddressPort> entries;
  for (const auto& pod : pods) {
    if (!shouldPodBeInEndpoints(*pod, publish_not_ready)) continue;
    auto ips = podIpsOfFamily(*pod, family.empty() ? ipFamilyOf(getString(statusOf(*pod), "podIP")) : family);
    if (ips.empty()) continue;
    Json address = {{"ip", ips.front()},
                    {"targetRef",
                     {{"kind", "Pod"},
                      {"namespace", client::namespaceOf(*pod)},
                      {"name", client::nameOf(*pod)},
                      {"uid", client::uidOf(*pod)}}}};
    if (std::string node = getString(specOf(*pod), "nodeName"); !node.empty()) address["nodeName"] = node;
    if (shouldSetHostname(*pod, service)) address["hostname"] = getString(specOf(*pod), "hostname");
    const bool ready = publish_not_ready || isPodReady(*pod);
    if (service_ports.empty()) {
      if (isHeadless(service)) entries.push_back({address, ready, nullptr});
      continue;
    }
    for (const auto& sp : service_ports) {
      auto number = findPort(*pod, sp);
      if (!number) continue;  // the pod does not expose a port of that name
      Json port = {{"port", *number}, {"protocol", getString(sp, "protocol", "TCP")}};
      if (std::string name = getString(sp, "name"); !name.empty()) port["name"] = name;
      if (std::string ap = getString(sp, "appProtocol"); !ap.empty()) port["appProtocol"] = ap;
      entries.push_back({address, ready, std::move(port)});
    }
  }
  return repackSubsets(entries);
}

Status EndpointsController::sync(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  auto service = services_.get(key);
  if (!service) {
    trigger_times_.forget(key);
    auto r = ctx_.client.remove(client::res::kEndpoints, ns, name);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    return Status::ok();
  }
  if (!podSelectorOf(*service)) return Status::ok();

  auto pods = selectedPods(pods_, *service);
  auto trigger = trigger_times_.compute(key, *service, pods);
  Json subsets = desiredSubsets(*service, pods);
  const bool truncated = truncateSubsets(subsets);
  Json labels = labelsForEndpoints(*service);

  auto current = endpoints_.get(key);
  if (current && arrayAt(*current, "subsets") == subsets && labelsOf(*current) == labels &&
      objectAt(metadataOf(*current), "annotations").contains(kOverCapacity) == truncated)
    return Status::ok();

  Json endpoints = current ? *current : Json{{"metadata", {{"name", name}, {"namespace", ns}}}};
  endpoints["apiVersion"] = "v1";
  endpoints["kind"] = "Endpoints";
  Json& meta = endpoints["metadata"];
  meta["labels"] = std::move(labels);
  Json annotations = objectAt(meta, "annotations");
  if (trigger)
    annotations[kLastChangeTriggerTime] = formatRfc3339(*trigger);
  else
    annotations.erase(kLastChangeTriggerTime);  // no new trigger time
  if (truncated)
    annotations[kOverCapacity] = "truncated";
  else
    annotations.erase(kOverCapacity);
  meta["annotations"] = std::move(annotations);
  if (subsets.empty())
    endpoints.erase("subsets");
  else
    endpoints["subsets"] = std::move(subsets);

  auto r = current ? ctx_.client.update(client::res::kEndpoints, ns, endpoints)
                   : ctx_.client.create(client::res::kEndpoints, ns, endpoints);
  if (r) return Status::ok();
  // Not written: the retry must see this sync's changes as new again, or it
  // would write without the trigger time (upstream's tracker drops it).
  trigger_times_.forget(key);
  Code code = r.status().code();
  // Creates keep failing in a terminating namespace: drop the key.
  if (!current && code == Code::kForbidden) return Status::ok();
  // The cache does not show an earlier create yet: retry quietly.
  if (code == Code::kAlreadyExists) return Status(Code::kConflict, r.status().message());
  if (code != Code::kConflict) {
    if (current)
      events_.record(*service, "Warning", "FailedToUpdateEndpoint",
                     "Failed to update endpoint " + key + ": " + r.status().message());
    else
      events_.record(*service, "Warning", "FailedToCreateEndpoint",
                     "Failed to create endpoint for service " + key + ": " + r.status().message());
  }
  return r.status();
}

}  // namespace capstan::controllers
