#include "scheduler/snapshot.h"

#include <fmt/format.h>

#include <algorithm>

namespace capstan::scheduler {
namespace {

std::string podKey(std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(ns.size() + name.size() + 1);
  key.append(ns).append("/").append(name);
  return key;
}

bool terminal(const Json& pod) {
  auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return false;
  std::string phase = getString(*status, "phase");
  return phase == "Succeeded" || phase == "Failed";
}

std::string labelPair(std::string_view key, std::string_view value) {
  std::string pair;
  pair.reserve(key.size() + value.size() + 1);
  pair.append(key).push_back('\0');
  pair.append(value);
  return pair;
}

}  // namespace

Snapshot::Snapshot() = default;
Snapshot::~Snapshot() = default;

NodeInfo& Snapshot::nodeSlot(const std::string& name) {
  std::unique_ptr<NodeInfo>& slot = infos_[name];
  if (!slot) {
    slot = std::make_unique<NodeInfo>();
    slot->name = name;
    slot->setNode(nullptr);
  }
  return *slot;
}

void Snapshot::dropIfEmpty(const std::string& name) {
  auto it = infos_.find(name);
  if (it != infos_.end() && !it->second->object && it->second->pods.empty()) infos_.erase(it);
}

Status Snapshot::upsertNode(std::shared_ptr<const Json> node) {
  if (!node || !node->is_object()) return Status(Code::kInvalid, "node: expected an object");
  auto meta = node->find("metadata");
  std::string name = meta != node->end() ? getString(*meta, "name") : "";
  if (name.empty()) return Status(Code::kInvalid, "node: metadata.name is required");
  NodeInfo& info = nodeSlot(name);
  bool is_new = !info.object;
  auto new_meta = node->find("metadata");
  auto new_labels = new_meta->is_object() ? new_meta->find("labels") : new_meta->end();
  bool same_labels = !is_new && new_meta->is_object() &&
                     (new_labels == new_meta->end() ? info.labels->empty() : *new_labels == *info.labels);
  if (is_new || !same_labels) domain_counts_.clear();
  if (!is_new && !same_labels) indexLabels(info, false);
  info.setNode(std::move(node));
  if (is_new) nodes_.push_back(&info);
  if (!same_labels) indexLabels(info, true);
  return Status::ok();
}

void Snapshot::indexLabels(const NodeInfo& node, bool add) {
  if (!node.labels->is_object()) return;
  for (auto it = node.labels->begin(); it != node.labels->end(); ++it) {
    if (!it->is_string()) continue;
    std::string pair = labelPair(it.key(), it->get_ref<const std::string&>());
    auto& values = label_values_[it.key()];
    int& with_value = values[it->get_ref<const std::string&>()];
    size_t& with_key = label_key_nodes_[it.key()];
    if (add) {
      ++with_value;
      ++with_key;
      label_nodes_[pair].push_back(&node);
      continue;
    }
    if (--with_value <= 0) values.erase(it->get_ref<const std::string&>());
    if (values.empty()) label_values_.erase(it.key());
    if (--with_key == 0) label_key_nodes_.erase(it.key());
    auto entry = label_nodes_.find(pair);
    if (entry == label_nodes_.end()) continue;
    std::erase(entry->second, &node);
    if (entry->second.empty()) label_nodes_.erase(entry);
  }
}

const std::unordered_map<std::string, int>* Snapshot::labelValues(const std::string& key) const {
  auto it = label_values_.find(key);
  return it == label_values_.end() ? nullptr : &it->second;
}

size_t Snapshot::numNodesWithLabel(const std::string& key) const {
  auto it = label_key_nodes_.find(key);
  return it == label_key_nodes_.end() ? 0 : it->second;
}

const std::unordered_map<const NodeInfo*, int>* Snapshot::nodesWithPodLabel(const std::string& pod_label_key) const {
  auto it = pod_label_nodes_.find(pod_label_key);
  return it == pod_label_nodes_.end() ? nullptr : &it->second;
}

const std::unordered_map<std::string, int64_t>& Snapshot::podCountsByDomain(const std::string& pod_label_key,
                                                                            const std::string& topology_key) const {
  auto [entry, is_new] = domain_counts_[pod_label_key].try_emplace(topology_key);
  auto& counts = entry->second;
  if (!is_new) return counts;
  auto hosting = pod_label_nodes_.find(pod_label_key);
  if (hosting == pod_label_nodes_.end()) return counts;
  for (const auto& [node, n] : hosting->second) {
    if (!node->object) continue;
    const std::string* value = node->label(topology_key);
    if (!value) continue;
    int64_t live = n;
    if (node->terminating_pods > 0) {
      live = 0;
      for (const auto& p : node->pods) {
        if (p->terminating || !p->labels->is_object()) continue;
        for (auto it = p->labels->begin(); it != p->labels->end(); ++it) {
          if (it->is_string() && podLabelKey(p->ns, it.key(), it->get_ref<const std::string&>()) == pod_label_key) {
            ++live;
            break;
          }
        }
      }
    }
    counts[*value] += live;
  }
  return counts;
}

namespace {

// What makes two terms one TermGroup: kind, weight, topology key, and what
// they match (termMatches reads the selector, the namespaces and the
// namespaceSelector).
std::string groupKey(Snapshot::TermGroup::Kind kind, const AffinityTerm& t) {
  std::vector<std::string> namespaces = t.namespaces;
  std::sort(namespaces.begin(), namespaces.end());
  namespaces.erase(std::unique(namespaces.begin(), namespaces.end()), namespaces.end());
  std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f", static_cast<int>(kind), t.weight, t.topology_key,
                                t.selector_matches_nothing ? "none" : t.selector.toString());
  for (const std::string& ns : namespaces) key.append(ns).push_back('\x1e');
  if (t.namespace_selector) key.append("\x1fns:").append(t.namespace_selector->toString());
  return key;
}

}  // namespace

void Snapshot::groupTerms(const PodInfo& pod, const NodeInfo& node, int delta) {
  using Kind = TermGroup::Kind;
  for (auto [kind, terms] : {std::pair{Kind::kRequiredAffinity, &pod.required_affinity},
                             std::pair{Kind::kPreferredAffinity, &pod.preferred_affinity},
                             std::pair{Kind::kPreferredAntiAffinity, &pod.preferred_anti_affinity}}) {
    for (const AffinityTerm& t : *terms) {
      std::string key = groupKey(kind, t);
      auto it = term_groups_.find(key);
      if (it == term_groups_.end()) {
        if (delta <= 0) continue;
        it = term_groups_.emplace(std::move(key), TermGroup{kind, t, {}}).first;
      }
      int& n = it->second.nodes[&node];
      n += delta;
      if (n <= 0) it->second.nodes.erase(&node);
      if (it->second.nodes.empty()) term_groups_.erase(it);
    }
  }
}

void Snapshot::indexPodLabels(const PodInfo& pod, const NodeInfo& node, int delta) {
  if (!pod.labels->is_object()) return;
  for (auto it = pod.labels->begin(); it != pod.labels->end(); ++it) {
    if (!it->is_string()) continue;
    std::string key = podLabelKey(pod.ns, it.key(), it->get_ref<const std::string&>());
    if (auto cached = domain_counts_.find(key); cached != domain_counts_.end() && node.object && !pod.terminating) {
      for (auto& [topology_key, counts] : cached->second) {
        if (const std::string* value = node.label(topology_key)) counts[*value] += delta;
      }
    }
    auto& nodes = pod_label_nodes_[key];
    int& n = nodes[&node];
    n += delta;
    if (n <= 0) nodes.erase(&node);
    if (nodes.empty()) pod_label_nodes_.erase(key);
  }
}

const std::vector<const NodeInfo*>* Snapshot::nodesWithLabel(std::string_view key, std::string_view value) const {
  // Called per feasible node per cycle: the pair is built in a kept buffer.
  lookup_.assign(key).push_back('\0');
  lookup_.append(value);
  auto it = label_nodes_.find(lookup_);
  return it == label_nodes_.end() ? nullptr : &it->second;
}

void Snapshot::countAffinityKeys(const PodInfo& pod, int delta) {
  if (!pod.required_anti_affinity.empty()) pods_with_required_anti_affinity_ += delta;
  for (const auto* terms : {&pod.required_affinity, &pod.required_anti_affinity, &pod.preferred_affinity,
                            &pod.preferred_anti_affinity}) {
    for (const AffinityTerm& t : *terms) {
      auto it = affinity_keys_.try_emplace(t.topology_key, 0).first;
      it->second += delta;
      if (it->second <= 0) affinity_keys_.erase(it);
    }
  }
}

void Snapshot::removeNode(std::string_view name) {
  auto it = infos_.find(std::string(name));
  if (it == infos_.end() || !it->second->object) return;
  NodeInfo* info = it->second.get();
  auto pos = std::find(nodes_.begin(), nodes_.end(), info);
  if (pos != nodes_.end()) nodes_.erase(pos);
  domain_counts_.clear();
  indexLabels(*info, false);
  info->setNode(nullptr);
  dropIfEmpty(info->name);
}

Status Snapshot::upsertPod(std::shared_ptr<const Json> pod, std::string_view node_name) {
  if (!pod || !pod->is_object()) return Status(Code::kInvalid, "pod: expected an object");
  auto meta = pod->find("metadata");
  if (meta == pod->end() || !meta->is_object()) return Status(Code::kInvalid, "pod: metadata is required");
  std::string name = getString(*meta, "name");
  std::string ns = getString(*meta, "namespace", "default");
  if (name.empty()) return Status(Code::kInvalid, "pod: metadata.name is required");
  std::string node(node_name);
  if (node.empty()) {
    auto spec = pod->find("spec");
    if (spec != pod->end() && spec->is_object()) node = getString(*spec, "nodeName");
  }
  removePod(ns, name);
  if (node.empty() || terminal(*pod)) return Status::ok();

  Result<std::shared_ptr<PodInfo>> info = parsePod(std::move(pod));
  // Only malformed affinity selectors fail here, which API validation
  // refuses; such a pod is left out and the error reported.
  if (!info) return info.status();
  (*info)->node_name = node;
  std::shared_ptr<const PodInfo> shared = std::move(info).value();
  NodeInfo& slot = nodeSlot(node);
  if (!shared->owner_uid.empty() && !shared->terminating) ++owner_pods_[shared->owner_uid][&slot];
  countAffinityKeys(*shared, 1);
  indexPodLabels(*shared, slot, 1);
  if (shared->hasAffinity()) groupTerms(*shared, slot, 1);
  slot.addPod(shared);
  pods_.emplace(podKey(ns, name), std::move(shared));
  return Status::ok();
}

void Snapshot::removePod(std::string_view ns, std::string_view name) {
  auto it = pods_.find(podKey(ns, name));
  if (it == pods_.end()) return;
  std::string node = it->second->node_name;
  std::string owner = it->second->terminating ? std::string() : it->second->owner_uid;
  countAffinityKeys(*it->second, -1);
  auto info = infos_.find(node);
  if (info != infos_.end()) {
    indexPodLabels(*it->second, *info->second, -1);
    if (it->second->hasAffinity()) groupTerms(*it->second, *info->second, -1);
  }
  pods_.erase(it);
  if (info == infos_.end()) return;
  if (!owner.empty()) {
    auto o = owner_pods_.find(owner);
    if (o != owner_pods_.end()) {
      auto n = o->second.find(info->second.get());
      if (n != o->second.end() && --n->second <= 0) o->second.erase(n);
      if (o->second.empty()) owner_pods_.erase(o);
    }
  }
  info->second->removePod(ns, name);
  dropIfEmpty(node);
}

void Snapshot::upsertNamespace(std::shared_ptr<const Json> ns) {
  if (!ns || !ns->is_object()) return;
  auto meta = ns->find("metadata");
  if (meta == ns->end() || !meta->is_object()) return;
  std::string name = getString(*meta, "name");
  if (name.empty()) return;
  namespaces_[name] = std::move(ns);
}

void Snapshot::removeNamespace(std::string_view name) { namespaces_.erase(std::string(name)); }

const NodeInfo* Snapshot::node(std::string_view name) const {
  auto it = infos_.find(std::string(name));
  if (it == infos_.end() || !it->second->object) return nullptr;
  return it->second.get();
}

const PodInfo* Snapshot::pod(std::string_view ns, std::string_view name) const {
  auto it = pods_.find(podKey(ns, name));
  return it == pods_.end() ? nullptr : it->second.get();
}

const Json* Snapshot::namespaceLabels(std::string_view name) const {
  auto it = namespaces_.find(std::string(name));
  if (it == namespaces_.end()) return nullptr;
  const Json& meta = *it->second->find("metadata");  // checked in upsertNamespace
  auto labels = meta.find("labels");
  if (labels == meta.end() || !labels->is_object()) {
    static const Json kEmpty = Json::object();
    return &kEmpty;
  }
  return &*labels;
}

const std::unordered_map<const NodeInfo*, int>* Snapshot::podsByOwner(std::string_view owner_uid) const {
  auto it = owner_pods_.find(std::string(owner_uid));
  return it == owner_pods_.end() ? nullptr : &it->second;
}

}  // namespace capstan::scheduler
