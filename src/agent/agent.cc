#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/agent_impl.h"
#include "agent/balanced_network.h"
#include "agent/instrumented_runtime.h"
#include "agent/runtime/rootfs.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/pki.h"

namespace capstan::agent {
namespace fs = std::filesystem;
namespace {

// Puts the node's run dir on a tmpfs of its own when /run is not one (it
// is where systemd runs; some machines keep /run on the root filesystem).
// Every pod start creates some thirty files there (bundles, shim state,
// pod files) and every removal deletes them. On ext4 without a journal
// each inode freed in the last minutes slows the next allocations
// (find_inode_bit skips the recently deleted ones), so on disk pod starts
// got slower run after run. The
// mount outlives the agent, so a restarted agent adopts its containers;
// cleanupNode unmounts it.
Status ensureRunDirOnTmpfs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(Code::kInternal, fmt::format("cannot create {}: {}", dir, ec.message()));
  struct statfs sf {};
  if (::statfs(dir.c_str(), &sf) == 0 && sf.f_type == TMPFS_MAGIC) return Status::ok();
  if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") == 0) return Status::ok();
  return Status(Code::kInternal, fmt::format("cannot mount tmpfs on {}: {}", dir, std::strerror(errno)));
}

// What the runtime and the network are made of; the same for a running
// agent and for cleanupNode.
runtime::RuntimeConfig runtimeConfigOf(const AgentOptions& opts) {
  NodePaths paths(opts);
  runtime::RuntimeConfig rc;
  rc.state_dir = paths.runtimeState();
  rc.layers_dir = paths.layers();
  rc.crun_root = paths.crunRoot();
  rc.cgroup_parent = "/capstan/" + opts.node_name;
  return rc;
}

network::NetworkConfig networkConfigOf(const AgentOptions& opts) {
  NodePaths paths(opts);
  network::NetworkConfig nc;
  nc.network_name = "capstan-" + opts.node_name.substr(0, 20);
  nc.bridge = opts.cni_bridge;
  nc.ipam_data_dir = paths.ipam();
  nc.run_dir = paths.netns();
  return nc;
}

}  // namespace

AgentImpl::AgentImpl(const AgentOptions& opts, std::shared_ptr<client::Transport> transport)
    : opts_(opts),
      paths_(opts),
      client_(std::move(transport), "kubelet"),
      events_(client_, "kubelet", opts.node_name),
      queue_(std::chrono::milliseconds(100), std::chrono::seconds(30)) {}

AgentImpl::~AgentImpl() { stop(); }

ObjectLookup AgentImpl::lookup() const {
  ObjectLookup l;
  // Reads go to the informers' caches (kept current by watches), so a
  // ConfigMap change reaches the volumes that use it at once.
  l.config_map = [this](const std::string& ns, const std::string& name) -> Result<std::map<std::string, std::string>> {
    auto cm = config_maps_->get(ns + "/" + name);
    if (!cm) return Status(Code::kNotFound, fmt::format("configmap \"{}\" not found", name));
    std::map<std::string, std::string> out;
    for (const char* f : {"data", "binaryData"})
      if (auto d = cm->find(f); d != cm->end() && d->is_object())
        for (auto& [k, v] : d->items())
          if (v.is_string()) {
            if (std::string(f) == "binaryData") {
              auto dec = base64Decode(v.get<std::string>());
              if (dec) out[k] = *dec;
            } else {
              out[k] = v.get<std::string>();
            }
          }
    return out;
  };
  l.secret = [this](const std::string& ns, const std::string& name) -> Result<std::map<std::string, std::string>> {
    auto s = secrets_->get(ns + "/" + name);
    if (!s) return Status(Code::kNotFound, fmt::format("secret \"{}\" not found", name));
    std::map<std::string, std::string> out;
    if (auto d = s->find("data"); d != s->end() && d->is_object())
      for (auto& [k, v] : d->items())
        if (v.is_string())
          if (auto dec = base64Decode(v.get<std::string>())) out[k] = *dec;
    if (auto d = s->find("stringData"); d != s->end() && d->is_object())
      for (auto& [k, v] : d->items())
        if (v.is_string()) out[k] = v.get<std::string>();
    return out;
  };
  l.service_account_token = [this](const Json& pod, const std::string& audience, int64_t seconds) {
    return serviceAccountToken(pod, audience, seconds);
  };
  l.services = [this](const std::string& ns) -> Result<std::vector<Json>> {
    if (!services_ || !services_->hasSynced())
      return Status(Code::kUnavailable, "services have not yet been read at least once, cannot construct envvars");
    std::vector<Json> out;
    for (const auto& s : services_->list(ns)) out.push_back(*s);
    return out;
  };
  return l;
}

Result<std::string> AgentImpl::serviceAccountToken(const Json& pod, const std::string& audience,
                                                   int64_t expiration_seconds) const {
  const Json& meta = objectAt(pod, "metadata");
  std::string uid = getString(meta, "uid");
  std::string key = fmt::format("{}/{}/{}", uid, audience, expiration_seconds);
  auto now = std::chrono::system_clock::now();
  std::optional<IssuedToken> held;
  {
    std::lock_guard lock(tokens_mu_);
    // Tokens of pods long gone expire out of the map.
    std::erase_if(tokens_, [&](const auto& e) { return e.second.expires_at <= now; });
    if (auto it = tokens_.find(key); it != tokens_.end()) {
      if (now < it->second.renew_at) return it->second.token;
      held = it->second;
    }
  }
  std::string ns = getString(meta, "namespace");
  std::string sa = getString(objectAt(pod, "spec"), "serviceAccountName", "default");
  Json spec = {{"expirationSeconds", expiration_seconds},
               {"boundObjectRef", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", getString(meta, "name")}, {"uid", uid}}}};
  if (!audience.empty()) spec["audiences"] = Json::array({audience});
  Json request = {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}};
  auto r = client_.post(client::res::kServiceAccounts, ns, sa, "token", request);
  if (!r && held) {
    // A renewal that fails keeps the token while it lasts (the pod's volume
    // and status stay as they are) and is tried again shortly.
    LOG_WARN("service-account token renewal failed", "pod", ns + "/" + getString(meta, "name"), "error",
             r.status().message());
    queue_.addAfter(ns + "/" + getString(meta, "name"), std::chrono::seconds(10));
    return held->token;
  }
  if (!r)
    return Status(r.status().code(),
                  fmt::format("failed to fetch token for service account \"{}\": {}", sa, r.status().message()));
  std::string token = getString(objectAt(*r, "status"), "token");
  auto expires = parseRfc3339(getString(objectAt(*r, "status"), "expirationTimestamp"));
  if (token.empty() || !expires) return Status(Code::kInternal, "the TokenRequest answer holds no token");
  auto renew_at = now + (*expires - now) * 4 / 5;
  {
    std::lock_guard lock(tokens_mu_);
    tokens_[key] = {token, renew_at, *expires};
  }
  // Sync the pod again when the token is due for renewal.
  queue_.addAfter(ns + "/" + getString(meta, "name"),
                  std::chrono::duration_cast<std::chrono::milliseconds>(renew_at - now) + std::chrono::seconds(1));
  return token;
}

Status AgentImpl::init() {
  std::error_code ec;
  fs::create_directories(opts_.data_dir, ec);
  if (ec) return Status(Code::kInternal, "cannot create " + opts_.data_dir + ": " + ec.message());
  auto images = runtime::ImageStore::open(opts_.data_dir + "/images");
  if (!images) return images.status();
  images_ = std::move(*images);
  if (auto st = ensureRunDirOnTmpfs(paths_.run); !st)
    LOG_WARN("node state stays on disk", "error", st.message());
  runtime::RuntimeConfig rc = runtimeConfigOf(opts_);
  rc.container_log_max_bytes = opts_.container_log_max_bytes;
  rc.container_log_max_files = opts_.container_log_max_files;
  auto rt = runtime::Runtime::open(rc);
  if (!rt) return rt.status();
  runtime_ = instrumentRuntime(std::move(*rt), metrics_);

  // The kubelet API (logs, exec, attach, port-forward) the API server
  // proxies to; the join token guards it.
  auto kubelet = streaming::KubeletServer::start({.bind_address = "0.0.0.0",
                                                  .port = static_cast<uint16_t>(opts_.kubelet_port),
                                                  .tls_dir = opts_.data_dir + "/kubelet-tls",
                                                  .token = pki::JoinToken::parse(opts_.token).secret,
                                                  .threads = 1,
                                                  .stats = {.cgroup_parent = rc.cgroup_parent,
                                                            .containers_dir = rc.layers_dir},
                                                  .metrics = metrics_},
                                                 *runtime_);
  if (!kubelet) return kubelet.status();
  kubelet_ = std::move(*kubelet);
  node_ = std::make_unique<NodeReporter>(client_, events_, opts_, runtime_->version(), kubelet_->port());
  auto cidr = node_->registerAndWaitForCidr(std::chrono::seconds(60));
  if (!cidr) return cidr.status();
  network::NetworkConfig nc = networkConfigOf(opts_);
  nc.subnet = *cidr;
  nc.isolate = opts_.isolate_pod_network;
  nc.isolate_allow = opts_.cluster_cidr;
  nc.cluster_cidr = opts_.cluster_cidr;
  nc.create_bridge = true;
  auto net = network::Network::open(nc);
  if (!net) return net.status();
  network_ = instrumentNetwork(std::move(*net), metrics_);
  if (opts_.proxy_socket_lb) {
    if (auto lb = proxy::SocketLoadBalancer::open()) {
      socket_lb_ = std::move(*lb);
      network_ = balanceSandboxes(std::move(network_), *socket_lb_);
      metrics_->addSource([lb = socket_lb_.get()] { return lb->renderMetrics(); });
      LOG_INFO("socket load balancing on: ClusterIP TCP connections of this node go straight to an endpoint");
    } else {
      LOG_WARN("socket load balancing unavailable; ClusterIPs go through the nftables rules alone", "error",
               lb.status().message());
    }
  }
  if (auto st = startNodeServices(*cidr); !st) return st;
  node_->start();
  ImageGcPolicy gc{.high_threshold_percent = opts_.image_gc_high_threshold,
                   .low_threshold_percent = opts_.image_gc_low_threshold,
                   .min_age = opts_.image_minimum_ttl,
                   .period = opts_.image_gc_period};
  image_gc_ = std::make_unique<ImageGc>(
      *images_, gc, [root = opts_.data_dir + "/images"] { return diskUsage(root); },
      [this] {
        std::set<std::string> used;
        for (const auto& c : runtime_->list())
          if (auto it = c.labels.find(kLabelImageId); it != c.labels.end()) used.insert(it->second);
        return used;
      },
      SystemClock::instance(),
      [this](const std::string& message) {
        events_.record({{"apiVersion", "v1"}, {"kind", "Node"},
                        {"metadata", {{"name", opts_.node_name}, {"uid", opts_.node_name}}}},
                       "Warning", "FreeDiskSpaceFailed", message);
      });
  image_gc_->start();
  if (opts_.dns.cluster_dns.empty()) {
    auto svc = client_.get(client::res::kServices, "kube-system", "kube-dns");
    if (!svc) return Status(svc.status().code(), "cannot read the cluster DNS address: " + svc.status().message());
    opts_.dns.cluster_dns = objectAt(*svc, "spec").value("clusterIP", "");
  }
  prober_ = std::make_unique<Prober>(realProbeRunner(*runtime_), proberHooks(), SystemClock::instance());

  // Only the pods bound to this node.
  pods_ = std::make_unique<client::Informer>(client_, client::res::kPods, "",
                                             client::ListOptions{.field_selector = "spec.nodeName=" + opts_.node_name});
  auto enqueue = [this](const ObjectPtr& p) { queue_.add(client::keyOf(*p)); };
  pods_->addHandlers({.on_add =
                          [this](const ObjectPtr& p) {
                            notePodSeen(*p);
                            queue_.add(client::keyOf(*p));
                          },
                      .on_update = [this](const ObjectPtr&, const ObjectPtr& p) { queue_.add(client::keyOf(*p)); },
                      .on_delete = enqueue});
  // ConfigMaps and Secrets feed volumes and env: a change re-syncs the
  // pods of its namespace that use it.
  auto refresh = [this](const ObjectPtr& o) {
    std::string ns = client::namespaceOf(*o), name = client::nameOf(*o);
    for (const auto& p : pods_->list(ns)) {
      std::string text = (*p)["spec"].dump();
      if (text.find("\"" + name + "\"") != std::string::npos) queue_.add(client::keyOf(*p));
    }
  };
  config_maps_ = std::make_unique<client::Informer>(client_, client::res::kConfigMaps);
  secrets_ = std::make_unique<client::Informer>(client_, client::res::kSecrets);
  for (auto* inf : {config_maps_.get(), secrets_.get()})
    inf->addHandlers({.on_add = refresh,
                      .on_update = [refresh](const ObjectPtr&, const ObjectPtr& o) { refresh(o); },
                      .on_delete = refresh});
  // A container exit wakes its pod's worker at once.
  runtime_->setExitHandler([this](const runtime::ContainerStatus& s) {
    auto ns = s.labels.find(kLabelNamespace);
    auto name = s.labels.find(kLabelPodName);
    if (ns != s.labels.end() && name != s.labels.end()) queue_.add(ns->second + "/" + name->second);
  });
  config_maps_->start();
  secrets_->start();
  pods_->start();
  if (!pods_->waitForSync(std::chrono::seconds(30)) || !config_maps_->waitForSync(std::chrono::seconds(30)) ||
      !secrets_->waitForSync(std::chrono::seconds(30)) || !services_->waitForSync(std::chrono::seconds(30)))
    return Status(Code::kTimeout, "agent caches did not sync");
  // Containers of pods that vanished while the agent was down.
  for (const auto& c : runtime_->list()) {
    auto ns = c.labels.find(kLabelNamespace);
    auto name = c.labels.find(kLabelPodName);
    if (ns != c.labels.end() && name != c.labels.end()) queue_.add(ns->second + "/" + name->second);
  }
  for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { worker(); });
  LOG_INFO("node agent started", "node", opts_.node_name, "podCIDR", *cidr, "bridge", opts_.cni_bridge);
  return Status::ok();
}

Prober::Hooks AgentImpl::proberHooks() {
  auto podRef = [](const ProbeTarget& t) {
    auto [ns, name] = client::splitKey(t.pod_key);
    return Json{{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"namespace", ns}, {"name", name}, {"uid", t.pod_uid}}}};
  };
  return {.wake = [this](const std::string& key) { queue_.add(key); },
          .unhealthy =
              [this, podRef](const ProbeTarget& t, ProbeKind kind, const std::string& message) {
                events_.record(podRef(t), "Warning", "Unhealthy",
                               fmt::format("{} probe failed: {}", probeKindName(kind), message));
              },
          .kill =
              [this](const ProbeTarget& t, ProbeKind kind, int64_t grace) {
                std::string why = kind == ProbeKind::kStartup ? "startup" : "liveness";
                // The exit wakes the pod worker, which restarts it per restartPolicy.
                auto c = runtime_->status(t.container_id);
                auto st = c ? killContainer(*c, std::chrono::seconds(grace),
                                            fmt::format("Container {} failed {} probe, will be restarted",
                                                        t.container_name, why))
                            : c;
                if (!st) LOG_WARN("stopping an unhealthy container failed", "container", t.container_id,
                                  "error", st.status().message());
              }};
}

void AgentImpl::notePodSeen(const Json& pod) {
  std::string uid = objectAt(pod, "metadata").value("uid", "");
  std::lock_guard lock(mu_);
  first_seen_.emplace(uid, std::chrono::steady_clock::now());
}

// kubelet observes when its status manager's phase goes from Pending to
// Running, from the pod's first-seen time; once per pod here.
void AgentImpl::observePodRunning(const std::string& uid) {
  std::chrono::steady_clock::time_point seen;
  {
    std::lock_guard lock(mu_);
    auto it = first_seen_.find(uid);
    if (it == first_seen_.end()) return;
    seen = it->second;
    first_seen_.erase(it);
  }
  metrics_->observePodStart(std::chrono::duration<double>(std::chrono::steady_clock::now() - seen).count());
}

// kubelet's pod worker update types: "create" for a pod's first sync,
// "update" when its spec changed since the last one, "kill" for a pod
// that is deleted or terminating, else "sync".
std::string AgentImpl::podWorkerOperation(const std::string& key) {
  ObjectPtr pod = pods_->get(key);
  std::lock_guard lock(mu_);
  if (!pod) {
    if (auto it = synced_specs_.find(key); it != synced_specs_.end()) {
      first_seen_.erase(it->second.first);
      synced_specs_.erase(it);
    }
    return "kill";
  }
  if (objectAt(*pod, "metadata").contains("deletionTimestamp")) return "kill";
  std::string uid = objectAt(*pod, "metadata").value("uid", "");
  size_t spec = std::hash<std::string>{}(objectAt(*pod, "spec").dump());
  auto [it, added] = synced_specs_.try_emplace(key, uid, spec);
  if (added) return "create";
  if (it->second.first != uid) {
    first_seen_.erase(it->second.first);
    it->second = {uid, spec};
    return "create";
  }
  if (it->second.second == spec) return "sync";
  it->second.second = spec;
  return "update";
}

void AgentImpl::worker() {
  while (auto key = queue_.get()) {
    std::string operation = podWorkerOperation(*key);
    if (operation == "kill") startTerminator(*key, operation);
    else runPodWorker(*key, operation);
  }
}

// One syncPod of a key taken from the queue, then done(): the queue hands
// the key to nobody else until then.
void AgentImpl::runPodWorker(const std::string& key, const std::string& operation) {
  Status st;
  auto start = std::chrono::steady_clock::now();
  try {
    st = syncPod(key);
  } catch (const std::exception& e) {
    st = Status(Code::kInternal, e.what());
  }
  metrics_->observePodWorker(operation, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (st) {
    queue_.forget(key);
  } else {
    LOG_WARN("pod sync failed", "pod", key, "error", st.message());
    queue_.addRateLimited(key);
  }
  queue_.done(key);
}

void AgentImpl::startTerminator(const std::string& key, const std::string& operation) {
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(terminators_mu_);
    for (uint64_t id : finished_terminators_) {
      finished.push_back(std::move(terminators_[id]));
      terminators_.erase(id);
    }
    finished_terminators_.clear();
    uint64_t id = next_terminator_++;
    terminators_.emplace(id, std::thread([this, key, operation, id] {
                           runPodWorker(key, operation);
                           std::lock_guard l(terminators_mu_);
                           finished_terminators_.push_back(id);
                         }));
  }
  for (auto& t : finished) t.join();  // they have pushed their id: exiting
}

void AgentImpl::stop() {
  queue_.shutDown();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  // The workers are gone, so no terminator starts now.
  std::map<uint64_t, std::thread> terminators;
  {
    std::lock_guard lock(terminators_mu_);
    terminators.swap(terminators_);
  }
  for (auto& [id, t] : terminators) t.join();
  if (pods_) pods_->stop();
  if (config_maps_) config_maps_->stop();
  if (secrets_) secrets_->stop();
  if (dns_) dns_->stop();
  // The rules keep serving: a restarted agent takes them over.
  if (proxy_) (void)proxy_->stop(false);
  if (ingress_) ingress_->stop();
  if (cluster_informers_) cluster_informers_->stop();
  if (prober_) prober_->stop();
  if (node_) node_->stop();
  if (image_gc_) image_gc_->stop();
  if (kubelet_) kubelet_->stop();
  if (runtime_) runtime_->setExitHandler(nullptr);
}

Status cleanupNode(const AgentOptions& opts) {
  NodePaths paths(opts);
  runtime::RuntimeConfig rc = runtimeConfigOf(opts);
  Status first;
  auto keep = [&first](Status st) {
    if (!st && first) first = std::move(st);
  };
  if (auto rt = runtime::Runtime::open(rc)) {
    for (const auto& c : (*rt)->list()) keep((*rt)->remove(c.id));
  } else {
    keep(rt.status());
  }
  network::NetworkConfig nc = networkConfigOf(opts);
  // Nothing to install: close() removes the rules the agent made, found by
  // their comments.
  nc.isolate = false;
  nc.ip_masq = false;
  if (auto net = network::Network::open(nc)) {
    for (const auto& sb : (*net)->list()) keep((*net)->removeSandbox(sb.id));
    keep((*net)->close(true));
  } else {
    keep(net.status());
  }
  keep(proxy::ServiceProxy::cleanup(proxyTable(opts.node_name)));
  std::error_code ec;
  // The node's (now empty) cgroups, and the shared parent once no node uses it.
  for (const auto& hierarchy : fs::directory_iterator("/sys/fs/cgroup", ec)) {
    fs::path parent = hierarchy.path() / "capstan";
    fs::path node_dir = parent / opts.node_name;
    if (fs::is_directory(node_dir)) {
      std::vector<fs::path> dirs;
      for (auto it = fs::recursive_directory_iterator(node_dir, ec); !ec && it != fs::end(it); ++it)
        if (it->is_directory()) dirs.push_back(it->path());
      std::sort(dirs.rbegin(), dirs.rend());  // children before parents
      for (const auto& d : dirs) ::rmdir(d.c_str());
      ::rmdir(node_dir.c_str());
    }
    ::rmdir(parent.c_str());  // fails harmlessly while other nodes use it
  }
  // Each pod's files, its tmpfs mounts (writable files, secrets, tokens,
  // memory emptyDirs) unmounted first; the pods known to either dir.
  std::set<std::string> uids;
  for (const auto& dir : {paths.podsState(), paths.podsData()})
    for (const auto& pod : fs::directory_iterator(dir, ec)) uids.insert(pod.path().filename().string());
  for (const auto& uid : uids) keep(removePodFiles(paths.pod(uid)));
  fs::remove_all(paths.podsData(), ec);
  // The agent's own tmpfs there, if it made one (what was mounted below
  // it went with the containers, sandboxes and pods above).
  if (runtime::isMountPoint(paths.run) && ::umount2(paths.run.c_str(), MNT_DETACH) != 0)
    keep(Status(Code::kInternal, fmt::format("cannot unmount {}: {}", paths.run, std::strerror(errno))));
  fs::remove_all(paths.run, ec);
  // The shared parent once no node uses it (fails harmlessly while one does).
  ::rmdir(fs::path(paths.run).parent_path().c_str());
  return first;
}

Result<std::unique_ptr<Agent>> Agent::start(const AgentOptions& opts, std::shared_ptr<client::Transport> transport) {
  auto agent = std::make_unique<AgentImpl>(opts, std::move(transport));
  if (auto st = agent->init(); !st) return st;
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace capstan::agent
